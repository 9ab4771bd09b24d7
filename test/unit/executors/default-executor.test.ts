import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { ManualClock } from '../../../src/common/clock.js';
import { createLogger } from '../../../src/common/log.js';
import type {
  AgentCallOutcome,
  LaunchNestedContainerRequest,
  NestedContainerApi,
} from '../../../src/executors/agent-api-client.js';
import type { ExecutorLink } from '../../../src/executors/command-executor.js';
import {
  CONNECTION_LOST_KILL_TIMEOUT_MS,
  DefaultExecutor,
  WAIT_REJECTION_LIMIT,
} from '../../../src/executors/default-executor.js';
import { readExecutorEnvironment } from '../../../src/executors/environment.js';
import type {
  ExecutorConnectionState,
  ExecutorEventHandlers,
} from '../../../src/executors/executor-client.js';
import type { NestedContainerTermination } from '../../../src/executors/status.js';
import { Event_SubscribedSchema } from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import {
  type ContainerID,
  FrameworkInfo_Capability_Type,
  KillPolicySchema,
  TaskGroupInfoSchema,
  TaskIDSchema,
  type TaskInfo,
  TaskInfoSchema,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const flush = async () => {
  for (let i = 0; i < 5; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** Raw wait statuses as the agent reports them. */
const EXITED = (code: number) => code << 8;
const SIGNALLED = (signal: number) => signal;

class FakeLink implements ExecutorLink {
  state: ExecutorConnectionState = 'idle';
  readonly sent: TaskStatus[] = [];
  readonly acknowledged = new Set<string>();
  closed = false;

  get unacknowledgedUpdates(): TaskStatus[] {
    return this.sent.filter((status) => !this.acknowledged.has(Buffer.from(status.uuid).toString('hex')));
  }

  start(): void {
    this.state = 'subscribed';
  }

  sendUpdate(status: TaskStatus): void {
    this.sent.push(status);
  }

  close(): void {
    this.closed = true;
    this.state = 'closed';
  }

  /** `task:STATE` for every update, in order. */
  log(): string[] {
    return this.sent.map((status) => `${status.taskId?.value}:${TaskState[status.state]}`);
  }

  statesOf(taskId: string): string[] {
    return this.sent.filter((s) => s.taskId?.value === taskId).map((s) => TaskState[s.state]);
  }

  last(taskId: string): TaskStatus | undefined {
    return this.sent.filter((s) => s.taskId?.value === taskId).at(-1);
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * The operator API as a test drives it: launches answer at once unless held, every WAIT is a
 * deferred the test (or a signal) settles, and containers react to signals as told.
 */
class FakeContainers implements NestedContainerApi {
  readonly launches: LaunchNestedContainerRequest[] = [];
  readonly kills: string[] = [];
  readonly waits: string[] = [];
  private readonly pendingWaits = new Map<string, Deferred<AgentCallOutcome<NestedContainerTermination>>>();
  /** Answer for LAUNCH by task command value; ok unless set. */
  launchAnswer: (request: LaunchNestedContainerRequest) => AgentCallOutcome<boolean> = () => ({
    kind: 'ok',
    value: true,
  });
  heldLaunches: Deferred<AgentCallOutcome<boolean>>[] | undefined;
  /** Wait status a container ends with on SIGTERM; null ignores SIGTERM. */
  onTerm: number | null = SIGNALLED(15);
  killAnswer: (signal: number) => AgentCallOutcome<void> = () => ({ kind: 'ok', value: undefined });
  /** Value of the container each task runs in, by command value. */
  readonly containerOf = new Map<string, string>();

  constructor(private readonly clock: ManualClock) {}

  launch(request: LaunchNestedContainerRequest): Promise<AgentCallOutcome<boolean>> {
    this.launches.push(request);
    this.containerOf.set(request.command?.value ?? '', request.containerId.value);
    if (this.heldLaunches !== undefined) {
      const held = deferred<AgentCallOutcome<boolean>>();
      this.heldLaunches.push(held);
      return held.promise;
    }
    return Promise.resolve(this.launchAnswer(request));
  }

  wait(containerId: ContainerID): Promise<AgentCallOutcome<NestedContainerTermination>> {
    // As the agent: a nested container is named with its parent, or the call is invalid.
    if (containerId.parent?.value !== 'executor-container') {
      return Promise.resolve({ kind: 'rejected', httpStatus: 400, detail: 'no parent' });
    }
    this.waits.push(containerId.value);
    const pending = deferred<AgentCallOutcome<NestedContainerTermination>>();
    this.pendingWaits.set(containerId.value, pending);
    return pending.promise;
  }

  kill(containerId: ContainerID, signal: number): Promise<AgentCallOutcome<void>> {
    if (containerId.parent?.value !== 'executor-container') {
      return Promise.resolve({ kind: 'rejected', httpStatus: 400, detail: 'no parent' });
    }
    this.kills.push(`${containerId.value}:${signal}@${this.clock.now()}`);
    const answer = this.killAnswer(signal);
    if (answer.kind === 'ok') {
      if (signal === 15 && this.onTerm !== null) this.end(containerId.value, this.onTerm);
      if (signal === 9) this.end(containerId.value, SIGNALLED(9));
    }
    return Promise.resolve(answer);
  }

  /** The container ends: its pending WAIT answers with `exitStatus`. */
  end(container: string, exitStatus: number, extra: NestedContainerTermination = {}): void {
    this.answerWait(container, { kind: 'ok', value: { exitStatus, ...extra } });
  }

  answerWait(container: string, outcome: AgentCallOutcome<NestedContainerTermination>): void {
    const pending = this.pendingWaits.get(container);
    if (pending === undefined) return;
    this.pendingWaits.delete(container);
    pending.resolve(outcome);
  }

  waiting(container: string): boolean {
    return this.pendingWaits.has(container);
  }
}

function setUp(options: { killingCapable?: boolean; containerId?: boolean } = {}) {
  const clock = new ManualClock(0);
  const link = new FakeLink();
  const containers = new FakeContainers(clock);
  const exits: number[] = [];
  let handlers: Partial<ExecutorEventHandlers> = {};
  let nextId = 0;
  const environment = readExecutorEnvironment({
    MESOS_FRAMEWORK_ID: 'fw',
    MESOS_EXECUTOR_ID: 'ex',
    MESOS_AGENT_ENDPOINT: '127.0.0.1:5051',
    MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: '5secs',
  });
  const executor = new DefaultExecutor({
    environment,
    logger: createLogger('test', 'silent'),
    connect: (given) => {
      handlers = given;
      return link;
    },
    containers,
    exit: (code) => exits.push(code),
    clock,
    newContainerId: () => `c${++nextId}`,
    terminalAcknowledgementTimeoutMs: 10_000,
  });
  executor.start();
  const on = () => handlers;
  const subscribe = () =>
    on().subscribed?.(
      create(Event_SubscribedSchema, {
        executorInfo: { executorId: { value: 'ex' } },
        frameworkInfo: {
          user: 'u',
          name: 'f',
          id: { value: 'fw' },
          capabilities: options.killingCapable
            ? [{ type: FrameworkInfo_Capability_Type.TASK_KILLING_STATE }]
            : [],
        },
        agentInfo: { hostname: 'h' },
        ...(options.containerId === false ? {} : { containerId: { value: 'executor-container' } }),
      }),
    );
  subscribe();
  const acknowledgeAll = () => {
    for (const status of link.sent) {
      const key = Buffer.from(status.uuid).toString('hex');
      if (link.acknowledged.has(key)) continue;
      link.acknowledged.add(key);
      on().acknowledged?.(status.taskId!, status.uuid);
    }
  };
  return { clock, link, containers, exits, on, subscribe, acknowledgeAll, executor };
}

type TaskInit = Omit<
  Exclude<MessageInitShape<typeof TaskInfoSchema>, TaskInfo>,
  'name' | 'taskId' | 'agentId'
>;

function task(id: string, extra: TaskInit = {}): TaskInfo {
  return create(TaskInfoSchema, {
    name: id,
    taskId: { value: id },
    agentId: { value: 'a' },
    command: { value: `run ${id}` },
    ...extra,
  });
}

const group = (...tasks: TaskInfo[]) => create(TaskGroupInfoSchema, { tasks });
const taskId = (value: string) => create(TaskIDSchema, { value });
const grace = (ms: number) =>
  create(KillPolicySchema, { gracePeriod: { nanoseconds: BigInt(ms) * 1_000_000n } });

describe('DefaultExecutor', () => {
  it('runs a group: STARTING, nested launches under its own container, RUNNING, WAIT, FINISHED, exit', async () => {
    const { link, containers, exits, on, acknowledgeAll } = setUp();
    const a = task('a', { container: { type: 2 /* MESOS */ } });
    on().launchGroup?.(group(a, task('b')));
    assert.deepEqual(link.log(), ['a:TASK_STARTING', 'b:TASK_STARTING']);
    await flush();
    assert.deepEqual(link.log(), ['a:TASK_STARTING', 'b:TASK_STARTING', 'a:TASK_RUNNING', 'b:TASK_RUNNING']);

    const launch = containers.launches[0];
    assert.equal(launch?.containerId.value, 'c1');
    assert.equal(launch?.containerId.parent?.value, 'executor-container');
    assert.equal(launch?.command?.value, 'run a');
    assert.equal(launch?.container?.type, 2);
    assert.equal(containers.launches[1]?.containerId.value, 'c2');
    assert.deepEqual(containers.waits, ['c1', 'c2']);

    // Updates name the task's nested container, as Mesos' default executor does.
    const running = link.last('a');
    assert.equal(running?.containerStatus?.containerId?.value, 'c1');
    assert.equal(running?.containerStatus?.containerId?.parent?.value, 'executor-container');

    containers.end('c1', EXITED(0));
    await flush();
    assert.deepEqual(link.statesOf('a'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    assert.equal(link.last('a')?.message, 'Command exited with status 0');
    assert.deepEqual(containers.kills, [], 'a finished task does not bring its group down');

    acknowledgeAll();
    assert.deepEqual(exits, [], 'b still runs');
    containers.end('c2', EXITED(0));
    await flush();
    assert.deepEqual(link.statesOf('b'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    assert.deepEqual(exits, [], 'waits for the acknowledgements');
    acknowledgeAll();
    assert.deepEqual(exits, [0]);
    assert.ok(link.closed);
  });

  it('a failed task kills the rest of its group (TASK_KILLED), which exits with the group', async () => {
    const { link, containers, exits, acknowledgeAll, on, clock } = setUp();
    on().launchGroup?.(group(task('a'), task('b', { killPolicy: grace(7_000) })));
    await flush();
    clock.advance(1_000);
    containers.end('c1', EXITED(1));
    await flush();
    assert.deepEqual(link.statesOf('a'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    assert.equal(link.last('a')?.message, 'Command exited with status 1');
    assert.deepEqual(containers.kills, ['c2:15@1000']);
    assert.deepEqual(link.statesOf('b'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
    assert.equal(link.last('b')?.message, 'Command terminated with signal Terminated');
    acknowledgeAll();
    assert.deepEqual(exits, [0]);
  });

  it('a task killed by a signal it did not get from us is FAILED and takes its group with it', async () => {
    const { link, containers, on } = setUp();
    on().launchGroup?.(group(task('a'), task('b')));
    await flush();
    containers.end('c1', SIGNALLED(11));
    await flush();
    assert.equal(link.last('a')?.message, 'Command terminated with signal Segmentation fault');
    assert.equal(TaskState[link.last('a')!.state], 'TASK_FAILED');
    assert.equal(TaskState[link.last('b')!.state], 'TASK_KILLED');
  });

  it('KILL of one task kills the whole group: TASK_KILLING with the capability, SIGTERM, SIGKILL after each grace', async () => {
    const { link, containers, on, clock, exits, acknowledgeAll } = setUp({ killingCapable: true });
    containers.onTerm = null;
    on().launchGroup?.(
      group(task('a', { killPolicy: grace(1_000) }), task('b', { killPolicy: grace(4_000) })),
    );
    await flush();
    on().kill?.(taskId('a'), grace(2_000));
    await flush();
    assert.deepEqual(link.statesOf('a'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING']);
    assert.deepEqual(link.statesOf('b'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING']);
    assert.deepEqual(containers.kills, ['c1:15@0', 'c2:15@0']);
    // The KILL's own policy wins for the task it names; the rest of the group use theirs.
    clock.advance(2_000);
    await flush();
    assert.deepEqual(containers.kills, ['c1:15@0', 'c2:15@0', 'c1:9@2000']);
    assert.equal(TaskState[link.last('a')!.state], 'TASK_KILLED');
    assert.equal(link.last('a')?.message, 'Command terminated with signal Killed');
    clock.advance(2_000);
    await flush();
    assert.deepEqual(containers.kills, ['c1:15@0', 'c2:15@0', 'c1:9@2000', 'c2:9@4000']);
    assert.equal(TaskState[link.last('b')!.state], 'TASK_KILLED');
    acknowledgeAll();
    assert.deepEqual(exits, [0]);
  });

  it('no TASK_KILLING without the capability; a repeated KILL only brings SIGKILL forward; default grace 3 s', async () => {
    const { link, containers, on, clock } = setUp();
    containers.onTerm = null;
    on().launchGroup?.(group(task('a')));
    await flush();
    on().kill?.(taskId('a'), undefined);
    on().kill?.(taskId('a'), grace(10_000));
    await flush();
    assert.deepEqual(link.statesOf('a'), ['TASK_STARTING', 'TASK_RUNNING']);
    clock.advance(1_000);
    on().kill?.(taskId('a'), grace(500));
    clock.advance(500);
    await flush();
    assert.deepEqual(containers.kills, ['c1:15@0', 'c1:9@1500']);
    assert.deepEqual(link.statesOf('a'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
  });

  it('exit 0 after SIGTERM is FINISHED (reference §3.5: exit code 0 first), and does not kill the group', async () => {
    const { link, containers, on } = setUp();
    containers.onTerm = EXITED(0);
    on().launchGroup?.(group(task('a'), task('b')));
    await flush();
    on().kill?.(taskId('a'), undefined);
    await flush();
    assert.equal(TaskState[link.last('a')!.state], 'TASK_FINISHED');
    assert.equal(TaskState[link.last('b')!.state], 'TASK_FINISHED');
  });

  it('groups are independent: a failure in one leaves another running', async () => {
    const { link, containers, on } = setUp();
    on().launchGroup?.(group(task('a'), task('b')));
    on().launchGroup?.(group(task('x')));
    await flush();
    containers.end('c1', EXITED(2));
    await flush();
    assert.equal(TaskState[link.last('b')!.state], 'TASK_KILLED');
    assert.deepEqual(link.statesOf('x'), ['TASK_STARTING', 'TASK_RUNNING']);
    assert.ok(containers.waiting('c3'));
    assert.ok(!containers.kills.some((kill) => kill.startsWith('c3:')));
  });

  it('SHUTDOWN kills every task with the shutdown grace less 2 s, no group policy, and exits', async () => {
    const { link, containers, on, clock, exits, acknowledgeAll } = setUp({ killingCapable: true });
    containers.onTerm = null;
    on().launchGroup?.(group(task('a', { killPolicy: grace(60_000) }), task('b')));
    on().launchGroup?.(group(task('x')));
    await flush();
    on().shutdown?.();
    await flush();
    assert.deepEqual(containers.kills, ['c1:15@0', 'c2:15@0', 'c3:15@0']);
    clock.advance(3_000);
    await flush();
    assert.deepEqual(containers.kills.slice(3).sort(), ['c1:9@3000', 'c2:9@3000', 'c3:9@3000']);
    for (const id of ['a', 'b', 'x']) {
      assert.deepEqual(link.statesOf(id), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
    }
    acknowledgeAll();
    assert.deepEqual(exits, [0]);
  });

  it('SHUTDOWN with nothing launched exits at once; unacknowledged updates wait at most the shutdown grace', async () => {
    const idle = setUp();
    idle.on().shutdown?.();
    assert.deepEqual(idle.exits, [0]);

    const { containers, on, clock, exits } = setUp();
    on().launchGroup?.(group(task('a')));
    await flush();
    on().shutdown?.();
    await flush();
    assert.deepEqual(exits, []);
    clock.advance(5_000);
    assert.deepEqual(exits, [0]);
    assert.deepEqual(containers.kills, ['c1:15@0']);
  });

  it('a LAUNCH makes it shut down (task groups only)', () => {
    const { on, exits } = setUp();
    on().launch?.(task('single'));
    assert.deepEqual(exits, [0]);
  });

  it('a container that fails to launch is TASK_FAILED (CONTAINER_LAUNCH_FAILED); the launched rest is killed', async () => {
    const { link, containers, on } = setUp();
    containers.launchAnswer = (request) =>
      request.command?.value === 'run b'
        ? { kind: 'rejected', httpStatus: 400, detail: 'bad image' }
        : { kind: 'ok', value: true };
    on().launchGroup?.(group(task('a'), task('b')));
    await flush();
    assert.deepEqual(link.log(), [
      'a:TASK_STARTING',
      'b:TASK_STARTING',
      'a:TASK_RUNNING',
      'b:TASK_FAILED',
      'a:TASK_KILLED',
    ]);
    const failed = link.last('b');
    assert.equal(failed?.reason, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED);
    assert.equal(failed?.message, "Failed to launch the task's container: agent answered 400: bad image");
    assert.deepEqual(containers.kills, ['c1:15@0']);
  });

  it('a KILL during the launch takes effect once the containers run', async () => {
    const { link, containers, on } = setUp({ killingCapable: true });
    containers.heldLaunches = [];
    on().launchGroup?.(group(task('a'), task('b')));
    on().kill?.(taskId('b'), undefined);
    await flush();
    assert.deepEqual(containers.kills, []);
    for (const held of containers.heldLaunches) held.resolve({ kind: 'ok', value: true });
    await flush();
    assert.deepEqual(link.statesOf('a'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
    assert.deepEqual(link.statesOf('b'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
  });

  it('fails the group when SUBSCRIBED gave no container id to nest under', async () => {
    const { link, containers, on } = setUp({ containerId: false });
    on().launchGroup?.(group(task('a')));
    await flush();
    assert.deepEqual(link.statesOf('a'), ['TASK_STARTING', 'TASK_FAILED']);
    assert.equal(link.last('a')?.reason, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED);
    assert.deepEqual(containers.launches, []);
  });

  it('takes the agent state, reason and message from WAIT over the exit status', async () => {
    const { link, containers, on } = setUp();
    on().launchGroup?.(group(task('a')));
    await flush();
    containers.end('c1', SIGNALLED(9), {
      state: TaskState.TASK_FAILED,
      reason: TaskStatus_Reason.CONTAINER_LIMITATION_MEMORY,
      message: 'Memory limit exceeded',
    });
    await flush();
    const last = link.last('a');
    assert.equal(TaskState[last!.state], 'TASK_FAILED');
    assert.equal(last?.reason, TaskStatus_Reason.CONTAINER_LIMITATION_MEMORY);
    assert.equal(last?.message, 'Command terminated with signal Killed: Memory limit exceeded');
  });

  it('repeats a WAIT that broke, and asks again on re-SUBSCRIBED; 404 is a FAILED', async () => {
    const { link, containers, on, clock, subscribe } = setUp();
    on().launchGroup?.(group(task('a'), task('b')));
    await flush();
    containers.answerWait('c1', { kind: 'unreachable', detail: 'ECONNRESET' });
    await flush();
    assert.deepEqual(containers.waits, ['c1', 'c2']);
    clock.advance(500);
    await flush();
    assert.deepEqual(containers.waits, ['c1', 'c2', 'c1']);

    // Broken again while the executor API is down: nothing until SUBSCRIBED.
    link.state = 'waiting';
    containers.answerWait('c1', { kind: 'unreachable', detail: 'ECONNREFUSED' });
    await flush();
    clock.advance(60_000);
    await flush();
    assert.deepEqual(containers.waits, ['c1', 'c2', 'c1']);
    link.state = 'subscribed';
    subscribe();
    await flush();
    assert.deepEqual(containers.waits, ['c1', 'c2', 'c1', 'c1']);

    containers.answerWait('c1', { kind: 'rejected', httpStatus: 404, detail: '' });
    await flush();
    assert.equal(TaskState[link.last('a')!.state], 'TASK_FAILED');
    assert.match(
      link.last('a')?.message ?? '',
      /Failed to wait for the task's container: agent answered 404/,
    );
    assert.equal(TaskState[link.last('b')!.state], 'TASK_KILLED');
  });

  it(`gives a task up after ${WAIT_REJECTION_LIMIT} refused WAITs`, async () => {
    const { link, containers, on, clock } = setUp();
    on().launchGroup?.(group(task('a')));
    await flush();
    for (let i = 0; i < WAIT_REJECTION_LIMIT; i += 1) {
      containers.answerWait('c1', { kind: 'rejected', httpStatus: 503, detail: 'busy' });
      await flush();
      clock.advance(60_000);
      await flush();
    }
    assert.equal(containers.waits.length, WAIT_REJECTION_LIMIT);
    assert.equal(TaskState[link.last('a')!.state], 'TASK_FAILED');
  });

  it('repeats a SIGKILL that did not get through until the container ends', async () => {
    const { containers, on, clock, link } = setUp();
    containers.onTerm = null;
    let failures = 2;
    containers.killAnswer = (signal) =>
      signal === 9 && failures-- > 0
        ? { kind: 'unreachable', detail: 'ECONNREFUSED' }
        : { kind: 'ok', value: undefined };
    on().launchGroup?.(group(task('a')));
    await flush();
    on().kill?.(taskId('a'), grace(0));
    await flush();
    clock.advance(0);
    await flush();
    clock.advance(500);
    await flush();
    clock.advance(1_000);
    await flush();
    assert.deepEqual(containers.kills, ['c1:15@0', 'c1:9@0', 'c1:9@500', 'c1:9@1500']);
    assert.equal(TaskState[link.last('a')!.state], 'TASK_KILLED');
  });

  it('max_completion_time kills with no grace and reports FAILED / MAX_COMPLETION_TIME_REACHED', async () => {
    const { containers, on, clock, link } = setUp();
    containers.onTerm = null;
    on().launchGroup?.(group(task('a', { maxCompletionTime: { nanoseconds: 2_000_000_000n } }), task('b')));
    await flush();
    clock.advance(2_000);
    await flush();
    assert.deepEqual(containers.kills.slice(0, 2), ['c1:15@2000', 'c1:9@2000']);
    const last = link.last('a');
    assert.equal(TaskState[last!.state], 'TASK_FAILED');
    assert.equal(last?.reason, TaskStatus_Reason.MAX_COMPLETION_TIME_REACHED);
    // b ignores SIGTERM: killed by the group policy with the default 3 s grace.
    clock.advance(3_000);
    await flush();
    assert.deepEqual(containers.kills.slice(2), ['c2:15@2000', 'c2:9@5000']);
    assert.equal(TaskState[link.last('b')!.state], 'TASK_KILLED');
  });

  it('exits anyway when the agent never acknowledges the terminal updates', async () => {
    const { containers, on, clock, exits } = setUp();
    on().launchGroup?.(group(task('a')));
    await flush();
    containers.end('c1', EXITED(0));
    await flush();
    clock.advance(9_999);
    assert.deepEqual(exits, []);
    clock.advance(1);
    assert.deepEqual(exits, [0]);
  });

  it('losing the agent SIGKILLs the containers it can reach and exits 1', async () => {
    const { containers, on, exits } = setUp();
    on().launchGroup?.(group(task('a'), task('b')));
    await flush();
    on().connectionLost?.('gone');
    await flush();
    assert.deepEqual(containers.kills, ['c1:9@0', 'c2:9@0']);
    assert.deepEqual(exits, [1]);
  });

  it(`losing the agent exits 1 within ${CONNECTION_LOST_KILL_TIMEOUT_MS} ms even if the kills hang`, async () => {
    const { containers, on, exits, clock } = setUp();
    on().launchGroup?.(group(task('a')));
    await flush();
    containers.kill = () => new Promise(() => {});
    on().connectionLost?.('gone');
    await flush();
    assert.deepEqual(exits, []);
    clock.advance(CONNECTION_LOST_KILL_TIMEOUT_MS);
    assert.deepEqual(exits, [1]);
  });

  it('ignores KILL for unknown or finished tasks, duplicate task ids and LAUNCH_GROUP during shutdown', async () => {
    const { link, containers, on } = setUp();
    on().launchGroup?.(group(task('a'), task('b')));
    await flush();
    containers.end('c1', EXITED(0));
    await flush();
    on().kill?.(taskId('nope'), undefined);
    on().kill?.(taskId('a'), undefined);
    on().launchGroup?.(group(task('a')));
    await flush();
    assert.deepEqual(containers.kills, []);
    assert.equal(containers.launches.length, 2);
    containers.onTerm = null;
    on().shutdown?.();
    on().launchGroup?.(group(task('late')));
    await flush();
    assert.deepEqual(link.statesOf('late'), []);
  });
});
