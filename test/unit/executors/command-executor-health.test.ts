/**
 * The command executor's health checks and checks, on fakes and a ManualClock: what the updates
 * carry (healthy, check_status, reasons), the kill on too many failures, and that checks stop when
 * the task is killed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape, toJson } from '@bufbuild/protobuf';
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
import type { Probe, ProbeOutcome } from '../../../src/executors/health/checker.js';
import type { LocalCommandProbeOptions, LocalProbeFactory } from '../../../src/executors/health/probes.js';
import type { ProcessExit } from '../../../src/executors/status.js';
import { Event_SubscribedSchema } from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import {
  CheckInfo_Type,
  CheckStatusInfoSchema,
  FrameworkInfo_Capability_Type,
  HealthCheck_Type,
  type TaskInfo,
  TaskInfoSchema,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
  TaskStatusSchema,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const flush = async () => {
  for (let i = 0; i < 5; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

class FakeLink implements ExecutorLink {
  state: ExecutorConnectionState = 'idle';
  readonly sent: TaskStatus[] = [];
  get unacknowledgedUpdates(): TaskStatus[] {
    return [];
  }
  start(): void {
    this.state = 'subscribed';
  }
  sendUpdate(status: TaskStatus): void {
    this.sent.push(status);
  }
  close(): void {
    this.state = 'closed';
  }
}

class FakeProcess implements TaskProcess {
  readonly pid = 4242;
  readonly signals: string[] = [];
  private settle: (exit: ProcessExit) => void = () => {};
  readonly exited = new Promise<ProcessExit>((resolve) => {
    this.settle = resolve;
  });
  signalTree(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    if (signal === 'SIGTERM') this.settle({ signal: 'SIGTERM' });
    if (signal === 'SIGKILL') this.settle({ signal: 'SIGKILL' });
  }
  exit(exit: ProcessExit): void {
    this.settle(exit);
  }
}

class FakeRunner implements CommandRunner {
  process: FakeProcess | undefined;
  async resolveUser(): Promise<UserIdentity | undefined> {
    return undefined;
  }
  async start(_spec: CommandLaunchSpec): Promise<TaskProcess> {
    this.process = new FakeProcess();
    return this.process;
  }
}

/** Probes that answer from a script, and remember what they were asked to run. */
class FakeProbes implements LocalProbeFactory {
  readonly commands: LocalCommandProbeOptions[] = [];
  readonly urls: string[] = [];
  readonly tcpTargets: string[] = [];
  probeCount = 0;
  outcomes: ProbeOutcome[] = [];

  private next(): Probe {
    return async () => {
      this.probeCount += 1;
      return this.outcomes.shift() ?? { kind: 'error', message: 'script exhausted' };
    };
  }
  http(url: string): Probe {
    this.urls.push(url);
    return this.next();
  }
  tcp(host: string, port: number): Probe {
    this.tcpTargets.push(`${host}:${port}`);
    return this.next();
  }
  command(options: LocalCommandProbeOptions): Probe {
    this.commands.push(options);
    return this.next();
  }
}

function setUp(options: { killingCapable?: boolean } = {}) {
  const clock = new ManualClock(0);
  const link = new FakeLink();
  const runner = new FakeRunner();
  const probes = new FakeProbes();
  let handlers: Partial<ExecutorEventHandlers> = {};
  const executor = new CommandExecutor({
    environment: readExecutorEnvironment({
      MESOS_FRAMEWORK_ID: 'fw',
      MESOS_EXECUTOR_ID: 'ex',
      MESOS_AGENT_ENDPOINT: '127.0.0.1:5051',
      MESOS_SANDBOX: '/sandbox',
    }),
    processEnvironment: { PATH: '/bin', MESOS_EXECUTOR_AUTHENTICATION_TOKEN: 'secret' },
    cwd: '/sandbox',
    logger: createLogger('test', 'silent'),
    runner,
    connect: (given) => {
      handlers = given;
      return link;
    },
    exit: () => {},
    clock,
    currentUser: 'strata',
    probes,
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
  const launch = async (extra: Omit<Exclude<MessageInitShape<typeof TaskInfoSchema>, TaskInfo>, 'name'>) => {
    handlers.launch?.(
      create(TaskInfoSchema, {
        name: 't',
        taskId: { value: 't1' },
        agentId: { value: 'a' },
        command: { value: 'sleep 100', environment: { variables: [{ name: 'TASK_VAR', value: 'task' }] } },
        ...extra,
      }),
    );
    await flush();
  };
  /** Moves time in steps so each probe's answer is handled before the next timer. */
  const advance = async (ms: number, step = 100) => {
    for (let done = 0; done < ms; done += step) {
      clock.advance(Math.min(step, ms - done));
      await flush();
    }
  };
  return { clock, link, runner, probes, launch, advance, handlers: () => handlers };
}

/** An update as the test reads it: state, reason, healthy (when set) and check_status (when set). */
function view(status: TaskStatus): Record<string, unknown> {
  const out: Record<string, unknown> = { state: TaskState[status.state] };
  if (status.reason !== TaskStatus_Reason.COMMAND_EXECUTOR_FAILED)
    out.reason = TaskStatus_Reason[status.reason];
  const json = toJson(TaskStatusSchema, status) as Record<string, unknown>;
  if ('healthy' in json) out.healthy = status.healthy;
  if (status.checkStatus) out.check = toJson(CheckStatusInfoSchema, status.checkStatus);
  return out;
}

const commandHealthCheck = (extra: Record<string, unknown> = {}) => ({
  healthCheck: {
    type: HealthCheck_Type.COMMAND,
    command: { value: 'test -f ready', environment: { variables: [{ name: 'CHECK_VAR', value: 'check' }] } },
    delaySeconds: 1,
    intervalSeconds: 1,
    timeoutSeconds: 5,
    gracePeriodSeconds: 0,
    consecutiveFailures: 2,
    ...extra,
  },
});

describe('CommandExecutor health checks', () => {
  it('a failing COMMAND health check reports healthy=false each time, then kills the task: TASK_KILLED healthy=false', async () => {
    const { link, runner, probes, launch, advance } = setUp({ killingCapable: true });
    probes.outcomes = [
      { kind: 'command', exitCode: 1 },
      { kind: 'command', exitCode: 1 },
    ];
    await launch({
      ...commandHealthCheck(),
      killPolicy: { gracePeriod: { nanoseconds: 2_000_000_000n } },
    });
    assert.deepEqual(link.sent.map(view), [{ state: 'TASK_STARTING' }, { state: 'TASK_RUNNING' }]);
    await advance(1_000);
    assert.equal(probes.probeCount, 1);
    await advance(1_000);
    assert.deepEqual(link.sent.map(view).slice(2), [
      { state: 'TASK_RUNNING', reason: 'TASK_HEALTH_CHECK_STATUS_UPDATED', healthy: false },
      { state: 'TASK_RUNNING', reason: 'TASK_HEALTH_CHECK_STATUS_UPDATED', healthy: false },
      { state: 'TASK_KILLING' },
      { state: 'TASK_KILLED', healthy: false },
    ]);
    // SIGTERM ends the fake task; the SIGKILL after it sweeps what is left of its session.
    assert.deepEqual(runner.process?.signals, ['SIGTERM', 'SIGKILL']);
    assert.equal(link.sent.at(-1)?.message, 'Command terminated with signal Terminated');
    // No more probes once the task is being killed.
    await advance(10_000);
    assert.equal(probes.probeCount, 2);
  });

  it('the kill uses the task kill policy: SIGKILL after its grace period', async () => {
    const { runner, probes, launch, advance, clock } = setUp();
    probes.outcomes = [{ kind: 'command', exitCode: 1 }];
    await launch({
      ...commandHealthCheck({ consecutiveFailures: 1 }),
      command: { value: 'trap "" TERM; sleep 100' },
      killPolicy: { gracePeriod: { nanoseconds: 4_000_000_000n } },
    });
    // Ignore SIGTERM in the fake: only SIGKILL ends it.
    const process = runner.process!;
    process.signalTree = function (signal) {
      this.signals.push(`${signal}@${clock.now()}`);
      if (signal === 'SIGKILL') this.exit({ signal: 'SIGKILL' });
    };
    await advance(1_000);
    assert.deepEqual(process.signals, ['SIGTERM@1000']);
    await advance(4_000);
    assert.deepEqual(process.signals.slice(0, 2), ['SIGTERM@1000', 'SIGKILL@5000']);
  });

  it('healthy=true once on the first success and on recovery; the command runs like the task, plus its own variables', async () => {
    const { link, probes, launch, advance } = setUp();
    probes.outcomes = [
      { kind: 'command', exitCode: 0 },
      { kind: 'command', exitCode: 0 },
      { kind: 'command', exitCode: 1 },
      { kind: 'command', exitCode: 0 },
    ];
    await launch(commandHealthCheck({ consecutiveFailures: 3 }));
    await advance(4_500);
    assert.deepEqual(
      link.sent.map(view).slice(2),
      [true, false, true].map((healthy) => ({
        state: 'TASK_RUNNING',
        reason: 'TASK_HEALTH_CHECK_STATUS_UPDATED',
        healthy,
      })),
    );
    const command = probes.commands[0]!;
    assert.deepEqual(command.spec.args, ['-c', 'test -f ready']);
    assert.equal(command.cwd, '/sandbox');
    assert.equal(command.spec.env['TASK_VAR'], 'task');
    assert.equal(command.spec.env['CHECK_VAR'], 'check');
    assert.equal(command.spec.env['MESOS_SANDBOX'], '/sandbox');
    assert.equal(command.spec.env['MESOS_TASK_ID'], 't1');
    assert.equal(command.spec.env['MESOS_EXECUTOR_AUTHENTICATION_TOKEN'], undefined);
  });

  it('HTTP and TCP health checks probe 127.0.0.1 at the port and path', async () => {
    const http = setUp();
    http.probes.outcomes = [{ kind: 'http', statusCode: 200 }];
    await http.launch({
      healthCheck: { type: HealthCheck_Type.HTTP, http: { port: 8080, path: '/health' }, delaySeconds: 0 },
    });
    await http.advance(100);
    assert.deepEqual(http.probes.urls, ['http://127.0.0.1:8080/health']);
    assert.deepEqual(view(http.link.sent.at(-1)!), {
      state: 'TASK_RUNNING',
      reason: 'TASK_HEALTH_CHECK_STATUS_UPDATED',
      healthy: true,
    });

    const tcp = setUp();
    tcp.probes.outcomes = [{ kind: 'tcp', succeeded: true }];
    await tcp.launch({ healthCheck: { type: HealthCheck_Type.TCP, tcp: { port: 9000 }, delaySeconds: 0 } });
    await tcp.advance(100);
    assert.deepEqual(tcp.probes.tcpTargets, ['127.0.0.1:9000']);
    assert.equal(tcp.link.sent.at(-1)?.healthy, true);
  });

  it('failures within the grace period are not reported; the task is not killed for them', async () => {
    const { link, runner, probes, launch, advance } = setUp();
    probes.outcomes = Array.from({ length: 5 }, () => ({ kind: 'command', exitCode: 1 }) as const);
    await launch(commandHealthCheck({ gracePeriodSeconds: 3.5, consecutiveFailures: 1 }));
    await advance(3_500);
    assert.equal(probes.probeCount, 3);
    assert.equal(link.sent.length, 2);
    await advance(1_000);
    assert.equal(runner.process?.signals[0], 'SIGTERM');
  });

  it('a KILL from the framework stops the health checks', async () => {
    const { probes, launch, advance, handlers, link } = setUp();
    probes.outcomes = [{ kind: 'command', exitCode: 0 }];
    await launch(commandHealthCheck());
    await advance(1_000);
    handlers().kill?.(create(TaskInfoSchema, { taskId: { value: 't1' } }).taskId!, undefined);
    await advance(10_000);
    assert.equal(probes.probeCount, 1);
    assert.deepEqual(view(link.sent.at(-1)!), { state: 'TASK_KILLED' });
  });

  it('results found while disconnected are dropped, kill included', async () => {
    const { link, runner, probes, launch, advance } = setUp();
    probes.outcomes = [
      { kind: 'command', exitCode: 1 },
      { kind: 'command', exitCode: 1 },
    ];
    await launch(commandHealthCheck({ consecutiveFailures: 1 }));
    link.state = 'waiting';
    await advance(1_000);
    assert.equal(probes.probeCount, 1);
    assert.equal(link.sent.length, 2);
    assert.deepEqual(runner.process?.signals, []);
    link.state = 'subscribed';
    await advance(1_000);
    assert.equal(runner.process?.signals[0], 'SIGTERM');
  });
});

describe('CommandExecutor checks', () => {
  it('every update carries check_status; a changed result is a RUNNING with REASON_TASK_CHECK_STATUS_UPDATED', async () => {
    const { link, runner, probes, launch, advance } = setUp();
    probes.outcomes = [
      { kind: 'command', exitCode: 1 },
      { kind: 'command', exitCode: 1 },
      { kind: 'command', exitCode: 0 },
      { kind: 'error', message: 'Command check timed out after 5secs' },
    ];
    await launch({
      check: {
        type: CheckInfo_Type.COMMAND,
        command: { command: { value: 'exit 1' } },
        delaySeconds: 1,
        intervalSeconds: 1,
        timeoutSeconds: 5,
      },
    });
    await advance(4_500);
    runner.process!.exit({ code: 0 });
    await flush();
    const empty = { type: 'COMMAND', command: {} };
    assert.deepEqual(link.sent.map(view), [
      { state: 'TASK_STARTING', check: empty },
      { state: 'TASK_RUNNING', check: empty },
      {
        state: 'TASK_RUNNING',
        reason: 'TASK_CHECK_STATUS_UPDATED',
        check: { type: 'COMMAND', command: { exitCode: 1 } },
      },
      {
        state: 'TASK_RUNNING',
        reason: 'TASK_CHECK_STATUS_UPDATED',
        check: { type: 'COMMAND', command: { exitCode: 0 } },
      },
      { state: 'TASK_RUNNING', reason: 'TASK_CHECK_STATUS_UPDATED', check: empty },
      { state: 'TASK_FINISHED', check: empty },
    ]);
  });

  it('a check and a health check together: each update keeps what the other said last', async () => {
    const { link, probes, launch, advance } = setUp();
    // Health probe (delay 1 s) and check probe (delay 1.5 s) share the script in call order.
    probes.outcomes = [
      { kind: 'command', exitCode: 0 },
      { kind: 'tcp', succeeded: true },
    ];
    await launch({
      ...commandHealthCheck(),
      check: { type: CheckInfo_Type.TCP, tcp: { port: 7000 }, delaySeconds: 1.5, intervalSeconds: 60 },
    });
    await advance(1_600);
    assert.deepEqual(link.sent.map(view).slice(2), [
      {
        state: 'TASK_RUNNING',
        reason: 'TASK_HEALTH_CHECK_STATUS_UPDATED',
        healthy: true,
        check: { type: 'TCP', tcp: {} },
      },
      {
        state: 'TASK_RUNNING',
        reason: 'TASK_CHECK_STATUS_UPDATED',
        healthy: true,
        check: { type: 'TCP', tcp: { succeeded: true } },
      },
    ]);
  });

  it('an HTTP check reports the status code', async () => {
    const { link, probes, launch, advance } = setUp();
    probes.outcomes = [{ kind: 'http', statusCode: 503 }];
    await launch({ check: { type: CheckInfo_Type.HTTP, http: { port: 81, path: '/x' }, delaySeconds: 0 } });
    await advance(100);
    assert.deepEqual(probes.urls, ['http://127.0.0.1:81/x']);
    assert.deepEqual(view(link.sent.at(-1)!).check, { type: 'HTTP', http: { statusCode: 503 } });
  });

  it('an invalid check is left out and the task runs', async () => {
    const { link, probes, launch, advance } = setUp();
    await launch({ check: { type: CheckInfo_Type.TCP, delaySeconds: 0 } });
    await advance(1_000);
    assert.equal(probes.probeCount, 0);
    assert.deepEqual(link.sent.map(view), [{ state: 'TASK_STARTING' }, { state: 'TASK_RUNNING' }]);
  });
});
