/**
 * Maintenance and agent control with real processes on loopback (reference mesos-v1-api.md
 * sections 4.1 and 8.4 case O21, mesos-internals.md section 5.9): schedules and their refusals
 * (nothing half-applied), machines down and up (the agent shut down, refused while down, back
 * after), inverse offers to frameworks with tasks on a draining machine and their answers in the
 * maintenance status, offers with `unavailability`, DRAIN_AGENT with running tasks, and
 * DEACTIVATE/REACTIVATE_AGENT. Calls go in JSON and in protobuf.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { WireMediaType } from '../../../src/wire/codec.js';
import { InverseOfferStatus_Status } from '../../../src/wire/gen/mesos/v1/allocator/allocator_pb.js';
import type { ScheduleSchema } from '../../../src/wire/gen/mesos/v1/maintenance/maintenance_pb.js';
import { Call_Type } from '../../../src/wire/gen/mesos/v1/master/master_pb.js';
import { DrainState, type Offer, TaskState } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  type Event,
  Call_Type as SchedulerCall,
  Event_Type as SchedulerEvent,
} from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { operatorCall, post } from '../../support/operator-client.js';
import {
  killProcessesUnder,
  type StrataProcess,
  startAgentProcess,
  startMasterProcess,
} from '../../support/processes.js';
import { TestScheduler, withTimeout } from '../../support/scheduler-client.js';

const MULTI_ROLE = 6;
const MEDIA: WireMediaType[] = ['application/json', 'application/x-protobuf'];
const AGENT_RESOURCES = '--resources=cpus:2;mem:1024;disk:1024;ports:[31000-32000]';
const START_NS = 1_900_000_000_000_000_000n;
const HOUR_NS = 3_600_000_000_000n;

function frameworkInfo(name: string) {
  return { user: 'test', name, roles: ['*'], failoverTimeout: 60, capabilities: [{ type: MULTI_ROLE }] };
}

function windowOf(hostnames: string[], start = START_NS) {
  return {
    machineIds: hostnames.map((hostname) => ({ hostname })),
    unavailability: { start: { nanoseconds: start }, duration: { nanoseconds: HOUR_NS } },
  };
}

function offerOn(agentId: string) {
  return (e: Event) =>
    e.type === SchedulerEvent.OFFERS && (e.offers?.offers ?? []).some((o) => o.agentId?.value === agentId);
}

/** Accepts the next offer with a command task; leftovers are refused for `refuseSeconds`. */
async function launch(
  scheduler: TestScheduler,
  taskId: string,
  command: string,
  refuseSeconds = 0,
): Promise<Offer> {
  const offers = await scheduler.nextOfType(SchedulerEvent.OFFERS, 20_000);
  const offer = offers.offers!.offers[0]!;
  const res = await scheduler.call({
    type: SchedulerCall.ACCEPT,
    accept: {
      offerIds: [offer.id!],
      operations: [
        {
          type: 1 /* LAUNCH */,
          launch: {
            taskInfos: [
              {
                name: taskId,
                taskId: { value: taskId },
                agentId: offer.agentId!,
                command: { value: command },
                resources: [
                  { name: 'cpus', type: 0, scalar: { value: 0.1 } },
                  { name: 'mem', type: 0, scalar: { value: 16 } },
                ],
              },
            ],
          },
        },
      ],
      filters: { refuseSeconds },
    },
  });
  assert.equal(res.status, 202);
  return offer;
}

/** Waits for the task's update to `state`, acknowledging every update on the way. */
async function awaitState(scheduler: TestScheduler, taskId: string, state: TaskState, timeoutMs = 30_000) {
  for (;;) {
    const event = await scheduler.next(
      (e) => e.type === SchedulerEvent.UPDATE && e.update?.status?.taskId?.value === taskId,
      timeoutMs,
      `update of ${taskId} to ${TaskState[state]}`,
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

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('master maintenance and agent control', { timeout: 240_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  const schedulers: TestScheduler[] = [];
  const agents: StrataProcess[] = [];
  const agentDirs: string[] = [];

  const scheduler = () => {
    const s = new TestScheduler(master.url);
    schedulers.push(s);
    return s;
  };
  /** Tears down every framework so far, so that the next test's framework gets the offers. */
  const tearDownFrameworks = async () => {
    for (const s of schedulers.splice(0)) {
      if (!s.closed) await s.call({ type: SchedulerCall.TEARDOWN });
      s.close();
    }
  };
  const agent = async (hostname: string) => {
    const started = await startAgentProcess(master.port, [
      AGENT_RESOURCES,
      `--hostname=${hostname}`,
      '--logging_level=warn',
    ]);
    agents.push(started.process);
    agentDirs.push(started.workDir);
    return started;
  };
  const call = (init: Parameters<typeof operatorCall>[1], media: WireMediaType = 'application/json') =>
    operatorCall(master.url, init, media);
  const updateSchedule = (schedule: MessageInitShape<typeof ScheduleSchema>, media?: WireMediaType) =>
    call({ type: Call_Type.UPDATE_MAINTENANCE_SCHEDULE, updateMaintenanceSchedule: { schedule } }, media);
  const getSchedule = async (media?: WireMediaType) =>
    (await call({ type: Call_Type.GET_MAINTENANCE_SCHEDULE }, media)).response!.getMaintenanceSchedule!
      .schedule!;
  const getStatus = async (media?: WireMediaType) =>
    (await call({ type: Call_Type.GET_MAINTENANCE_STATUS }, media)).response!.getMaintenanceStatus!.status!;
  const agentEntry = async (agentId: string) =>
    (await call({ type: Call_Type.GET_AGENTS })).response!.getAgents!.agents.find(
      (a) => a.agentInfo?.id?.value === agentId,
    );
  const stateSlave = async (agentId: string) => {
    const state = (await (await fetch(`${master.url}/master/state`)).json()) as {
      slaves: Array<{ id: string; active: boolean; deactivated: boolean; drain_info?: { state: string } }>;
    };
    return state.slaves.find((s) => s.id === agentId);
  };

  before(async () => {
    master = await startMasterProcess([
      '--allocation_interval=50ms',
      '--heartbeat_interval=300ms',
      '--agent_ping_timeout=200ms',
      '--max_agent_ping_timeouts=3',
      '--logging_level=warn',
    ]);
  });
  after(async () => {
    for (const s of schedulers) s.close();
    for (const a of agents) await a.stop();
    await master.process.stop();
    for (const dir of agentDirs) killProcessesUnder(dir);
  });

  for (const media of MEDIA) {
    it(`O21 and schedule validation: refusals apply nothing (${media})`, async () => {
      const host = `o21-${media === 'application/json' ? 'json' : 'pb'}.example`;
      const machine = { hostname: host };
      const before = await getSchedule(media);

      const refusals: Array<[MessageInitShape<typeof ScheduleSchema>, RegExp]> = [
        [{ windows: [windowOf([host]), { ...windowOf([]), machineIds: [{}] }] }, /Both 'hostname' and 'ip'/],
        [
          { windows: [windowOf([host]), windowOf([host.toUpperCase()], START_NS + HOUR_NS)] },
          /more than once/,
        ],
        [{ windows: [windowOf([host]), windowOf([])] }, /List of machines in maintenance window 1 is empty/],
        [
          {
            windows: [{ machineIds: [{ ip: '999.1.1.1' }], unavailability: { start: { nanoseconds: 1n } } }],
          },
          /Invalid 'ip'/,
        ],
        [
          {
            windows: [
              {
                machineIds: [machine],
                unavailability: { start: { nanoseconds: 1n }, duration: { nanoseconds: -1n } },
              },
            ],
          },
          /'duration' .* is negative/,
        ],
      ];
      for (const [schedule, text] of refusals) {
        const refused = await updateSchedule(schedule, media);
        assert.equal(refused.status, 400, refused.body);
        assert.match(refused.body, text);
      }
      assert.deepEqual(await getSchedule(media), before, 'a refused schedule changes nothing');

      // O21: not in the schedule → 400; in it → 200 and DOWN.
      const start = { type: Call_Type.START_MAINTENANCE, startMaintenance: { machines: [machine] } };
      const notScheduled = await call(start, media);
      assert.equal(notScheduled.status, 400);
      assert.match(notScheduled.body, /is not part of a maintenance schedule/);
      assert.equal(
        (await call({ type: Call_Type.START_MAINTENANCE, startMaintenance: { machines: [] } }, media)).status,
        400,
      );

      assert.equal((await updateSchedule({ windows: [windowOf([host])] }, media)).status, 200);
      const scheduled = await getSchedule(media);
      assert.deepEqual(
        scheduled.windows.map((w) => [
          w.machineIds.map((m) => m.hostname),
          w.unavailability?.start?.nanoseconds,
        ]),
        [[[host], START_NS]],
      );
      let status = await getStatus(media);
      assert.deepEqual(
        status.drainingMachines.map((m) => m.id?.hostname),
        [host],
      );
      assert.deepEqual(status.downMachines, []);

      const down = await call(start, media);
      assert.deepEqual([down.status, down.body], [200, '']);
      status = await getStatus(media);
      assert.deepEqual(
        status.downMachines.map((m) => m.hostname),
        [host],
      );
      assert.deepEqual(status.drainingMachines, []);
      const again = await call(start, media);
      assert.equal(again.status, 400);
      assert.match(again.body, /not in DRAINING mode/);

      // A DOWN machine stays in the schedule.
      const dropDown = await updateSchedule({ windows: [windowOf(['other.example'])] }, media);
      assert.equal(dropDown.status, 400);
      assert.match(dropDown.body, /is DOWN and cannot be removed from the schedule/);
      assert.deepEqual(await getSchedule(media), scheduled);

      // Up: out of the schedule, and a second STOP is refused.
      const stop = { type: Call_Type.STOP_MAINTENANCE, stopMaintenance: { machines: [machine] } };
      assert.equal((await call(stop, media)).status, 200);
      assert.deepEqual((await getSchedule(media)).windows, []);
      assert.deepEqual((await getStatus(media)).downMachines, []);
      const stopAgain = await call(stop, media);
      assert.equal(stopAgain.status, 400);
      assert.match(stopAgain.body, /is not part of a maintenance schedule/);
    });
  }

  it('inverse offers reach frameworks with tasks on a draining machine; answers show in the status; offers carry unavailability; machine down and up', async () => {
    const host = 'maint-a.example';
    await tearDownFrameworks();
    const { process: agentProcess } = await agent(host);

    const first = await scheduler().subscribe(frameworkInfo('maint-accepts'));
    await first.nextOfType(SchedulerEvent.SUBSCRIBED);
    // The first framework leaves the rest of the agent to the second one.
    const offer = await launch(first, 'maint-1', 'sleep 60', 3600);
    const agentId = offer.agentId!.value;
    assert.equal(offer.unavailability, undefined, 'no unavailability before a schedule');
    await awaitState(first, 'maint-1', TaskState.TASK_RUNNING);

    const second = await scheduler().subscribe(frameworkInfo('maint-declines'));
    await second.nextOfType(SchedulerEvent.SUBSCRIBED);
    await launch(second, 'maint-2', 'sleep 60');
    await awaitState(second, 'maint-2', TaskState.TASK_RUNNING);

    assert.equal((await updateSchedule({ windows: [windowOf([host.toUpperCase()])] })).status, 200);

    // Offers from the agent now say when it goes away.
    const withUnavailability = await Promise.any(
      [first, second].map((s) =>
        s.next(
          (e) =>
            offerOn(agentId)(e) &&
            e.offers!.offers.some((o) => o.unavailability?.start?.nanoseconds === START_NS),
          20_000,
          'an offer with unavailability',
        ),
      ),
    );
    const unavailable = withUnavailability.offers!.offers.find((o) => o.agentId?.value === agentId)!;
    assert.equal(unavailable.unavailability?.duration?.nanoseconds, HOUR_NS);

    // Each framework with a task there gets one inverse offer for the agent.
    const inverseOf = async (s: TestScheduler) => {
      const event = await s.nextOfType(SchedulerEvent.INVERSE_OFFERS, 20_000);
      const inverse = event.inverseOffers!.inverseOffers.find((o) => o.agentId?.value === agentId);
      assert.ok(inverse, 'an inverse offer for the agent');
      assert.equal(inverse.frameworkId?.value, s.frameworkId);
      assert.equal(inverse.unavailability?.start?.nanoseconds, START_NS);
      assert.equal(inverse.url?.address?.hostname, host);
      return inverse;
    };
    const inverse1 = await inverseOf(first);
    const inverse2 = await inverseOf(second);

    // Before answering: UNKNOWN for both, and the inverse offers are listed in GET_FRAMEWORKS.
    let status = await getStatus();
    const machine = status.drainingMachines.find((m) => m.id?.hostname === host.toUpperCase());
    assert.ok(machine, 'the machine is draining');
    const frameworks = (await call({ type: Call_Type.GET_FRAMEWORKS })).response!.getFrameworks!.frameworks;
    assert.deepEqual(
      frameworks
        .find((f) => f.frameworkInfo?.id?.value === first.frameworkId)
        ?.inverseOffers.map((o) => o.id?.value),
      [inverse1.id!.value],
    );

    assert.equal(
      (
        await first.call({
          type: SchedulerCall.ACCEPT_INVERSE_OFFERS,
          acceptInverseOffers: { inverseOfferIds: [inverse1.id!], filters: { refuseSeconds: 3600 } },
        })
      ).status,
      202,
    );
    assert.equal(
      (
        await second.call({
          type: SchedulerCall.DECLINE_INVERSE_OFFERS,
          declineInverseOffers: { inverseOfferIds: [inverse2.id!], filters: { refuseSeconds: 3600 } },
        })
      ).status,
      202,
    );
    status = await getStatus('application/x-protobuf');
    const answers = new Map(
      status.drainingMachines
        .find((m) => m.id?.hostname === host.toUpperCase())!
        .statuses.map((s) => [s.frameworkId?.value, s.status]),
    );
    assert.equal(answers.get(first.frameworkId), InverseOfferStatus_Status.ACCEPT);
    assert.equal(answers.get(second.frameworkId), InverseOfferStatus_Status.DECLINE);
    // The legacy endpoint says the same.
    const legacy = (await (await fetch(`${master.url}/maintenance/status`)).json()) as {
      draining_machines: Array<{
        id: { hostname: string };
        statuses: Array<{ framework_id: { value: string }; status: string }>;
      }>;
    };
    const legacyMachine = legacy.draining_machines.find((m) => m.id.hostname === host.toUpperCase())!;
    assert.deepEqual(
      legacyMachine.statuses.map((s) => [s.framework_id.value, s.status]).sort(),
      [
        [first.frameworkId, 'ACCEPT'],
        [second.frameworkId, 'DECLINE'],
      ].sort(),
    );

    // /machine/down: the agent is told to shut down and its tasks are lost.
    const down = await post(
      `${master.url}/machine/down`,
      JSON.stringify([{ hostname: host.toUpperCase() }]),
      {
        'Content-Type': 'application/json',
      },
    );
    assert.equal(down.status, 200, down.body);
    await awaitState(first, 'maint-1', TaskState.TASK_LOST);
    assert.notEqual(
      await withTimeout(agentProcess.waitForExit(), 15_000, 'the agent to exit'),
      0,
      'the agent exits when its machine goes down',
    );
    assert.equal(await agentEntry(agentId), undefined);
    assert.deepEqual(
      (await getStatus()).downMachines.map((m) => m.hostname),
      [host.toUpperCase()],
    );

    // While down, an agent on that machine is refused.
    let refusedOutput = '';
    try {
      const again = await agent(host);
      await withTimeout(again.process.waitForExit(), 15_000, 'the refused agent to exit');
      refusedOutput = again.process.output;
    } catch (err) {
      refusedOutput = (err as Error).message;
    }
    assert.match(refusedOutput, /DOWN for maintenance/);

    // Up: it registers again.
    const up = await post(`${master.url}/machine/up`, JSON.stringify([{ hostname: host.toUpperCase() }]), {
      'Content-Type': 'application/json',
    });
    assert.equal(up.status, 200, up.body);
    const back = await agent(host);
    await until('the agent back up', async () => {
      const listed = (await call({ type: Call_Type.GET_AGENTS })).response!.getAgents!.agents;
      return listed.find((a) => a.agentInfo?.hostname === host);
    });
    assert.ok(back.process.running);
    await back.process.stop();
    await tearDownFrameworks();
  });

  it('DEACTIVATE_AGENT withholds offers, REACTIVATE_AGENT brings them back; DRAIN_AGENT kills tasks with a capped grace, DRAINING then DRAINED', async () => {
    await tearDownFrameworks();
    await agent('drain-b.example');
    const framework = await scheduler().subscribe(frameworkInfo('drained'));
    await framework.nextOfType(SchedulerEvent.SUBSCRIBED);
    // The task ignores SIGTERM: only the SIGKILL after the grace period ends it.
    const offer = await launch(framework, 'drain-1', "trap '' TERM; sleep 60");
    const agentId = offer.agentId!.value;
    await awaitState(framework, 'drain-1', TaskState.TASK_RUNNING);

    const unknown = await call({
      type: Call_Type.DEACTIVATE_AGENT,
      deactivateAgent: { agentId: { value: 'nope' } },
    });
    assert.deepEqual([unknown.status, unknown.body], [400, 'Unknown agent']);
    const notDeactivated = await call({
      type: Call_Type.REACTIVATE_AGENT,
      reactivateAgent: { agentId: { value: agentId } },
    });
    assert.deepEqual([notDeactivated.status, notDeactivated.body], [400, 'Agent is not deactivated']);

    // Deactivated: the held offer is rescinded and no new one comes.
    await framework.next(offerOn(agentId), 10_000, 'an offer of the leftovers');
    const deactivate = await call(
      { type: Call_Type.DEACTIVATE_AGENT, deactivateAgent: { agentId: { value: agentId } } },
      'application/x-protobuf',
    );
    assert.deepEqual([deactivate.status, deactivate.body], [200, '']);
    await framework.nextOfType(SchedulerEvent.RESCIND, 10_000);
    const entry = await agentEntry(agentId);
    assert.deepEqual([entry?.active, entry?.deactivated], [false, true]);
    assert.deepEqual(
      [(await stateSlave(agentId))?.active, (await stateSlave(agentId))?.deactivated],
      [false, true],
    );
    const seen = framework.events.length;
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(!framework.events.slice(seen).some(offerOn(agentId)), 'no offers while deactivated');

    const reactivate = await call({
      type: Call_Type.REACTIVATE_AGENT,
      reactivateAgent: { agentId: { value: agentId } },
    });
    assert.deepEqual([reactivate.status, reactivate.body], [200, '']);
    await framework.next(offerOn(agentId), 10_000, 'an offer after REACTIVATE_AGENT');
    assert.equal((await agentEntry(agentId))?.deactivated, false);

    // Drain with a 1 s cap on the grace period (the default would be 3 s).
    const drainStarted = Date.now();
    const drain = await call(
      {
        type: Call_Type.DRAIN_AGENT,
        drainAgent: { agentId: { value: agentId }, maxGracePeriod: { seconds: 1n, nanos: 0 } },
      },
      'application/x-protobuf',
    );
    assert.deepEqual([drain.status, drain.body], [200, '']);
    const drainMark = framework.events.length;
    const draining = await agentEntry(agentId);
    assert.equal(draining?.drainInfo?.state, DrainState.DRAINING);
    assert.equal(draining?.drainInfo?.config?.maxGracePeriod?.nanoseconds, 1_000_000_000n);
    assert.equal(draining?.deactivated, true);
    assert.equal((await stateSlave(agentId))?.drain_info?.state, 'DRAINING');
    const stillDraining = await call({
      type: Call_Type.REACTIVATE_AGENT,
      reactivateAgent: { agentId: { value: agentId } },
    });
    assert.deepEqual(
      [stillDraining.status, stillDraining.body],
      [400, 'Agent is still in the DRAINING state'],
    );

    await awaitState(framework, 'drain-1', TaskState.TASK_KILLED, 10_000);
    const killedAfter = Date.now() - drainStarted;
    assert.ok(
      killedAfter >= 800 && killedAfter < 2900,
      `killed after ${killedAfter} ms: the grace was capped at 1 s`,
    );

    await until('DRAINED', async () =>
      (await agentEntry(agentId))?.drainInfo?.state === DrainState.DRAINED ? true : undefined,
    );
    assert.equal((await stateSlave(agentId))?.drain_info?.state, 'DRAINED');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!framework.events.slice(drainMark).some(offerOn(agentId)), 'no offers from a draining agent');

    // Once drained it may be reactivated, and offers come back.
    const back = await call({
      type: Call_Type.REACTIVATE_AGENT,
      reactivateAgent: { agentId: { value: agentId } },
    });
    assert.deepEqual([back.status, back.body], [200, '']);
    await framework.next(offerOn(agentId), 10_000, 'an offer after the drained agent is reactivated');
    assert.equal((await agentEntry(agentId))?.drainInfo, undefined);
    await tearDownFrameworks();
  });

  it('DRAIN_AGENT with mark_gone marks the drained agent gone; unknown agents are refused (JSON)', async () => {
    const { process: agentProcess } = await agent('drain-c.example');
    const agentId = await until('the agent registered', async () => {
      const listed = (await call({ type: Call_Type.GET_AGENTS })).response!.getAgents!.agents;
      return listed.find((a) => a.agentInfo?.hostname === 'drain-c.example')?.agentInfo?.id?.value;
    });
    const unknown = await call({ type: Call_Type.DRAIN_AGENT, drainAgent: { agentId: { value: 'nope' } } });
    assert.deepEqual([unknown.status, unknown.body], [400, 'Unknown agent']);
    const drain = await call({
      type: Call_Type.DRAIN_AGENT,
      drainAgent: { agentId: { value: agentId }, markGone: true },
    });
    assert.equal(drain.status, 200, drain.body);
    await until('the agent gone', async () => ((await agentEntry(agentId)) === undefined ? true : undefined));
    assert.notEqual(
      await withTimeout(agentProcess.waitForExit(), 15_000, 'the gone agent to exit'),
      0,
      'a gone agent is shut down',
    );
  });
});
