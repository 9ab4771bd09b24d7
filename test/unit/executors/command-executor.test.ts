import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { ManualClock } from '../../../src/common/clock.js';
import { createLogger } from '../../../src/common/log.js';
import { CommandExecutor, type ExecutorLink } from '../../../src/executors/command-executor.js';
import type { CommandLaunchSpec, UserIdentity } from '../../../src/executors/command-launch.js';
import type { CommandRunner, TaskProcess } from '../../../src/executors/command-runner.js';
import { readExecutorEnvironment } from '../../../src/executors/environment.js';
import type {
  ExecutorConnectionState,
  ExecutorEventHandlers,
} from '../../../src/executors/executor-client.js';
import type { ProcessExit } from '../../../src/executors/status.js';
import { Event_SubscribedSchema } from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import {
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

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

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

  states(): string[] {
    return this.sent.map((status) => TaskState[status.state]);
  }
}

class FakeProcess implements TaskProcess {
  readonly signals: string[] = [];
  private settle: (exit: ProcessExit) => void = () => {};
  readonly exited = new Promise<ProcessExit>((resolve) => {
    this.settle = resolve;
  });

  constructor(
    readonly pid: number,
    private readonly clock: ManualClock,
    /** How the process reacts to SIGTERM: null ignores it. */
    private readonly onTerm: ProcessExit | null,
  ) {}

  signalTree(signal: NodeJS.Signals): void {
    this.signals.push(`${signal}@${this.clock.now()}`);
    if (signal === 'SIGTERM' && this.onTerm) this.settle(this.onTerm);
    if (signal === 'SIGKILL') this.settle({ signal: 'SIGKILL' });
  }

  exit(exit: ProcessExit): void {
    this.settle(exit);
  }
}

class FakeRunner implements CommandRunner {
  readonly started: CommandLaunchSpec[] = [];
  readonly users = new Map<string, UserIdentity>();
  failWith: Error | undefined;
  process: FakeProcess | undefined;

  constructor(private readonly makeProcess: () => FakeProcess) {}

  async resolveUser(name: string): Promise<UserIdentity | undefined> {
    return this.users.get(name);
  }

  async start(spec: CommandLaunchSpec): Promise<TaskProcess> {
    if (this.failWith) throw this.failWith;
    this.started.push(spec);
    this.process = this.makeProcess();
    return this.process;
  }
}

function setUp(
  options: { onTerm?: ProcessExit | null; killingCapable?: boolean; privileged?: boolean } = {},
) {
  const clock = new ManualClock(0);
  const link = new FakeLink();
  const runner = new FakeRunner(
    () => new FakeProcess(4242, clock, options.onTerm === undefined ? { signal: 'SIGTERM' } : options.onTerm),
  );
  const exits: number[] = [];
  let handlers: Partial<ExecutorEventHandlers> = {};
  const environment = readExecutorEnvironment({
    MESOS_FRAMEWORK_ID: 'fw',
    MESOS_EXECUTOR_ID: 'ex',
    MESOS_AGENT_ENDPOINT: '127.0.0.1:5051',
    MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: '5secs',
  });
  const executor = new CommandExecutor({
    environment,
    processEnvironment: { PATH: '/bin' },
    cwd: '/sandbox',
    logger: createLogger('test', 'silent'),
    runner,
    connect: (given) => {
      handlers = given;
      return link;
    },
    exit: (code) => exits.push(code),
    clock,
    currentUser: 'strata',
    privileged: options.privileged ?? false,
    terminalAcknowledgementTimeoutMs: 10_000,
  });
  executor.start();
  handlers.subscribed?.(
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
    }),
  );
  const on = () => handlers;
  const acknowledgeAll = () => {
    for (const status of link.sent) {
      const key = Buffer.from(status.uuid).toString('hex');
      if (link.acknowledged.has(key)) continue;
      link.acknowledged.add(key);
      on().acknowledged?.(status.taskId!, status.uuid);
    }
  };
  return { clock, link, runner, exits, on, acknowledgeAll, executor };
}

function task(
  extra: Omit<Exclude<MessageInitShape<typeof TaskInfoSchema>, TaskInfo>, 'name' | 'taskId' | 'agentId'> = {},
) {
  return create(TaskInfoSchema, {
    name: 't',
    taskId: { value: 't1' },
    agentId: { value: 'a' },
    command: { value: 'sleep 100' },
    ...extra,
  });
}

const taskId = (value = 't1') => create(TaskIDSchema, { value });
const grace = (ms: number) =>
  create(KillPolicySchema, { gracePeriod: { nanoseconds: BigInt(ms) * 1_000_000n } });

describe('CommandExecutor', () => {
  it('sends STARTING, runs the command, RUNNING, then the terminal update, and exits once it is acknowledged', async () => {
    const { link, runner, exits, on, acknowledgeAll } = setUp();
    on().launch?.(task());
    await flush();
    assert.deepEqual(link.states(), ['TASK_STARTING', 'TASK_RUNNING']);
    assert.deepEqual(runner.started[0]?.args, ['-c', 'sleep 100']);
    runner.process!.exit({ code: 0 });
    await flush();
    assert.deepEqual(link.states(), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    assert.equal(link.sent[2]?.message, 'Command exited with status 0');
    assert.deepEqual(runner.process!.signals, ['SIGKILL@0'], 'leftovers of the session are swept');
    assert.deepEqual(exits, []);
    acknowledgeAll();
    assert.deepEqual(exits, [0]);
    assert.ok(link.closed);
  });

  it('fails the launch when the process cannot start', async () => {
    const { link, runner, on, acknowledgeAll, exits } = setUp();
    runner.failWith = new Error('spawn nope ENOENT');
    on().launch?.(task());
    await flush();
    assert.deepEqual(link.states(), ['TASK_STARTING', 'TASK_FAILED']);
    assert.equal(link.sent[1]?.message, 'Failed to launch command: spawn nope ENOENT');
    acknowledgeAll();
    assert.deepEqual(exits, [0]);
  });

  it('fails a task for another user when not root, and for an unknown user when root', async () => {
    const plain = setUp();
    plain.on().launch?.(task({ command: { value: 'id', user: 'alice' } }));
    await flush();
    assert.deepEqual(plain.link.states(), ['TASK_STARTING', 'TASK_FAILED']);
    assert.match(plain.link.sent[1]?.message ?? '', /only root may switch users/);

    const root = setUp({ privileged: true });
    root.on().launch?.(task({ command: { value: 'id', user: 'ghost' } }));
    await flush();
    assert.deepEqual(root.link.states(), ['TASK_STARTING', 'TASK_FAILED']);
    assert.match(root.link.sent[1]?.message ?? '', /Failed to get user information for 'ghost'/);
  });

  it('kills with SIGTERM, sends TASK_KILLING only for frameworks that can take it, then TASK_KILLED', async () => {
    for (const killingCapable of [true, false]) {
      const { link, runner, on } = setUp({ killingCapable });
      on().launch?.(task());
      await flush();
      on().kill?.(taskId(), undefined);
      await flush();
      const expected = killingCapable
        ? ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']
        : ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED'];
      assert.deepEqual(link.states(), expected);
      assert.equal(link.sent.at(-1)?.message, 'Command terminated with signal Terminated');
      assert.equal(runner.process!.signals[0], 'SIGTERM@0');
    }
  });

  it('escalates to SIGKILL after the KILL policy grace, which beats the task policy', async () => {
    const { link, runner, on, clock } = setUp({ onTerm: null });
    on().launch?.(task({ killPolicy: grace(10_000) }));
    await flush();
    on().kill?.(taskId(), grace(2_000));
    clock.advance(1_999);
    await flush();
    assert.deepEqual(runner.process!.signals, ['SIGTERM@0']);
    clock.advance(1);
    await flush();
    assert.deepEqual(runner.process!.signals.slice(0, 2), ['SIGTERM@0', 'SIGKILL@2000']);
    assert.equal(link.sent.at(-1)?.state, TaskState.TASK_KILLED);
    assert.equal(link.sent.at(-1)?.message, 'Command terminated with signal Killed');
  });

  it('uses the task kill policy, else 3 s; a retried KILL never extends the grace', async () => {
    const { runner, on, clock } = setUp({ onTerm: null });
    on().launch?.(task());
    await flush();
    on().kill?.(taskId(), undefined);
    clock.advance(1000);
    on().kill?.(taskId(), grace(60_000));
    clock.advance(2000);
    await flush();
    assert.deepEqual(runner.process!.signals.slice(0, 2), ['SIGTERM@0', 'SIGKILL@3000']);
  });

  it('ignores a KILL for another task', async () => {
    const { link, runner, on } = setUp();
    on().launch?.(task());
    await flush();
    on().kill?.(taskId('other'), undefined);
    await flush();
    assert.deepEqual(runner.process!.signals, []);
    assert.deepEqual(link.states(), ['TASK_STARTING', 'TASK_RUNNING']);
  });

  it('answers a second LAUNCH with TASK_FAILED for that task only', async () => {
    const { link, on } = setUp();
    on().launch?.(task());
    await flush();
    const second = create(TaskInfoSchema, {
      name: 'x',
      taskId: { value: 't2' },
      agentId: { value: 'a' },
      command: { value: 'true' },
    });
    on().launch?.(second);
    const failed = link.sent.filter((status) => status.taskId?.value === 't2');
    assert.deepEqual(
      failed.map((status) => TaskState[status.state]),
      ['TASK_FAILED'],
    );
    assert.deepEqual(link.states(), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    assert.equal(failed[0]?.message, 'Attempted to run multiple tasks using a "command" executor');
  });

  it('kills a task that overruns max_completion_time and fails it with the reason', async () => {
    const { link, runner, on, clock } = setUp({ onTerm: null });
    on().launch?.(task({ maxCompletionTime: { nanoseconds: 5_000_000_000n } }));
    await flush();
    clock.advance(5_000);
    await flush();
    assert.deepEqual(runner.process!.signals.slice(0, 2), ['SIGTERM@5000', 'SIGKILL@5000']);
    const last = link.sent.at(-1);
    assert.equal(last?.state, TaskState.TASK_FAILED);
    assert.equal(last?.reason, TaskStatus_Reason.MAX_COMPLETION_TIME_REACHED);
  });

  it('resumed after an agent restart, counts max_completion_time from the task start, not from now', async () => {
    const clock = new ManualClock(100_000);
    const link = new FakeLink();
    const runner = new FakeRunner(() => new FakeProcess(4242, clock, null));
    const executor = new CommandExecutor({
      environment: readExecutorEnvironment({
        MESOS_FRAMEWORK_ID: 'fw',
        MESOS_EXECUTOR_ID: 'ex',
        MESOS_AGENT_ENDPOINT: '127.0.0.1:5051',
        MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: '5secs',
      }),
      processEnvironment: { PATH: '/bin' },
      cwd: '/sandbox',
      logger: createLogger('test', 'silent'),
      runner,
      connect: () => link,
      exit: () => undefined,
      clock,
      currentUser: 'strata',
      privileged: false,
      terminalAcknowledgementTimeoutMs: 10_000,
    });
    const running = new FakeProcess(4343, clock, null);
    // Started 3 s before the restart with a 5 s limit: 2 s are left.
    executor.resume(task({ maxCompletionTime: { nanoseconds: 5_000_000_000n } }), running, undefined, 97_000);
    executor.start();
    await flush();
    clock.advance(1_999);
    await flush();
    assert.deepEqual(running.signals, []);
    clock.advance(1);
    await flush();
    assert.deepEqual(running.signals.slice(0, 2), ['SIGTERM@102000', 'SIGKILL@102000']);
    assert.equal(link.sent.at(-1)?.reason, TaskStatus_Reason.MAX_COMPLETION_TIME_REACHED);
    assert.equal(runner.process, undefined, 'a resumed task is not started again');
  });

  it('on SHUTDOWN before any task, exits at once', () => {
    const { exits, on } = setUp();
    on().shutdown?.();
    assert.deepEqual(exits, [0]);
  });

  it('on SHUTDOWN kills with the shutdown grace less the margin, reports KILLED and exits when acknowledged', async () => {
    const { link, runner, on, clock, exits, acknowledgeAll } = setUp({ onTerm: null });
    on().launch?.(task({ killPolicy: grace(30_000) }));
    await flush();
    on().shutdown?.();
    clock.advance(3_000);
    await flush();
    assert.deepEqual(runner.process!.signals.slice(0, 2), ['SIGTERM@0', 'SIGKILL@3000']);
    assert.equal(link.sent.at(-1)?.state, TaskState.TASK_KILLED);
    acknowledgeAll();
    assert.deepEqual(exits, [0]);
  });

  it('exits after the shutdown grace period even if the terminal update is never acknowledged', async () => {
    const { on, clock, exits } = setUp();
    on().launch?.(task());
    await flush();
    on().shutdown?.();
    await flush();
    clock.advance(5_000);
    assert.deepEqual(exits, [0]);
  });

  it('exits after the acknowledgement timeout while subscribed, but waits while disconnected', async () => {
    const { link, runner, on, clock, exits } = setUp();
    on().launch?.(task());
    await flush();
    runner.process!.exit({ code: 1 });
    await flush();
    link.state = 'waiting';
    clock.advance(10_000);
    assert.deepEqual(exits, [], 'no exit while the update waits for a re-subscription');
    link.state = 'subscribed';
    on().subscribed?.(
      create(Event_SubscribedSchema, {
        executorInfo: { executorId: { value: 'ex' } },
        frameworkInfo: { user: 'u', name: 'f' },
        agentInfo: { hostname: 'h' },
      }),
    );
    clock.advance(9_999);
    assert.deepEqual(exits, []);
    clock.advance(1);
    assert.deepEqual(exits, [0]);
  });

  it('when the agent is lost for good, kills the task and exits 1', async () => {
    const { runner, on, exits } = setUp();
    on().launch?.(task());
    await flush();
    on().connectionLost?.('gone');
    await flush();
    assert.equal(runner.process!.signals[0], 'SIGTERM@0');
    assert.deepEqual(exits, [1]);
  });

  it('when the agent is lost before any task, exits 1', () => {
    const { on, exits } = setUp();
    on().connectionLost?.('gone');
    assert.deepEqual(exits, [1]);
  });

  it('shuts down on LAUNCH_GROUP, which only the default executor takes', () => {
    const { on, exits } = setUp();
    on().launchGroup?.(create(TaskGroupInfoSchema, { tasks: [task()] }));
    assert.deepEqual(exits, [0]);
  });
});
