/**
 * The agent's core: frameworks, executors and tasks on this machine, and what happens to them
 * when the master, an executor or an executor process says something (mesos-internals.md
 * sections 4.4-4.8, reference section 3.3).
 *
 * I/O is injected: `send` puts a message on the link to the master, `launch` starts an executor
 * process, the clock runs every timer, executor event streams are `RecordStream`s. All state is in
 * plain records (FrameworkRecord, ExecutorRecord, TaskEntry); for frameworks that checkpoint, the
 * `checkpointer` writes what a restarted agent needs (checkpoint.ts) as it changes, and `recover`
 * rebuilds the records from it (section 4.9).
 */

import { randomUUID } from 'node:crypto';
import { chownSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { clearField, create, equals, isFieldSet, type MessageInitShape } from '@bufbuild/protobuf';
import type { Clock, TimerHandle } from '../common/clock.js';
import { invalidIdReason } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { formatDuration } from '../common/units.js';
import { STRATA_VERSION } from '../common/version.js';
import type { NestedImageLaunch } from '../containerizer/containerizer.js';
import type { UsageStats } from '../containerizer/isolators/isolator.js';
import type { ExecTarget } from '../containerizer/runtime/oci-exec.js';
import type { MessageMediaType } from '../http/media.js';
import type { RecordStream } from '../http/responses.js';
import {
  type AttributeItem,
  applyCheckpointed,
  attributesToMessages,
  Resources,
  resourcesFromMessages,
  resourcesToMessages,
} from '../resources/index.js';
import { codec } from '../wire/codec.js';
import {
  type Call_Subscribe,
  type Event,
  Event_Type,
  EventSchema,
} from '../wire/gen/mesos/v1/executor/executor_pb.js';
import {
  type AgentInfo,
  AgentInfo_Capability_Type,
  AgentInfoSchema,
  type CommandInfo,
  type ContainerID,
  type ContainerInfo,
  ContainerStatusSchema,
  type ExecutorInfo,
  ExecutorInfo_Type,
  ExecutorInfoSchema,
  type FrameworkInfo,
  FrameworkInfoSchema,
  type KillPolicy,
  type Resource,
  type Task,
  type TaskInfo,
  TaskInfoSchema,
  TaskSchema,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
  TaskStatusSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  AgentToMasterSchema,
  type MasterToAgent,
  MasterToAgent_Type,
} from '../wire/gen/strata/internal/v1/link_pb.js';
import type {
  Checkpointer,
  RecoveredAgent,
  RecoveredExecutor,
  RecoveredFramework,
  RecoveredTask,
  RunKey,
  RuntimeContainer,
} from './checkpoint.js';
import {
  commandExecutorInfo,
  defaultExecutorCommand,
  executorEnvironment,
  executorProgram,
  executorRunsDir,
  isCommandExecutorInfo,
  type ProgramSpec,
  shutdownGracePeriodMs,
} from './executor-launch.js';
import type { LaunchGate } from './launch-gate.js';
import {
  describeWaitStatus,
  type ExecutorProcess,
  type LaunchSpec,
  type LocalLinkFactory,
} from './launcher.js';
import { LocalExecutorLink } from './local-executor-link.js';
import {
  type ContainerTermination,
  type LaunchOutcome,
  NestedContainers,
  type RootContainer,
} from './nested-containers.js';
import type { AgentObserver } from './observer.js';
import type { ProcessIdentity } from './recovered-process.js';
import { type StatusUpdate, StatusUpdateManager, type StreamEvent } from './status-updates.js';
import {
  agentStatus,
  droppedOrLost,
  goneOrLost,
  isTerminalState,
  taskStateName,
  uuidText,
} from './task-states.js';
import { linkVolumesIntoSandbox, syncVolumeDirectories } from './volumes.js';

/** Bounds on history kept for `/state` (Mesos' defaults). */
export const MAX_COMPLETED_FRAMEWORKS = 50;
export const MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK = 150;
export const MAX_COMPLETED_TASKS_PER_EXECUTOR = 200;
/** After SIGTERM at the end of a shutdown grace period, how long before SIGKILL. */
export const DEFAULT_KILL_ESCALATION_MS = 3000;

export interface AgentConfig {
  workDir: string;
  /** The address executors and tools reach this agent at. */
  ip: string;
  port: number;
  hostname: string;
  resources: Resources;
  attributes: readonly AttributeItem[];
  executorRegistrationTimeoutMs: number;
  executorShutdownGracePeriodMs: number;
  /**
   * `--switch_user`: executors run as their user (ExecutorInfo.command.user, else
   * FrameworkInfo.user) with the sandbox chowned to it. The flag defaults to true; an Agent built
   * without it (or without `resolveUser`) does not switch.
   */
  switchUser?: boolean;
  /** Looks a user up on this host (NSS, then /etc/passwd); undefined when there is none. */
  resolveUser?: (name: string) => Promise<{ name: string; uid: number; gid: number } | undefined>;
  executorReregistrationTimeoutMs: number;
  /**
   * How long a subscribed executor may sit with no tasks before it is shut down (0 or absent:
   * never), so an idle custom executor does not hold its resources for ever.
   */
  executorIdleTimeoutMs?: number;
  recoveryTimeoutMs: number;
  heartbeatIntervalMs: number;
  killEscalationMs: number;
  /** What executors inherit (before the MESOS_* variables). */
  executorBaseEnvironment: Readonly<Record<string, string | undefined>>;
  /** How to run the built-in command executor; undefined when it is not installed. */
  commandExecutor: { file: string; args: readonly string[] } | undefined;
  /** How to run the built-in default executor (task groups); absent when it is not installed. */
  defaultExecutor?: { file: string; args: readonly string[] } | undefined;
}

export interface AgentDeps {
  clock: Clock;
  log: Logger;
  /** Puts a message on the link; false when there is no registered link (the message is dropped). */
  send(message: AgentToMaster): boolean;
  launch(spec: LaunchSpec): Promise<ExecutorProcess>;
  statusUpdateRetry?: { minMs: number; maxMs: number };
  /** Writes the checkpoint (meta/ and the runtime directory); without one nothing is written. */
  checkpointer?: Checkpointer;
  /**
   * Finds a process of an earlier life of the agent again: undefined when it is gone or is no
   * longer the process that was started (recovered-process.ts `attachProcess`).
   */
  attach?(pid: number, identity: ProcessIdentity): ExecutorProcess | undefined;
  /** An isolating containerizer: the container nested containers of `containerId` start in. */
  execTarget?(containerId: string): ExecTarget | undefined;
  /** An isolating containerizer: starts a nested container with an image of its own. */
  launchNestedWithImage?(request: NestedImageLaunch): Promise<ExecutorProcess>;
  /**
   * A containerizer that manages its containers' cgroups: the usage of a live executor container
   * read from them (`/monitor/statistics`, GET_CONTAINERS); without one usage comes from /proc.
   */
  containerUsage?(containerId: string): Promise<UsageStats | undefined>;
  /**
   * Resizes a live executor container to `resources` (the executor's own plus its live tasks'),
   * as Mesos' containerizer `update` when tasks come and go.
   */
  updateContainer?(containerId: string, resources: readonly Resource[]): Promise<void>;
  /** Told about updates and executor ends (metrics, sandbox garbage collection). */
  observer?: AgentObserver;
  /** Bounds the executors booting at once (isolating agents); unbounded without one. */
  launchGate?: LaunchGate;
}

/** `--recover`: re-attach to surviving executors, or kill them all and exit (Mesos' semantics). */
export type RecoverMode = 'reconnect' | 'cleanup';

export type ExecutorPhase = 'registering' | 'running' | 'terminating' | 'terminated';
/** queued: waiting for the executor to subscribe; launched: sent to it; terminated: terminal update not yet acknowledged. */
export type TaskPhase = 'queued' | 'launched' | 'terminated';

/** The tasks of one RUN_TASK_GROUP: they reach the executor together, in one LAUNCH_GROUP. */
export interface TaskGroup {
  taskIds: readonly string[];
}

export interface TaskEntry {
  info: TaskInfo;
  task: Task;
  phase: TaskPhase;
  /** Set for a task that came in a task group. */
  group?: TaskGroup;
}

interface ExecutorStream {
  stream: RecordStream;
  mediaType: MessageMediaType;
  heartbeat: TimerHandle;
}

interface Termination {
  state: TaskState;
  reason: TaskStatus_Reason;
  message: string;
}

export interface ExecutorRecord {
  id: string;
  frameworkId: string;
  info: ExecutorInfo;
  containerId: string;
  directory: string;
  /** Synthesized for a command task (not reported to the master on re-registration). */
  commandExecutor: boolean;
  phase: ExecutorPhase;
  tasks: Map<string, TaskEntry>;
  completedTasks: Task[];
  /** Whether any task was ever handed to the executor. */
  everLaunched: boolean;
  connection: ExecutorStream | undefined;
  process: ExecutorProcess | undefined;
  registrationTimer: TimerHandle | undefined;
  /** Runs while a subscribed executor has no tasks (--executor_idle_timeout). */
  idleTimer: TimerHandle | undefined;
  shutdownTimer: TimerHandle | undefined;
  pendingTermination: Termination | undefined;
  exitStatus: number | undefined;
  /** Found again after an agent restart and waiting to re-subscribe (reregistration timeout runs). */
  awaitingReregistration: boolean;
  /** Resolves once the process has exited (or never started). */
  gone: Promise<void>;
  markGone: () => void;
  /** Gives back the executor's boot slot (launch-gate.ts) once it subscribes, exits or fails. */
  releaseLaunchSlot?: (() => void) | undefined;
}

export interface FrameworkRecord {
  id: string;
  info: FrameworkInfo;
  phase: 'running' | 'terminating';
  executors: Map<string, ExecutorRecord>;
  completedExecutors: ExecutorRecord[];
}

export type ExecutorLookup =
  | { kind: 'found'; framework: FrameworkRecord; executor: ExecutorRecord }
  | { kind: 'no-framework' }
  | { kind: 'no-executor' };

/** `REASON_CONTAINER_LIMITATION_MEMORY` → the enum value (containerizer limitations). */
function limitationReason(name: string): TaskStatus_Reason {
  const value = (TaskStatus_Reason as unknown as Record<string, number | undefined>)[
    name.replace(/^REASON_/, '')
  ];
  return value ?? TaskStatus_Reason.CONTAINER_LIMITATION;
}

export class Agent {
  readonly frameworks = new Map<string, FrameworkRecord>();
  readonly completedFrameworks: FrameworkRecord[] = [];
  readonly startTimeMs: number;
  /** Dynamic reservations and persistent volumes (unallocated), as the master last sent them. */
  private checkpointed: Resources = Resources.EMPTY;
  /** `--resources` with `checkpointed` applied: what the agent reports and offers. */
  private total: Resources | undefined;
  private id: string | undefined;
  private stopping = false;
  private recovering = false;
  private recoveryTimer: TimerHandle | undefined;
  private resolveRecovered: () => void = () => {};
  /** Settles once restart recovery is over (at once for an agent that never ran `recover`). */
  recovered: Promise<void> = Promise.resolve();
  /** What a non-strict recovery had to skip (Mesos' slave/recovery_errors). */
  recoveryErrors = 0;
  /** Processes of an earlier life being killed (orphans); cleanup mode waits for them. */
  private readonly orphans: Promise<void>[] = [];
  private recoverMode: RecoverMode = 'reconnect';
  /** Executors left running when the agent stopped (their framework checkpoints). */
  keptExecutors = 0;
  readonly updates: StatusUpdateManager;
  /** Containers launched below executor containers through the operator API. */
  readonly containers: NestedContainers;

  constructor(
    readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.startTimeMs = deps.clock.now();
    this.updates = new StatusUpdateManager({
      clock: deps.clock,
      forward: (update, latest) => this.forwardUpdate(update, latest),
      checkpoint: (event) => this.checkpointUpdate(event),
      latestState: (frameworkId, taskId) => this.findTask(frameworkId, taskId)?.task.state,
      ...(deps.statusUpdateRetry
        ? { retryMinMs: deps.statusUpdateRetry.minMs, retryMaxMs: deps.statusUpdateRetry.maxMs }
        : {}),
    });
    this.containers = new NestedContainers({
      launch: (spec) => this.deps.launch(spec),
      log: deps.log,
      root: (containerId) => this.rootContainer(containerId),
      execTarget: (containerId) => this.deps.execTarget?.(containerId),
      ...(deps.launchNestedWithImage
        ? { launchWithImage: (request: NestedImageLaunch) => deps.launchNestedWithImage!(request) }
        : {}),
      runtime: {
        launched: (chain, pid, directory) =>
          this.persist('nested container pid', (cp) => cp.writeRuntimeContainer(chain, pid, directory)),
        gone: (chain) => this.persist('nested container removal', (cp) => cp.removeRuntimeContainer(chain)),
      },
    });
  }

  /** While recovering, the APIs answer 503 (executors may only re-subscribe). */
  get isRecovering(): boolean {
    return this.recovering;
  }

  get agentId(): string | undefined {
    return this.id;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  get pid(): string {
    return `slave(1)@${this.config.ip}:${this.config.port}`;
  }

  // ------------------------------------------------------------------ reservations and volumes

  get checkpointedResources(): Resources {
    return this.checkpointed;
  }

  /** Everything this agent has: `--resources` with reservations and persistent volumes applied. */
  get totalResources(): Resources {
    return this.total ?? this.config.resources;
  }

  /**
   * At start: the reservations and volumes checkpointed by an earlier run. Throws when they no longer
   * fit `--resources` (Mesos refuses to start then too: the operator must fix the flag or the file).
   */
  /** A live executor container's usage from its cgroups; undefined without a cgroups containerizer. */
  async containerUsage(containerId: string): Promise<UsageStats | undefined> {
    return this.deps.containerUsage?.(containerId).catch(() => undefined);
  }

  restoreCheckpointedResources(messages: readonly Resource[]): void {
    const checkpointed = resourcesFromMessages(messages).unallocate();
    this.total = applyCheckpointed(this.config.resources, checkpointed);
    this.checkpointed = checkpointed;
  }

  /**
   * CHECKPOINT_RESOURCES: the master's whole set after an operation. Written to disk first, then
   * volume directories follow (new ones made, destroyed ones deleted).
   */
  private checkpointResources(messages: readonly Resource[]): void {
    let next: Resources;
    let total: Resources;
    try {
      next = resourcesFromMessages(messages).unallocate();
      total = applyCheckpointed(this.config.resources, next);
    } catch (err) {
      this.deps.log.error(
        { err: (err as Error).message },
        'ignoring checkpointed resources that do not fit this agent',
      );
      return;
    }
    this.persist('checkpointed resources', (cp) => cp.writeResources(resourcesToMessages(next)));
    for (const problem of syncVolumeDirectories(this.config.workDir, this.checkpointed, next)) {
      this.deps.log.error({ problem }, 'persistent volume directory');
    }
    this.deps.log.info({ checkpointed: next.toString() }, 'checkpointed resources updated');
    this.checkpointed = next;
    this.total = total;
  }

  // ------------------------------------------------------------------ registration

  agentInfo(): AgentInfo {
    return create(AgentInfoSchema, {
      hostname: this.config.hostname,
      port: this.config.port,
      resources: resourcesToMessages(this.config.resources),
      attributes: attributesToMessages(this.config.attributes),
      ...(this.id ? { id: { value: this.id } } : {}),
    });
  }

  /** REGISTER for a new agent, REREGISTER with everything running here once it has an id. */
  registrationMessage(): AgentToMaster {
    const common = {
      agentInfo: this.agentInfo(),
      capabilities: [
        AgentInfo_Capability_Type.MULTI_ROLE,
        AgentInfo_Capability_Type.HIERARCHICAL_ROLE,
        AgentInfo_Capability_Type.RESERVATION_REFINEMENT,
      ].map((type) => ({ type })),
      version: STRATA_VERSION,
      pid: this.pid,
      address: { hostname: this.config.hostname, ip: this.config.ip, port: this.config.port },
      checkpointedResources: resourcesToMessages(this.checkpointed),
    };
    if (this.id === undefined) {
      return create(AgentToMasterSchema, { type: AgentToMaster_Type.REGISTER, register: common });
    }
    const tasks: Task[] = [];
    const executorInfos: ExecutorInfo[] = [];
    const frameworks: FrameworkInfo[] = [];
    for (const framework of this.frameworks.values()) {
      if (framework.phase === 'terminating') continue;
      frameworks.push(framework.info);
      for (const executor of framework.executors.values()) {
        if (!executor.commandExecutor) executorInfos.push(executor.info);
        for (const entry of executor.tasks.values()) {
          // The update awaiting acknowledgement, whether or not it could be sent yet.
          const head = this.updates.head(framework.id, entry.task.taskId?.value ?? '');
          if (head) {
            entry.task.statusUpdateState = head.status.state;
            entry.task.statusUpdateUuid = head.status.uuid;
          }
          tasks.push(entry.task);
        }
      }
    }
    return create(AgentToMasterSchema, {
      type: AgentToMaster_Type.REREGISTER,
      reregister: { ...common, tasks, executorInfos, frameworks },
    });
  }

  /** The master accepted us: remember the id and deliver what waited while we had no master. */
  registered(agentId: string, reregistered: boolean): void {
    if (this.id !== undefined && this.id !== agentId) {
      this.deps.log.warn({ previous: this.id, agentId }, 'the master gave this agent a new id');
    }
    this.id = agentId;
    this.persist('agent info', (cp) => cp.writeAgentInfo(this.agentInfo()));
    this.deps.log.info({ agentId, reregistered }, reregistered ? 'agent re-registered' : 'agent registered');
    this.updates.resume();
  }

  disconnected(reason: string): void {
    this.deps.log.warn({ reason }, 'disconnected from the master; status updates are held until it is back');
    this.updates.pause();
  }

  // ------------------------------------------------------------------ messages from the master

  masterMessage(message: MasterToAgent): void {
    switch (message.type) {
      case MasterToAgent_Type.RUN_TASK:
        if (message.runTask?.frameworkInfo && message.runTask.task) {
          this.runTask(message.runTask.frameworkInfo, message.runTask.task);
        }
        return;
      case MasterToAgent_Type.RUN_TASK_GROUP: {
        const run = message.runTaskGroup;
        if (run?.frameworkInfo && run.executor) {
          this.runTaskGroup(run.frameworkInfo, run.executor, run.taskGroup?.tasks ?? []);
        }
        return;
      }
      case MasterToAgent_Type.KILL_TASK:
        if (message.killTask) {
          this.killTask(
            message.killTask.frameworkId?.value ?? '',
            message.killTask.taskId?.value ?? '',
            message.killTask.killPolicy,
          );
        }
        return;
      case MasterToAgent_Type.SHUTDOWN_FRAMEWORK:
        this.shutdownFramework(message.shutdownFramework?.frameworkId?.value ?? '');
        return;
      case MasterToAgent_Type.SHUTDOWN_EXECUTOR: {
        const frameworkId = message.shutdownExecutor?.frameworkId?.value ?? '';
        const executorId = message.shutdownExecutor?.executorId?.value ?? '';
        const executor = this.frameworks.get(frameworkId)?.executors.get(executorId);
        if (!executor) {
          this.deps.log.warn({ frameworkId, executorId }, 'asked to shut down an unknown executor');
          return;
        }
        this.shutdownExecutor(executor, 'the master asked');
        return;
      }
      case MasterToAgent_Type.CHECKPOINT_RESOURCES:
        this.checkpointResources(message.checkpointResources?.resources ?? []);
        return;
      case MasterToAgent_Type.ACKNOWLEDGE: {
        const ack = message.acknowledge;
        if (ack) this.acknowledged(ack.frameworkId?.value ?? '', ack.taskId?.value ?? '', ack.uuid);
        return;
      }
      case MasterToAgent_Type.FRAMEWORK_TO_EXECUTOR: {
        const m = message.frameworkToExecutor;
        if (m) this.frameworkMessage(m.frameworkId?.value ?? '', m.executorId?.value ?? '', m.data);
        return;
      }
      case MasterToAgent_Type.UPDATE_FRAMEWORK: {
        const info = message.updateFramework?.frameworkInfo;
        const framework = this.frameworks.get(info?.id?.value ?? '');
        if (info && framework) {
          framework.info = create(FrameworkInfoSchema, info);
          this.checkpointFramework(framework);
        }
        return;
      }
      default:
        this.deps.log.warn(
          { type: MasterToAgent_Type[message.type] ?? message.type },
          'unexpected message from the master',
        );
    }
  }

  // ------------------------------------------------------------------ launching

  runTask(frameworkInfo: FrameworkInfo, task: TaskInfo): void {
    const log = this.deps.log;
    const frameworkId = frameworkInfo.id?.value ?? '';
    const taskId = task.taskId?.value ?? '';
    if (frameworkId === '' || taskId === '') {
      log.warn({ frameworkId, taskId }, 'RUN_TASK without a framework or task id; dropped');
      return;
    }
    const framework = this.frameworkFor(frameworkInfo);
    if (!framework) {
      log.warn({ frameworkId, taskId }, 'ignoring a task of a framework that is shutting down');
      return;
    }
    if (this.findTask(frameworkId, taskId)) {
      log.warn({ frameworkId, taskId }, 'a task with this id is already on this agent; RUN_TASK ignored');
      return;
    }

    if (!task.agentId && this.id) task.agentId = { $typeName: 'mesos.v1.AgentID', value: this.id };
    const info = this.executorInfoFor(framework, task);
    const executorId = info.executorId?.value ?? '';
    const existing = framework.executors.get(executorId);
    if (existing && (existing.phase === 'terminating' || existing.phase === 'terminated')) {
      log.warn({ frameworkId, executorId, taskId }, 'task for an executor that is terminating');
      this.agentUpdate(framework, undefined, taskId, {
        state: droppedOrLost(framework.info),
        reason: TaskStatus_Reason.EXECUTOR_TERMINATED,
        message: 'Executor terminating',
      });
      return;
    }
    const executor = existing ?? this.newExecutor(framework, info, task.executor === undefined);
    // Command tasks have no ExecutorInfo of their own: Mesos leaves their executor_id unset.
    const entry: TaskEntry = {
      info: task,
      task: this.taskRecord(framework, task, task.executor ? info.executorId : undefined),
      phase: 'queued',
    };
    executor.tasks.set(taskId, entry);
    this.stopIdleTimer(executor);
    this.checkpointTask(framework, executor, entry);
    log.info({ frameworkId, executorId, taskId }, 'task queued');
    if (existing) this.resizeThenDeliver(executor, entry);
    if (!existing) {
      this.startExecutor(framework, executor).catch((err: unknown) =>
        log.error({ err, frameworkId, executorId }, 'starting the executor failed unexpectedly'),
      );
    }
  }

  /** The framework's record, created or refreshed from `info`; undefined while it shuts down. */
  private frameworkFor(info: FrameworkInfo): FrameworkRecord | undefined {
    const frameworkId = info.id?.value ?? '';
    const framework = this.frameworks.get(frameworkId);
    if (framework?.phase === 'terminating') return undefined;
    if (framework) {
      const changed = !equals(FrameworkInfoSchema, framework.info, info);
      framework.info = create(FrameworkInfoSchema, info);
      if (changed) this.checkpointFramework(framework);
      return framework;
    }
    const created: FrameworkRecord = {
      id: frameworkId,
      info: create(FrameworkInfoSchema, info),
      phase: 'running',
      executors: new Map(),
      completedExecutors: [],
    };
    this.frameworks.set(frameworkId, created);
    this.checkpointFramework(created);
    return created;
  }

  /**
   * RUN_TASK_GROUP (reference sections 2.4 and 3.5): every task of the group goes to one executor
   * (normally the built-in default executor, which runs each task in a nested container) in one
   * LAUNCH_GROUP event, once it has subscribed. An executor that already runs here gets the group
   * as another LAUNCH_GROUP.
   */
  runTaskGroup(frameworkInfo: FrameworkInfo, executorInfo: ExecutorInfo, tasks: readonly TaskInfo[]): void {
    const log = this.deps.log;
    const frameworkId = frameworkInfo.id?.value ?? '';
    const executorId = executorInfo.executorId?.value ?? '';
    const taskIds = tasks.map((t) => t.taskId?.value ?? '');
    if (frameworkId === '' || executorId === '' || tasks.length === 0 || taskIds.includes('')) {
      log.warn(
        { frameworkId, executorId, taskIds },
        'RUN_TASK_GROUP without framework, executor or task ids; dropped',
      );
      return;
    }
    const framework = this.frameworkFor(frameworkInfo);
    if (!framework) {
      log.warn({ frameworkId, taskIds }, 'ignoring a task group of a framework that is shutting down');
      return;
    }
    const duplicate = taskIds.find((taskId) => this.findTask(frameworkId, taskId));
    if (duplicate !== undefined || new Set(taskIds).size !== taskIds.length) {
      log.warn(
        { frameworkId, taskIds, duplicate },
        'a task of this group is already on this agent; group ignored',
      );
      return;
    }
    const info = create(ExecutorInfoSchema, executorInfo);
    if (!info.frameworkId) info.frameworkId = { $typeName: 'mesos.v1.FrameworkID', value: framework.id };
    const existing = framework.executors.get(executorId);
    if (existing && (existing.phase === 'terminating' || existing.phase === 'terminated')) {
      log.warn({ frameworkId, executorId, taskIds }, 'task group for an executor that is terminating');
      for (const taskId of taskIds) {
        this.agentUpdate(framework, undefined, taskId, {
          state: droppedOrLost(framework.info),
          reason: TaskStatus_Reason.EXECUTOR_TERMINATED,
          message: 'Executor terminating',
        });
      }
      return;
    }
    const executor = existing ?? this.newExecutor(framework, info, false);
    const group: TaskGroup = { taskIds };
    const entries: TaskEntry[] = [];
    for (const task of tasks) {
      if (!task.agentId && this.id) task.agentId = { $typeName: 'mesos.v1.AgentID', value: this.id };
      const entry: TaskEntry = {
        info: task,
        task: this.taskRecord(framework, task, executor.info.executorId),
        phase: 'queued',
        group,
      };
      executor.tasks.set(task.taskId?.value ?? '', entry);
      this.checkpointTask(framework, executor, entry);
      entries.push(entry);
    }
    log.info({ frameworkId, executorId, taskIds }, 'task group queued');
    const first = entries[0];
    if (existing && first) this.resizeThenDeliver(executor, first);
    if (!existing) {
      this.startExecutor(framework, executor).catch((err: unknown) =>
        log.error({ err, frameworkId, executorId }, 'starting the executor failed unexpectedly'),
      );
    }
  }

  /**
   * A task for an executor that already runs: its container grows to hold the task first (Mesos
   * updates the container before the executor gets the task), then the executor gets it.
   */
  private resizeThenDeliver(executor: ExecutorRecord, entry: TaskEntry): void {
    const resized = this.resizeContainer(executor);
    if (!resized) {
      if (executor.phase === 'running') this.deliver(executor, entry);
      return;
    }
    void resized.finally(() => {
      if (executor.phase === 'running') this.deliver(executor, entry);
    });
  }

  /** Sets the executor's container to its own resources plus its live tasks'; undefined if none. */
  private resizeContainer(executor: ExecutorRecord): Promise<void> | undefined {
    const update = this.deps.updateContainer;
    if (!update || !executor.process || executor.phase === 'terminated') return undefined;
    const resources = [
      ...executor.info.resources,
      ...[...executor.tasks.values()]
        .filter((t) => t.phase !== 'terminated')
        .flatMap((t) => t.info.resources),
    ];
    return update(executor.containerId, resources).catch((err: unknown) =>
      this.deps.log.warn({ err, executorId: executor.id }, 'resizing the executor container failed'),
    );
  }

  private executorInfoFor(framework: FrameworkRecord, task: TaskInfo): ExecutorInfo {
    if (task.executor) {
      const info = create(ExecutorInfoSchema, task.executor);
      if (!info.frameworkId) info.frameworkId = { $typeName: 'mesos.v1.FrameworkID', value: framework.id };
      return info;
    }
    const program = this.config.commandExecutor ?? { file: process.execPath, args: [] };
    return commandExecutorInfo(task, framework.info, { path: program.file, args: program.args });
  }

  private taskRecord(
    framework: FrameworkRecord,
    task: TaskInfo,
    executorId: ExecutorInfo['executorId'],
  ): Task {
    return create(TaskSchema, {
      name: task.name,
      taskId: task.taskId,
      frameworkId: { value: framework.id },
      ...(executorId ? { executorId } : {}),
      ...(this.id ? { agentId: { value: this.id } } : {}),
      state: TaskState.TASK_STAGING,
      resources: task.resources,
      ...(task.labels ? { labels: task.labels } : {}),
      ...(task.discovery ? { discovery: task.discovery } : {}),
      ...(task.container ? { container: task.container } : {}),
      ...(task.healthCheck ? { healthCheck: task.healthCheck } : {}),
      ...(task.killPolicy ? { killPolicy: task.killPolicy } : {}),
      ...(task.command?.user ? { user: task.command.user } : {}),
      limits: task.limits,
    });
  }

  private newExecutor(
    framework: FrameworkRecord,
    info: ExecutorInfo,
    commandExecutor: boolean,
    recoveredContainerId?: string,
  ): ExecutorRecord {
    const executorId = info.executorId?.value ?? '';
    const containerId = recoveredContainerId ?? randomUUID();
    const runs = executorRunsDir(this.config.workDir, this.id ?? 'unregistered', framework.id, executorId);
    let markGone!: () => void;
    const gone = new Promise<void>((resolve) => {
      markGone = resolve;
    });
    const executor: ExecutorRecord = {
      id: executorId,
      frameworkId: framework.id,
      info,
      containerId,
      directory: join(runs, containerId),
      commandExecutor,
      phase: 'registering',
      tasks: new Map(),
      completedTasks: [],
      everLaunched: false,
      connection: undefined,
      process: undefined,
      registrationTimer: undefined,
      idleTimer: undefined,
      shutdownTimer: undefined,
      pendingTermination: undefined,
      exitStatus: undefined,
      awaitingReregistration: false,
      gone,
      markGone,
    };
    framework.executors.set(executorId, executor);
    if (recoveredContainerId === undefined) {
      const run = this.checkpointRun(framework, executor);
      if (run) this.persist('executor info', (cp) => cp.writeExecutorRun(run, info));
    }
    return executor;
  }

  private async startExecutor(framework: FrameworkRecord, executor: ExecutorRecord): Promise<void> {
    const log = this.deps.log.child({ frameworkId: framework.id, executorId: executor.id });
    let command: CommandInfo | undefined = executor.info.command;
    let program: ProgramSpec;
    try {
      if (executor.info.type === ExecutorInfo_Type.DEFAULT && !command) {
        const builtIn = this.config.defaultExecutor;
        if (!builtIn)
          throw new Error('the built-in default executor is not installed (build the project first)');
        command = defaultExecutorCommand({ path: builtIn.file, args: builtIn.args });
      }
      if (!command) throw new Error('the ExecutorInfo has no command');
      // The ids become path components of the sandbox: `..` or `/` must never reach the filesystem.
      for (const [kind, id] of [
        ['framework ID', framework.id],
        ['executor ID', executor.id],
      ] as const) {
        const problem = invalidIdReason(id);
        if (problem !== undefined) throw new Error(`invalid ${kind} '${id}': ${problem}`);
      }
      if (executor.commandExecutor && !this.config.commandExecutor) {
        throw new Error('the built-in command executor is not installed (build the project first)');
      }
      program = executorProgram(command);
      const runs = join(executor.directory, '..');
      mkdirSync(executor.directory, { recursive: true, mode: 0o755 });
      const latest = join(runs, 'latest');
      rmSync(latest, { force: true });
      symlinkSync(executor.containerId, latest);
    } catch (err) {
      this.launchFailed(framework, executor, err as Error);
      return;
    }
    const env = executorEnvironment({
      frameworkId: framework.id,
      executorId: executor.id,
      agentId: this.id ?? '',
      agentEndpoint: `${this.config.ip}:${this.config.port}`,
      agentIp: this.config.ip,
      sandbox: executor.directory,
      checkpoint: framework.info.checkpoint,
      shutdownGracePeriodMs: shutdownGracePeriodMs(executor.info, this.config.executorShutdownGracePeriodMs),
      recoveryTimeoutMs: this.config.recoveryTimeoutMs,
      subscriptionBackoffMaxMs: this.config.executorReregistrationTimeoutMs,
      base: this.config.executorBaseEnvironment,
      command,
    });
    try {
      const user = await this.executorUser(framework, executor);
      const gate = this.deps.launchGate;
      executor.process = await this.deps.launch({
        ...(gate
          ? {
              admit: async () => {
                executor.releaseLaunchSlot = await gate.acquire();
              },
            }
          : {}),
        ...(user ? { user } : {}),
        program,
        sandbox: executor.directory,
        env,
        container: {
          id: executor.containerId,
          info: executor.info,
          resources: [
            ...executor.info.resources,
            ...[...executor.tasks.values()].flatMap((t) => t.info.resources),
          ],
          ...(executor.commandExecutor
            ? {
                taskCommand: [...executor.tasks.values()][0]?.info.command,
                commandTask: [...executor.tasks.values()][0]?.info,
                executorLink: this.localExecutorLink(framework.id, executor.id),
              }
            : {}),
        },
        progress: (message) => this.launchProgress(framework, executor, message),
      });
    } catch (err) {
      this.launchFailed(framework, executor, err as Error);
      return;
    }
    const child = executor.process;
    log.info(
      { pid: child.pid, containerId: executor.containerId, directory: executor.directory },
      'executor launched',
    );
    const run = this.checkpointRun(framework, executor);
    if (run) this.persist('executor pid', (cp) => cp.writeForkedPid(run, child.pid));
    this.persist('executor runtime pid', (cp) =>
      cp.writeRuntimeContainer([executor.containerId], child.pid, executor.directory),
    );
    child.exited
      .then((status) => this.executorExited(framework, executor, status))
      .catch((err: unknown) => log.error({ err }, 'handling the executor exit failed'));
    this.watchLimitation(executor, child);
    if (executor.phase === 'terminating') {
      // Shut down (killed task, framework gone) while the process was being started.
      child.signal('SIGKILL');
      return;
    }
    executor.registrationTimer = this.deps.clock.setTimeout(() => {
      executor.registrationTimer = undefined;
      if (executor.phase !== 'registering') return;
      const within = formatDuration(this.config.executorRegistrationTimeoutMs);
      log.warn({ within }, 'executor did not subscribe in time; destroying it');
      executor.pendingTermination = {
        state: TaskState.TASK_FAILED,
        reason: TaskStatus_Reason.EXECUTOR_REGISTRATION_TIMEOUT,
        message: `Executor did not register within ${within}`,
      };
      executor.phase = 'terminating';
      child.signal('SIGKILL');
    }, this.config.executorRegistrationTimeoutMs);
  }

  /**
   * Who the executor runs as (Mesos' `--switch_user`): ExecutorInfo.command.user (a command
   * executor's is its task's), else FrameworkInfo.user; nobody when switching is off, when that
   * is the agent's own user, or when the agent cannot switch (not root). The sandbox is handed
   * to that user. An unknown user fails the launch.
   */
  private async executorUser(
    framework: FrameworkRecord,
    executor: ExecutorRecord,
  ): Promise<{ name: string; uid: number; gid: number } | undefined> {
    const resolve = this.config.resolveUser;
    if (this.config.switchUser !== true || !resolve || process.getuid?.() !== 0) return undefined;
    const name = executor.info.command?.user || framework.info.user;
    if (!name || name === 'root') return undefined;
    const user = await resolve(name);
    if (!user) throw new Error(`Failed to get user information for '${name}': no such user on this agent`);
    if (user.uid === 0) return undefined;
    chownSync(executor.directory, user.uid, user.gid);
    return user;
  }

  /**
   * An isolating containerizer reports a limitation (OOM, a posix limit): the container is being
   * killed; its tasks fail with the limitation's reason (src/containerizer).
   */
  private watchLimitation(executor: ExecutorRecord, child: ExecutorProcess): void {
    child.limitation?.then((limitation) => {
      if (executor.phase === 'terminated') return;
      executor.pendingTermination = {
        state: TaskState.TASK_FAILED,
        reason: limitationReason(limitation.reason),
        message: limitation.message,
      };
      executor.phase = 'terminating';
      child.signal('SIGKILL');
    });
  }

  /** Launch progress (an image pull) as TASK_STARTING for the tasks still waiting for the executor. */
  private launchProgress(framework: FrameworkRecord, executor: ExecutorRecord, message: string): void {
    if (executor.phase !== 'registering') return;
    for (const [taskId, entry] of executor.tasks) {
      if (entry.phase !== 'queued') continue;
      const status = agentStatus({
        taskId,
        state: TaskState.TASK_STARTING,
        reason: TaskStatus_Reason.CONTAINER_LAUNCH_FAILED,
        message,
        agentId: this.id,
        executorId: executor.id,
        nowMs: this.deps.clock.now(),
      });
      clearField(status, TaskStatusSchema.field.reason); // progress has no reason
      this.takeCustody(framework, executor, status);
    }
  }

  private releaseLaunchSlot(executor: ExecutorRecord): void {
    executor.releaseLaunchSlot?.();
    executor.releaseLaunchSlot = undefined;
  }

  private launchFailed(framework: FrameworkRecord, executor: ExecutorRecord, err: Error): void {
    this.releaseLaunchSlot(executor);
    this.deps.log.error(
      { frameworkId: framework.id, executorId: executor.id, err: err.message },
      'failed to launch the executor',
    );
    executor.pendingTermination = {
      state: TaskState.TASK_FAILED,
      reason: TaskStatus_Reason.CONTAINER_LAUNCH_FAILED,
      message: `Failed to launch container: ${err.message}`,
    };
    this.executorGone(framework, executor, undefined);
  }

  /**
   * Hands a queued task to a subscribed executor: LAUNCH, or for a task of a group one
   * LAUNCH_GROUP with every task of the group still queued (a task killed meanwhile stays out).
   */
  private deliver(executor: ExecutorRecord, entry: TaskEntry): void {
    if (!executor.connection || entry.phase !== 'queued') return;
    executor.everLaunched = true;
    const group = entry.group;
    if (!group) {
      this.linkVolumes(executor, [entry]);
      entry.phase = 'launched';
      this.sendEvent(executor, { type: Event_Type.LAUNCH, launch: { task: entry.info } });
      return;
    }
    const members = this.queuedMembers(executor, group);
    this.linkVolumes(executor, members);
    for (const member of members) member.phase = 'launched';
    this.sendEvent(executor, {
      type: Event_Type.LAUNCH_GROUP,
      launchGroup: { taskGroup: { tasks: members.map((m) => m.info) } },
    });
  }

  /** Persistent volumes the tasks use appear in the executor's sandbox at their container paths. */
  private linkVolumes(executor: ExecutorRecord, entries: readonly TaskEntry[]): void {
    for (const entry of entries) {
      // Most tasks have no volume: skip parsing their resources on the launch path.
      if (!entry.info.resources.some((r) => r.disk?.persistence)) continue;
      let resources: Resources;
      try {
        resources = resourcesFromMessages(entry.info.resources, { invalid: 'skip' });
      } catch {
        continue;
      }
      for (const problem of linkVolumesIntoSandbox(this.config.workDir, executor.directory, resources)) {
        this.deps.log.error({ taskId: entry.info.taskId?.value, problem }, 'persistent volume not linked');
      }
    }
  }

  private queuedMembers(executor: ExecutorRecord, group: TaskGroup): TaskEntry[] {
    return group.taskIds.flatMap((taskId) => {
      const member = executor.tasks.get(taskId);
      return member?.group === group && member.phase === 'queued' ? [member] : [];
    });
  }

  // ------------------------------------------------------------------ the executor API

  /** The executor API in-process, for an executor that runs inside this agent (hosted). */
  localExecutorLink(frameworkId: string, executorId: string): LocalLinkFactory {
    return (handlers) =>
      new LocalExecutorLink(
        this,
        frameworkId,
        executorId,
        handlers,
        this.deps.log.child({ component: 'hosted-executor', frameworkId, executorId }),
      );
  }

  lookupExecutor(frameworkId: string, executorId: string): ExecutorLookup {
    const framework = this.frameworks.get(frameworkId);
    if (!framework) return { kind: 'no-framework' };
    const executor = framework.executors.get(executorId);
    if (!executor) return { kind: 'no-executor' };
    return { kind: 'found', framework, executor };
  }

  /**
   * An executor's SUBSCRIBE stream opened (reference section 3.3, "Subscription"). Returns once the
   * first events are written; the stream stays the executor's until it closes or is replaced.
   */
  subscribe(
    framework: FrameworkRecord,
    executor: ExecutorRecord,
    subscribe: Call_Subscribe,
    stream: RecordStream,
    mediaType: MessageMediaType,
  ): void {
    const log = this.deps.log.child({ frameworkId: framework.id, executorId: executor.id });
    this.releaseLaunchSlot(executor);
    if (
      this.stopping ||
      framework.phase === 'terminating' ||
      executor.phase === 'terminating' ||
      executor.phase === 'terminated'
    ) {
      log.info('executor subscribed while shutting down; answering with SHUTDOWN');
      stream.write(codec.encode(EventSchema, create(EventSchema, { type: Event_Type.SHUTDOWN }), mediaType));
      stream.end();
      return;
    }
    if (executor.connection) {
      log.info('executor subscribed again; closing its previous stream');
      this.closeConnection(executor);
    }
    executor.registrationTimer?.cancel();
    executor.registrationTimer = undefined;
    if (executor.awaitingReregistration) {
      executor.awaitingReregistration = false;
      log.info('recovered executor re-subscribed');
    }
    const heartbeat = this.deps.clock.setInterval(
      () => this.sendEvent(executor, { type: Event_Type.HEARTBEAT }),
      this.config.heartbeatIntervalMs,
    );
    const connection: ExecutorStream = { stream, mediaType, heartbeat };
    executor.connection = connection;
    executor.phase = 'running';
    void stream.done.then(() => {
      heartbeat.cancel();
      if (executor.connection === connection) {
        executor.connection = undefined;
        log.info('executor stream closed');
      }
    });

    // Updates the executor still holds are taken again (duplicates are dropped by uuid); their
    // ACKNOWLEDGED events follow SUBSCRIBED, which must be the first event on the stream.
    const resent = subscribe.unacknowledgedUpdates.flatMap((update) =>
      update.status ? [update.status] : [],
    );
    for (const status of resent) this.executorUpdate(framework, executor, status, false);
    const knownToExecutor = new Set(subscribe.unacknowledgedTasks.map((t) => t.taskId?.value ?? ''));
    for (const [taskId, entry] of executor.tasks) {
      if (
        entry.phase === 'launched' &&
        entry.task.state === TaskState.TASK_STAGING &&
        !knownToExecutor.has(taskId)
      ) {
        this.agentUpdate(framework, executor, taskId, {
          state: droppedOrLost(framework.info),
          reason: TaskStatus_Reason.AGENT_RESTARTED,
          message: 'Task launched during agent restart',
        });
      }
    }
    const queued = [...executor.tasks.values()].filter((e) => e.phase === 'queued');
    if (!executor.everLaunched && queued.length === 0) {
      log.info('executor has no tasks left to run; shutting it down');
      this.sendSubscribed(framework, executor);
      this.shutdownExecutor(executor, 'all its tasks were killed before it subscribed');
      return;
    }
    this.sendSubscribed(framework, executor);
    for (const entry of queued) this.deliver(executor, entry);
    for (const status of resent) {
      this.sendEvent(executor, {
        type: Event_Type.ACKNOWLEDGED,
        acknowledged: { taskId: status.taskId, uuid: status.uuid },
      });
    }
    log.info({ launched: queued.length, resentUpdates: resent.length }, 'executor subscribed');
    // A re-subscribing executor whose tasks all ended meanwhile is idle from now on.
    this.startIdleTimerIfIdle(executor);
    this.maybeFinishRecovery();
  }

  private sendSubscribed(framework: FrameworkRecord, executor: ExecutorRecord): void {
    this.sendEvent(executor, {
      type: Event_Type.SUBSCRIBED,
      subscribed: {
        executorInfo: executor.info,
        frameworkInfo: framework.info,
        agentInfo: this.agentInfo(),
        containerId: { value: executor.containerId },
      },
    });
  }

  /** An UPDATE call (validated): take custody, then ACKNOWLEDGED to the executor. */
  executorUpdate(
    framework: FrameworkRecord,
    executor: ExecutorRecord,
    status: TaskStatus,
    acknowledge = true,
  ): void {
    if (framework.phase === 'terminating') {
      // As Mesos: the master has removed the framework, so nobody would acknowledge this update.
      this.deps.log.warn(
        { frameworkId: framework.id, taskId: status.taskId?.value, state: taskStateName(status.state) },
        'ignoring a status update for a framework that is shutting down',
      );
      return;
    }
    const copy = create(TaskStatusSchema, status);
    copy.executorId = { $typeName: 'mesos.v1.ExecutorID', value: executor.id };
    // A task that failed because its container hit a limit (the OOM killer ended it) carries the
    // limitation's reason, whoever noticed first.
    const limited = copy.state === TaskState.TASK_FAILED ? executor.process?.limited?.() : undefined;
    if (limited) {
      copy.reason = limitationReason(limited.reason);
      copy.message = limited.message;
    }
    if (!copy.containerStatus) {
      copy.containerStatus = create(ContainerStatusSchema, {
        containerId: { value: executor.containerId },
        networkInfos: [{ ipAddresses: [{ ipAddress: this.config.ip }] }],
        ...(executor.process ? { executorPid: executor.process.pid } : {}),
      });
    }
    this.takeCustody(framework, executor, copy);
    if (acknowledge) {
      this.sendEvent(executor, {
        type: Event_Type.ACKNOWLEDGED,
        acknowledged: { taskId: status.taskId, uuid: status.uuid },
      });
    }
  }

  /** A MESSAGE call: the bytes go to the scheduler through the master. */
  executorMessage(framework: FrameworkRecord, executor: ExecutorRecord, data: Uint8Array): void {
    const sent = this.deps.send(
      create(AgentToMasterSchema, {
        type: AgentToMaster_Type.EXECUTOR_TO_FRAMEWORK,
        executorToFramework: {
          frameworkId: { value: framework.id },
          executorId: { value: executor.id },
          data,
        },
      }),
    );
    if (!sent) this.deps.log.warn({ executorId: executor.id }, 'executor message dropped: no master');
  }

  private frameworkMessage(frameworkId: string, executorId: string, data: Uint8Array): void {
    const executor = this.frameworks.get(frameworkId)?.executors.get(executorId);
    if (!executor?.connection || executor.phase !== 'running') {
      this.deps.log.warn(
        { frameworkId, executorId },
        'framework message for an executor that is not subscribed; dropped',
      );
      return;
    }
    this.sendEvent(executor, { type: Event_Type.MESSAGE, message: { data } });
  }

  private sendEvent(executor: ExecutorRecord, init: MessageInitShape<typeof EventSchema>): void {
    const connection = executor.connection;
    if (!connection) {
      if (init.type !== Event_Type.HEARTBEAT) {
        this.deps.log.warn(
          { executorId: executor.id, event: Event_Type[init.type ?? 0] },
          'executor is not connected; event dropped',
        );
      }
      return;
    }
    const event: Event = create(EventSchema, init);
    let bytes: Uint8Array;
    try {
      bytes = codec.encode(EventSchema, event, connection.mediaType);
    } catch (err) {
      this.deps.log.error(
        { err, executorId: executor.id, event: Event_Type[event.type] },
        'cannot encode an executor event',
      );
      return;
    }
    connection.stream.write(bytes);
  }

  private closeConnection(executor: ExecutorRecord): void {
    const connection = executor.connection;
    if (!connection) return;
    executor.connection = undefined;
    connection.heartbeat.cancel();
    connection.stream.end();
  }

  // ------------------------------------------------------------------ status updates

  private findTask(frameworkId: string, taskId: string): TaskEntry | undefined {
    const framework = this.frameworks.get(frameworkId);
    if (!framework) return undefined;
    for (const executor of framework.executors.values()) {
      const entry = executor.tasks.get(taskId);
      if (entry) return entry;
    }
    return undefined;
  }

  private findExecutorOfTask(framework: FrameworkRecord, taskId: string): ExecutorRecord | undefined {
    for (const executor of framework.executors.values()) if (executor.tasks.has(taskId)) return executor;
    return undefined;
  }

  /** An update the agent itself generates for one task. */
  private agentUpdate(
    framework: FrameworkRecord,
    executor: ExecutorRecord | undefined,
    taskId: string,
    termination: Termination,
  ): void {
    const status = agentStatus({
      taskId,
      ...termination,
      agentId: this.id,
      executorId: executor?.id,
      nowMs: this.deps.clock.now(),
    });
    this.takeCustody(framework, executor, status);
  }

  /** Records the new state on the task and hands the update to the status update manager. */
  private takeCustody(
    framework: FrameworkRecord,
    executor: ExecutorRecord | undefined,
    status: TaskStatus,
  ): void {
    if (this.id && !status.agentId) status.agentId = { $typeName: 'mesos.v1.AgentID', value: this.id };
    if (!isFieldSet(status, TaskStatusSchema.field.timestamp))
      status.timestamp = this.deps.clock.now() / 1000;
    const taskId = status.taskId?.value ?? '';
    const entry = executor?.tasks.get(taskId);
    const stateChanged =
      entry !== undefined && entry.phase !== 'terminated' && entry.task.state !== status.state;
    if (entry && entry.phase !== 'terminated') {
      entry.task.state = status.state;
      const stored = create(TaskStatusSchema, status);
      stored.data = new Uint8Array(0);
      entry.task.statuses = [...entry.task.statuses.filter((s) => s.state !== status.state), stored];
      if (isTerminalState(status.state)) {
        entry.phase = 'terminated';
        // Its resources leave the container (cpu now; memory is never lowered under a live task).
        // A command executor's container ends with its one task: nothing to resize.
        if (executor && !executor.commandExecutor) void this.resizeContainer(executor);
      }
    }
    const result = this.updates.receive({ frameworkId: framework.id, executorId: executor?.id, status });
    this.deps.observer?.statusUpdate?.(status, { stateChanged, duplicate: result === 'duplicate' });
    this.deps.log.info(
      {
        frameworkId: framework.id,
        taskId,
        state: taskStateName(status.state),
        uuid: uuidText(status.uuid),
        duplicate: result === 'duplicate',
      },
      'status update received',
    );
  }

  private forwardUpdate(update: StatusUpdate, latestState: TaskState): void {
    this.deps.observer?.statusUpdateForwarded?.(update);
    const entry = this.findTask(update.frameworkId, update.status.taskId?.value ?? '');
    if (entry) {
      entry.task.statusUpdateState = update.status.state;
      entry.task.statusUpdateUuid = update.status.uuid;
    }
    this.deps.send(
      create(AgentToMasterSchema, {
        type: AgentToMaster_Type.STATUS_UPDATE,
        statusUpdate: {
          frameworkId: { value: update.frameworkId },
          ...(update.executorId ? { executorId: { value: update.executorId } } : {}),
          status: update.status,
          latestState,
        },
      }),
    );
  }

  private acknowledged(frameworkId: string, taskId: string, uuid: Uint8Array): void {
    const result = this.updates.acknowledge(frameworkId, taskId, uuid);
    if (result.kind === 'unexpected') {
      this.deps.log.warn(
        { frameworkId, taskId, uuid: uuidText(uuid), why: result.reason },
        'ignoring acknowledgement',
      );
      return;
    }
    this.deps.observer?.statusUpdateAcknowledged?.(result.update);
    const framework = this.frameworks.get(frameworkId);
    const executor = framework ? this.findExecutorOfTask(framework, taskId) : undefined;
    const entry = executor?.tasks.get(taskId);
    if (!framework || !executor || !entry) return;
    if (!result.next) {
      // Nothing in flight any more: the fields go unset (not a default value the master would read).
      clearField(entry.task, TaskSchema.field.statusUpdateState);
      clearField(entry.task, TaskSchema.field.statusUpdateUuid);
    }
    if (result.terminal) {
      executor.tasks.delete(taskId);
      this.pushCompletedTask(executor, entry.task);
      this.maybeRemoveExecutor(framework, executor);
      this.startIdleTimerIfIdle(executor);
    }
  }

  private startIdleTimerIfIdle(executor: ExecutorRecord): void {
    const timeout = this.config.executorIdleTimeoutMs ?? 0;
    if (timeout <= 0 || executor.phase !== 'running' || executor.tasks.size > 0 || executor.idleTimer) return;
    executor.idleTimer = this.deps.clock.setTimeout(() => {
      executor.idleTimer = undefined;
      if (executor.phase !== 'running' || executor.tasks.size > 0) return;
      this.shutdownExecutor(executor, `it ran no task for ${formatDuration(timeout)}`);
    }, timeout);
  }

  private stopIdleTimer(executor: ExecutorRecord): void {
    executor.idleTimer?.cancel();
    executor.idleTimer = undefined;
  }

  private pushCompletedTask(executor: ExecutorRecord, task: Task): void {
    executor.completedTasks.push(task);
    if (executor.completedTasks.length > MAX_COMPLETED_TASKS_PER_EXECUTOR) executor.completedTasks.shift();
  }

  // ------------------------------------------------------------------ killing and shutting down

  killTask(frameworkId: string, taskId: string, killPolicy: KillPolicy | undefined): void {
    const log = this.deps.log.child({ frameworkId, taskId });
    const framework = this.frameworks.get(frameworkId);
    if (!framework) {
      log.warn('ignoring kill of a task whose framework is not on this agent');
      return;
    }
    const executor = this.findExecutorOfTask(framework, taskId);
    if (!executor) {
      log.warn('kill for a task without an executor here');
      this.agentUpdate(framework, undefined, taskId, {
        state: droppedOrLost(framework.info),
        reason: TaskStatus_Reason.EXECUTOR_TERMINATED,
        message: 'Cannot find executor',
      });
      return;
    }
    const entry = executor.tasks.get(taskId)!;
    if (entry.phase === 'terminated') {
      log.info('kill for a task that is already terminal; ignored');
      return;
    }
    switch (executor.phase) {
      case 'terminating':
      case 'terminated':
        log.info('ignoring kill: the executor is terminating');
        return;
      case 'registering':
        this.killQueued(framework, executor, entry);
        if (![...executor.tasks.values()].some((e) => e.phase !== 'terminated')) {
          this.shutdownExecutor(executor, 'its only tasks were killed before it subscribed');
        }
        return;
      case 'running':
        if (entry.phase === 'queued') {
          this.killQueued(framework, executor, entry);
          return;
        }
        log.info('asking the executor to kill the task');
        this.sendEvent(executor, {
          type: Event_Type.KILL,
          kill: { taskId: { value: taskId }, ...(killPolicy ? { killPolicy } : {}) },
        });
    }
  }

  /** A task not yet delivered is killed by the agent; a queued group is killed as a whole. */
  private killQueued(framework: FrameworkRecord, executor: ExecutorRecord, entry: TaskEntry): void {
    const victims = entry.group ? this.queuedMembers(executor, entry.group) : [entry];
    for (const victim of victims) {
      this.agentUpdate(framework, executor, victim.task.taskId?.value ?? '', {
        state: TaskState.TASK_KILLED,
        reason: TaskStatus_Reason.TASK_KILLED_DURING_LAUNCH,
        message: 'Killed before delivery to the executor',
      });
    }
  }

  private shutdownFramework(frameworkId: string): void {
    const framework = this.frameworks.get(frameworkId);
    if (!framework) {
      this.deps.log.info({ frameworkId }, 'asked to shut down a framework that is not on this agent');
      return;
    }
    this.deps.log.info({ frameworkId }, 'shutting down framework');
    framework.phase = 'terminating';
    // Its updates can no longer reach anyone: the master has removed the framework.
    this.updates.removeFramework(frameworkId);
    for (const executor of framework.executors.values())
      this.shutdownExecutor(executor, 'framework shut down');
    this.maybeRemoveFramework(framework);
  }

  /**
   * SHUTDOWN to the executor, then after its grace period SIGTERM to its process group and, if it
   * still lingers, SIGKILL. An executor that never subscribed is signalled at once.
   */
  shutdownExecutor(executor: ExecutorRecord, why: string): void {
    if (executor.phase === 'terminating' || executor.phase === 'terminated') return;
    const log = this.deps.log.child({ frameworkId: executor.frameworkId, executorId: executor.id });
    log.info({ why }, 'shutting down executor');
    executor.phase = 'terminating';
    executor.registrationTimer?.cancel();
    executor.registrationTimer = undefined;
    this.stopIdleTimer(executor);
    const escalate = () => {
      executor.process?.signal('SIGTERM');
      executor.shutdownTimer = this.deps.clock.setTimeout(() => {
        executor.shutdownTimer = undefined;
        if (executor.process && !executor.process.hasExited) {
          log.warn('executor ignored SIGTERM; killing it');
          executor.process.signal('SIGKILL');
        }
      }, this.config.killEscalationMs);
    };
    if (!executor.connection) {
      escalate();
      return;
    }
    this.sendEvent(executor, { type: Event_Type.SHUTDOWN });
    const grace = shutdownGracePeriodMs(executor.info, this.config.executorShutdownGracePeriodMs);
    executor.shutdownTimer = this.deps.clock.setTimeout(() => {
      executor.shutdownTimer = undefined;
      if (executor.process && !executor.process.hasExited) {
        log.warn({ grace: formatDuration(grace) }, 'executor still running after its shutdown grace period');
        escalate();
      }
    }, grace);
  }

  // ------------------------------------------------------------------ executor termination

  private executorExited(
    framework: FrameworkRecord,
    executor: ExecutorRecord,
    status: number | undefined,
  ): void {
    this.deps.log.info(
      {
        frameworkId: framework.id,
        executorId: executor.id,
        status: status === undefined ? 'unknown (re-attached)' : describeWaitStatus(status),
      },
      'executor exited',
    );
    this.executorGone(framework, executor, status);
  }

  /** The executor's process is gone (or never started): end its tasks, tell the master. */
  private executorGone(
    framework: FrameworkRecord,
    executor: ExecutorRecord,
    status: number | undefined,
  ): void {
    executor.phase = 'terminated';
    executor.exitStatus = status;
    executor.awaitingReregistration = false;
    this.releaseLaunchSlot(executor);
    const run = this.checkpointRun(framework, executor);
    if (run) this.persist('executor sentinel', (cp) => cp.writeSentinel(run));
    this.persist('executor runtime removal', (cp) => cp.removeRuntimeContainer([executor.containerId]));
    executor.registrationTimer?.cancel();
    executor.shutdownTimer?.cancel();
    executor.registrationTimer = undefined;
    executor.shutdownTimer = undefined;
    this.stopIdleTimer(executor);
    this.closeConnection(executor);
    const termination = executor.pendingTermination ?? {
      state: TaskState.TASK_FAILED,
      reason: TaskStatus_Reason.EXECUTOR_TERMINATED,
      message:
        status === undefined ? 'Executor terminated' : `Executor terminated: ${describeWaitStatus(status)}`,
    };
    for (const [taskId, entry] of [...executor.tasks]) {
      if (framework.phase === 'terminating') {
        // Nobody is left to tell: the master already removed the framework.
        executor.tasks.delete(taskId);
        this.pushCompletedTask(executor, entry.task);
      } else if (entry.phase !== 'terminated') {
        this.agentUpdate(framework, executor, taskId, termination);
      }
    }
    // The master keeps no record of command executors (Mesos sends no ExitedExecutorMessage for them).
    if (!executor.commandExecutor && status !== undefined) {
      this.deps.send(
        create(AgentToMasterSchema, {
          type: AgentToMaster_Type.EXECUTOR_EXITED,
          executorExited: {
            frameworkId: { value: framework.id },
            executorId: { value: executor.id },
            status,
          },
        }),
      );
    }
    executor.markGone();
    this.deps.observer?.executorTerminated?.(executor);
    // Nested containers die with their executor's container (Mesos destroys children first; a
    // posix executor is already gone by now, so they follow it).
    this.containers
      .destroyTree(executor.containerId)
      .catch((err: unknown) =>
        this.deps.log.error({ err, executorId: executor.id }, 'destroying nested containers failed'),
      );
    this.maybeRemoveExecutor(framework, executor);
    this.maybeFinishRecovery();
  }

  /** A terminated executor leaves once every terminal update of its tasks is acknowledged. */
  private maybeRemoveExecutor(framework: FrameworkRecord, executor: ExecutorRecord): void {
    if (executor.phase !== 'terminated' || executor.tasks.size > 0) return;
    if (framework.executors.get(executor.id) !== executor) return;
    framework.executors.delete(executor.id);
    // Everything about it was delivered: a restarted agent has nothing left to recover.
    if (framework.info.checkpoint && this.id) {
      const agentId = this.id;
      this.persist('executor removal', (cp) => cp.removeExecutor(agentId, framework.id, executor.id));
    }
    framework.completedExecutors.push(executor);
    if (framework.completedExecutors.length > MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK) {
      framework.completedExecutors.shift();
    }
    this.deps.observer?.executorRemoved?.(framework, executor);
    this.maybeRemoveFramework(framework);
  }

  private maybeRemoveFramework(framework: FrameworkRecord): void {
    if (framework.executors.size > 0) return;
    if (this.frameworks.get(framework.id) !== framework) return;
    this.frameworks.delete(framework.id);
    if (framework.info.checkpoint && this.id) {
      const agentId = this.id;
      this.persist('framework removal', (cp) => cp.removeFramework(agentId, framework.id));
    }
    // A framework that merely ran out of executors may still have updates on their way (for
    // tasks that never had an executor here); only a shut-down one has nobody left to tell.
    if (framework.phase === 'terminating') this.updates.removeFramework(framework.id);
    this.completedFrameworks.push(framework);
    if (this.completedFrameworks.length > MAX_COMPLETED_FRAMEWORKS) this.completedFrameworks.shift();
    this.deps.log.info({ frameworkId: framework.id }, 'framework removed from this agent');
  }

  // ------------------------------------------------------------------ containers (operator API)

  private executorByContainer(containerId: string): ExecutorRecord | undefined {
    for (const framework of this.frameworks.values()) {
      for (const executor of framework.executors.values()) {
        if (executor.containerId === containerId && executor.phase !== 'terminated') return executor;
      }
    }
    return undefined;
  }

  /** The executor container `containerId` while its process lives: the root of nested containers. */
  private rootContainer(containerId: string): RootContainer | undefined {
    const executor = this.executorByContainer(containerId);
    return executor ? { directory: executor.directory } : undefined;
  }

  /** LAUNCH_NESTED_CONTAINER / LAUNCH_CONTAINER with a parent. Throws ContainerLaunchError. */
  launchNestedContainer(
    id: ContainerID,
    command: CommandInfo | undefined,
    container: ContainerInfo | undefined,
  ): Promise<LaunchOutcome> {
    return this.containers.launch(id, command, container);
  }

  /**
   * WAIT: the termination once the container has ended; undefined for an unknown container. A
   * top-level id names an executor's container, which ends when the executor process exits.
   */
  async waitContainer(id: ContainerID): Promise<ContainerTermination | undefined> {
    if (id.parent) return this.containers.wait(id);
    const executor = this.executorByContainer(id.value);
    if (!executor) return undefined;
    await executor.gone;
    return executor.exitStatus === undefined ? {} : { status: executor.exitStatus };
  }

  /** KILL: signals the container's process group; false when no such container is running. */
  killContainer(id: ContainerID, signal: NodeJS.Signals | 0): boolean {
    if (id.parent) return this.containers.kill(id, signal);
    const executor = this.executorByContainer(id.value);
    if (!executor) return false;
    this.deps.log.info(
      { executorId: executor.id, containerId: executor.containerId, signal },
      'signalling an executor container at an operator request',
    );
    if (signal !== 0) executor.process?.signal(signal);
    return true;
  }

  // ------------------------------------------------------------------ checkpointing

  /**
   * Runs one checkpoint write. A failure (disk full, permissions) is logged as an error and the
   * agent carries on with what it holds in memory: it only loses what a restart would recover.
   */
  private persist(what: string, write: (checkpointer: Checkpointer) => void): void {
    const checkpointer = this.deps.checkpointer;
    if (!checkpointer) return;
    try {
      write(checkpointer);
    } catch (err) {
      this.deps.log.error({ err, what }, 'checkpoint write failed');
    }
  }

  /** Where an executor's run is checkpointed; undefined when its framework does not checkpoint. */
  private checkpointRun(framework: FrameworkRecord, executor: ExecutorRecord): RunKey | undefined {
    if (!this.deps.checkpointer || !framework.info.checkpoint || this.id === undefined) return undefined;
    return {
      agentId: this.id,
      frameworkId: framework.id,
      executorId: executor.id,
      containerId: executor.containerId,
    };
  }

  private checkpointFramework(framework: FrameworkRecord): void {
    if (!framework.info.checkpoint || this.id === undefined) return;
    const agentId = this.id;
    this.persist('framework info', (cp) => cp.writeFrameworkInfo(agentId, framework.info));
  }

  private checkpointTask(framework: FrameworkRecord, executor: ExecutorRecord, entry: TaskEntry): void {
    const run = this.checkpointRun(framework, executor);
    if (run) this.persist('task info', (cp) => cp.writeTask(run, entry.task));
  }

  /** The status update manager's hook: the UPDATE or ACK record reaches the task's log first. */
  private checkpointUpdate(event: StreamEvent): void {
    const { frameworkId, executorId } = event.update;
    const framework = this.frameworks.get(frameworkId);
    const executor = executorId === undefined ? undefined : framework?.executors.get(executorId);
    if (!framework || !executor) return;
    const run = this.checkpointRun(framework, executor);
    if (!run) return;
    const taskId = event.update.status.taskId?.value ?? '';
    this.persist('status update', (cp) =>
      cp.appendUpdate(
        run,
        taskId,
        event.type === 'update'
          ? { type: 'update', update: event.update }
          : { type: 'ack', uuid: event.uuid },
      ),
    );
  }

  // ------------------------------------------------------------------ restart recovery

  /**
   * Restart recovery (mesos-internals.md section 4.9). Rebuilds frameworks, executors, tasks and
   * update streams from the checkpoint of the agent's previous life (`state`; undefined when
   * there is none, or after a reboot), re-attaches to executors whose processes still run and
   * to their nested containers, and kills every other process that life left (orphans: the
   * executors of frameworks that do not checkpoint, and whatever the agent cannot account for).
   *
   * `recovered` settles when recovery is over. Reconnect: once every re-attached executor has
   * re-subscribed, or after --executor_reregistration_timeout (the laggards are shut down and
   * their tasks become TASK_LOST, or TASK_GONE for partition-aware frameworks). Cleanup: every
   * re-attached executor is shut down at once, and recovery ends when all of them and all
   * orphans are gone.
   */
  recover(state: RecoveredAgent | undefined, runtime: readonly RuntimeContainer[], mode: RecoverMode): void {
    this.recovering = true;
    this.recoverMode = mode;
    this.recovered = new Promise<void>((resolve) => {
      this.resolveRecovered = resolve;
    });
    if (state) {
      this.id = state.id;
      for (const framework of state.frameworks) this.recoverFramework(framework);
    }
    const attach = (pid: number, identity: ProcessIdentity) => this.deps.attach?.(pid, identity);
    for (const container of runtime) {
      const executor = this.executorByContainer(container.id);
      if (executor?.process) {
        this.containers.recover(container.id, executor.directory, container.children, attach);
      } else {
        this.killOrphan(container, [container.id]);
      }
    }
    if (mode === 'reconnect') {
      this.recoveryTimer = this.deps.clock.setTimeout(
        () => this.reregistrationTimedOut(),
        this.config.executorReregistrationTimeoutMs,
      );
    }
    this.deps.log.info(
      {
        agentId: this.id,
        mode,
        frameworks: this.frameworks.size,
        awaiting: this.executorsAwaitingReregistration().length,
      },
      'recovering from the checkpoint',
    );
    this.maybeFinishRecovery();
  }

  private recoverFramework(recovered: RecoveredFramework): void {
    const framework: FrameworkRecord = {
      id: recovered.id,
      info: recovered.info,
      phase: 'running',
      executors: new Map(),
      completedExecutors: [],
    };
    // Registered first: updates generated while its executors are recovered look it up.
    this.frameworks.set(framework.id, framework);
    for (const executor of recovered.executors) this.recoverExecutor(framework, executor);
    this.maybeRemoveFramework(framework);
  }

  private recoverExecutor(framework: FrameworkRecord, recovered: RecoveredExecutor): void {
    const log = this.deps.log.child({ frameworkId: framework.id, executorId: recovered.id });
    const run = recovered.run;
    if (!run) {
      // The agent died before the run directory was made: nothing ran, nothing to tell.
      const agentId = this.id ?? '';
      this.persist('executor removal', (cp) => cp.removeExecutor(agentId, framework.id, recovered.id));
      return;
    }
    const executor = this.newExecutor(
      framework,
      recovered.info,
      isCommandExecutorInfo(recovered.info),
      run.containerId,
    );
    // It ran before the restart: an empty task list does not mean it was never given work.
    executor.everLaunched = true;
    for (const task of run.tasks) this.recoverTask(framework, executor, task);
    const identity: ProcessIdentity = {
      directory: executor.directory,
      frameworkId: framework.id,
      executorId: executor.id,
    };
    const child =
      run.completed || run.forkedPid === undefined ? undefined : this.deps.attach?.(run.forkedPid, identity);
    if (!child) {
      log.info(
        { containerId: run.containerId, pid: run.forkedPid, completed: run.completed },
        run.completed
          ? 'recovered a completed executor'
          : 'executor is gone (it ended while the agent was down)',
      );
      this.executorGone(framework, executor, undefined);
      return;
    }
    executor.process = child;
    child.exited
      .then((status) => this.executorExited(framework, executor, status))
      .catch((err: unknown) => log.error({ err }, 'handling the executor exit failed'));
    this.watchLimitation(executor, child);
    log.info(
      { pid: child.pid, containerId: run.containerId, tasks: executor.tasks.size },
      'executor re-attached; waiting for it to re-subscribe',
    );
    if (this.recoverMode === 'cleanup') {
      this.shutdownExecutor(executor, 'the agent recovers with --recover=cleanup');
    } else {
      executor.awaitingReregistration = true;
    }
  }

  /** A task and its update stream as the log left them; a closed stream is a completed task. */
  private recoverTask(framework: FrameworkRecord, executor: ExecutorRecord, recovered: RecoveredTask): void {
    const task = create(TaskSchema, recovered.task);
    for (const update of recovered.updates.updates) {
      task.state = update.status.state;
      const stored = create(TaskStatusSchema, update.status);
      stored.data = new Uint8Array(0);
      task.statuses = [...task.statuses.filter((s) => s.state !== stored.state), stored];
    }
    if (recovered.updates.closed) {
      this.pushCompletedTask(executor, task);
      return;
    }
    const head = recovered.updates.pending[0];
    if (head) {
      task.statusUpdateState = head.status.state;
      task.statusUpdateUuid = head.status.uuid;
    }
    // Whatever phase it was in, the executor may have it now; re-subscription settles it.
    executor.tasks.set(recovered.id, {
      info: create(TaskInfoSchema, {
        name: task.name,
        taskId: task.taskId,
        agentId: task.agentId,
        resources: task.resources,
      }),
      task,
      phase: isTerminalState(task.state) ? 'terminated' : 'launched',
    });
    this.updates.recover({
      frameworkId: framework.id,
      taskId: recovered.id,
      pending: recovered.updates.pending,
      acknowledged: recovered.updates.acknowledged,
    });
  }

  /**
   * A process of an earlier life nobody recovered: SIGTERM, SIGKILL after the escalation delay,
   * and its runtime entry goes once it is gone. Nested containers below it first.
   */
  private killOrphan(container: RuntimeContainer, chain: readonly string[]): void {
    for (const child of container.children) this.killOrphan(child, [...chain, child.id]);
    const child =
      container.pid === undefined || container.directory === undefined
        ? undefined
        : this.deps.attach?.(container.pid, { directory: container.directory });
    const forget = () => this.persist('orphan runtime removal', (cp) => cp.removeRuntimeContainer(chain));
    if (!child) {
      forget();
      return;
    }
    this.deps.log.warn(
      { containerId: chain.join('.'), pid: child.pid },
      'killing a process the previous run of this agent left behind (orphan)',
    );
    child.signal('SIGTERM');
    const escalation = this.deps.clock.setTimeout(
      () => child.signal('SIGKILL'),
      this.config.killEscalationMs,
    );
    this.orphans.push(
      child.exited.then(() => {
        escalation.cancel();
        forget();
      }),
    );
  }

  private executorsAwaitingReregistration(): ExecutorRecord[] {
    const waiting: ExecutorRecord[] = [];
    for (const framework of this.frameworks.values()) {
      for (const executor of framework.executors.values()) {
        if (executor.awaitingReregistration) waiting.push(executor);
      }
    }
    return waiting;
  }

  private reregistrationTimedOut(): void {
    this.recoveryTimer = undefined;
    const within = formatDuration(this.config.executorReregistrationTimeoutMs);
    for (const executor of this.executorsAwaitingReregistration()) {
      const framework = this.frameworks.get(executor.frameworkId);
      executor.awaitingReregistration = false;
      if (!framework) continue;
      executor.pendingTermination = {
        state: goneOrLost(framework.info),
        reason: TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT,
        message: `Executor did not re-register within ${within}`,
      };
      this.shutdownExecutor(executor, `it did not re-subscribe within ${within} of the agent restart`);
    }
    this.maybeFinishRecovery();
  }

  private maybeFinishRecovery(): void {
    if (!this.recovering) return;
    if (this.recoverMode === 'cleanup') {
      for (const framework of this.frameworks.values()) {
        for (const executor of framework.executors.values()) if (executor.phase !== 'terminated') return;
      }
    } else if (this.executorsAwaitingReregistration().length > 0) {
      return;
    }
    this.recovering = false;
    this.recoveryTimer?.cancel();
    this.recoveryTimer = undefined;
    const resolve = this.resolveRecovered;
    if (this.recoverMode === 'cleanup') {
      void Promise.all(this.orphans).then(() => {
        this.deps.log.info('recovery (cleanup) complete: every executor of the previous run is gone');
        resolve();
      });
      return;
    }
    this.deps.log.info({ agentId: this.id }, 'recovery complete');
    resolve();
  }

  // ------------------------------------------------------------------ stopping

  /**
   * Shuts executors down (SHUTDOWN, grace, SIGTERM, SIGKILL) and resolves once all their
   * processes have exited, or once whatever outlived the longest grace period has been SIGKILLed.
   *
   * As Mesos' agent does when it terminates, the executors of frameworks that checkpoint are left
   * running (`keptExecutors` counts them) for the next start of the agent to recover, unless
   * `all` is set (a full shutdown, Mesos' SIGUSR1).
   */
  async stop(options: { all?: boolean } = {}): Promise<void> {
    this.stopping = true;
    this.recoveryTimer?.cancel();
    this.recoveryTimer = undefined;
    const executors: ExecutorRecord[] = [];
    let longestGrace = 0;
    for (const framework of this.frameworks.values()) {
      for (const executor of framework.executors.values()) {
        const keep =
          !options.all &&
          framework.info.checkpoint &&
          framework.phase === 'running' &&
          (executor.phase === 'registering' || executor.phase === 'running') &&
          executor.process !== undefined &&
          !executor.process.hasExited;
        if (keep) {
          this.keptExecutors++;
          this.closeConnection(executor);
          continue;
        }
        executors.push(executor);
        longestGrace = Math.max(
          longestGrace,
          shutdownGracePeriodMs(executor.info, this.config.executorShutdownGracePeriodMs),
        );
        this.shutdownExecutor(executor, 'the agent is stopping');
      }
    }
    const deadlineMs = longestGrace + this.config.killEscalationMs + 1000;
    const all = Promise.all(executors.map((e) => e.gone));
    let timer: TimerHandle | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = this.deps.clock.setTimeout(resolve, deadlineMs);
    });
    await Promise.race([all, deadline]);
    timer?.cancel();
    for (const executor of executors) {
      if (executor.process && !executor.process.hasExited) executor.process.signal('SIGKILL');
    }
    await Promise.race([all, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
    if (this.keptExecutors > 0) {
      this.deps.log.info(
        { executors: this.keptExecutors },
        'executors of checkpointing frameworks keep running for the next start of the agent',
      );
    }
    // Every executor's exit has SIGKILLed its nested containers; let them be reaped (the
    // containers of executors left running stay as they are).
    if (this.keptExecutors === 0)
      await Promise.race([
        this.containers.settled(),
        new Promise<void>((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
    this.updates.stop();
  }
}
