/**
 * Strata's built-in default executor (reference §3.5): the process the agent starts for an
 * executor of `type = DEFAULT`, which runs task groups. Every task gets a nested container of its
 * own under the executor's container, launched, waited for and signalled through the agent's
 * operator API (LAUNCH_NESTED_CONTAINER, WAIT_NESTED_CONTAINER, KILL_NESTED_CONTAINER on
 * `/slave(1)/api/v1`); the executor itself never forks a task.
 *
 * Life of a group: every task gets TASK_STARTING; all its containers are launched (each with
 * `container_id = {value: <uuid>, parent: <the executor's container id from SUBSCRIBED>}`, the
 * task's `command` and `container`); once all launches are answered, every launched task gets
 * TASK_RUNNING and a WAIT long poll, whose answer (the container's wait status) decides the
 * terminal update. A group's tasks share a fate: when one ends TASK_FAILED or TASK_KILLED (other
 * than during a shutdown), and when the framework KILLs any one of them, all the others are killed
 * too. Several groups may arrive over the executor's life; each has its own fate.
 *
 * Killing a task is KillStateMachine's policy (kill.ts) applied to its container: TASK_KILLING when
 * the framework has TASK_KILLING_STATE, KILL_NESTED_CONTAINER with SIGTERM, SIGKILL when the grace
 * period runs out. The executor exits 0 once no task is left running and every update has been
 * acknowledged (or, as the command executor does, 60 s after the last terminal update if the agent
 * never acknowledges it), after a SHUTDOWN, and 1 when the agent is lost for good.
 *
 * A task's health check and check run once it runs (health/task-checks.ts); COMMAND probes are
 * nested containers under the task's own (health/nested-probe.ts), and a task killed for failing
 * its health check takes its group with it like any TASK_KILLED.
 *
 * The logic lives in `DefaultExecutor`, which talks to the agent through an `ExecutorLink` (the
 * executor API) and a `NestedContainerApi` (the operator API), so unit tests drive it with fakes
 * and a ManualClock; `main` wires the real ones.
 */
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { clone, create } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { type Clock, systemClock, type TimerHandle } from '../common/clock.js';
import { isStrataError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Event_Subscribed } from '../wire/gen/mesos/v1/executor/executor_pb.js';
import {
  CommandInfoSchema,
  type ContainerID,
  ContainerIDSchema,
  ContainerStatusSchema,
  EnvironmentSchema,
  type FrameworkInfo,
  FrameworkInfo_Capability_Type,
  type KillPolicy,
  type TaskGroupInfo,
  type TaskID,
  type TaskInfo,
  TaskState,
  TaskStatus_Reason,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import {
  AgentApiClient,
  type AgentCallOutcome,
  agentOperatorUrl,
  type NestedContainerApi,
} from './agent-api-client.js';
import type { ExecutorLink } from './command-executor.js';
import { type ExecutorEnvironment, readExecutorEnvironment } from './environment.js';
import { ExecutorClient, type ExecutorEventHandlers } from './executor-client.js';
import type { Probe } from './health/checker.js';
import type { ProbeSpec } from './health/config.js';
import { nestedCommandProbe } from './health/nested-probe.js';
import { type LocalProbeFactory, localProbes } from './health/probes.js';
import { TaskChecks } from './health/task-checks.js';
import { durationInfoToMs, KillStateMachine, killGracePeriodMs, shutdownKillGracePeriodMs } from './kill.js';
import {
  buildTaskStatus,
  containerLaunchFailedMessage,
  KILLED_BEFORE_CONTAINER_LAUNCH_MESSAGE,
  type KillCause,
  type NestedContainerTermination,
  nestedContainerOutcome,
  type StatusDetails,
  type TerminalOutcome,
} from './status.js';

/** As the command executor: exit anyway if the agent never acknowledges the last terminal update. */
export const TERMINAL_ACKNOWLEDGEMENT_TIMEOUT_MS = 60_000;
/** First delay before repeating a failed WAIT or SIGKILL; it doubles up to the maximum. */
export const CALL_RETRY_INITIAL_MS = 500;
export const CALL_RETRY_MAX_MS = 10_000;
/**
 * How many times a WAIT the agent refuses (an answer other than 200 or 404) is repeated before the
 * task is given up as FAILED. An unreachable agent is retried for as long as the executor client
 * keeps trying to reach it: the client decides when the agent is lost.
 */
export const WAIT_REJECTION_LIMIT = 5;
/** How long a lost executor spends trying to SIGKILL its tasks' containers before exiting. */
export const CONNECTION_LOST_KILL_TIMEOUT_MS = 5_000;

const SIGTERM = osConstants.signals.SIGTERM;
const SIGKILL = osConstants.signals.SIGKILL;

export interface DefaultExecutorOptions {
  environment: ExecutorEnvironment;
  logger: Logger;
  /** Builds the link to the agent's executor API, given the handlers for its events. */
  connect: (handlers: Partial<ExecutorEventHandlers>) => ExecutorLink;
  /** The agent's operator API, for the nested containers. */
  containers: NestedContainerApi;
  /** Called once, with the exit status, when the executor is done. */
  exit: (code: number) => void;
  clock?: Clock;
  /** Value of a new nested container id; a random UUID unless a test fixes it. */
  newContainerId?: () => string;
  terminalAcknowledgementTimeoutMs?: number;
  /** HTTP and TCP probes of health checks and checks (COMMAND ones run in nested containers). */
  probes?: LocalProbeFactory;
}

/** One task of a group, and its nested container. */
interface Child {
  readonly task: TaskInfo;
  readonly taskId: string;
  readonly containerId: ContainerID;
  readonly group: readonly Child[];
  /** launching: LAUNCH_NESTED_CONTAINER not answered yet; running: launched, not ended; terminated: terminal update made. */
  phase: 'launching' | 'running' | 'terminated';
  /** Exists once the container runs: kills before then wait in `pendingKill`. */
  killer: KillStateMachine | undefined;
  pendingKill: { graceMs: number; cause: KillCause } | undefined;
  waitInFlight: boolean;
  waitRejections: number;
  waitFailures: number;
  waitRetryTimer: TimerHandle | undefined;
  killRetryTimer: TimerHandle | undefined;
  maxCompletionTimer: TimerHandle | undefined;
  /** The task's health check and check, when it has any. */
  checks: TaskChecks | undefined;
}

export class DefaultExecutor {
  private readonly options: DefaultExecutorOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly link: ExecutorLink;
  private readonly containers: NestedContainerApi;

  private frameworkInfo: FrameworkInfo | undefined;
  /** The executor's own container: the parent of every task container. */
  private ownContainerId: ContainerID | undefined;
  /** Every task ever launched, by task id. */
  private readonly children = new Map<string, Child>();
  /** Groups whose launches are not all answered yet. */
  private groupsLaunching = 0;
  private shuttingDown = false;
  private agentLost = false;
  private finished = false;
  private acknowledgementTimer: TimerHandle | undefined;
  private shutdownTimer: TimerHandle | undefined;

  constructor(options: DefaultExecutorOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.containers = options.containers;
    this.link = options.connect({
      subscribed: (event) => this.onSubscribed(event),
      launch: (task) => this.onLaunch(task),
      launchGroup: (group) => this.onLaunchGroup(group),
      kill: (taskId, policy) => this.onKill(taskId, policy),
      acknowledged: () => this.exitIfDone(),
      message: (data) =>
        this.logger.info({ bytes: data.byteLength }, 'default executor: ignoring a framework message'),
      shutdown: () => this.shutdown('the agent asked the executor to shut down'),
      error: (message) => this.logger.error({ message }, 'default executor: ERROR event from the agent'),
      connectionLost: (reason) => this.onConnectionLost(reason),
    });
  }

  start(): void {
    this.link.start();
  }

  /** SHUTDOWN from the agent, or a termination signal to the executor process. */
  shutdown(why: string): void {
    if (this.finished) return;
    this.logger.info({ why }, 'default executor: shutting down');
    this.shuttingDown = true;
    if (this.children.size === 0 && this.groupsLaunching === 0) {
      this.finish(0);
      return;
    }
    // The agent destroys the container after its shutdown grace period; be gone by then.
    if (this.shutdownTimer === undefined) {
      this.shutdownTimer = this.clock.setTimeout(() => {
        this.logger.warn('default executor: shutdown grace period over; exiting');
        this.finish(0);
      }, this.options.environment.shutdownGracePeriodMs);
    }
    const graceMs = shutdownKillGracePeriodMs(this.options.environment.shutdownGracePeriodMs);
    for (const child of this.children.values()) this.requestKill(child, graceMs, 'shutdown');
    this.exitIfDone();
  }

  // --- events -----------------------------------------------------------------------------------

  private onSubscribed(event: Event_Subscribed): void {
    this.frameworkInfo = event.frameworkInfo;
    if (event.containerId !== undefined) this.ownContainerId = event.containerId;
    // Waits that broke while the agent was away are asked again now that it is back.
    for (const child of this.children.values()) {
      if (child.phase === 'running' && !child.waitInFlight) {
        child.waitRetryTimer?.cancel();
        child.waitRetryTimer = undefined;
        this.startWait(child);
      }
    }
    if (this.allTerminated()) this.armAcknowledgementTimer();
  }

  private onLaunch(task: TaskInfo): void {
    // As Mesos: LAUNCH belongs to the command executor; the default executor takes task groups only.
    this.logger.error(
      { taskId: task.taskId?.value },
      'default executor: LAUNCH is not supported by the default executor; use LAUNCH_GROUP',
    );
    this.shutdown('LAUNCH received');
  }

  private onLaunchGroup(groupInfo: TaskGroupInfo): void {
    const taskIds = groupInfo.tasks.map((task) => task.taskId?.value ?? '');
    if (this.shuttingDown || this.finished) {
      // The agent accounts for tasks an executor never reports on once the executor is gone.
      this.logger.warn({ tasks: taskIds }, 'default executor: ignoring LAUNCH_GROUP while shutting down');
      return;
    }
    const parent = this.ownContainerId;
    const group: Child[] = [];
    for (const task of groupInfo.tasks) {
      const taskId = task.taskId?.value ?? '';
      if (this.children.has(taskId) || group.some((child) => child.taskId === taskId)) {
        this.logger.error({ taskId }, 'default executor: ignoring a task id that was already launched');
        continue;
      }
      group.push(this.newChild(task, group, parent));
    }
    if (group.length === 0) return;
    this.logger.info({ tasks: group.map((child) => child.taskId) }, 'default executor: launching task group');
    for (const child of group) {
      this.children.set(child.taskId, child);
      this.send(child, TaskState.TASK_STARTING);
    }
    if (parent === undefined) {
      // Nested containers need a parent; an agent that does not say which cannot run groups.
      for (const child of group) {
        this.terminate(child, {
          state: TaskState.TASK_FAILED,
          reason: TaskStatus_Reason.CONTAINER_LAUNCH_FAILED,
          message: containerLaunchFailedMessage('the agent did not send the executor its container id'),
        });
      }
      return;
    }
    this.groupsLaunching += 1;
    const launches = group.map((child) =>
      this.containers.launch({
        containerId: child.containerId,
        command: child.task.command,
        container: child.task.container,
      }),
    );
    void Promise.all(launches).then((outcomes) => this.onGroupLaunched(group, outcomes));
  }

  private onKill(taskId: TaskID, policy: KillPolicy | undefined): void {
    const child = this.children.get(taskId.value);
    if (child === undefined) {
      this.logger.warn(
        { taskId: taskId.value },
        'default executor: KILL for a task this executor does not run',
      );
      return;
    }
    if (child.phase === 'terminated') {
      this.logger.info({ taskId: taskId.value }, 'default executor: KILL for a task that already ended');
      return;
    }
    const graceMs = killGracePeriodMs(policy, child.task.killPolicy);
    this.logger.info({ taskId: taskId.value, graceMs }, 'default executor: received KILL; killing its group');
    this.requestKill(child, graceMs, 'kill');
    // Reference §3.5: a KILL for any task of a group kills the whole group, each task by its own policy.
    this.killGroup(child, 'kill');
  }

  private onConnectionLost(reason: string): void {
    this.agentLost = true;
    this.logger.error({ reason }, 'default executor: lost the agent');
    if (this.finished) return;
    // Nobody is left to report to. The containers belong to the agent, which destroys them with
    // the executor's; an operator API that still answers can take them down right away.
    const kills: Promise<unknown>[] = [];
    for (const child of this.children.values()) {
      if (child.phase === 'running') kills.push(this.containers.kill(child.containerId, SIGKILL));
    }
    if (kills.length === 0) {
      this.finish(1);
      return;
    }
    const timer = this.clock.setTimeout(() => this.finish(1), CONNECTION_LOST_KILL_TIMEOUT_MS);
    void Promise.allSettled(kills).then(() => {
      timer.cancel();
      this.finish(1);
    });
  }

  // --- launching and waiting ----------------------------------------------------------------------

  private onGroupLaunched(group: readonly Child[], outcomes: readonly AgentCallOutcome<boolean>[]): void {
    this.groupsLaunching -= 1;
    if (this.finished) return;
    const failed: { child: Child; detail: string }[] = [];
    group.forEach((child, index) => {
      const outcome = outcomes[index];
      if (outcome?.kind !== 'ok') {
        failed.push({ child, detail: outcome === undefined ? 'no answer' : describeFailure(outcome) });
        return;
      }
      this.onContainerLaunched(child);
    });
    // RUNNING for every launched task comes first, so each of them reads RUNNING before the
    // KILLED that the failed launch brings on its group.
    for (const { child, detail } of failed) {
      this.logger.error(
        { taskId: child.taskId, detail },
        'default executor: failed to launch a task container',
      );
      if (child.pendingKill !== undefined) {
        this.terminate(child, {
          state: TaskState.TASK_KILLED,
          message: KILLED_BEFORE_CONTAINER_LAUNCH_MESSAGE,
        });
      } else {
        this.terminate(child, {
          state: TaskState.TASK_FAILED,
          reason: TaskStatus_Reason.CONTAINER_LAUNCH_FAILED,
          message: containerLaunchFailedMessage(detail),
        });
      }
    }
    for (const child of group) {
      const pending = child.pendingKill;
      child.pendingKill = undefined;
      if (pending !== undefined && child.phase === 'running')
        this.requestKill(child, pending.graceMs, pending.cause);
    }
    this.exitIfDone();
  }

  private onContainerLaunched(child: Child): void {
    child.phase = 'running';
    child.killer = new KillStateMachine(this.clock, {
      terminate: () => this.signal(child, SIGTERM),
      forceKill: () => this.signal(child, SIGKILL),
    });
    this.logger.info(
      { taskId: child.taskId, containerId: child.containerId.value },
      'default executor: task container launched',
    );
    this.send(child, TaskState.TASK_RUNNING);
    // As the command executor: checks start once the task runs (the grace period from here).
    child.checks?.start();
    const maxCompletion = child.task.maxCompletionTime;
    if (maxCompletion !== undefined) {
      const limitMs = Math.max(0, durationInfoToMs(maxCompletion));
      child.maxCompletionTimer = this.clock.setTimeout(() => {
        child.maxCompletionTimer = undefined;
        this.logger.warn(
          { taskId: child.taskId, limitMs },
          'default executor: task exceeded its max_completion_time; killing it',
        );
        this.requestKill(child, 0, 'max-completion-time');
      }, limitMs);
    }
    this.startWait(child);
  }

  private startWait(child: Child): void {
    if (child.waitInFlight || child.phase !== 'running' || this.finished) return;
    child.waitInFlight = true;
    void this.containers.wait(child.containerId).then((outcome) => {
      child.waitInFlight = false;
      this.onWaited(child, outcome);
    });
  }

  private onWaited(child: Child, outcome: AgentCallOutcome<NestedContainerTermination>): void {
    if (this.finished || child.phase !== 'running') return;
    if (outcome.kind === 'ok') {
      this.logger.info(
        { taskId: child.taskId, termination: outcome.value },
        'default executor: task container ended',
      );
      this.terminate(child, nestedContainerOutcome(outcome.value, child.killer?.cause));
      return;
    }
    if (outcome.kind === 'rejected') {
      child.waitRejections += 1;
      // 404: the agent has no such container any more; nothing will ever tell how it ended.
      if (outcome.httpStatus === 404 || child.waitRejections >= WAIT_REJECTION_LIMIT) {
        this.terminate(child, {
          state: child.killer?.killing === true ? TaskState.TASK_KILLED : TaskState.TASK_FAILED,
          message: `Failed to wait for the task's container: ${describeFailure(outcome)}`,
        });
        return;
      }
    }
    child.waitFailures += 1;
    const delay = retryDelayMs(child.waitFailures);
    this.logger.warn(
      { taskId: child.taskId, detail: describeFailure(outcome), retryInMs: delay },
      'default executor: WAIT_NESTED_CONTAINER failed; asking again',
    );
    child.waitRetryTimer?.cancel();
    child.waitRetryTimer = this.clock.setTimeout(() => {
      child.waitRetryTimer = undefined;
      // While the executor API is down the operator API is too; the next SUBSCRIBED asks again.
      if (this.link.state === 'subscribed') this.startWait(child);
    }, delay);
  }

  // --- killing ----------------------------------------------------------------------------------

  private requestKill(child: Child, graceMs: number, cause: KillCause): void {
    // A lost executor has already SIGKILLed what it could; nothing it reports is heard any more.
    if (this.agentLost) return;
    switch (child.phase) {
      case 'launching': {
        const earlier = child.pendingKill;
        child.pendingKill = {
          graceMs: earlier === undefined ? graceMs : Math.min(earlier.graceMs, graceMs),
          cause: earlier?.cause ?? cause,
        };
        return;
      }
      case 'running': {
        const result = child.killer!.request(graceMs, cause);
        this.logger.info({ taskId: child.taskId, cause, graceMs, result }, 'default executor: kill');
        // A task being killed is checked no more (Mesos pauses its checkers when it kills).
        child.checks?.stop();
        if (result === 'started' && this.frameworkCanKill()) this.send(child, TaskState.TASK_KILLING);
        return;
      }
      default:
        return;
    }
  }

  /** Kills every task of `child`'s group that is still alive, each with its own kill policy. */
  private killGroup(child: Child, cause: KillCause): void {
    for (const other of child.group) {
      if (other !== child && other.phase !== 'terminated') {
        this.requestKill(other, killGracePeriodMs(undefined, other.task.killPolicy), cause);
      }
    }
  }

  private signal(child: Child, signal: number, attempt = 0): void {
    const name = signal === SIGKILL ? 'SIGKILL' : 'SIGTERM';
    this.logger.info(
      { taskId: child.taskId, signal: name },
      'default executor: signalling the task container',
    );
    void this.containers.kill(child.containerId, signal).then((outcome) => {
      if (outcome.kind === 'ok' || this.finished || child.phase !== 'running') return;
      // 404: the container is already gone; its WAIT says how it ended.
      if (outcome.kind === 'rejected' && outcome.httpStatus === 404) return;
      this.logger.warn(
        { taskId: child.taskId, signal: name, detail: describeFailure(outcome) },
        'default executor: KILL_NESTED_CONTAINER failed',
      );
      // A lost SIGTERM is made good by the SIGKILL at the end of the grace period; a lost SIGKILL
      // has nothing after it, so it is repeated until the container ends.
      if (signal !== SIGKILL) return;
      child.killRetryTimer?.cancel();
      child.killRetryTimer = this.clock.setTimeout(
        () => {
          child.killRetryTimer = undefined;
          if (!this.finished && child.phase === 'running') this.signal(child, SIGKILL, attempt + 1);
        },
        retryDelayMs(attempt + 1),
      );
    });
  }

  // --- ending -------------------------------------------------------------------------------------

  /** Makes a task's terminal update and applies the group policy. */
  private terminate(child: Child, outcome: TerminalOutcome | ({ state: TaskState } & StatusDetails)): void {
    if (child.phase === 'terminated' || this.finished) return;
    child.phase = 'terminated';
    child.killer?.processExited();
    child.checks?.stop();
    child.waitRetryTimer?.cancel();
    child.killRetryTimer?.cancel();
    child.maxCompletionTimer?.cancel();
    const { state, ...rest } = outcome;
    const details: StatusDetails = { ...rest };
    // Mesos marks the end of a task its health check killed, without a reason of its own.
    if (child.checks?.unhealthy === true) details.healthy = false;
    this.send(child, state, details);
    // Reference §3.5: a task of a group that fails or is killed takes the rest of its group with
    // it, except during a shutdown, which kills everything anyway.
    if (!this.shuttingDown && (state === TaskState.TASK_FAILED || state === TaskState.TASK_KILLED)) {
      this.killGroup(child, 'kill');
    }
    if (this.agentLost) return;
    if (this.allTerminated()) this.armAcknowledgementTimer();
    this.exitIfDone();
  }

  private allTerminated(): boolean {
    if (this.groupsLaunching > 0 || this.children.size === 0) return false;
    for (const child of this.children.values()) if (child.phase !== 'terminated') return false;
    return true;
  }

  private armAcknowledgementTimer(): void {
    this.acknowledgementTimer?.cancel();
    const timeoutMs = this.options.terminalAcknowledgementTimeoutMs ?? TERMINAL_ACKNOWLEDGEMENT_TIMEOUT_MS;
    this.acknowledgementTimer = this.clock.setTimeout(() => {
      this.acknowledgementTimer = undefined;
      // Disconnected: the updates go out with the next SUBSCRIBE, and the timer restarts then.
      if (this.link.state !== 'subscribed') return;
      this.logger.warn(
        { timeoutMs },
        'default executor: the agent did not acknowledge the terminal updates; exiting',
      );
      this.finish(0);
    }, timeoutMs);
  }

  /** Exits once no task is left and the agent has every update: Mesos' "no child containers remain". */
  private exitIfDone(): void {
    if (this.finished || this.agentLost) return;
    if (!this.allTerminated()) return;
    if (this.link.unacknowledgedUpdates.length === 0) this.finish(0);
  }

  private finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    this.acknowledgementTimer?.cancel();
    this.shutdownTimer?.cancel();
    for (const child of this.children.values()) {
      child.waitRetryTimer?.cancel();
      child.killRetryTimer?.cancel();
      child.maxCompletionTimer?.cancel();
      child.killer?.processExited();
      child.checks?.stop();
    }
    this.link.close();
    this.logger.info({ code }, 'default executor: exiting');
    this.options.exit(code);
  }

  // --- helpers ------------------------------------------------------------------------------------

  private newChild(task: TaskInfo, group: readonly Child[], parent: ContainerID | undefined): Child {
    const newId = this.options.newContainerId ?? randomUUID;
    // The full id, parent included, in every call: the agent resolves nested ids through it.
    const containerId = create(ContainerIDSchema, { value: newId() });
    if (parent !== undefined) containerId.parent = parent;
    const child: Child = {
      task,
      taskId: task.taskId?.value ?? '',
      containerId,
      group,
      phase: 'launching',
      killer: undefined,
      pendingKill: undefined,
      waitInFlight: false,
      waitRejections: 0,
      waitFailures: 0,
      waitRetryTimer: undefined,
      killRetryTimer: undefined,
      maxCompletionTimer: undefined,
      checks: undefined,
    };
    if (task.healthCheck !== undefined || task.check !== undefined) {
      child.checks = new TaskChecks({
        task,
        clock: this.clock,
        logger: this.logger,
        probeFor: (probe) => this.probeFor(child, probe),
        connected: () => this.link.state === 'subscribed',
        sendRunning: (details) => this.send(child, TaskState.TASK_RUNNING, details),
        kill: () =>
          this.requestKill(child, killGracePeriodMs(undefined, child.task.killPolicy), 'health-check'),
      });
    }
    return child;
  }

  /**
   * A probe for a task's health check or check. HTTP and TCP probe 127.0.0.1 from the executor
   * (Strata's nested containers share the host's network); a command runs in a check container
   * under the task's (health/nested-probe.ts), with the task's environment, then the check's, and
   * MESOS_SANDBOX pointing at the task's sandbox.
   */
  private probeFor(child: Child, probe: ProbeSpec): Probe {
    const factory = this.options.probes ?? localProbes;
    switch (probe.kind) {
      case 'http':
        return factory.http(probe.url);
      case 'tcp':
        return factory.tcp(probe.host, probe.port);
      case 'command': {
        const command = clone(CommandInfoSchema, probe.command);
        const sandbox = this.options.environment.sandbox;
        command.environment = create(EnvironmentSchema, {
          variables: [
            ...(child.task.command?.environment?.variables ?? []),
            // The agent lays a nested container's sandbox out under its parent's, as Mesos does.
            ...(sandbox === undefined
              ? []
              : [{ name: 'MESOS_SANDBOX', value: join(sandbox, 'containers', child.containerId.value) }]),
            ...(probe.command.environment?.variables ?? []),
          ],
        });
        return nestedCommandProbe({
          containers: this.containers,
          parent: child.containerId,
          command,
          logger: this.logger,
        });
      }
    }
  }

  private send(child: Child, state: TaskState, details: StatusDetails = {}): void {
    // Every update of a task with a check carries its latest status, as in Mesos.
    const checkStatus = child.checks?.checkStatus;
    if (details.checkStatus === undefined && checkStatus !== undefined) details = { ...details, checkStatus };
    const status = buildTaskStatus(
      child.taskId,
      state,
      { executorId: this.options.environment.executorId, nowMs: this.clock.now() },
      details,
    );
    // As Mesos' default executor: the update names the task's own (nested) container.
    status.containerStatus = create(ContainerStatusSchema, { containerId: child.containerId });
    this.logger.info(
      { taskId: child.taskId, state: TaskState[state], message: details.message },
      'default executor: update',
    );
    this.link.sendUpdate(status);
  }

  private frameworkCanKill(): boolean {
    return (
      this.frameworkInfo?.capabilities.some(
        (capability) => capability.type === FrameworkInfo_Capability_Type.TASK_KILLING_STATE,
      ) ?? false
    );
  }
}

function describeFailure(outcome: AgentCallOutcome<unknown>): string {
  switch (outcome.kind) {
    case 'ok':
      return 'ok';
    case 'rejected':
      return `agent answered ${outcome.httpStatus}: ${outcome.detail}`;
    default:
      return outcome.detail;
  }
}

function retryDelayMs(failures: number): number {
  return Math.min(CALL_RETRY_MAX_MS, CALL_RETRY_INITIAL_MS * 2 ** Math.min(Math.max(0, failures - 1), 20));
}

// --- process entry ------------------------------------------------------------------------------

/** Runs the default executor in this process; returns only by exiting. */
export function main(): void {
  let environment: ExecutorEnvironment;
  try {
    environment = readExecutorEnvironment(process.env);
  } catch (err) {
    const message = isStrataError(err) ? err.message : String(err);
    process.stderr.write(`default-executor: ${message}\n`);
    process.exit(1);
  }
  // Synchronous writes: the executor exits with process.exit, which must not lose its last lines.
  const logger = pino(
    { name: 'default-executor', base: { pid: process.pid } },
    pino.destination({ fd: 2, sync: true }),
  );
  // The token is the executor's credential; keep it out of anything this process might start.
  delete process.env['MESOS_EXECUTOR_AUTHENTICATION_TOKEN'];

  // systemClock timers do not hold the event loop open; during a reconnection backoff nothing
  // else would, so this does until the executor decides to exit.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const executor = new DefaultExecutor({
    environment,
    logger,
    connect: (handlers) => new ExecutorClient({ environment, handlers, logger }),
    containers: new AgentApiClient({
      url: agentOperatorUrl(environment.agentUrl),
      authenticationToken: environment.authenticationToken,
      logger,
    }),
    exit: (code) => {
      clearInterval(keepAlive);
      process.exit(code);
    },
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => executor.shutdown(`received ${signal}`));
  }
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'default executor: unexpected error; exiting');
    process.exit(1);
  });
  logger.info(
    { agent: environment.agentUrl, executorId: environment.executorId, frameworkId: environment.frameworkId },
    'default executor: starting',
  );
  executor.start();
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
