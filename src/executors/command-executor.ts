/**
 * Strata's built-in command executor (reference §3.4): the process the agent starts for a task
 * that has `TaskInfo.command`. It subscribes to the agent's executor API, runs exactly one task's
 * command, reports TASK_STARTING, TASK_RUNNING and one terminal update, kills by the task's kill
 * policy, and exits once the agent has acknowledged the terminal update. A task's health check and
 * check run from here too (health/task-checks.ts), with their TASK_RUNNING updates and the kill of
 * a task that fails its health check.
 *
 * Launch contract (what the agent provides): run `node dist/src/executors/command-executor.js`
 * with cwd = the sandbox, stdout/stderr already pointed at `<sandbox>/stdout` and
 * `<sandbox>/stderr`, in a process group of its own, with the MESOS_* environment environment.ts
 * reads. Exit status: 0 after a normal end (terminal update acknowledged, or SHUTDOWN before any
 * task), 1 when the environment is unusable or the agent was lost for good.
 *
 * The logic lives in `CommandExecutor`, which talks to the agent through an `ExecutorLink` and to
 * the operating system through a `CommandRunner`, so it runs in unit tests against fakes and a
 * ManualClock; `main` wires the real ones.
 */
import { realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import { pathToFileURL } from 'node:url';
import { clone, create } from '@bufbuild/protobuf';
import { type Clock, systemClock, type TimerHandle } from '../common/clock.js';
import { isStrataError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Event_Subscribed } from '../wire/gen/mesos/v1/executor/executor_pb.js';
import {
  CommandInfoSchema,
  EnvironmentSchema,
  type FrameworkInfo,
  FrameworkInfo_Capability_Type,
  type KillPolicy,
  type TaskGroupInfo,
  type TaskID,
  type TaskInfo,
  TaskInfoSchema,
  TaskState,
  type TaskStatus,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { type CommandLaunchSpec, planCommandLaunch, type UserIdentity } from './command-launch.js';
import { type CommandRunner, ProcessCommandRunner, type TaskProcess } from './command-runner.js';
import {
  type EnvironmentRecord,
  EXECUTOR_PRIVATE_VARIABLES,
  type ExecutorEnvironment,
  readExecutorEnvironment,
} from './environment.js';
import {
  ExecutorClient,
  type ExecutorConnectionState,
  type ExecutorEventHandlers,
} from './executor-client.js';
import type { Probe } from './health/checker.js';
import type { ProbeSpec } from './health/config.js';
import { type LocalProbeFactory, localProbes } from './health/probes.js';
import { TaskChecks } from './health/task-checks.js';
import { durationInfoToMs, KillStateMachine, killGracePeriodMs, shutdownKillGracePeriodMs } from './kill.js';
import {
  buildTaskStatus,
  KILLED_BEFORE_START_MESSAGE,
  type KillCause,
  launchFailedMessage,
  MULTIPLE_TASKS_MESSAGE,
  type ProcessExit,
  type StatusDetails,
  terminalOutcome,
} from './status.js';
import { executorLogLevel, stderrLogger } from './stderr-logger.js';

/**
 * How long to wait for the agent to acknowledge the terminal update while connected, before
 * exiting anyway: Mesos' command executor has the same fail-safe (60 s) for an agent that never
 * acknowledges. While disconnected the recovery timeout governs instead.
 */
export const TERMINAL_ACKNOWLEDGEMENT_TIMEOUT_MS = 60_000;

/** The part of ExecutorClient the command executor uses; a fake stands in for it in unit tests. */
export interface ExecutorLink {
  readonly state: ExecutorConnectionState;
  readonly unacknowledgedUpdates: readonly unknown[];
  start(): void;
  sendUpdate(status: TaskStatus): void;
  close(): void;
}

export interface CommandExecutorOptions {
  environment: ExecutorEnvironment;
  /** The executor's own environment: the base of the task's. */
  processEnvironment: EnvironmentRecord;
  /** Working directory of the task: the sandbox. */
  cwd: string;
  logger: Logger;
  runner: CommandRunner;
  /** Builds the link to the agent, given the handlers for its events. */
  connect: (handlers: Partial<ExecutorEventHandlers>) => ExecutorLink;
  /** Called once, with the exit status, when the executor is done. */
  exit: (code: number) => void;
  clock?: Clock;
  /** The executor's user name; undefined when the uid has no passwd entry. */
  currentUser?: string | undefined;
  /** Whether the executor may switch users (runs as root). */
  privileged?: boolean;
  terminalAcknowledgementTimeoutMs?: number;
  /** Builds the probes of the task's health check and check; real HTTP/TCP/process probes by default. */
  probes?: LocalProbeFactory;
}

type Phase =
  /** No LAUNCH yet. */
  | 'waiting'
  /** LAUNCH received; resolving the user and starting the process. */
  | 'launching'
  /** The command runs. */
  | 'running'
  /** The terminal update is made; waiting for its acknowledgement. */
  | 'terminated';

export class CommandExecutor {
  private readonly options: CommandExecutorOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly link: ExecutorLink;

  private phase: Phase = 'waiting';
  private frameworkInfo: FrameworkInfo | undefined;
  private task: TaskInfo | undefined;
  private taskProcess: TaskProcess | undefined;
  private killer: KillStateMachine | undefined;
  /** The task's health check and check (health/task-checks.ts). */
  private checks: TaskChecks | undefined;
  /** Who the task runs as; its command checks run as the same user. */
  private taskUser: UserIdentity | undefined;
  /** A kill asked for while the process was still being started. */
  private killBeforeStart: { graceMs: number; cause: KillCause } | undefined;
  private agentLost = false;
  private maxCompletionTimer: TimerHandle | undefined;
  private acknowledgementTimer: TimerHandle | undefined;
  private shutdownTimer: TimerHandle | undefined;
  private finished = false;

  constructor(options: CommandExecutorOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.link = options.connect({
      subscribed: (event) => this.onSubscribed(event),
      launch: (task) => this.onLaunch(task),
      launchGroup: (group) => this.onLaunchGroup(group),
      kill: (taskId, policy) => this.onKill(taskId, policy),
      acknowledged: () => this.exitIfDone(),
      message: (data) =>
        this.logger.info({ bytes: data.byteLength }, 'command executor: ignoring a framework message'),
      shutdown: () => this.shutdown('the agent asked the executor to shut down'),
      error: (message) => this.logger.error({ message }, 'command executor: ERROR event from the agent'),
      connectionLost: (reason) => this.onConnectionLost(reason),
    });
  }

  start(): void {
    this.link.start();
  }

  /**
   * Takes over a task that already runs, before `start()`: an agent-hosted executor rebuilt after
   * an agent restart (src/containerizer/hosted-executor.ts). The agent holds the updates sent
   * before (its status update manager checkpointed them), so nothing is announced again; checks
   * start afresh. A `max_completion_time` counts from `startedAtMs` (epoch ms, when the task
   * started; the time the agent was down counts), or from now when that is unknown.
   */
  resume(
    task: TaskInfo,
    taskProcess: TaskProcess,
    user: UserIdentity | undefined,
    startedAtMs?: number,
  ): void {
    if (this.task !== undefined) throw new Error('resume() after a task was launched');
    this.task = task;
    this.taskUser = user;
    this.phase = 'launching';
    this.checks = this.checksFor(task);
    this.adopt(taskProcess, false, startedAtMs);
  }

  /** The task this executor runs, once LAUNCH came (or resume() gave it). */
  get currentTask(): TaskInfo | undefined {
    return this.task;
  }

  /** The resolved user the task runs as, if it switched. */
  get currentTaskUser(): UserIdentity | undefined {
    return this.taskUser;
  }

  /** SHUTDOWN from the agent, or a termination signal to the executor process. */
  shutdown(why: string): void {
    if (this.finished) return;
    this.logger.info({ why, phase: this.phase }, 'command executor: shutting down');
    if (this.phase === 'waiting') {
      this.finish(0);
      return;
    }
    // The agent destroys the container after its shutdown grace period; be gone by then.
    if (this.shutdownTimer === undefined) {
      this.shutdownTimer = this.clock.setTimeout(() => {
        this.logger.warn('command executor: shutdown grace period over; exiting');
        this.finish(0);
      }, this.options.environment.shutdownGracePeriodMs);
    }
    this.requestKill(shutdownKillGracePeriodMs(this.options.environment.shutdownGracePeriodMs), 'shutdown');
  }

  /** Last resort while the executor process goes down: SIGKILL whatever of the task still runs. */
  killTaskNow(): void {
    if (this.phase === 'running') this.taskProcess?.signalTree('SIGKILL');
  }

  // --- events -----------------------------------------------------------------------------------

  private onSubscribed(event: Event_Subscribed): void {
    this.frameworkInfo = event.frameworkInfo;
    if (this.phase === 'terminated') this.armAcknowledgementTimer();
  }

  private onLaunch(task: TaskInfo): void {
    const taskId = task.taskId?.value ?? '';
    if (this.task !== undefined) {
      this.logger.error({ taskId }, 'command executor: a second LAUNCH; the command executor runs one task');
      this.send(taskId, TaskState.TASK_FAILED, { message: MULTIPLE_TASKS_MESSAGE });
      return;
    }
    this.task = task;
    this.phase = 'launching';
    this.logger.info({ taskId }, 'command executor: launching task');
    this.checks = this.checksFor(task);
    this.send(taskId, TaskState.TASK_STARTING);

    const plan = planCommandLaunch(withImageCommand(task, this.options.processEnvironment), {
      executorEnvironment: this.options.processEnvironment,
      privateVariables: EXECUTOR_PRIVATE_VARIABLES,
      sandbox: this.options.environment.sandbox ?? this.options.cwd,
      currentUser: this.options.currentUser,
      privileged: this.options.privileged ?? false,
    });
    if (!plan.ok) {
      this.terminate({ state: TaskState.TASK_FAILED, message: plan.message });
      return;
    }
    void this.startProcess(plan.spec);
  }

  private checksFor(task: TaskInfo): TaskChecks | undefined {
    if (task.healthCheck === undefined && task.check === undefined) return undefined;
    return new TaskChecks({
      task,
      clock: this.clock,
      logger: this.logger,
      probeFor: (probe) => this.probeFor(probe),
      connected: () => this.link.state === 'subscribed',
      sendRunning: (details) => this.send(this.taskIdValue(), TaskState.TASK_RUNNING, details),
      kill: () => this.requestKill(killGracePeriodMs(undefined, this.task?.killPolicy), 'health-check'),
    });
  }

  private onLaunchGroup(group: TaskGroupInfo): void {
    // Mesos' command executor shuts down here: task groups belong to the default executor.
    this.logger.error(
      { tasks: group.tasks.map((t) => t.taskId?.value) },
      'command executor: LAUNCH_GROUP is not supported by the command executor',
    );
    this.shutdown('LAUNCH_GROUP received');
  }

  private onKill(taskId: TaskID, policy: KillPolicy | undefined): void {
    if (this.task === undefined || this.task.taskId?.value !== taskId.value) {
      this.logger.warn(
        { taskId: taskId.value },
        'command executor: KILL for a task this executor does not run',
      );
      return;
    }
    const graceMs = killGracePeriodMs(policy, this.task.killPolicy);
    this.logger.info({ taskId: taskId.value, graceMs }, 'command executor: received KILL');
    this.requestKill(graceMs, 'kill');
  }

  private onConnectionLost(reason: string): void {
    this.agentLost = true;
    this.logger.error({ reason, phase: this.phase }, 'command executor: lost the agent');
    if (this.phase === 'running' || this.phase === 'launching') {
      // Nobody is left to report to, but the task must not outlive its executor.
      this.requestKill(
        shutdownKillGracePeriodMs(this.options.environment.shutdownGracePeriodMs),
        'connection-lost',
      );
      return;
    }
    this.finish(1);
  }

  // --- the task ---------------------------------------------------------------------------------

  private async startProcess(spec: CommandLaunchSpec): Promise<void> {
    let user: UserIdentity | undefined;
    if (spec.switchToUser !== undefined) {
      user = await this.options.runner.resolveUser(spec.switchToUser);
      if (user === undefined) {
        this.terminate({
          state: TaskState.TASK_FAILED,
          message: `Failed to get user information for '${spec.switchToUser}': no such user`,
        });
        return;
      }
    }
    this.taskUser = user;
    if (this.killBeforeStart !== undefined) {
      // Killed while the user was being looked up: never start it.
      this.terminateKilledBeforeStart();
      return;
    }
    let taskProcess: TaskProcess;
    try {
      taskProcess = await this.options.runner.start(spec, user, this.options.cwd);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      this.terminate({ state: TaskState.TASK_FAILED, message: launchFailedMessage(detail) });
      return;
    }
    this.adopt(taskProcess, true);
  }

  /** The task's process runs: kill machinery, exit watch, TASK_RUNNING (when `announce`), timers. */
  private adopt(taskProcess: TaskProcess, announce: boolean, startedAtMs?: number): void {
    this.taskProcess = taskProcess;
    this.killer = new KillStateMachine(this.clock, {
      terminate: () => {
        this.logger.info(
          { taskPid: taskProcess.pid },
          'command executor: sending SIGTERM to the process tree',
        );
        taskProcess.signalTree('SIGTERM');
      },
      forceKill: () => {
        this.logger.info(
          { taskPid: taskProcess.pid },
          'command executor: grace period over; sending SIGKILL',
        );
        taskProcess.signalTree('SIGKILL');
      },
    });
    this.phase = 'running';
    this.logger.info({ taskPid: taskProcess.pid }, 'command executor: command started');
    void taskProcess.exited.then((exit) => this.onProcessExit(exit));
    if (this.finished) return;
    if (announce) this.send(this.taskIdValue(), TaskState.TASK_RUNNING);
    // Mesos starts the checkers once the task runs: the grace period counts from here.
    this.checks?.start();

    const maxCompletion = this.task?.maxCompletionTime;
    if (maxCompletion !== undefined) {
      const limitMs = Math.max(0, durationInfoToMs(maxCompletion));
      const elapsedMs = startedAtMs === undefined ? 0 : Math.max(0, this.clock.now() - startedAtMs);
      this.maxCompletionTimer = this.clock.setTimeout(
        () => {
          this.maxCompletionTimer = undefined;
          this.logger.warn(
            { limitMs },
            'command executor: task exceeded its max_completion_time; killing it',
          );
          this.requestKill(0, 'max-completion-time');
        },
        Math.max(0, limitMs - elapsedMs),
      );
    }
    // A kill that arrived while the process was starting applies now.
    const early = this.takeKillBeforeStart();
    if (early !== undefined) this.requestKill(early.graceMs, early.cause);
  }

  private requestKill(graceMs: number, cause: KillCause): void {
    switch (this.phase) {
      case 'launching': {
        const earlier = this.killBeforeStart;
        this.killBeforeStart = {
          graceMs: earlier === undefined ? graceMs : Math.min(earlier.graceMs, graceMs),
          cause: earlier?.cause ?? cause,
        };
        return;
      }
      case 'running': {
        const result = this.killer!.request(graceMs, cause);
        this.logger.info({ cause, graceMs, result }, 'command executor: kill');
        // A task being killed is checked no more (Mesos pauses its checkers in killTask).
        this.checks?.stop();
        if (result === 'started' && cause !== 'connection-lost' && this.frameworkCanKill()) {
          this.send(this.taskIdValue(), TaskState.TASK_KILLING);
        }
        return;
      }
      default:
        return;
    }
  }

  private onProcessExit(exit: ProcessExit): void {
    this.killer?.processExited();
    this.checks?.stop();
    this.maxCompletionTimer?.cancel();
    this.maxCompletionTimer = undefined;
    // The command is done; whatever it left running in its session goes with it, as the
    // container's destruction would take it in Mesos.
    this.taskProcess?.signalTree('SIGKILL');
    this.logger.info({ exit }, 'command executor: command ended');
    const outcome: { state: TaskState } & StatusDetails = terminalOutcome(exit, this.killer?.cause);
    // Mesos marks the end of a task its health check killed, without a reason of its own.
    if (this.checks?.unhealthy === true) outcome.healthy = false;
    this.terminate(outcome);
  }

  private takeKillBeforeStart(): { graceMs: number; cause: KillCause } | undefined {
    const pending = this.killBeforeStart;
    this.killBeforeStart = undefined;
    return pending;
  }

  private terminateKilledBeforeStart(): void {
    const cause = this.takeKillBeforeStart()?.cause;
    this.terminate(
      cause === 'max-completion-time'
        ? terminalOutcome({ signal: 'SIGKILL' }, cause)
        : { state: TaskState.TASK_KILLED, message: KILLED_BEFORE_START_MESSAGE },
    );
  }

  /** Makes the terminal update, then waits for its acknowledgement (or exits, if nobody is left). */
  private terminate(outcome: { state: TaskState } & StatusDetails): void {
    if (this.phase === 'terminated' || this.finished) return;
    this.phase = 'terminated';
    this.checks?.stop();
    const { state, ...details } = outcome;
    this.send(this.taskIdValue(), state, details);
    if (this.agentLost) {
      this.finish(1);
      return;
    }
    this.armAcknowledgementTimer();
    this.exitIfDone();
  }

  private armAcknowledgementTimer(): void {
    this.acknowledgementTimer?.cancel();
    const timeoutMs = this.options.terminalAcknowledgementTimeoutMs ?? TERMINAL_ACKNOWLEDGEMENT_TIMEOUT_MS;
    this.acknowledgementTimer = this.clock.setTimeout(() => {
      this.acknowledgementTimer = undefined;
      // Disconnected: the update goes out with the next SUBSCRIBE, and the timer restarts then.
      if (this.link.state !== 'subscribed') return;
      this.logger.warn(
        { timeoutMs },
        'command executor: the agent did not acknowledge the terminal update; exiting',
      );
      this.finish(0);
    }, timeoutMs);
  }

  private exitIfDone(): void {
    if (this.phase === 'terminated' && this.link.unacknowledgedUpdates.length === 0) this.finish(0);
  }

  private finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    this.acknowledgementTimer?.cancel();
    this.shutdownTimer?.cancel();
    this.maxCompletionTimer?.cancel();
    this.checks?.stop();
    if (this.phase === 'running') this.taskProcess?.signalTree('SIGKILL');
    this.link.close();
    this.logger.info({ code }, 'command executor: exiting');
    this.options.exit(code);
  }

  // --- helpers ------------------------------------------------------------------------------------

  private send(taskId: string, state: TaskState, details: StatusDetails = {}): void {
    // Every update of a task with a check carries its latest status (Mesos' createTaskStatus).
    const checkStatus = this.checks?.checkStatus;
    if (details.checkStatus === undefined && checkStatus !== undefined) details = { ...details, checkStatus };
    const status = buildTaskStatus(
      taskId,
      state,
      { executorId: this.options.environment.executorId, nowMs: this.clock.now() },
      details,
    );
    this.logger.info(
      { taskId, state: TaskState[state], message: details.message },
      'command executor: update',
    );
    this.link.sendUpdate(status);
  }

  /**
   * A probe for the task's health check or check. Network probes target 127.0.0.1; a command runs
   * like the task: in the sandbox, as the task's user, with the executor's environment, the
   * task's own variables, then the check's (Mesos' checker starts from the executor environment,
   * which holds the task's variables there).
   */
  private probeFor(probe: ProbeSpec): Probe {
    const factory = this.options.probes ?? localProbes;
    switch (probe.kind) {
      case 'http':
        return factory.http(probe.url);
      case 'tcp':
        return factory.tcp(probe.host, probe.port);
      case 'command': {
        const task = this.task;
        const variables = [
          ...(task?.command?.environment?.variables ?? []),
          ...(probe.command.environment?.variables ?? []),
        ];
        const command = clone(CommandInfoSchema, probe.command);
        command.user = '';
        command.environment = create(EnvironmentSchema, { variables });
        const checkTask = create(TaskInfoSchema, { taskId: { value: this.taskIdValue() }, command });
        const plan = planCommandLaunch(checkTask, {
          executorEnvironment: this.options.processEnvironment,
          privateVariables: EXECUTOR_PRIVATE_VARIABLES,
          sandbox: this.options.environment.sandbox ?? this.options.cwd,
          currentUser: this.options.currentUser,
          privileged: this.options.privileged ?? false,
        });
        if (!plan.ok) {
          const message = `Cannot run the check command: ${plan.message}`;
          return async () => ({ kind: 'error', message });
        }
        // The task's user is known once the task has started, which is before any probe runs.
        return (signal) =>
          factory.command({ spec: plan.spec, user: this.taskUser, cwd: this.options.cwd })(signal);
      }
    }
  }

  private taskIdValue(): string {
    return this.task?.taskId?.value ?? '';
  }

  private frameworkCanKill(): boolean {
    return (
      this.frameworkInfo?.capabilities.some(
        (capability) => capability.type === FrameworkInfo_Capability_Type.TASK_KILLING_STATE,
      ) ?? false
    );
  }
}

// --- process entry ------------------------------------------------------------------------------

function currentUserName(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    // A uid without a passwd entry (common in containers) has no name.
    return undefined;
  }
}

/** Runs the command executor in this process; returns only by exiting. */
export function main(): void {
  let environment: ExecutorEnvironment;
  try {
    environment = readExecutorEnvironment(process.env);
  } catch (err) {
    const message = isStrataError(err) ? err.message : String(err);
    process.stderr.write(`command-executor: ${message}\n`);
    process.exit(1);
  }
  // Synchronous writes: the executor exits with process.exit, which must not lose its last lines.
  // Not pino: its module graph is on every container's launch path.
  // The sandbox's stderr is the task's too (what `task log --stderr` and `execute --follow` show):
  // the executor only adds warnings and errors there unless STRATA_EXECUTOR_LOG_LEVEL asks for more.
  const logger = stderrLogger('command-executor', executorLogLevel(process.env.STRATA_EXECUTOR_LOG_LEVEL));
  const processEnvironment: EnvironmentRecord = { ...process.env };
  // The token is the executor's credential, not the task's (Mesos removes it the same way).
  delete process.env['MESOS_EXECUTOR_AUTHENTICATION_TOKEN'];

  // systemClock timers do not hold the event loop open; during a reconnection backoff nothing
  // else would, so this does until the executor decides to exit.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const executor = new CommandExecutor({
    environment,
    processEnvironment,
    cwd: process.cwd(),
    logger,
    runner: new ProcessCommandRunner(logger),
    connect: (handlers) => new ExecutorClient({ environment, handlers, logger }),
    exit: (code) => {
      clearInterval(keepAlive);
      process.exit(code);
    },
    currentUser: currentUserName(),
    privileged: process.getuid?.() === 0,
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => executor.shutdown(`received ${signal}`));
  }
  // The task leads a session of its own, so nothing else takes it down if the executor dies.
  process.on('exit', () => executor.killTaskNow());
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'command executor: unexpected error; killing the task and exiting');
    process.exit(1);
  });
  logger.info(
    { agent: environment.agentUrl, executorId: environment.executorId, frameworkId: environment.frameworkId },
    'command executor: starting',
  );
  executor.start();
}

/**
 * A task with `shell: false` and no value runs its image's Entrypoint/Cmd: the containerizer
 * resolved them into STRATA_TASK_COMMAND (JSON CommandInfo), as Mesos' `--task_command`.
 */
export function withImageCommand(task: TaskInfo, env: EnvironmentRecord): TaskInfo {
  const text = env['STRATA_TASK_COMMAND'];
  const command = task.command;
  if (!text || !command || command.shell || command.value !== '') return task;
  let resolved: { value?: unknown; arguments?: unknown };
  try {
    resolved = JSON.parse(text) as typeof resolved;
  } catch {
    return task;
  }
  if (typeof resolved.value !== 'string' || !Array.isArray(resolved.arguments)) return task;
  const copy = clone(TaskInfoSchema, task);
  const replaced = clone(CommandInfoSchema, command);
  replaced.shell = false;
  replaced.value = resolved.value;
  replaced.arguments = resolved.arguments.map(String);
  copy.command = replaced;
  return copy;
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) main();
