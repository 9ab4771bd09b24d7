/**
 * The master operator API with real processes on loopback: reference mesos-v1-api.md section 8.4
 * (O1-O31 without authorization, maintenance, quota and reservations), the status-code matrix of
 * section 1.7, the event stream of section 4.2 beside a scheduler for a whole task life, and the
 * Strata extension: resuming a dropped stream from an offset (docs/operator-api.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WireMediaType } from '../../../src/wire/codec.js';
import { Call_Type, type Event, Event_Type } from '../../../src/wire/gen/mesos/v1/master/master_pb.js';
import { type Offer, TaskState, TaskStatus_Reason } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  Call_Type as SchedulerCall,
  Event_Type as SchedulerEvent,
} from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { OperatorStream, operatorCall, post } from '../../support/operator-client.js';
import { killProcessesUnder, startAgentProcess, startMasterProcess } from '../../support/processes.js';
import { TestScheduler } from '../../support/scheduler-client.js';

const MULTI_ROLE = 6;
const PARTITION_AWARE = 5;
const MEDIA: WireMediaType[] = ['application/json', 'application/x-protobuf'];
const AGENT_RESOURCES = '--resources=cpus:2;mem:1024;disk:1024;ports:[31000-32000]';

function frameworkInfo(name: string, partitionAware = false) {
  return {
    user: 'test',
    name,
    roles: ['*'],
    failoverTimeout: 60,
    capabilities: [{ type: MULTI_ROLE }, ...(partitionAware ? [{ type: PARTITION_AWARE }] : [])],
  };
}

function commandTask(offer: Offer, id: string, command: string) {
  return {
    name: id,
    taskId: { value: id },
    agentId: offer.agentId!,
    command: { value: command },
    resources: [
      { name: 'cpus', type: 0, scalar: { value: 0.1 } },
      { name: 'mem', type: 0, scalar: { value: 16 } },
    ],
  };
}

/** Launches one command task from the scheduler's next offer; acknowledges every update it sees. */
async function launch(scheduler: TestScheduler, taskId: string, command: string): Promise<void> {
  const offers = await scheduler.nextOfType(SchedulerEvent.OFFERS, 20_000);
  const offer = offers.offers!.offers[0]!;
  const res = await scheduler.call({
    type: SchedulerCall.ACCEPT,
    accept: {
      offerIds: [offer.id!],
      operations: [{ type: 1 /* LAUNCH */, launch: { taskInfos: [commandTask(offer, taskId, command)] } }],
    },
  });
  assert.equal(res.status, 202);
}

/** Waits for the scheduler's update to `state` of the task, acknowledging it (and those before). */
async function awaitState(scheduler: TestScheduler, taskId: string, state: TaskState) {
  for (;;) {
    const event = await scheduler.next(
      (e) => e.type === SchedulerEvent.UPDATE && e.update?.status?.taskId?.value === taskId,
      30_000,
      `update of ${taskId}`,
    );
    const status = event.update!.status!;
    if (status.uuid.length === 16) {
      await scheduler.call({
        type: SchedulerCall.ACKNOWLEDGE,
        acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
      });
    }
    if (status.state === state) return status;
  }
}

/** What an event is about, for comparing sequences: type plus the state or id it names. */
function describeEvent(event: Event): string {
  switch (event.type) {
    case Event_Type.TASK_ADDED:
      return `TASK_ADDED ${event.taskAdded?.task?.taskId?.value} ${TaskState[event.taskAdded!.task!.state]}`;
    case Event_Type.TASK_UPDATED:
      return `TASK_UPDATED ${event.taskUpdated?.status?.taskId?.value} ${TaskState[event.taskUpdated!.status!.state]}`;
    case Event_Type.FRAMEWORK_ADDED:
      return `FRAMEWORK_ADDED ${event.frameworkAdded?.framework?.frameworkInfo?.name}`;
    case Event_Type.FRAMEWORK_UPDATED:
      return `FRAMEWORK_UPDATED ${event.frameworkUpdated?.framework?.frameworkInfo?.name}`;
    case Event_Type.FRAMEWORK_REMOVED:
      return `FRAMEWORK_REMOVED ${event.frameworkRemoved?.frameworkInfo?.name}`;
    case Event_Type.AGENT_ADDED:
      return `AGENT_ADDED ${event.agentAdded?.agent?.agentInfo?.id?.value}`;
    case Event_Type.AGENT_REMOVED:
      return `AGENT_REMOVED ${event.agentRemoved?.agentId?.value}`;
    default:
      return Event_Type[event.type] ?? String(event.type);
  }
}

describe('master operator API', { timeout: 180_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  const streams: OperatorStream[] = [];
  const schedulers: TestScheduler[] = [];
  const agentDirs: string[] = [];
  const stream = async (media: WireMediaType = 'application/json', options = {}) => {
    const s = await new OperatorStream(master.url, media).open(options);
    streams.push(s);
    return s;
  };
  const scheduler = () => {
    const s = new TestScheduler(master.url);
    schedulers.push(s);
    return s;
  };

  before(async () => {
    master = await startMasterProcess([
      '--allocation_interval=50ms',
      '--heartbeat_interval=300ms',
      // A 3 s ping budget: a loaded CI host must not drop an agent (its tasks would end with
      // REASON_AGENT_DISCONNECTED before the operator calls under test).
      '--agent_ping_timeout=500ms',
      '--max_agent_ping_timeouts=6',
      '--logging_level=warn',
    ]);
  });
  after(async () => {
    for (const s of streams) s.close();
    for (const s of schedulers) s.close();
    await master.process.stop();
    for (const dir of agentDirs) killProcessesUnder(dir);
  });

  for (const media of MEDIA) {
    it(`O1, O3, O5, O9, O11 and the status-code matrix (${media})`, async () => {
      const health = await operatorCall(master.url, { type: Call_Type.GET_HEALTH }, media);
      assert.equal(health.status, 200);
      assert.equal(health.headers['content-type'], media);
      assert.equal(health.response?.getHealth?.healthy, true);
      if (media === 'application/json')
        assert.equal(health.body, '{"type":"GET_HEALTH","get_health":{"healthy":true}}');

      const flags = await operatorCall(master.url, { type: Call_Type.GET_FLAGS }, media);
      const byName = new Map(flags.response!.getFlags!.flags.map((f) => [f.name, f.value]));
      assert.equal(byName.get('agent_ping_timeout'), '500ms');
      assert.equal(byName.get('max_operator_event_stream_subscribers'), '1000');

      const noPayload = await operatorCall(master.url, { type: Call_Type.GET_METRICS }, media);
      assert.equal(noPayload.status, 400);
      assert.equal(noPayload.body, "Failed to validate master::Call: Expecting 'get_metrics' to be present");
      const metrics = await operatorCall(master.url, { type: Call_Type.GET_METRICS, getMetrics: {} }, media);
      const names = metrics.response!.getMetrics!.metrics.map((m) => m.name);
      assert.ok(names.includes('master/elected'));
      assert.deepEqual(names, [...names].sort());

      for (const init of [
        { type: Call_Type.LIST_FILES, listFiles: { path: '/master/log' } },
        { type: Call_Type.READ_FILE, readFile: { path: '/no/such/file', offset: 0n } },
      ]) {
        const res = await operatorCall(master.url, init, media);
        assert.equal(res.status, 404, JSON.stringify(res));
      }

      const unknown = await operatorCall(master.url, { type: Call_Type.UNKNOWN }, media);
      assert.deepEqual([unknown.status, unknown.body], [501, '']);
      const later = await operatorCall(
        master.url,
        { type: Call_Type.REMOVE_QUOTA, removeQuota: { role: 'r' } },
        media,
      );
      assert.deepEqual(
        [later.status, later.body],
        [501, 'Call type REMOVE_QUOTA is not supported by this master yet'],
      );
      const refused = await operatorCall(master.url, { type: Call_Type.GET_HEALTH }, media, {
        Accept: 'text/html',
      });
      assert.equal(refused.status, 406);
      const prefixed = await post(`${master.url}/master/api/v1`, '{"type":"GET_VERSION"}', {
        'Content-Type': 'application/json',
      });
      assert.equal(prefixed.status, 200);
      assert.match(prefixed.body, /"version":"1\.11\.0"/);
      const get = await post(`${master.url}/api/v1`, '', {}, 'GET');
      assert.equal(get.status, 405);
    });
  }

  it('O7: SET_LOGGING_LEVEL answers 200 and the level reverts after the duration', async () => {
    const level = async () =>
      (await operatorCall(master.url, { type: Call_Type.GET_LOGGING_LEVEL })).response!.getLoggingLevel!
        .level;
    assert.equal(await level(), 0);
    const set = await operatorCall(master.url, {
      type: Call_Type.SET_LOGGING_LEVEL,
      setLoggingLevel: { level: 2, duration: { nanoseconds: 1_000_000_000n } },
    });
    assert.deepEqual([set.status, set.body], [200, '']);
    assert.equal(await level(), 2);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await level(), 0);
  });

  it('O27: AGENT_ADDED when an agent registers, AGENT_REMOVED with its id when it stops', async () => {
    const events = await stream('application/x-protobuf');
    await events.nextOfType(Event_Type.SUBSCRIBED);
    const agent = await startAgentProcess(master.port, [AGENT_RESOURCES, '--logging_level=warn']);
    agentDirs.push(agent.workDir);
    const added = await events.nextOfType(Event_Type.AGENT_ADDED);
    const info = added.agentAdded!.agent!;
    assert.equal(info.agentInfo?.hostname, '127.0.0.1');
    assert.equal(info.pid, `slave(1)@127.0.0.1:${agent.port}`);
    assert.notEqual(info.version, '');
    assert.deepEqual(info.totalResources.map((r) => r.name).sort(), ['cpus', 'disk', 'mem', 'ports']);
    assert.ok(added.strataOffset > 0n);
    await agent.process.kill();
    const removed = await events.nextOfType(Event_Type.AGENT_REMOVED);
    assert.equal(removed.agentRemoved?.agentId?.value, info.agentInfo?.id?.value);
    assert.ok(removed.strataOffset > added.strataOffset);
  });

  it('O29 and O13: FRAMEWORK_ADDED, GET_FRAMEWORKS, FRAMEWORK_UPDATED on re-subscription, FRAMEWORK_REMOVED on TEARDOWN', async () => {
    const events = await stream();
    await events.nextOfType(Event_Type.SUBSCRIBED);
    const first = await scheduler().subscribe(frameworkInfo('o29'));
    await first.nextOfType(SchedulerEvent.SUBSCRIBED);
    const added = await events.nextOfType(Event_Type.FRAMEWORK_ADDED);
    assert.equal(added.frameworkAdded?.framework?.frameworkInfo?.id?.value, first.frameworkId);
    assert.equal(added.frameworkAdded?.framework?.connected, true);

    for (const media of MEDIA) {
      const listed = await operatorCall(master.url, { type: Call_Type.GET_FRAMEWORKS }, media);
      const mine = listed.response!.getFrameworks!.frameworks.filter(
        (f) => f.frameworkInfo?.id?.value === first.frameworkId,
      );
      assert.equal(mine.length, 1);
      assert.deepEqual([mine[0]!.active, mine[0]!.connected, mine[0]!.recovered], [true, true, false]);
    }

    const again = await scheduler().subscribe(
      { ...frameworkInfo('o29'), id: { value: first.frameworkId } },
      { frameworkId: first.frameworkId },
    );
    await again.nextOfType(SchedulerEvent.SUBSCRIBED);
    const updated = await events.nextOfType(Event_Type.FRAMEWORK_UPDATED);
    assert.equal(updated.frameworkUpdated?.framework?.frameworkInfo?.id?.value, first.frameworkId);

    const teardown = { type: Call_Type.TEARDOWN, teardown: { frameworkId: { value: first.frameworkId } } };
    const torn = await operatorCall(master.url, teardown, 'application/x-protobuf');
    assert.deepEqual([torn.status, torn.body], [200, '']);
    const removed = await events.nextOfType(Event_Type.FRAMEWORK_REMOVED);
    assert.equal(removed.frameworkRemoved?.frameworkInfo?.id?.value, first.frameworkId);
    const twice = await operatorCall(master.url, teardown);
    assert.deepEqual([twice.status, twice.body], [400, 'No framework found with specified ID']);
    // The three in order, nothing else about this framework in between.
    const about = events
      .changes()
      .filter((e) => describeEvent(e).endsWith(' o29'))
      .map(describeEvent);
    assert.deepEqual(about, ['FRAMEWORK_ADDED o29', 'FRAMEWORK_UPDATED o29', 'FRAMEWORK_REMOVED o29']);
  });

  it('the operator stream and a scheduler together for a full task life (exact sequence, O15 on the way)', async () => {
    const agent = await startAgentProcess(master.port, [AGENT_RESOURCES, '--logging_level=warn']);
    agentDirs.push(agent.workDir);
    const events = await stream();
    const subscribed = await events.nextOfType(Event_Type.SUBSCRIBED);
    assert.equal(events.events[1]?.type, Event_Type.HEARTBEAT, 'HEARTBEAT right after SUBSCRIBED');
    const start = subscribed.strataOffset;

    const framework = await scheduler().subscribe(frameworkInfo('life'));
    await framework.nextOfType(SchedulerEvent.SUBSCRIBED);
    await launch(framework, 'life-1', 'sleep 1');
    await awaitState(framework, 'life-1', TaskState.TASK_RUNNING);

    const state = await operatorCall(master.url, { type: Call_Type.GET_STATE });
    const getState = state.response!.getState!;
    assert.ok(getState.getTasks && getState.getExecutors && getState.getFrameworks && getState.getAgents);
    assert.ok(getState.getTasks.tasks.some((t) => t.taskId?.value === 'life-1'));
    // A command task's executor is the agent's own: the master lists only executors it was given.
    assert.deepEqual(getState.getExecutors.executors, []);
    assert.ok(getState.getAgents.agents.some((a) => a.pid === `slave(1)@127.0.0.1:${agent.port}`));

    await awaitState(framework, 'life-1', TaskState.TASK_FINISHED);
    assert.equal((await framework.call({ type: SchedulerCall.TEARDOWN })).status, 202);
    await events.next((e) => e.type === Event_Type.FRAMEWORK_REMOVED && describeEvent(e).endsWith(' life'));

    const mine = events
      .changes()
      .filter((e) => e.type !== Event_Type.AGENT_ADDED && e.type !== Event_Type.AGENT_REMOVED);
    assert.deepEqual(mine.map(describeEvent), [
      'FRAMEWORK_ADDED life',
      'TASK_ADDED life-1 TASK_STAGING',
      'TASK_UPDATED life-1 TASK_STARTING',
      'TASK_UPDATED life-1 TASK_RUNNING',
      'TASK_UPDATED life-1 TASK_FINISHED',
      'FRAMEWORK_REMOVED life',
    ]);
    const finished = mine[4]!.taskUpdated!;
    assert.equal(finished.frameworkId?.value, framework.frameworkId);
    assert.equal(finished.state, TaskState.TASK_FINISHED);
    // Offsets are consecutive from the snapshot's: no event of the master was skipped.
    const offsets = events.changes().map((e) => e.strataOffset);
    assert.deepEqual(
      offsets,
      offsets.map((_, i) => start + BigInt(i) + 1n),
    );
    await agent.process.stop();
  });

  it('O25: MARK_AGENT_GONE turns its tasks TASK_GONE_BY_OPERATOR, removes the agent, and repeats with 200', async () => {
    const agent = await startAgentProcess(master.port, [AGENT_RESOURCES, '--logging_level=warn']);
    agentDirs.push(agent.workDir);
    const events = await stream();
    await events.nextOfType(Event_Type.SUBSCRIBED);
    const framework = await scheduler().subscribe(frameworkInfo('o25', true));
    await framework.nextOfType(SchedulerEvent.SUBSCRIBED);
    await launch(framework, 'o25-1', 'sleep 60');
    const running = await awaitState(framework, 'o25-1', TaskState.TASK_RUNNING);
    const agentId = running.agentId!.value;

    const gone = { type: Call_Type.MARK_AGENT_GONE, markAgentGone: { agentId: { value: agentId } } };
    const first = await operatorCall(master.url, gone, 'application/x-protobuf');
    assert.deepEqual([first.status, first.body], [200, '']);
    const update = await framework.next(
      (e) => e.type === SchedulerEvent.UPDATE && e.update?.status?.state === TaskState.TASK_GONE_BY_OPERATOR,
    );
    assert.equal(update.update?.status?.reason, TaskStatus_Reason.AGENT_REMOVED_BY_OPERATOR);
    const taskUpdated = await events.next(
      (e) =>
        e.type === Event_Type.TASK_UPDATED &&
        e.taskUpdated?.status?.taskId?.value === 'o25-1' &&
        e.taskUpdated.status.state !== TaskState.TASK_STARTING &&
        e.taskUpdated.status.state !== TaskState.TASK_RUNNING,
    );
    assert.equal(taskUpdated.taskUpdated?.status?.reason, TaskStatus_Reason.AGENT_REMOVED_BY_OPERATOR);
    assert.equal(taskUpdated.taskUpdated?.state, TaskState.TASK_GONE_BY_OPERATOR);
    const removed = await events.nextOfType(Event_Type.AGENT_REMOVED);
    assert.equal(removed.agentRemoved?.agentId?.value, agentId);

    assert.equal((await operatorCall(master.url, gone)).status, 200);
    const unknown = await operatorCall(master.url, {
      type: Call_Type.MARK_AGENT_GONE,
      markAgentGone: { agentId: { value: 'no-such-agent' } },
    });
    assert.equal(unknown.status, 404);
    const agents = await operatorCall(master.url, { type: Call_Type.GET_AGENTS });
    assert.ok(!agents.response!.getAgents!.agents.some((a) => a.agentInfo?.id?.value === agentId));
    // The agent is told to shut down, and stays out.
    assert.equal(await agent.process.waitForExit(), 1);
    killProcessesUnder(agent.workDir);
  });

  it('resumes a dropped stream from an offset with exactly the missed events', async () => {
    const witness = await stream();
    await witness.nextOfType(Event_Type.SUBSCRIBED);
    const dropped = await stream();
    await dropped.nextOfType(Event_Type.SUBSCRIBED);
    const a = await scheduler().subscribe(frameworkInfo('resume-a'));
    const seen = await dropped.nextOfType(Event_Type.FRAMEWORK_ADDED);
    const resumeAfter = seen.strataOffset;
    dropped.close();

    // Missed while away: a removal and an addition.
    await a.nextOfType(SchedulerEvent.SUBSCRIBED);
    await a.call({ type: SchedulerCall.TEARDOWN });
    const b = await scheduler().subscribe(frameworkInfo('resume-b'));
    await b.nextOfType(SchedulerEvent.SUBSCRIBED);
    await witness.next((e) => e.type === Event_Type.FRAMEWORK_ADDED && describeEvent(e).endsWith('resume-b'));
    const expected = witness
      .changes()
      .filter((e) => e.strataOffset > resumeAfter)
      .map((e) => `${e.strataOffset} ${describeEvent(e)}`);
    assert.ok(expected.some((e) => e.endsWith('FRAMEWORK_REMOVED resume-a')));

    for (const [media, how] of [
      ['application/json', 'body'],
      ['application/x-protobuf', 'header'],
    ] as const) {
      const resumed = await stream(
        media,
        how === 'body'
          ? { resumeAfter, masterId: String(witness.headers['strata-master-id']) }
          : { headers: { 'Strata-Resume-After': String(resumeAfter) } },
      );
      assert.equal(resumed.status, 200);
      const hello = await resumed.nextOfType(Event_Type.SUBSCRIBED);
      assert.equal(hello.subscribed?.getState, undefined, 'no snapshot when resuming');
      assert.equal(hello.strataOffset, resumeAfter);
      assert.equal(resumed.events[1]?.type, Event_Type.HEARTBEAT);
      await resumed.next((e) => describeEvent(e).endsWith('FRAMEWORK_ADDED resume-b'));
      const replayed = resumed.changes().map((e) => `${e.strataOffset} ${describeEvent(e)}`);
      assert.deepEqual(replayed, expected, how);
    }
  });
});

describe('operator event stream limits', { timeout: 60_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  const streams: OperatorStream[] = [];
  const schedulers: TestScheduler[] = [];

  before(async () => {
    master = await startMasterProcess([
      '--max_operator_event_stream_subscribers=2',
      '--operator_event_replay_capacity=2',
      '--logging_level=warn',
    ]);
  });
  after(async () => {
    for (const s of streams) s.close();
    for (const s of schedulers) s.close();
    await master.process.stop();
  });
  const open = async (options = {}) => {
    const s = await new OperatorStream(master.url).open(options);
    streams.push(s);
    return s;
  };
  const subscribeFramework = async (name: string) => {
    const s = new TestScheduler(master.url);
    schedulers.push(s);
    await s.subscribe(frameworkInfo(name));
    await s.nextOfType(SchedulerEvent.SUBSCRIBED);
  };

  it('a resume whose events were evicted, or that names another master, is a 410 asking to resync', async () => {
    for (const name of ['f1', 'f2', 'f3']) await subscribeFramework(name);
    const tooOld = await open({ resumeAfter: 0n });
    assert.equal(tooOld.status, 410);
    assert.match(
      tooOld.errorBody,
      /after offset 0: the oldest event still kept is 2\. SUBSCRIBE again without/,
    );
    const ahead = await open({ resumeAfter: 99n });
    assert.equal(ahead.status, 410);
    const otherMaster = await open({ resumeAfter: 2n, masterId: 'another-master' });
    assert.equal(otherMaster.status, 410);
    assert.match(otherMaster.errorBody, /master 'another-master'/);
    const fine = await open({ resumeAfter: 1n });
    assert.equal(fine.status, 200);
    await fine.next((e) => describeEvent(e) === 'FRAMEWORK_ADDED f3');
    assert.deepEqual(fine.changes().map(describeEvent), ['FRAMEWORK_ADDED f2', 'FRAMEWORK_ADDED f3']);
    const badHeader = await open({ headers: { 'Strata-Resume-After': 'soon' } });
    assert.equal(badHeader.status, 400);
    fine.close();
  });

  it('O31: beyond the configured maximum the oldest stream is closed and the new one works', async () => {
    const oldest = await open();
    await oldest.nextOfType(Event_Type.SUBSCRIBED);
    const second = await open();
    await second.nextOfType(Event_Type.SUBSCRIBED);
    const third = await open();
    await third.nextOfType(Event_Type.SUBSCRIBED);
    await oldest.untilClosed();
    assert.equal(second.closed, false);
    await subscribeFramework('o31');
    const added = await third.nextOfType(Event_Type.FRAMEWORK_ADDED);
    assert.equal(added.frameworkAdded?.framework?.frameworkInfo?.name, 'o31');
    const metrics = await operatorCall(master.url, { type: Call_Type.GET_METRICS, getMetrics: {} });
    const gauge = metrics.response!.getMetrics!.metrics.find(
      (m) => m.name === 'master/operator_event_stream_subscribers',
    );
    assert.equal(gauge?.value, 2);
  });
});
