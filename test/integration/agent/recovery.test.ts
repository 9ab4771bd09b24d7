/**
 * Agent restart recovery with real processes (mesos-internals.md 4.9): `strata master`,
 * `strata agent` SIGKILLed and started again on the same port and work_dir, the built-in command
 * executor, and a scheduler written from the v1 spec that acknowledges what it sees.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeUpdateLog, replayUpdates } from '../../../src/agent/checkpoint.js';
import {
  type Offer,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { eventually } from '../../support/eventually.js';
import { freePort, StrataProcess, startMasterProcess, tempDir } from '../../support/processes.js';
import { post, TestScheduler, withTimeout } from '../../support/scheduler-client.js';

const MULTI_ROLE = 6;
const PARTITION_AWARE = 5;
const TASK_CPUS = 0.1;
const TASK_MEM = 16;
/** The command executor's own allowance, which the offer must also cover. */
const EXECUTOR_CPUS = 0.1;
const EXECUTOR_MEM = 32;

/** Pids of processes whose working directory is inside `directory`. */
function processesUnder(directory: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(directory)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to see
    }
  }
  return pids;
}

function killProcessesUnder(directory: string): void {
  for (const pid of processesUnder(directory)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function scalar(offer: Offer, name: string): number {
  return offer.resources.filter((r) => r.name === name).reduce((sum, r) => sum + (r.scalar?.value ?? 0), 0);
}

const uuidHex = (status: TaskStatus) => Buffer.from(status.uuid).toString('hex');

/** One agent process that can be SIGKILLed and started again on the same port and work_dir. */
class RestartableAgent {
  process: StrataProcess | undefined;
  readonly workDir = tempDir('agent-recovery');
  readonly bootIdFile = join(this.workDir, '..', `${this.workDir.split('/').pop()}-boot_id`);
  port = 0;

  constructor(
    readonly masterPort: number,
    readonly flags: string[] = [],
  ) {
    writeFileSync(this.bootIdFile, 'boot-1\n');
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(extra: string[] = []): Promise<StrataProcess> {
    if (this.port === 0) this.port = await freePort();
    const agent = new StrataProcess(
      `agent:${this.port}`,
      [
        'agent',
        `--master=127.0.0.1:${this.masterPort}`,
        '--ip=127.0.0.1',
        `--port=${this.port}`,
        `--work_dir=${this.workDir}`,
        '--resources=cpus:4;mem:2048;disk:1024;ports:[31000-32000]',
        '--registration_backoff_factor=100ms',
        '--executor_reregistration_timeout=5secs',
        '--executor_shutdown_grace_period=3secs',
        '--logging_level=info',
        ...this.flags,
        ...extra,
      ],
      { STRATA_BOOT_ID_FILE: this.bootIdFile },
    );
    this.process = agent;
    await agent.waitForHealth(`${this.url}/health`);
    return agent;
  }

  /** The agent id once the master has given (or confirmed) one. */
  async registeredId(notThis?: string): Promise<string> {
    return eventually('the agent to register', async () => {
      try {
        const state = (await (await fetch(`${this.url}/state`)).json()) as { id?: string };
        return state.id && state.id !== notThis ? state.id : undefined;
      } catch {
        return undefined;
      }
    });
  }

  runDir(agentId: string, frameworkId: string, executorId: string): string {
    return join(
      this.workDir,
      'meta',
      'slaves',
      agentId,
      'frameworks',
      frameworkId,
      'executors',
      executorId,
      'runs',
      'latest',
    );
  }

  /** The executor's pid from the checkpoint (`pids/forked.pid`). */
  executorPid(agentId: string, frameworkId: string, executorId: string): number {
    return Number(
      readFileSync(join(this.runDir(agentId, frameworkId, executorId), 'pids', 'forked.pid'), 'utf8'),
    );
  }

  /** Updates of a task the checkpoint still holds unacknowledged. */
  pendingInCheckpoint(agentId: string, frameworkId: string, taskId: string): number {
    const path = join(this.runDir(agentId, frameworkId, taskId), 'tasks', taskId, 'task.updates');
    return replayUpdates(decodeUpdateLog(readFileSync(path)).records).pending.length;
  }

  async cleanup(): Promise<void> {
    await this.process?.stop();
    killProcessesUnder(this.workDir);
    rmSync(this.bootIdFile, { force: true });
  }
}

/**
 * Acknowledges every update that carries a uuid once (unless `hold` says to keep it back) and
 * records what the scheduler saw. An update whose uuid was acknowledged more than a second before
 * it arrived is a duplicate after acknowledgement: what the agent must never produce. One arriving
 * sooner may have been resent while the acknowledgement was on its way (at-least-once delivery,
 * as in Mesos); those are kept apart in `crossedAck`.
 */
class Acknowledger {
  readonly seen: TaskStatus[] = [];
  readonly acked = new Set<string>();
  readonly duplicatesAfterAck: string[] = [];
  readonly crossedAck: string[] = [];
  private readonly ackedAt = new Map<string, number>();
  /** Master-generated updates (reconciliation, lost agents): no uuid. */
  readonly withoutUuid: TaskStatus[] = [];
  private stopped = false;

  constructor(
    readonly scheduler: TestScheduler,
    private readonly hold: (status: TaskStatus) => boolean = () => false,
  ) {
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let status: TaskStatus | undefined;
      try {
        status = (await this.scheduler.nextOfType(Event_Type.UPDATE, 600_000)).update?.status;
      } catch {
        return;
      }
      if (!status) continue;
      if (status.uuid.length === 0) {
        this.withoutUuid.push(status);
        continue;
      }
      const key = `${status.taskId?.value}/${uuidHex(status)}`;
      if (this.acked.has(key)) {
        const at = this.ackedAt.get(key);
        const late = at !== undefined && Date.now() - at > 1000;
        (late ? this.duplicatesAfterAck : this.crossedAck).push(`${key} ${TaskState[status.state]}`);
        continue;
      }
      this.seen.push(status);
      if (!this.hold(status)) await this.ack(status);
    }
  }

  async ack(status: TaskStatus): Promise<void> {
    this.acked.add(`${status.taskId?.value}/${uuidHex(status)}`);
    const result = await this.scheduler.call({
      type: Call_Type.ACKNOWLEDGE,
      acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
    });
    assert.equal(result.status, 202, result.body);
    this.ackedAt.set(`${status.taskId?.value}/${uuidHex(status)}`, Date.now());
  }

  states(taskId: string): TaskState[] {
    return this.seen.filter((s) => s.taskId?.value === taskId).map((s) => s.state);
  }

  stop(): void {
    this.stopped = true;
  }
}

async function subscribe(
  masterUrl: string,
  name: string,
  extra: { checkpoint?: boolean; partitionAware?: boolean } = {},
) {
  return new TestScheduler(masterUrl).subscribe({
    user: 'root',
    name,
    roles: ['*'],
    checkpoint: extra.checkpoint ?? true,
    capabilities: [{ type: MULTI_ROLE }, ...(extra.partitionAware ? [{ type: PARTITION_AWARE }] : [])],
  });
}

/** Launches command tasks on `agentId` from its offers (each task plus its executor's allowance). */
async function launch(
  scheduler: TestScheduler,
  agentId: string,
  tasks: { id: string; command: string }[],
): Promise<void> {
  const pending = [...tasks];
  while (pending.length > 0) {
    const event = await scheduler.nextOfType(Event_Type.OFFERS, 20_000);
    for (const offer of event.offers?.offers ?? []) {
      const mine = offer.agentId?.value === agentId;
      let cpus = scalar(offer, 'cpus');
      let mem = scalar(offer, 'mem');
      const batch = [];
      while (
        mine &&
        pending.length > 0 &&
        cpus >= TASK_CPUS + EXECUTOR_CPUS - 1e-9 &&
        mem >= TASK_MEM + EXECUTOR_MEM
      ) {
        const task = pending.shift()!;
        batch.push({
          name: task.id,
          taskId: { value: task.id },
          agentId: offer.agentId!,
          command: { value: task.command },
          resources: [
            { name: 'cpus', type: 0, scalar: { value: TASK_CPUS } },
            { name: 'mem', type: 0, scalar: { value: TASK_MEM } },
          ],
        });
        cpus -= TASK_CPUS + EXECUTOR_CPUS;
        mem -= TASK_MEM + EXECUTOR_MEM;
      }
      const result = await scheduler.call({
        type: Call_Type.ACCEPT,
        accept: {
          offerIds: [offer.id!],
          operations: batch.length > 0 ? [{ type: 1, launch: { taskInfos: batch } }] : [],
          filters: { refuseSeconds: mine ? 0 : 3600 },
        },
      });
      assert.equal(result.status, 202, result.body);
    }
  }
}

async function waitForStates(
  acks: Acknowledger,
  taskIds: readonly string[],
  state: TaskState,
  timeoutMs = 30_000,
): Promise<void> {
  await eventually(
    `${TaskState[state]} for ${taskIds.join(', ')}`,
    () => (taskIds.every((id) => acks.states(id).includes(state)) ? true : undefined),
    timeoutMs,
  );
}

describe('agent restart recovery', { timeout: 300_000 }, () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function cluster() {
    const master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    cleanups.push(() => master.process.stop().then(() => undefined));
    return master;
  }

  function agentOn(masterPort: number, flags: string[] = []): RestartableAgent {
    const agent = new RestartableAgent(masterPort, flags);
    cleanups.push(() => agent.cleanup());
    return agent;
  }

  it('SIGKILL and restart with 10 checkpointed tasks running: all still RUNNING, each update seen once after its ack, held updates delivered', async () => {
    const master = await cluster();
    const agent = agentOn(master.port);
    await agent.start();
    const agentId = await agent.registeredId();

    const scheduler = await subscribe(master.url, 'recovery');
    cleanups.push(() => scheduler.close());
    const held = 'sleeper-0';
    const acks = new Acknowledger(
      scheduler,
      (s) => s.taskId?.value === held && s.state === TaskState.TASK_RUNNING,
    );
    cleanups.push(() => acks.stop());
    const sleepers = Array.from({ length: 10 }, (_, i) => `sleeper-${i}`);
    const gate = join(agent.workDir, 'gate');
    await launch(scheduler, agentId, [
      ...sleepers.map((id) => ({ id, command: 'sleep 600' })),
      { id: 'gated', command: `while [ ! -e ${gate} ]; do sleep 0.1; done` },
    ]);
    await waitForStates(acks, [...sleepers, 'gated'], TaskState.TASK_RUNNING);
    const frameworkId = scheduler.frameworkId;
    const heldUpdate = acks.seen.find((s) => s.taskId?.value === held && s.state === TaskState.TASK_RUNNING)!;

    // Every acknowledgement has reached the agent's checkpoint; the held RUNNING has not.
    await eventually('acknowledgements in the checkpoint', () =>
      [...sleepers, 'gated'].every(
        (id) => agent.pendingInCheckpoint(agentId, frameworkId, id) === (id === held ? 1 : 0),
      )
        ? true
        : undefined,
    );
    const pids = sleepers.map((id) => agent.executorPid(agentId, frameworkId, id));

    await agent.process!.kill();
    for (const pid of pids) assert.doesNotThrow(() => process.kill(pid, 0), 'executors outlive the agent');
    // The gated task finishes while the agent is down: its executor keeps TASK_FINISHED until it
    // can re-subscribe with it.
    writeFileSync(gate, '');
    await sleep(1000);

    const restarted = await agent.start();
    assert.equal(await agent.registeredId(), agentId, 'the agent keeps its id');
    await waitForStates(acks, ['gated'], TaskState.TASK_FINISHED);
    // The update held back before the kill comes again (same uuid), after the restart.
    await eventually('the held update again', () =>
      scheduler.events.filter(
        (e) =>
          e.type === Event_Type.UPDATE &&
          e.update?.status?.taskId?.value === held &&
          uuidHex(e.update.status) === uuidHex(heldUpdate),
      ).length >= 2
        ? true
        : undefined,
    );
    await acks.ack(heldUpdate);

    const reconcile = await scheduler.call({
      type: Call_Type.RECONCILE,
      reconcile: { tasks: sleepers.map((id) => ({ taskId: { value: id }, agentId: { value: agentId } })) },
    });
    assert.equal(reconcile.status, 202, reconcile.body);
    const reconciled = await eventually('reconciliation of every sleeper', () => {
      const latest = new Map(acks.withoutUuid.map((s) => [s.taskId?.value ?? '', s]));
      return sleepers.every((id) => latest.has(id)) ? latest : undefined;
    });
    for (const id of sleepers) {
      assert.equal(reconciled.get(id)?.state, TaskState.TASK_RUNNING, `${id} after the restart`);
      assert.equal(reconciled.get(id)?.reason, TaskStatus_Reason.RECONCILIATION);
    }
    for (const pid of pids) assert.doesNotThrow(() => process.kill(pid, 0), 'the same executors still run');

    // Give resends time to show up if there were any.
    await sleep(2000);
    assert.deepEqual(acks.duplicatesAfterAck, [], 'no update arrives again after its acknowledgement');
    for (const id of sleepers) {
      const states = acks.states(id);
      assert.deepEqual(
        states.filter((s) => s !== TaskState.TASK_RUNNING || id !== held),
        id === held ? [TaskState.TASK_STARTING] : [TaskState.TASK_STARTING, TaskState.TASK_RUNNING],
        `${id}: ${states.map((s) => TaskState[s])}`,
      );
    }
    assert.deepEqual(
      acks.states('gated').filter((s) => s === TaskState.TASK_FINISHED),
      [TaskState.TASK_FINISHED],
    );
    assert.match(restarted.output, /executor re-attached/);

    await scheduler.call({ type: Call_Type.TEARDOWN });
    await eventually('executors shut down after TEARDOWN', () =>
      processesUnder(join(agent.workDir, 'slaves')).length === 0 ? true : undefined,
    );
  });

  it('restart after a reboot (new boot id): a new agent id, the old tasks LOST (GONE when partition-aware), old executors killed', async () => {
    const master = await cluster();
    const agent = agentOn(master.port);
    await agent.start();
    const oldId = await agent.registeredId();
    const plain = await subscribe(master.url, 'reboot-plain');
    const aware = await subscribe(master.url, 'reboot-aware', { partitionAware: true });
    cleanups.push(() => plain.close());
    cleanups.push(() => aware.close());
    const plainAcks = new Acknowledger(plain);
    const awareAcks = new Acknowledger(aware);
    cleanups.push(() => plainAcks.stop());
    cleanups.push(() => awareAcks.stop());
    await Promise.all([
      launch(plain, oldId, [{ id: 'plain-1', command: 'sleep 600' }]),
      launch(aware, oldId, [{ id: 'aware-1', command: 'sleep 600' }]),
    ]);
    await waitForStates(plainAcks, ['plain-1'], TaskState.TASK_RUNNING);
    await waitForStates(awareAcks, ['aware-1'], TaskState.TASK_RUNNING);
    assert.ok(processesUnder(join(agent.workDir, 'slaves')).length > 0);

    await agent.process!.kill();
    writeFileSync(agent.bootIdFile, 'boot-2\n');
    const restarted = await agent.start();
    const newId = await agent.registeredId(oldId);
    assert.notEqual(newId, oldId);
    assert.match(restarted.output, /the host rebooted since this agent last ran/);

    const lost = await eventually('the plain task reported lost', () =>
      plainAcks.withoutUuid.find((s) => s.taskId?.value === 'plain-1'),
    );
    assert.equal(lost.state, TaskState.TASK_LOST);
    assert.equal(lost.reason, TaskStatus_Reason.AGENT_REMOVED);
    const gone = await eventually('the partition-aware task reported gone', () =>
      awareAcks.withoutUuid.find((s) => s.taskId?.value === 'aware-1'),
    );
    assert.equal(gone.state, TaskState.TASK_GONE);
    // What the old agent left running is killed as orphans.
    await eventually('the old executors and tasks gone', () =>
      processesUnder(join(agent.workDir, 'slaves')).length === 0 ? true : undefined,
    );
    assert.equal(readFileSync(join(agent.workDir, 'meta', 'boot_id'), 'utf8').trim(), 'boot-2');
  });

  it('--recover=cleanup kills the executors (and orphans) and exits; the next start reports the tasks ended', async () => {
    const master = await cluster();
    const agent = agentOn(master.port);
    await agent.start();
    const agentId = await agent.registeredId();
    const checkpointing = await subscribe(master.url, 'cleanup');
    const plain = await subscribe(master.url, 'cleanup-no-checkpoint', { checkpoint: false });
    cleanups.push(() => checkpointing.close());
    cleanups.push(() => plain.close());
    const acks = new Acknowledger(checkpointing);
    const plainAcks = new Acknowledger(plain);
    cleanups.push(() => acks.stop());
    cleanups.push(() => plainAcks.stop());
    await Promise.all([
      launch(checkpointing, agentId, [
        { id: 'kept-1', command: 'sleep 600' },
        { id: 'kept-2', command: 'sleep 600' },
      ]),
      launch(plain, agentId, [{ id: 'orphan-1', command: 'sleep 600' }]),
    ]);
    await waitForStates(acks, ['kept-1', 'kept-2'], TaskState.TASK_RUNNING);
    await waitForStates(plainAcks, ['orphan-1'], TaskState.TASK_RUNNING);
    const sandboxes = join(agent.workDir, 'slaves');
    assert.equal(processesUnder(sandboxes).length >= 6, true, 'three executors and three tasks run');

    await agent.process!.kill();
    const cleaning = await agent.start(['--recover=cleanup']);
    const code = await withTimeout(cleaning.waitForExit(), 30_000, 'the cleanup agent to exit');
    assert.equal(code, 0, cleaning.output);
    assert.deepEqual(processesUnder(sandboxes), [], 'no executor or task survives cleanup');

    // Started normally again, it is the same agent and tells what became of the tasks.
    await agent.start();
    assert.equal(await agent.registeredId(), agentId);
    await eventually('terminal updates of the cleaned-up tasks', () =>
      ['kept-1', 'kept-2'].every((id) =>
        acks.states(id).some((s) => s === TaskState.TASK_FAILED || s === TaskState.TASK_KILLED),
      )
        ? true
        : undefined,
    );
    await sleep(500);
    assert.deepEqual(acks.duplicatesAfterAck, []);
  });

  it('an executor that does not re-subscribe in time: 503 until recovery ends, then its task is LOST', async () => {
    const master = await cluster();
    const agent = agentOn(master.port, ['--executor_reregistration_timeout=3secs']);
    await agent.start();
    const agentId = await agent.registeredId();
    const scheduler = await subscribe(master.url, 'laggard');
    cleanups.push(() => scheduler.close());
    const acks = new Acknowledger(scheduler);
    cleanups.push(() => acks.stop());
    await launch(scheduler, agentId, [{ id: 'frozen', command: 'sleep 600' }]);
    await waitForStates(acks, ['frozen'], TaskState.TASK_RUNNING);
    await eventually('acknowledgements in the checkpoint', () =>
      agent.pendingInCheckpoint(agentId, scheduler.frameworkId, 'frozen') === 0 ? true : undefined,
    );
    const pid = agent.executorPid(agentId, scheduler.frameworkId, 'frozen');

    await agent.process!.kill();
    process.kill(pid, 'SIGSTOP');
    await agent.start();
    const during = await post(`${agent.url}/api/v1`, JSON.stringify({ type: 'GET_HEALTH' }), {
      'Content-Type': 'application/json',
      Accept: 'application/json',
    });
    assert.equal(during.status, 503);
    assert.equal(during.body, 'Agent has not finished recovery');
    const executorCall = await post(
      `${agent.url}/api/v1/executor`,
      JSON.stringify({
        type: 'MESSAGE',
        framework_id: { value: scheduler.frameworkId },
        executor_id: { value: 'frozen' },
        message: { data: '' },
      }),
      { 'Content-Type': 'application/json' },
    );
    assert.equal(executorCall.status, 503);
    // E15: a SUBSCRIBE before recovery is over is refused the same way, unless it comes from an
    // executor the agent is waiting for.
    const subscribeCall = await post(
      `${agent.url}/api/v1/executor`,
      JSON.stringify({
        type: 'SUBSCRIBE',
        framework_id: { value: scheduler.frameworkId },
        executor_id: { value: 'not-recovered' },
        subscribe: {},
      }),
      { 'Content-Type': 'application/json', Accept: 'application/json' },
    );
    assert.equal(subscribeCall.status, 503);

    const lost = await eventually(
      'the frozen task lost',
      () => acks.seen.find((s) => s.taskId?.value === 'frozen' && s.state === TaskState.TASK_LOST),
      30_000,
    );
    assert.equal(lost.reason, TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT);
    const after = await post(`${agent.url}/api/v1`, JSON.stringify({ type: 'GET_HEALTH' }), {
      'Content-Type': 'application/json',
      Accept: 'application/json',
    });
    assert.equal(after.status, 200);
    await eventually('the frozen executor and its task gone', () =>
      processesUnder(join(agent.workDir, 'slaves')).length === 0 ? true : undefined,
    );
    assert.equal(existsSync(`/proc/${pid}/cwd`) && processesUnder(agent.workDir).includes(pid), false);
  });
});
