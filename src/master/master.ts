/**
 * The master's state and behaviour, apart from HTTP: frameworks (subscribe, failover, removal),
 * agents (register, re-register, pings, unreachability), offers, task launches, status updates
 * and reconciliation. Transport adapters (scheduler-api.ts, agents over strata-link/1) call in;
 * time only enters through the injected Clock. Every index is a Map keyed by ID, so no event does
 * work proportional to the number of agents or tasks in the cluster.
 */
import { create } from '@bufbuild/protobuf';
import type {
  Allocation,
  HierarchicalAllocatorApi,
  OfferExplanation,
  QuotaConfig,
  RoleStatus,
} from '../allocator/allocator.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { type IdMinter, invalidIdReason } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { resourcesFromMessages, resourcesToMessages } from '../resources/messages.js';
import { applyCheckpointed, checkpointedOf } from '../resources/operations.js';
import { Resources } from '../resources/resources.js';
import {
  type AgentInfo,
  type Attribute,
  type ExecutorInfo,
  ExecutorInfo_Type,
  type FrameworkInfo,
  FrameworkInfo_Capability_Type,
  FrameworkInfoSchema,
  type MasterInfo,
  type Offer,
  type Offer_Operation,
  Offer_Operation_Type,
  OfferSchema,
  OperationState,
  type Resource,
  type Task,
  type TaskInfo,
  TaskSchema,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
  TaskStatus_Source,
  TaskStatusSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import {
  type Call,
  type Call_Accept,
  type Call_Reconcile_Task,
  type Event,
  Event_Type,
  EventSchema,
} from '../wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  type AgentToMasterSchema,
  type MasterToAgent,
  MasterToAgent_Type,
  MasterToAgentSchema,
  type RegisterAgent,
  type ReregisterAgent,
  type StatusUpdate,
} from '../wire/gen/strata/internal/v1/link_pb.js';
import type { LinkConnection } from '../wire/link.js';
import { hasCapability, isPartitionAware, isTerminalState, stateForFramework } from '../wire/task-states.js';
import { taskCheckProblem } from './check-validation.js';
import { MasterEvents } from './events.js';
import { ResourceLedger } from './ledger.js';
import { Maintenance } from './maintenance.js';
import type { AdmittedAgent, Registry, RegistryOperation } from './registry/registry.js';
import { type ConversionResult, convertOperation } from './resource-operations.js';
import { invalidRoleReason } from './roles.js';
import type { SchedulerStream } from './scheduler-stream.js';
import { MasterTimers } from './timers.js';

export type AgentLink = LinkConnection<typeof AgentToMasterSchema, typeof MasterToAgentSchema>;

export interface MasterConfig {
  heartbeatIntervalMs: number;
  offerTimeoutMs: number | undefined;
  agentPingTimeoutMs: number;
  maxAgentPingTimeouts: number;
  maxCompletedFrameworks: number;
  maxCompletedTasksPerFramework: number;
  maxUnreachableTasksPerFramework: number;
}

export interface TaskRecord {
  task: Task;
  /** Resources as the allocator accounts them (allocated to the offer's role). */
  resources: Resources;
  /** Set once the resources went back to the allocator (terminal state seen). */
  released: boolean;
  /** Stopwatch time the pending status update was first forwarded (timers.ts). */
  updateSentAt?: number | undefined;
}

export interface ExecutorRecord {
  info: ExecutorInfo;
  resources: Resources;
}

export interface FrameworkRecord {
  readonly id: string;
  info: FrameworkInfo;
  stream: SchedulerStream | undefined;
  heartbeat: TimerHandle | undefined;
  failoverTimer: TimerHandle | undefined;
  active: boolean;
  /** Known only because an agent reported its tasks; no scheduler has subscribed yet. */
  recovered: boolean;
  suppressedRoles: Set<string>;
  registeredTime: number;
  reregisteredTime: number | undefined;
  unregisteredTime: number | undefined;
  tasks: Map<string, TaskRecord>;
  completedTasks: Task[];
  unreachableTasks: Map<string, Task>;
  offers: Set<string>;
  /** agentId → executorId → executor. */
  executors: Map<string, Map<string, ExecutorRecord>>;
}

export type AgentState = 'registered' | 'unreachable';

export interface AgentResources {
  flagResources: Resources;
  checkpointed: Resources;
  total: Resources;
}

export interface AgentRecord {
  readonly id: string;
  info: AgentInfo;
  pid: string;
  version: string;
  capabilities: number[];
  /** Its `--resources` (AgentInfo.resources), before checkpointed reservations and volumes. */
  flagResources: Resources;
  /** Dynamic reservations and persistent volumes the agent checkpoints (unallocated). */
  checkpointed: Resources;
  /** `flagResources` with `checkpointed` applied. */
  total: Resources;
  link: AgentLink | undefined;
  state: AgentState;
  registeredTime: number;
  reregisteredTime: number | undefined;
  unreachableTime: number | undefined;
  offers: Set<string>;
  /** frameworkId → task IDs on this agent. */
  tasks: Map<string, Set<string>>;
  pingSequence: bigint;
  lastPongSequence: bigint;
  missedPings: number;
  pinger: TimerHandle | undefined;
  disconnectTimer: TimerHandle | undefined;
  /** KILL_TASKs that arrived while the agent was disconnected. */
  pendingKills: Map<string, MasterToAgent>;
  /** Offers withheld by DEACTIVATE_AGENT or DRAIN_AGENT (set by maintenance.ts). */
  deactivated?: boolean;
}

export interface OfferRecord {
  readonly id: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly role: string;
  readonly resources: Resources;
  timer: TimerHandle | undefined;
  /** Stopwatch time the offer was sent (timers.ts). */
  readonly sentAt?: number;
}

export interface MasterCounters {
  tasksLaunched: number;
  tasksByState: Map<TaskState, number>;
  offersSent: number;
  offersDeclined: number;
  offersRescinded: number;
  offersAccepted: number;
  frameworksRemoved: number;
  agentsRegistered: number;
  agentsReregistered: number;
  agentsUnreachable: number;
  validStatusUpdates: number;
  invalidStatusUpdates: number;
  schedulerCalls: Map<string, number>;
  agentMessages: number;
  /** Link messages from agents by type, for the `messages_*` metrics. */
  agentMessagesByType: Map<AgentToMaster_Type, number>;
}

/** What subscription validation found wrong, as the ERROR event text Mesos uses. */
export type SubscribeRefusal = { error: string };

/** Mesos' built-in limits on one task's scalars (sanity, not policy). */
const UUID_BYTES = 16;

function roleOf(info: FrameworkInfo): string[] {
  if (hasCapability(info, FrameworkInfo_Capability_Type.MULTI_ROLE)) return [...info.roles];
  return [info.role === '' ? '*' : info.role];
}

function capabilityNames(info: FrameworkInfo): Set<string> {
  const names = new Set<string>();
  for (const capability of info.capabilities) {
    const name = FrameworkInfo_Capability_Type[capability.type];
    if (name !== undefined) names.add(name);
  }
  return names;
}

function nowSeconds(clock: Clock): number {
  return clock.now() / 1000;
}

export class Master {
  readonly frameworks = new Map<string, FrameworkRecord>();
  readonly completedFrameworks = new Map<string, FrameworkRecord>();
  readonly agents = new Map<string, AgentRecord>();
  readonly offers = new Map<string, OfferRecord>();
  readonly counters: MasterCounters = {
    tasksLaunched: 0,
    tasksByState: new Map(),
    offersSent: 0,
    offersDeclined: 0,
    offersRescinded: 0,
    offersAccepted: 0,
    frameworksRemoved: 0,
    agentsRegistered: 0,
    agentsReregistered: 0,
    agentsUnreachable: 0,
    validStatusUpdates: 0,
    invalidStatusUpdates: 0,
    schedulerCalls: new Map(),
    agentMessages: 0,
    agentMessagesByType: new Map(),
  };
  readonly startTime: number;
  /** Resources in use and on offer per agent and framework, read by the endpoints and metrics. */
  readonly ledger = new ResourceLedger();
  /** Typed notifications of task, agent and framework changes (events.ts): the operator stream. */
  readonly events = new MasterEvents((err) => this.log.error({ err }, 'master event listener failed'));
  /** Agents an operator marked gone (MARK_AGENT_GONE): never admitted again. */
  readonly goneAgents = new Set<string>();
  /** Allocation cycle, offer-to-launch and status-update round-trip timers (metrics). */
  readonly timers = new MasterTimers();
  private readonly agentsByPid = new Map<string, string>();
  /** Agents the registry admitted before this master started, not yet re-registered. */
  readonly recoveredAgents = new Map<string, AdmittedAgent>();
  private recoveryTimer: TimerHandle | undefined;
  /** Maintenance schedule, machines down, inverse offers, agent drain and deactivation. */
  readonly maintenance: Maintenance;

  constructor(
    readonly masterInfo: MasterInfo,
    private readonly config: MasterConfig,
    private readonly allocator: HierarchicalAllocatorApi,
    private readonly ids: IdMinter,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly registry: Registry,
  ) {
    this.startTime = clock.now();
    this.maintenance = new Maintenance({
      master: this,
      clock,
      log: log.child({ component: 'maintenance' }),
      registry,
      newOfferId: () => this.ids.offerId(),
      send: (framework, event) => this.send(framework, event),
      rescindOffer: (offerId) => this.removeOffer(offerId, { rescind: true }),
      setAllocatorActive: (agentId, active) =>
        active ? this.allocator.activateAgent(agentId) : this.allocator.deactivateAgent(agentId),
      shutDownAgent: (agent, reason) => {
        const link = agent.link;
        link?.send(
          create(MasterToAgentSchema, {
            type: MasterToAgent_Type.SHUTDOWN_AGENT,
            shutdownAgent: { message: reason },
          }),
        );
        this.removeAgent(agent, reason, {
          state: TaskState.TASK_LOST,
          reason: TaskStatus_Reason.AGENT_REMOVED,
        });
        link?.close(reason);
      },
    });
  }

  /**
   * After a restart: agents admitted by an earlier master may re-register with their IDs. Those
   * that have not within `agent_reregister_timeout` are marked unreachable in the registry.
   */
  recoverAgents(admitted: readonly AdmittedAgent[], reregisterTimeoutMs: number): void {
    for (const agent of admitted) this.recoveredAgents.set(agent.id, agent);
    if (this.recoveredAgents.size === 0) return;
    this.log.info({ agents: this.recoveredAgents.size }, 'waiting for admitted agents to re-register');
    this.recoveryTimer = this.clock.setTimeout(() => {
      const now = this.clock.now();
      for (const id of this.recoveredAgents.keys())
        this.persist({ type: 'mark-unreachable', agentId: id, at: now });
      if (this.recoveredAgents.size > 0) {
        this.log.warn({ agents: this.recoveredAgents.size }, 'admitted agents did not re-register in time');
      }
      this.recoveredAgents.clear();
    }, reregisterTimeoutMs);
  }

  /** Durable bookkeeping is best effort for the caller: a failed store is logged, not thrown. */
  private persist(...operations: RegistryOperation[]): void {
    this.registry.apply(...operations).catch((err: unknown) => {
      this.log.error({ err }, 'registry store failed');
    });
  }

  // ------------------------------------------------------------------ frameworks

  /** Semantic checks done after the stream opened (reference section 2.3): an ERROR event if any fail. */
  validateFrameworkInfo(
    info: FrameworkInfo,
    suppressedRoles: readonly string[],
  ): SubscribeRefusal | undefined {
    const multiRole = hasCapability(info, FrameworkInfo_Capability_Type.MULTI_ROLE);
    const roleIsSet = info.role !== '*' && info.role !== '';
    if (multiRole && roleIsSet && info.$typeName && Object.hasOwn(info, 'role')) {
      return { error: "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable" };
    }
    if (!multiRole && info.roles.length > 0) {
      return { error: "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable" };
    }
    const roles = roleOf(info);
    if (new Set(roles).size !== roles.length)
      return { error: `'FrameworkInfo.roles' contains duplicate items` };
    for (const role of roles) {
      const reason = invalidRoleReason(role);
      if (reason) return { error: `Role '${role}' is invalid: ${reason}` };
    }
    const id = info.id?.value ?? '';
    if (id !== '') {
      const reason = invalidIdReason(id);
      if (reason) return { error: `'FrameworkInfo.id' is invalid: ${reason}` };
    }
    if (!Number.isFinite(info.failoverTimeout) || info.failoverTimeout < 0 || info.failoverTimeout > 1e11) {
      return { error: `The framework failover_timeout (${info.failoverTimeout}) is invalid` };
    }
    const notContained = suppressedRoles.filter((r) => !roles.includes(r));
    if (notContained.length > 0) {
      return {
        error: `Suppressed roles { ${notContained.join(', ')} } are not contained in the set of roles`,
      };
    }
    return undefined;
  }

  /**
   * A SUBSCRIBE whose 200 stream is open. Refusals go in-band as ERROR; success sends SUBSCRIBED
   * and the first HEARTBEAT, then one every heartbeat interval, timed from this subscription.
   */
  subscribe(infoIn: FrameworkInfo, suppressedRoles: readonly string[], stream: SchedulerStream): void {
    const refusal = this.validateFrameworkInfo(infoIn, suppressedRoles);
    if (refusal) {
      stream.fail(refusal.error);
      return;
    }
    const info = create(FrameworkInfoSchema, infoIn);
    const requestedId = info.id?.value ?? '';
    if (requestedId !== '' && this.completedFrameworks.has(requestedId)) {
      stream.fail('Framework has been removed');
      return;
    }
    const now = this.clock.now();
    let framework = requestedId === '' ? undefined : this.frameworks.get(requestedId);
    const known = framework !== undefined;
    if (framework) {
      if (framework.info.principal !== info.principal && !framework.recovered) {
        stream.fail("Changing framework's principal is not allowed.");
        return;
      }
      // Re-subscription: user and checkpoint keep their old values (silently, as Mesos does).
      if (!framework.recovered) {
        info.user = framework.info.user;
        info.checkpoint = framework.info.checkpoint;
      }
      info.id = { $typeName: 'mesos.v1.FrameworkID', value: framework.id };
      framework.info = info;
      framework.recovered = false;
      framework.reregisteredTime = now;
      framework.failoverTimer?.cancel();
      framework.failoverTimer = undefined;
      if (framework.stream && !framework.stream.closed) {
        const old = framework.stream;
        framework.stream = undefined;
        old.fail('Framework failed over');
      }
      framework.heartbeat?.cancel();
      // Offers the new stream never saw are discarded, not rescinded.
      for (const offerId of [...framework.offers]) this.removeOffer(offerId, { rescind: false });
      framework.suppressedRoles = new Set(suppressedRoles);
      this.allocator.updateFramework(framework.id, this.frameworkSpec(framework));
      this.allocator.activateFramework(framework.id);
      if (suppressedRoles.length > 0) this.allocator.suppressOffers(framework.id, [...suppressedRoles]);
      for (const agent of this.agentsOf(framework)) {
        agent.link?.send(
          create(MasterToAgentSchema, {
            type: MasterToAgent_Type.UPDATE_FRAMEWORK,
            updateFramework: { frameworkInfo: framework.info },
          }),
        );
      }
    } else {
      const id = requestedId !== '' ? requestedId : this.ids.frameworkId();
      info.id = { $typeName: 'mesos.v1.FrameworkID', value: id };
      framework = {
        id,
        info,
        stream: undefined,
        heartbeat: undefined,
        failoverTimer: undefined,
        active: true,
        recovered: false,
        suppressedRoles: new Set(suppressedRoles),
        registeredTime: now,
        reregisteredTime: undefined,
        unregisteredTime: undefined,
        tasks: new Map(),
        completedTasks: [],
        unreachableTasks: new Map(),
        offers: new Set(),
        executors: new Map(),
      };
      this.frameworks.set(id, framework);
      this.allocator.addFramework(id, this.frameworkSpec(framework), new Map(), true);
      if (suppressedRoles.length > 0) this.allocator.suppressOffers(id, [...suppressedRoles]);
    }
    framework.active = true;
    framework.stream = stream;
    const subscribed = framework;
    this.events.emit({ kind: known ? 'framework-updated' : 'framework-added', framework: subscribed });
    this.log.info({ frameworkId: subscribed.id, name: info.name }, 'framework subscribed');
    stream.send(
      create(EventSchema, {
        type: Event_Type.SUBSCRIBED,
        subscribed: {
          frameworkId: { value: subscribed.id },
          heartbeatIntervalSeconds: this.config.heartbeatIntervalMs / 1000,
          masterInfo: this.masterInfo,
        },
      }),
    );
    const heartbeat = create(EventSchema, { type: Event_Type.HEARTBEAT });
    stream.send(heartbeat);
    subscribed.heartbeat = this.clock.setInterval(
      () => stream.send(heartbeat),
      this.config.heartbeatIntervalMs,
    );
    void stream.done.then(() => this.streamClosed(subscribed, stream));
  }

  private streamClosed(framework: FrameworkRecord, stream: SchedulerStream): void {
    if (framework.stream !== stream) return;
    framework.heartbeat?.cancel();
    framework.heartbeat = undefined;
    framework.stream = undefined;
    if (!this.frameworks.has(framework.id)) return;
    this.log.info({ frameworkId: framework.id }, 'framework disconnected');
    framework.active = false;
    framework.unregisteredTime = this.clock.now();
    this.allocator.deactivateFramework(framework.id);
    for (const offerId of [...framework.offers]) this.removeOffer(offerId, { rescind: false });
    const timeoutMs = Math.max(0, framework.info.failoverTimeout * 1000);
    framework.failoverTimer = this.clock.setTimeout(() => {
      framework.failoverTimer = undefined;
      if (!framework.stream) {
        this.log.info({ frameworkId: framework.id }, 'framework failover timeout expired');
        this.removeFramework(framework);
      }
    }, timeoutMs);
  }

  private frameworkSpec(framework: FrameworkRecord) {
    return {
      roles: roleOf(framework.info),
      suppressedRoles: [...framework.suppressedRoles],
      capabilities: capabilityNames(framework.info),
    };
  }

  /** Looks up the framework a non-SUBSCRIBE call names. */
  framework(id: string): FrameworkRecord | undefined {
    return this.frameworks.get(id);
  }

  /** TEARDOWN, failover timeout, operator teardown: tasks killed, executors shut down, offers gone. */
  removeFramework(framework: FrameworkRecord): void {
    if (!this.frameworks.has(framework.id)) return;
    this.log.info({ frameworkId: framework.id }, 'removing framework');
    framework.failoverTimer?.cancel();
    framework.heartbeat?.cancel();
    for (const offerId of [...framework.offers]) this.removeOffer(offerId, { rescind: false });
    const agentsToTell = new Set<AgentRecord>(this.agentsOf(framework));
    for (const record of framework.tasks.values()) {
      if (!isTerminalState(record.task.state)) {
        this.applyState(
          record,
          this.masterStatus(
            record.task,
            TaskState.TASK_KILLED,
            TaskStatus_Reason.FRAMEWORK_REMOVED,
            'Framework removed',
          ),
        );
      }
      this.releaseTask(framework, record);
      this.detachTaskFromAgent(record.task);
      this.pushCompleted(framework, record.task);
    }
    framework.tasks.clear();
    for (const [agentId, executors] of framework.executors) {
      for (const executor of executors.values()) {
        this.ledger.release(framework.id, agentId, executor.resources);
        this.recover(framework.id, agentId, executor.resources, 0);
      }
    }
    framework.executors.clear();
    for (const agent of agentsToTell) {
      agent.link?.send(
        create(MasterToAgentSchema, {
          type: MasterToAgent_Type.SHUTDOWN_FRAMEWORK,
          shutdownFramework: { frameworkId: { value: framework.id } },
        }),
      );
    }
    this.allocator.removeFramework(framework.id);
    this.frameworks.delete(framework.id);
    framework.active = false;
    framework.unregisteredTime = this.clock.now();
    const stream = framework.stream;
    framework.stream = undefined;
    stream?.close();
    this.completedFrameworks.set(framework.id, framework);
    if (this.completedFrameworks.size > this.config.maxCompletedFrameworks) {
      const oldest = this.completedFrameworks.keys().next().value;
      if (oldest !== undefined) this.completedFrameworks.delete(oldest);
    }
    this.counters.frameworksRemoved++;
    this.events.emit({ kind: 'framework-removed', framework });
  }

  /** Agents running something of the framework: work proportional to its tasks, not the cluster. */
  private agentsOf(framework: FrameworkRecord): AgentRecord[] {
    const ids = new Set<string>(framework.executors.keys());
    for (const record of framework.tasks.values()) ids.add(record.task.agentId?.value ?? '');
    const agents: AgentRecord[] = [];
    for (const id of ids) {
      const agent = this.agents.get(id);
      if (agent) agents.push(agent);
    }
    return agents;
  }

  private send(framework: FrameworkRecord, event: Event): void {
    framework.stream?.send(event);
  }

  // ------------------------------------------------------------------ scheduler calls

  decline(framework: FrameworkRecord, offerIds: readonly string[], refuseSeconds: number): void {
    for (const offerId of offerIds) {
      const offer = this.offers.get(offerId);
      if (!offer || offer.frameworkId !== framework.id) continue;
      this.counters.offersDeclined++;
      this.removeOffer(offerId, { rescind: false, refuseSeconds });
    }
  }

  /**
   * UPDATE_FRAMEWORK (reference section 2.5): synchronous; returns the 400 text when refused.
   * Unlike a re-subscription, a changed principal, user or checkpoint is an error here.
   */
  updateFramework(
    framework: FrameworkRecord,
    info: FrameworkInfo,
    suppressedRoles: string[],
  ): string | undefined {
    const invalid = this.validateFrameworkInfo(info, suppressedRoles);
    if (invalid) {
      return invalid.error.startsWith('Suppressed roles')
        ? invalid.error
        : `Supplied FrameworkInfo is not valid: ${invalid.error}`;
    }
    const changed: string[] = [];
    if (info.principal !== framework.info.principal) changed.push('principal');
    if (info.user !== framework.info.user) changed.push('user');
    if (info.checkpoint !== framework.info.checkpoint) changed.push('checkpoint');
    if (changed.length > 0) {
      return `FrameworkInfo update is not valid: updating ${changed.map((f) => `'FrameworkInfo.${f}'`).join(', ')} is unsupported`;
    }
    const oldRoles = new Set(roleOf(framework.info));
    info.id = { $typeName: 'mesos.v1.FrameworkID', value: framework.id };
    framework.info = info;
    const newRoles = roleOf(info);
    for (const offerId of [...framework.offers]) {
      const offer = this.offers.get(offerId);
      if (offer && !newRoles.includes(offer.role)) this.removeOffer(offerId, { rescind: true });
    }
    const unsuppressed = [...framework.suppressedRoles].filter((r) => !suppressedRoles.includes(r));
    framework.suppressedRoles = new Set(suppressedRoles);
    this.allocator.updateFramework(framework.id, this.frameworkSpec(framework));
    const added = newRoles.filter((r) => !oldRoles.has(r));
    if (unsuppressed.length > 0 || added.length > 0)
      this.allocator.reviveOffers(framework.id, [...unsuppressed, ...added]);
    if (suppressedRoles.length > 0) this.allocator.suppressOffers(framework.id, suppressedRoles);
    for (const agent of this.agentsOf(framework)) {
      agent.link?.send(
        create(MasterToAgentSchema, {
          type: MasterToAgent_Type.UPDATE_FRAMEWORK,
          updateFramework: { frameworkInfo: info },
        }),
      );
    }
    this.events.emit({ kind: 'framework-updated', framework });
    return undefined;
  }

  revive(framework: FrameworkRecord, roles: readonly string[]): void {
    const frameworkRoles = roleOf(framework.info);
    if (roles.some((r) => !frameworkRoles.includes(r))) return;
    for (const role of roles.length === 0 ? frameworkRoles : roles) framework.suppressedRoles.delete(role);
    this.allocator.reviveOffers(framework.id, [...roles]);
  }

  suppress(framework: FrameworkRecord, roles: readonly string[]): void {
    const frameworkRoles = roleOf(framework.info);
    if (roles.some((r) => !frameworkRoles.includes(r))) return;
    for (const role of roles.length === 0 ? frameworkRoles : roles) framework.suppressedRoles.add(role);
    this.allocator.suppressOffers(framework.id, [...roles]);
  }

  accept(framework: FrameworkRecord, accept: Call_Accept): void {
    const offerIds = accept.offerIds.map((o) => o.value);
    const refuseSeconds = accept.filters ? accept.filters.refuseSeconds : 5;
    const invalid = this.validateOffers(framework, offerIds);
    if (invalid) {
      for (const offerId of offerIds) {
        const offer = this.offers.get(offerId);
        if (offer && offer.frameworkId === framework.id) this.removeOffer(offerId, { rescind: false });
      }
      const state = isPartitionAware(framework.info) ? TaskState.TASK_DROPPED : TaskState.TASK_LOST;
      for (const operation of accept.operations) {
        for (const task of this.tasksOf(operation)) {
          this.sendUpdate(
            framework,
            this.statusFor(
              task,
              state,
              TaskStatus_Reason.INVALID_OFFERS,
              `Task launched with invalid offers: ${invalid}`,
            ),
          );
        }
      }
      return;
    }
    const offers = offerIds.map((id) => this.offers.get(id)!);
    const first = offers[0];
    if (!first) return;
    const agent = this.agents.get(first.agentId)!;
    let available = Resources.sum(offers.map((o) => o.resources));
    for (const offer of offers) {
      offer.timer?.cancel();
      this.offers.delete(offer.id);
      framework.offers.delete(offer.id);
      agent.offers.delete(offer.id);
      this.ledger.unoffer(framework.id, agent.id, offer.resources);
    }
    this.counters.offersAccepted += offers.length;
    const launches = accept.operations.some((o) => this.tasksOf(o).length > 0);
    this.timers.offersAccepted(offers, launches);
    for (const operation of accept.operations) {
      available = this.applyOperation(framework, agent, first.role, operation, available);
    }
    if (!available.isEmpty()) this.recover(framework.id, agent.id, available, refuseSeconds);
  }

  private tasksOf(operation: Offer_Operation): TaskInfo[] {
    if (operation.type === Offer_Operation_Type.LAUNCH) return operation.launch?.taskInfos ?? [];
    if (operation.type === Offer_Operation_Type.LAUNCH_GROUP)
      return operation.launchGroup?.taskGroup?.tasks ?? [];
    return [];
  }

  private validateOffers(framework: FrameworkRecord, offerIds: readonly string[]): string | undefined {
    if (offerIds.length === 0) return 'No offers specified';
    const seen = new Set<string>();
    let role: string | undefined;
    let agentId: string | undefined;
    for (const id of offerIds) {
      if (seen.has(id)) return `Duplicate offer ${id} in accept`;
      seen.add(id);
      const offer = this.offers.get(id);
      if (!offer) return `Offer ${id} is no longer valid`;
      if (offer.frameworkId !== framework.id) {
        return `Offer ${id} has invalid framework ${offer.frameworkId} while framework ${framework.id} is expected`;
      }
      if (role !== undefined && offer.role !== role)
        return `Aggregated offers must be allocated to the same role`;
      if (agentId !== undefined && offer.agentId !== agentId)
        return `Aggregated offers must belong to one single agent`;
      role = offer.role;
      agentId = offer.agentId;
    }
    const agent = agentId === undefined ? undefined : this.agents.get(agentId);
    if (agent?.state !== 'registered' || !agent.link) return `Agent ${agentId} is not available`;
    return undefined;
  }

  /** Applies one operation against what is left of the offers; returns what is left after it. */
  private applyOperation(
    framework: FrameworkRecord,
    agent: AgentRecord,
    role: string,
    operation: Offer_Operation,
    available: Resources,
  ): Resources {
    switch (operation.type) {
      case Offer_Operation_Type.LAUNCH: {
        for (const task of operation.launch?.taskInfos ?? []) {
          available = this.launchTask(framework, agent, role, task, undefined, available);
        }
        return available;
      }
      case Offer_Operation_Type.LAUNCH_GROUP: {
        const group = operation.launchGroup;
        if (!group?.executor || !group.taskGroup) return available;
        return this.launchGroup(framework, agent, role, group.executor, group.taskGroup.tasks, available);
      }
      default:
        return this.applyResourceOperation(framework, agent, role, operation, available);
    }
  }

  /**
   * RESERVE, UNRESERVE, CREATE, DESTROY, GROW_VOLUME or SHRINK_VOLUME out of a framework's offers.
   * A valid one converts the offered resources (what is left of them carries the result, so a later
   * LAUNCH in the same ACCEPT can use a new reservation or volume), the agent's total and its
   * checkpointed resources; an invalid one changes nothing and, when it has an id, is answered with
   * OPERATION_ERROR.
   */
  private applyResourceOperation(
    framework: FrameworkRecord,
    agent: AgentRecord,
    role: string,
    operation: Offer_Operation,
    available: Resources,
  ): Resources {
    const result = convertOperation(operation, {
      available,
      checkpointed: agent.checkpointed,
      used: [this.ledger.agentUsed(agent.id)],
      allocationRole: role,
      ...(framework.info.principal ? { principal: framework.info.principal } : {}),
      sharedAllowed: hasCapability(framework.info, FrameworkInfo_Capability_Type.SHARED_RESOURCES),
      refinementAllowed: hasCapability(framework.info, FrameworkInfo_Capability_Type.RESERVATION_REFINEMENT),
    });
    const name = Offer_Operation_Type[operation.type] ?? String(operation.type);
    if ('error' in result) {
      this.log.warn(
        { frameworkId: framework.id, operation: name, why: result.error },
        'offer operation refused',
      );
      this.operationStatus(framework, agent, operation, OperationState.OPERATION_ERROR, result.error);
      return available;
    }
    if (!this.allocator.updateAllocation(framework.id, agent.id, result.consumed, result.converted)) {
      const message = `Invalid ${result.kind} Operation: the allocator does not hold ${result.consumed}`;
      this.log.error({ frameworkId: framework.id, operation: name }, message);
      this.operationStatus(framework, agent, operation, OperationState.OPERATION_ERROR, message);
      return available;
    }
    this.convertAgentResources(agent, result);
    this.log.info(
      {
        frameworkId: framework.id,
        agentId: agent.id,
        operation: name,
        converted: result.converted.toString(),
      },
      'offer operation applied',
    );
    this.operationStatus(
      framework,
      agent,
      operation,
      OperationState.OPERATION_FINISHED,
      undefined,
      result.converted,
    );
    return result.available;
  }

  /** Feedback on an offer operation, for operations that carry an id (Mesos sends none otherwise). */
  private operationStatus(
    framework: FrameworkRecord,
    agent: AgentRecord,
    operation: Offer_Operation,
    state: OperationState,
    message: string | undefined,
    converted?: Resources,
  ): void {
    if (!operation.id) return;
    this.send(
      framework,
      create(EventSchema, {
        type: Event_Type.UPDATE_OPERATION_STATUS,
        updateOperationStatus: {
          status: {
            operationId: operation.id,
            state,
            ...(message !== undefined ? { message } : {}),
            ...(converted ? { convertedResources: resourcesToMessages(converted) } : {}),
            // No uuid: nothing for the framework to acknowledge (the master answers for the agent).
            agentId: { value: agent.id },
          },
        },
      }),
    );
  }

  /** Applies a valid conversion to the agent's total and checkpointed resources and tells the agent. */
  private convertAgentResources(
    agent: AgentRecord,
    conversion: { consumed: Resources; converted: Resources },
  ): void {
    agent.total = agent.total
      .unallocate()
      .subtract(conversion.consumed.unallocate())
      .add(conversion.converted.unallocate());
    agent.checkpointed = checkpointedOf(agent.total);
    this.sendCheckpointedResources(agent);
  }

  private sendCheckpointedResources(agent: AgentRecord): void {
    agent.link?.send(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.CHECKPOINT_RESOURCES,
        checkpointResources: { resources: resourcesToMessages(agent.checkpointed) },
      }),
    );
  }

  /**
   * An operator's RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES, DESTROY_VOLUMES,
   * GROW_VOLUME or SHRINK_VOLUME on an agent's unallocated resources. Offers on the agent are
   * rescinded when what the operation needs is on offer, as Mesos does. Answers 'ok', or a refusal
   * with its HTTP status (400 invalid or unknown agent, 409 not available) and nothing changed.
   */
  operatorOperation(
    agentId: string,
    operation: Offer_Operation,
  ): { ok: true; converted: Resources } | { ok: false; status: 400 | 409; message: string } {
    const agent = this.agents.get(agentId);
    if (agent?.state !== 'registered') {
      return { ok: false, status: 400, message: `No agent found with specified ID '${agentId}'` };
    }
    const convert = (): ConversionResult =>
      convertOperation(operation, {
        available: this.unallocatedOn(agent),
        checkpointed: agent.checkpointed,
        used: [this.ledger.agentUsed(agent.id)],
      });
    let result = convert();
    if ('error' in result && result.insufficient && agent.offers.size > 0) {
      for (const offerId of [...agent.offers]) this.removeOffer(offerId, { rescind: true });
      result = convert();
    }
    if ('error' in result) {
      return { ok: false, status: result.insufficient ? 409 : 400, message: result.error };
    }
    if (!this.allocator.updateAvailable(agent.id, result.consumed, result.converted)) {
      return {
        ok: false,
        status: 409,
        message: `Invalid ${result.kind} Operation: ${result.consumed} is not available`,
      };
    }
    this.convertAgentResources(agent, result);
    this.log.info(
      { agentId, operation: result.kind, converted: result.converted.toString() },
      'operator operation applied',
    );
    return { ok: true, converted: result.converted };
  }

  /** What no task, executor or offer holds on the agent. */
  private unallocatedOn(agent: AgentRecord): Resources {
    return agent.total
      .unallocate()
      .subtract(this.ledger.agentUsed(agent.id).unallocate())
      .subtract(this.ledger.agentOffered(agent.id).unallocate());
  }

  /** Fills `allocation_info` with the offer's role where the framework left it out. */
  private injectAllocation(resources: readonly Resource[], role: string): Resource[] {
    return resources.map((r) =>
      r.allocationInfo
        ? r
        : { ...r, allocationInfo: { $typeName: 'mesos.v1.Resource.AllocationInfo', role } },
    );
  }

  private validateTask(
    framework: FrameworkRecord,
    agent: AgentRecord,
    task: TaskInfo,
    group: boolean,
  ): string | undefined {
    const taskId = task.taskId?.value ?? '';
    const idReason = invalidIdReason(taskId);
    if (idReason) return `Task ID '${taskId}' is invalid: ${idReason}`;
    if (framework.tasks.has(taskId) || framework.unreachableTasks.has(taskId)) {
      return `Task has duplicate ID: ${taskId}`;
    }
    if ((task.agentId?.value ?? '') !== agent.id) {
      return `Task uses invalid agent: ${task.agentId?.value ?? ''}`;
    }
    if (!group && (task.command === undefined) === (task.executor === undefined)) {
      return 'Task should have at least one (but not both) of CommandInfo or ExecutorInfo present';
    }
    if (task.resources.length === 0) return 'Task uses no resources';
    if (task.killPolicy?.gracePeriod && task.killPolicy.gracePeriod.nanoseconds < 0n) {
      return 'Task kill policy grace period must be non-negative';
    }
    const checkProblem = taskCheckProblem(task);
    if (checkProblem) return checkProblem;
    if (task.executor) {
      const executorId = task.executor.executorId?.value ?? '';
      const reason = invalidIdReason(executorId);
      if (reason) return `Executor ID '${executorId}' is invalid: ${reason}`;
      if (task.executor.frameworkId && task.executor.frameworkId.value !== framework.id) {
        return `ExecutorInfo has an invalid FrameworkID (Actual: ${task.executor.frameworkId.value} vs Expected: ${framework.id})`;
      }
    }
    return undefined;
  }

  private launchTask(
    framework: FrameworkRecord,
    agent: AgentRecord,
    role: string,
    taskIn: TaskInfo,
    groupExecutor: ExecutorInfo | undefined,
    available: Resources,
  ): Resources {
    const reasonOnError = groupExecutor
      ? TaskStatus_Reason.TASK_GROUP_INVALID
      : TaskStatus_Reason.TASK_INVALID;
    const invalid = this.validateTask(framework, agent, taskIn, groupExecutor !== undefined);
    if (invalid) {
      this.sendUpdate(framework, this.statusFor(taskIn, TaskState.TASK_ERROR, reasonOnError, invalid));
      return available;
    }
    const task: TaskInfo = { ...taskIn, resources: this.injectAllocation(taskIn.resources, role) };
    let taskResources: Resources;
    let executorResources = Resources.EMPTY;
    let newExecutor: ExecutorInfo | undefined;
    try {
      taskResources = resourcesFromMessages(task.resources);
      const executor = groupExecutor ?? task.executor;
      if (executor) {
        const executorId = executor.executorId?.value ?? '';
        const existing = framework.executors.get(agent.id)?.get(executorId);
        if (!existing) {
          const withRole = { ...executor, resources: this.injectAllocation(executor.resources, role) };
          newExecutor = withRole;
          executorResources = resourcesFromMessages(withRole.resources);
          if (!groupExecutor) task.executor = withRole;
        }
      }
    } catch (err) {
      this.sendUpdate(
        framework,
        this.statusFor(task, TaskState.TASK_ERROR, reasonOnError, (err as Error).message),
      );
      return available;
    }
    const needed = taskResources.add(executorResources);
    if (!available.contains(needed)) {
      this.sendUpdate(
        framework,
        this.statusFor(
          task,
          TaskState.TASK_ERROR,
          reasonOnError,
          `Task uses more resources ${needed.toString()} than available ${available.toString()}`,
        ),
      );
      return available;
    }
    if (newExecutor) {
      const executorId = newExecutor.executorId?.value ?? '';
      let onAgent = framework.executors.get(agent.id);
      if (!onAgent) {
        onAgent = new Map();
        framework.executors.set(agent.id, onAgent);
      }
      onAgent.set(executorId, { info: newExecutor, resources: executorResources });
      this.ledger.use(framework.id, agent.id, executorResources);
    }
    const record = this.addTask(framework, agent, task, taskResources, groupExecutor);
    this.counters.tasksLaunched++;
    if (!groupExecutor) {
      agent.link?.send(
        create(MasterToAgentSchema, {
          type: MasterToAgent_Type.RUN_TASK,
          runTask: { frameworkInfo: framework.info, task },
        }),
      );
    }
    void record;
    return available.subtract(needed);
  }

  private launchGroup(
    framework: FrameworkRecord,
    agent: AgentRecord,
    role: string,
    executorIn: ExecutorInfo,
    tasksIn: readonly TaskInfo[],
    available: Resources,
  ): Resources {
    const groupError = (message: string) => {
      for (const task of tasksIn) {
        this.sendUpdate(
          framework,
          this.statusFor(task, TaskState.TASK_ERROR, TaskStatus_Reason.TASK_GROUP_INVALID, message),
        );
      }
      return available;
    };
    if (executorIn.type === ExecutorInfo_Type.UNKNOWN) return groupError("'ExecutorInfo.type' must be set");
    if (executorIn.type === ExecutorInfo_Type.DEFAULT && executorIn.command) {
      return groupError("'ExecutorInfo.command' must not be set for 'DEFAULT' executor");
    }
    if (tasksIn.length === 0) return groupError('Task group is empty');
    const executor = {
      ...executorIn,
      frameworkId: { $typeName: 'mesos.v1.FrameworkID' as const, value: framework.id },
    };
    const tasks = tasksIn.map((t) => ({ ...t, executor: t.executor ?? executor }));
    const ids = new Set<string>();
    for (const task of tasks) {
      const reason = this.validateTask(framework, agent, task, true);
      if (reason) return groupError(reason);
      const id = task.taskId?.value ?? '';
      if (ids.has(id)) return groupError(`Task has duplicate ID: ${id}`);
      ids.add(id);
    }
    // The group is atomic: check the resources of all its tasks (and a new executor) together, so
    // every task of a refused group hears why, and no task is launched alone.
    let needed = Resources.EMPTY;
    try {
      for (const task of tasks)
        needed = needed.add(resourcesFromMessages(this.injectAllocation(task.resources, role)));
      const executorId = executor.executorId?.value ?? '';
      if (!framework.executors.get(agent.id)?.has(executorId)) {
        needed = needed.add(resourcesFromMessages(this.injectAllocation(executor.resources, role)));
      }
    } catch (err) {
      return groupError((err as Error).message);
    }
    if (!available.contains(needed)) {
      return groupError(
        `Task group uses more resources ${needed.toString()} than available ${available.toString()}`,
      );
    }
    let remaining = available;
    const launched: TaskInfo[] = [];
    for (const task of tasks) {
      const before = remaining;
      remaining = this.launchTask(framework, agent, role, task, executor, remaining);
      if (remaining === before) {
        // A task of the group failed validation: the group is atomic, so undo the ones before it.
        for (const done of launched) this.dropLaunchedTask(framework, agent, done);
        return available;
      }
      launched.push({ ...task, resources: this.injectAllocation(task.resources, role) });
    }
    const executorWithRole =
      framework.executors.get(agent.id)?.get(executor.executorId?.value ?? '')?.info ?? executor;
    agent.link?.send(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.RUN_TASK_GROUP,
        runTaskGroup: {
          frameworkInfo: framework.info,
          executor: executorWithRole,
          taskGroup: { tasks: launched.map((t) => ({ ...t, executor: undefined })) },
        },
      }),
    );
    return remaining;
  }

  private dropLaunchedTask(framework: FrameworkRecord, agent: AgentRecord, task: TaskInfo): void {
    const taskId = task.taskId?.value ?? '';
    const record = framework.tasks.get(taskId);
    if (!record) return;
    framework.tasks.delete(taskId);
    agent.tasks.get(framework.id)?.delete(taskId);
    if (!record.released) this.ledger.release(framework.id, agent.id, record.resources);
    this.counters.tasksLaunched--;
  }

  private addTask(
    framework: FrameworkRecord,
    agent: AgentRecord,
    info: TaskInfo,
    resources: Resources,
    groupExecutor: ExecutorInfo | undefined,
  ): TaskRecord {
    const taskId = info.taskId?.value ?? '';
    const executorId = groupExecutor?.executorId ?? info.executor?.executorId;
    const task = create(TaskSchema, {
      name: info.name,
      taskId: info.taskId,
      frameworkId: { value: framework.id },
      agentId: { value: agent.id },
      state: TaskState.TASK_STAGING,
      resources: info.resources,
      labels: info.labels,
      discovery: info.discovery,
      container: info.container,
      healthCheck: info.healthCheck,
      killPolicy: info.killPolicy,
      user: info.command?.user || framework.info.user,
      limits: info.limits,
      ...(executorId ? { executorId } : {}),
    });
    const record: TaskRecord = { task, resources, released: false };
    framework.tasks.set(taskId, record);
    this.ledger.use(framework.id, agent.id, resources);
    let onAgent = agent.tasks.get(framework.id);
    if (!onAgent) {
      onAgent = new Set();
      agent.tasks.set(framework.id, onAgent);
    }
    onAgent.add(taskId);
    this.countState(TaskState.TASK_STAGING);
    this.events.emit({ kind: 'task-added', task });
    return record;
  }

  kill(
    framework: FrameworkRecord,
    taskId: string,
    agentId: string | undefined,
    killPolicy?: Task['killPolicy'],
  ): void {
    const record = framework.tasks.get(taskId);
    if (!record) {
      this.reconcile(framework, [
        {
          $typeName: 'mesos.v1.scheduler.Call.Reconcile.Task',
          taskId: { $typeName: 'mesos.v1.TaskID', value: taskId },
          ...(agentId ? { agentId: { $typeName: 'mesos.v1.AgentID', value: agentId } } : {}),
        },
      ]);
      return;
    }
    const taskAgent = record.task.agentId?.value ?? '';
    if (agentId !== undefined && agentId !== taskAgent) return;
    const agent = this.agents.get(taskAgent);
    if (!agent) return;
    const message = create(MasterToAgentSchema, {
      type: MasterToAgent_Type.KILL_TASK,
      killTask: {
        frameworkId: { value: framework.id },
        taskId: { value: taskId },
        ...(killPolicy ? { killPolicy } : {}),
      },
    });
    // A kill for a disconnected agent is replayed when it re-registers.
    if (agent.link) agent.link.send(message);
    else agent.pendingKills.set(`${framework.id}\u0000${taskId}`, message);
  }

  /**
   * RECONCILE_OPERATIONS: this master tracks no operations with feedback yet, so every listed
   * operation is answered from what is known of its agent (reference section 5.8).
   */
  reconcileOperations(
    framework: FrameworkRecord,
    operations: ReadonlyArray<{ operationId?: { value: string }; agentId?: { value: string } }>,
  ): void {
    for (const operation of operations) {
      const agentId = operation.agentId?.value;
      const agent = agentId === undefined ? undefined : this.agents.get(agentId);
      const state =
        agentId !== undefined && this.recoveredAgents.has(agentId)
          ? OperationState.OPERATION_RECOVERING
          : agent?.state === 'unreachable'
            ? OperationState.OPERATION_UNREACHABLE
            : OperationState.OPERATION_UNKNOWN;
      this.send(
        framework,
        create(EventSchema, {
          type: Event_Type.UPDATE_OPERATION_STATUS,
          updateOperationStatus: {
            status: {
              state,
              ...(operation.operationId ? { operationId: { value: operation.operationId.value } } : {}),
              ...(agentId !== undefined ? { agentId: { value: agentId } } : {}),
            },
          },
        }),
      );
    }
  }

  shutdownExecutor(framework: FrameworkRecord, agentId: string, executorId: string): void {
    this.agents.get(agentId)?.link?.send(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.SHUTDOWN_EXECUTOR,
        shutdownExecutor: { frameworkId: { value: framework.id }, executorId: { value: executorId } },
      }),
    );
  }

  acknowledge(framework: FrameworkRecord, agentId: string, taskId: string, uuid: Uint8Array): void {
    const agent = this.agents.get(agentId);
    if (!agent?.link) return;
    const record = framework.tasks.get(taskId);
    agent.link.send(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.ACKNOWLEDGE,
        acknowledge: { frameworkId: { value: framework.id }, taskId: { value: taskId }, uuid },
      }),
    );
    if (!record) return;
    const pending = record.task.statusUpdateUuid;
    if (pending.length === UUID_BYTES && Buffer.from(pending).equals(Buffer.from(uuid))) {
      const acknowledgedState = record.task.statusUpdateState;
      record.task.statusUpdateUuid = new Uint8Array();
      this.timers.updateAcknowledged(record);
      if (acknowledgedState !== undefined && isTerminalState(acknowledgedState)) {
        this.releaseTask(framework, record);
        framework.tasks.delete(taskId);
        this.detachTaskFromAgent(record.task);
        this.pushCompleted(framework, record.task);
      }
    }
  }

  message(framework: FrameworkRecord, agentId: string, executorId: string, data: Uint8Array): void {
    this.agents.get(agentId)?.link?.send(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.FRAMEWORK_TO_EXECUTOR,
        frameworkToExecutor: {
          frameworkId: { value: framework.id },
          executorId: { value: executorId },
          data,
        },
      }),
    );
  }

  /** RECONCILE (reference section 2.8); answers go out as UPDATE events without uuid. */
  reconcile(framework: FrameworkRecord, tasks: readonly Call_Reconcile_Task[]): void {
    if (tasks.length === 0) {
      for (const record of framework.tasks.values()) {
        this.sendUpdate(framework, this.reconciliationStatus(record.task));
      }
      return;
    }
    for (const wanted of tasks) {
      const taskId = wanted.taskId?.value ?? '';
      const agentId = wanted.agentId?.value;
      const known = framework.tasks.get(taskId);
      if (known) {
        this.sendUpdate(framework, this.reconciliationStatus(known.task));
        continue;
      }
      // The agent may still come back with the task: no answer yet, the scheduler retries.
      if (agentId !== undefined ? this.recoveredAgents.has(agentId) : this.recoveredAgents.size > 0) continue;
      const unreachable = framework.unreachableTasks.get(taskId);
      const agent = agentId === undefined ? undefined : this.agents.get(agentId);
      const status = (
        state: TaskState,
        message: string,
        extra: { unreachableTime?: { nanoseconds: bigint } } = {},
      ) =>
        create(TaskStatusSchema, {
          taskId: { value: taskId },
          state: stateForFramework(framework.info, state),
          source: TaskStatus_Source.MASTER,
          reason: TaskStatus_Reason.RECONCILIATION,
          message,
          timestamp: nowSeconds(this.clock),
          ...(agentId ? { agentId: { value: agentId } } : {}),
          ...extra,
        });
      if (unreachable || agent?.state === 'unreachable') {
        const since = unreachable ? undefined : agent?.unreachableTime;
        this.sendUpdate(
          framework,
          status(TaskState.TASK_UNREACHABLE, 'Reconciliation: Task is unreachable', {
            ...(since !== undefined ? { unreachableTime: { nanoseconds: BigInt(since) * 1_000_000n } } : {}),
          }),
        );
      } else if (agent) {
        this.sendUpdate(
          framework,
          status(TaskState.TASK_GONE, 'Reconciliation: Task is unknown to the agent'),
        );
      } else {
        this.sendUpdate(framework, status(TaskState.TASK_UNKNOWN, 'Reconciliation: Task is unknown'));
      }
    }
  }

  private reconciliationStatus(task: Task): TaskStatus {
    const latest = task.statuses[task.statuses.length - 1];
    const state = task.statusUpdateState ?? task.state;
    return create(TaskStatusSchema, {
      taskId: task.taskId,
      state,
      source: TaskStatus_Source.MASTER,
      reason: TaskStatus_Reason.RECONCILIATION,
      message: 'Reconciliation: Latest task state',
      agentId: task.agentId,
      timestamp: nowSeconds(this.clock),
      ...(task.executorId ? { executorId: task.executorId } : {}),
      ...(latest?.healthy !== undefined && Object.hasOwn(latest, 'healthy')
        ? { healthy: latest.healthy }
        : {}),
      ...(latest?.checkStatus ? { checkStatus: latest.checkStatus } : {}),
      ...(latest?.containerStatus ? { containerStatus: latest.containerStatus } : {}),
    });
  }

  // ------------------------------------------------------------------ status updates

  private statusFor(
    task: TaskInfo,
    state: TaskState,
    reason: TaskStatus_Reason,
    message: string,
  ): TaskStatus {
    return create(TaskStatusSchema, {
      taskId: task.taskId,
      state,
      source: TaskStatus_Source.MASTER,
      reason,
      message,
      timestamp: nowSeconds(this.clock),
      ...(task.agentId ? { agentId: task.agentId } : {}),
    });
  }

  private masterStatus(task: Task, state: TaskState, reason: TaskStatus_Reason, message: string): TaskStatus {
    return create(TaskStatusSchema, {
      taskId: task.taskId,
      state,
      source: TaskStatus_Source.MASTER,
      reason,
      message,
      timestamp: nowSeconds(this.clock),
      agentId: task.agentId,
      ...(task.executorId ? { executorId: task.executorId } : {}),
    });
  }

  /** Sends an UPDATE, translating partition-aware states for frameworks that don't know them. */
  private sendUpdate(framework: FrameworkRecord, status: TaskStatus): void {
    const forFramework =
      stateForFramework(framework.info, status.state) === status.state
        ? status
        : { ...status, state: stateForFramework(framework.info, status.state) };
    this.send(framework, create(EventSchema, { type: Event_Type.UPDATE, update: { status: forFramework } }));
  }

  /** Records a new state on a task (keeping the latest status per state, data dropped). */
  private applyState(record: TaskRecord, status: TaskStatus, received: TaskStatus = status): void {
    const previous = record.task.state;
    record.task.state = status.state;
    const stored = { ...status, data: new Uint8Array() };
    const index = record.task.statuses.findIndex((s) => s.state === status.state);
    if (index >= 0) record.task.statuses.splice(index, 1);
    record.task.statuses.push(stored);
    if (previous !== status.state) this.countState(status.state);
    this.events.emit({ kind: 'task-updated', task: record.task, status: received, previousState: previous });
  }

  private countState(state: TaskState): void {
    this.counters.tasksByState.set(state, (this.counters.tasksByState.get(state) ?? 0) + 1);
  }

  /** A status update from an agent: record it, release resources if terminal, forward it. */
  private statusUpdateFromAgent(agent: AgentRecord, update: StatusUpdate): void {
    const frameworkId = update.frameworkId?.value ?? '';
    const status = update.status;
    if (!status) return;
    const framework = this.frameworks.get(frameworkId);
    if (!framework) {
      this.counters.invalidStatusUpdates++;
      return;
    }
    this.counters.validStatusUpdates++;
    const taskId = status.taskId?.value ?? '';
    const record = framework.tasks.get(taskId);
    if (record) {
      const latest = update.latestState ?? status.state;
      this.applyState(record, { ...status, state: latest }, status);
      if (status.uuid.length > 0) {
        this.timers.updateForwarded(record, status.uuid);
        record.task.statusUpdateState = status.state;
        record.task.statusUpdateUuid = status.uuid;
      }
      if (isTerminalState(latest)) this.releaseTask(framework, record);
      if (status.uuid.length === 0 && isTerminalState(status.state)) {
        framework.tasks.delete(taskId);
        this.detachTaskFromAgent(record.task);
        this.pushCompleted(framework, record.task);
      }
    }
    this.sendUpdate(framework, { ...status, agentId: { $typeName: 'mesos.v1.AgentID', value: agent.id } });
  }

  private releaseTask(framework: FrameworkRecord, record: TaskRecord): void {
    if (record.released) return;
    record.released = true;
    const agentId = record.task.agentId?.value ?? '';
    this.ledger.release(framework.id, agentId, record.resources);
    if (this.agents.get(agentId)?.state === 'registered')
      this.recover(framework.id, agentId, record.resources, 0);
  }

  private detachTaskFromAgent(task: Task): void {
    const agent = this.agents.get(task.agentId?.value ?? '');
    const frameworkId = task.frameworkId?.value ?? '';
    const onAgent = agent?.tasks.get(frameworkId);
    onAgent?.delete(task.taskId?.value ?? '');
    if (onAgent && onAgent.size === 0) agent?.tasks.delete(frameworkId);
  }

  private pushCompleted(framework: FrameworkRecord, task: Task): void {
    framework.completedTasks.push(task);
    if (framework.completedTasks.length > this.config.maxCompletedTasksPerFramework)
      framework.completedTasks.shift();
  }

  // ------------------------------------------------------------------ offers

  private recover(frameworkId: string, agentId: string, resources: Resources, refuseSeconds: number): void {
    if (resources.isEmpty()) return;
    this.allocator.recoverResources(frameworkId, agentId, resources, refuseSeconds, this.clock.now());
  }

  private removeOffer(offerId: string, how: { rescind: boolean; refuseSeconds?: number }): void {
    const offer = this.offers.get(offerId);
    if (!offer) return;
    offer.timer?.cancel();
    this.offers.delete(offerId);
    const framework = this.frameworks.get(offer.frameworkId);
    framework?.offers.delete(offerId);
    this.agents.get(offer.agentId)?.offers.delete(offerId);
    this.ledger.unoffer(offer.frameworkId, offer.agentId, offer.resources);
    this.recover(offer.frameworkId, offer.agentId, offer.resources, how.refuseSeconds ?? 0);
    if (how.rescind && framework) {
      this.counters.offersRescinded++;
      this.send(
        framework,
        create(EventSchema, { type: Event_Type.RESCIND, rescind: { offerId: { value: offerId } } }),
      );
    }
  }

  /** One allocation cycle: turns the allocator's decisions into OFFERS events. */
  allocate(): void {
    const started = this.timers.allocationRun.now();
    const allocations = this.allocator.allocate(this.clock.now());
    const byFramework = new Map<string, Offer[]>();
    for (const allocation of allocations) {
      const offer = this.makeOffer(allocation);
      if (!offer) continue;
      let list = byFramework.get(allocation.frameworkId);
      if (!list) {
        list = [];
        byFramework.set(allocation.frameworkId, list);
      }
      list.push(offer);
    }
    for (const [frameworkId, offers] of byFramework) {
      const framework = this.frameworks.get(frameworkId)!;
      this.counters.offersSent += offers.length;
      this.send(framework, create(EventSchema, { type: Event_Type.OFFERS, offers: { offers } }));
    }
    this.maintenance.tick();
    this.timers.allocationRun.observeSince(started);
  }

  private makeOffer(allocation: Allocation): Offer | undefined {
    const framework = this.frameworks.get(allocation.frameworkId);
    const agent = this.agents.get(allocation.agentId);
    if (
      !framework?.stream ||
      !framework.active ||
      !agent?.link ||
      agent.state !== 'registered' ||
      agent.deactivated
    ) {
      this.recover(allocation.frameworkId, allocation.agentId, allocation.resources, 0);
      return undefined;
    }
    const id = this.ids.offerId();
    const record: OfferRecord = {
      id,
      frameworkId: framework.id,
      agentId: agent.id,
      role: allocation.role,
      resources: allocation.resources,
      timer: undefined,
      sentAt: this.timers.now(),
    };
    this.offers.set(id, record);
    framework.offers.add(id);
    agent.offers.add(id);
    this.ledger.offer(framework.id, agent.id, allocation.resources);
    if (this.config.offerTimeoutMs !== undefined) {
      record.timer = this.clock.setTimeout(() => {
        this.log.info({ offerId: id }, 'offer timed out');
        this.removeOffer(id, { rescind: true });
      }, this.config.offerTimeoutMs);
    }
    const multiRole = hasCapability(framework.info, FrameworkInfo_Capability_Type.MULTI_ROLE);
    const refinement = hasCapability(framework.info, FrameworkInfo_Capability_Type.RESERVATION_REFINEMENT);
    const offered = multiRole ? allocation.resources : allocation.resources.unallocate();
    const executorIds = [...(framework.executors.get(agent.id)?.keys() ?? [])].map((value) => ({ value }));
    const [host, portText] = agent.pid.slice(agent.pid.indexOf('@') + 1).split(':');
    const unavailability = this.maintenance.offerUnavailability(agent);
    return create(OfferSchema, {
      id: { value: id },
      frameworkId: { value: framework.id },
      agentId: { value: agent.id },
      hostname: agent.info.hostname,
      url: {
        scheme: 'http',
        address: { hostname: agent.info.hostname, ip: host ?? '', port: Number(portText) },
        path: '/slave(1)',
      },
      resources: resourcesToMessages(offered, refinement ? 'post-refinement' : 'pre-refinement'),
      attributes: agent.info.attributes as Attribute[],
      executorIds,
      ...(multiRole ? { allocationInfo: { role: allocation.role } } : {}),
      ...(agent.info.domain ? { domain: agent.info.domain } : {}),
      ...(unavailability ? { unavailability } : {}),
    });
  }

  // ------------------------------------------------------------------ agents

  /** A new strata-link/1 connection: the first message must be REGISTER or REREGISTER. */
  agentLinked(link: AgentLink): void {
    let agent: AgentRecord | undefined;
    link.attach({
      onMessage: (message: AgentToMaster) => {
        this.counters.agentMessages++;
        const byType = this.counters.agentMessagesByType;
        byType.set(message.type, (byType.get(message.type) ?? 0) + 1);
        if (!agent) {
          agent = this.registration(link, message);
          return;
        }
        this.agentMessage(agent, message);
      },
      onClose: (reason) => {
        if (agent && agent.link === link) this.agentDisconnected(agent, reason);
      },
    });
  }

  private refuse(link: AgentLink, message: string): undefined {
    link.send(create(MasterToAgentSchema, { type: MasterToAgent_Type.REFUSED, refused: { message } }));
    link.close(message);
    return undefined;
  }

  private registration(link: AgentLink, message: AgentToMaster): AgentRecord | undefined {
    if (message.type === AgentToMaster_Type.REGISTER && message.register) {
      return this.registerAgent(link, message.register);
    }
    if (message.type === AgentToMaster_Type.REREGISTER && message.reregister) {
      return this.reregisterAgent(link, message.reregister);
    }
    return this.refuse(link, 'The first message on a link must be REGISTER or REREGISTER');
  }

  private registerAgent(link: AgentLink, register: RegisterAgent): AgentRecord | undefined {
    const info = register.agentInfo;
    if (!info) return this.refuse(link, 'REGISTER without agent_info');
    const down = this.maintenance.registrationRefusal(info.hostname, register.pid);
    if (down !== undefined) return this.refuse(link, down);
    const resources = this.agentResources(info, register.checkpointedResources);
    if ('error' in resources) return this.refuse(link, resources.error);
    const { total } = resources;
    const samePid = this.agentsByPid.get(register.pid);
    if (samePid) {
      const existing = this.agents.get(samePid);
      if (existing?.link && !existing.link.closed) existing.link.close('replaced by a new registration');
      // An agent that registers anew where another one was has started over (Mesos: after a host
      // reboot it is a new agent): the old one is removed and its tasks are gone.
      if (existing?.state === 'registered')
        this.removeAgent(existing, 'a new agent registered at the same address');
      else if (existing) this.removeAgentCompletely(existing);
    }
    const id = this.ids.agentId();
    info.id = { $typeName: 'mesos.v1.AgentID', value: id };
    const agent = this.newAgentRecord(
      id,
      info,
      register.pid,
      register.version,
      register.capabilities.map((c) => c.type),
      resources,
      link,
    );
    this.agents.set(id, agent);
    this.agentsByPid.set(register.pid, id);
    this.counters.agentsRegistered++;
    this.persist({ type: 'admit-agent', agent: { id, hostname: info.hostname, pid: register.pid } });
    this.log.info({ agentId: id, pid: register.pid, resources: total.toString() }, 'agent registered');
    link.send(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.REGISTERED,
        registered: {
          agentId: { value: id },
          masterInfo: this.masterInfo,
          pingTimeoutSeconds: (this.config.agentPingTimeoutMs * this.config.maxAgentPingTimeouts) / 1000,
        },
      }),
    );
    this.allocator.addAgent(id, { hostname: info.hostname, total }, new Map());
    this.startPinging(agent);
    this.events.emit({ kind: 'agent-added', agent });
    return agent;
  }

  /** An agent's resources as it registers: `--resources`, checkpointed, and the total of both. */
  private agentResources(
    info: AgentInfo,
    checkpointedMessages: readonly Resource[],
  ): AgentResources | { error: string } {
    try {
      const flagResources = resourcesFromMessages(info.resources);
      const checkpointed = resourcesFromMessages(checkpointedMessages).unallocate();
      return { flagResources, checkpointed, total: applyCheckpointed(flagResources, checkpointed) };
    } catch (err) {
      return { error: `Agent resources are invalid: ${(err as Error).message}` };
    }
  }

  private newAgentRecord(
    id: string,
    info: AgentInfo,
    pid: string,
    version: string,
    capabilities: number[],
    resources: AgentResources,
    link: AgentLink,
  ): AgentRecord {
    return {
      id,
      info,
      pid,
      version,
      capabilities,
      flagResources: resources.flagResources,
      checkpointed: resources.checkpointed,
      total: resources.total,
      link,
      state: 'registered',
      registeredTime: this.clock.now(),
      reregisteredTime: undefined,
      unreachableTime: undefined,
      offers: new Set(),
      tasks: new Map(),
      pingSequence: 0n,
      lastPongSequence: 0n,
      missedPings: 0,
      pinger: undefined,
      disconnectTimer: undefined,
      pendingKills: new Map(),
    };
  }

  private reregisterAgent(link: AgentLink, reregister: ReregisterAgent): AgentRecord | undefined {
    const info = reregister.agentInfo;
    const id = info?.id?.value ?? '';
    if (!info || id === '') return this.refuse(link, 'REREGISTER without agent_info.id');
    if (this.goneAgents.has(id)) return this.refuse(link, 'Agent has been marked gone');
    const down = this.maintenance.registrationRefusal(info.hostname, reregister.pid);
    if (down !== undefined) return this.refuse(link, down);
    const fromAgent = this.agentResources(info, reregister.checkpointedResources);
    if ('error' in fromAgent) return this.refuse(link, fromAgent.error);
    let agent = this.agents.get(id);
    // A master that knows the agent keeps its view of reservations and volumes (the agent may have
    // missed a CHECKPOINT_RESOURCES while away); a restarted master learns them from the agent.
    let resources = fromAgent;
    if (agent && !agent.checkpointed.equals(fromAgent.checkpointed)) {
      try {
        resources = {
          flagResources: fromAgent.flagResources,
          checkpointed: agent.checkpointed,
          total: applyCheckpointed(fromAgent.flagResources, agent.checkpointed),
        };
      } catch (err) {
        this.log.warn(
          { agentId: id, err: (err as Error).message },
          "the master's checkpointed resources no longer fit the agent; taking the agent's",
        );
      }
    }
    const { total } = resources;
    const wasUnreachable = agent?.state === 'unreachable';
    // Disconnected agents stay in the allocator (deactivated); unreachable ones were removed.
    const allocatorKnowsAgent = agent !== undefined && !wasUnreachable;
    const totalChanged = agent !== undefined && !agent.total.equals(total);
    if (agent) {
      if (agent.link && agent.link !== link && !agent.link.closed)
        agent.link.close('replaced by a re-registration');
      agent.disconnectTimer?.cancel();
      agent.disconnectTimer = undefined;
      agent.link = link;
      agent.info = info;
      agent.pid = reregister.pid;
      agent.version = reregister.version;
      agent.capabilities = reregister.capabilities.map((c) => c.type);
      agent.reregisteredTime = this.clock.now();
      agent.missedPings = 0;
      agent.flagResources = resources.flagResources;
      agent.checkpointed = resources.checkpointed;
      agent.total = total;
      agent.state = 'registered';
      agent.unreachableTime = undefined;
    } else {
      agent = this.newAgentRecord(
        id,
        info,
        reregister.pid,
        reregister.version,
        reregister.capabilities.map((c) => c.type),
        resources,
        link,
      );
      agent.reregisteredTime = this.clock.now();
      this.agents.set(id, agent);
    }
    this.agentsByPid.set(reregister.pid, id);
    this.counters.agentsReregistered++;
    this.recoveredAgents.delete(id);
    this.persist({ type: 'mark-reachable', agent: { id, hostname: info.hostname, pid: reregister.pid } });
    const registered = agent;

    // Frameworks the agent knows but we don't (master restarted): recovered until they subscribe.
    for (const frameworkInfo of reregister.frameworks) {
      const frameworkId = frameworkInfo.id?.value ?? '';
      if (frameworkId === '') continue;
      if (this.completedFrameworks.has(frameworkId)) {
        link.send(
          create(MasterToAgentSchema, {
            type: MasterToAgent_Type.SHUTDOWN_FRAMEWORK,
            shutdownFramework: { frameworkId: { value: frameworkId } },
          }),
        );
        continue;
      }
      if (!this.frameworks.has(frameworkId)) this.addRecoveredFramework(frameworkInfo);
    }
    for (const executor of reregister.executorInfos) {
      const framework = this.frameworks.get(executor.frameworkId?.value ?? '');
      const executorId = executor.executorId?.value ?? '';
      if (!framework || executorId === '') continue;
      let onAgent = framework.executors.get(id);
      if (!onAgent) {
        onAgent = new Map();
        framework.executors.set(id, onAgent);
      }
      if (!onAgent.has(executorId)) {
        const resources = resourcesFromMessages(executor.resources, { invalid: 'skip' });
        onAgent.set(executorId, { info: executor, resources });
        this.ledger.use(framework.id, id, resources);
      }
    }
    const reported = new Set<string>();
    const used = new Map<string, Resources>();
    for (const task of reregister.tasks) {
      const frameworkId = task.frameworkId?.value ?? '';
      const taskId = task.taskId?.value ?? '';
      const framework = this.frameworks.get(frameworkId);
      if (!framework) continue;
      reported.add(`${frameworkId}\u0000${taskId}`);
      let record = framework.tasks.get(taskId);
      const unreachableTask = framework.unreachableTasks.get(taskId);
      if (!record) {
        const resources = resourcesFromMessages(task.resources, { invalid: 'skip' });
        record = { task: create(TaskSchema, task), resources, released: isTerminalState(task.state) };
        framework.tasks.set(taskId, record);
        if (!record.released) this.ledger.use(frameworkId, id, resources);
        let onAgent = registered.tasks.get(frameworkId);
        if (!onAgent) {
          onAgent = new Set();
          registered.tasks.set(frameworkId, onAgent);
        }
        onAgent.add(taskId);
        this.events.emit({ kind: 'task-added', task: record.task });
      }
      if (!record.released)
        used.set(frameworkId, (used.get(frameworkId) ?? Resources.EMPTY).add(record.resources));
      if (unreachableTask) {
        framework.unreachableTasks.delete(taskId);
        record.task.state = task.state;
        if (isPartitionAware(framework.info)) {
          this.sendUpdate(
            framework,
            this.masterStatus(
              record.task,
              task.state,
              TaskStatus_Reason.AGENT_REREGISTERED,
              'Agent re-registered',
            ),
          );
        }
      }
    }
    for (const [frameworkId, executors] of this.executorsOnAgent(id)) {
      for (const executor of executors) {
        used.set(frameworkId, (used.get(frameworkId) ?? Resources.EMPTY).add(executor.resources));
      }
    }
    // Tasks we believed were there but the agent did not report are gone.
    for (const [frameworkId, taskIds] of registered.tasks) {
      const framework = this.frameworks.get(frameworkId);
      if (!framework) continue;
      for (const taskId of [...taskIds]) {
        if (reported.has(`${frameworkId}\u0000${taskId}`)) continue;
        const record = framework.tasks.get(taskId);
        if (!record) continue;
        const state = isPartitionAware(framework.info) ? TaskState.TASK_DROPPED : TaskState.TASK_LOST;
        const status = this.masterStatus(
          record.task,
          state,
          TaskStatus_Reason.RECONCILIATION,
          'Task is unknown to the agent',
        );
        this.applyState(record, status);
        if (!record.released) this.ledger.release(frameworkId, id, record.resources);
        framework.tasks.delete(taskId);
        taskIds.delete(taskId);
        this.pushCompleted(framework, record.task);
        this.sendUpdate(framework, status);
      }
    }
    if (!allocatorKnowsAgent) {
      this.allocator.addAgent(id, { hostname: info.hostname, total }, used);
      this.events.emit({ kind: 'agent-added', agent: registered });
    } else {
      if (totalChanged) this.allocator.updateAgent(id, total);
      this.allocator.activateAgent(id);
    }
    this.maintenance.agentReregistered(registered);
    this.log.info({ agentId: id, tasks: reregister.tasks.length }, 'agent re-registered');
    link.send(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.REREGISTERED,
        registered: {
          agentId: { value: id },
          masterInfo: this.masterInfo,
          pingTimeoutSeconds: (this.config.agentPingTimeoutMs * this.config.maxAgentPingTimeouts) / 1000,
        },
      }),
    );
    if (resources !== fromAgent) this.sendCheckpointedResources(registered);
    for (const kill of registered.pendingKills.values()) link.send(kill);
    registered.pendingKills.clear();
    this.startPinging(registered);
    return registered;
  }

  private *executorsOnAgent(agentId: string): Generator<[string, ExecutorRecord[]]> {
    for (const framework of this.frameworks.values()) {
      const executors = framework.executors.get(agentId);
      if (executors) yield [framework.id, [...executors.values()]];
    }
  }

  private addRecoveredFramework(info: FrameworkInfo): void {
    const id = info.id?.value ?? '';
    const framework: FrameworkRecord = {
      id,
      info: create(FrameworkInfoSchema, info),
      stream: undefined,
      heartbeat: undefined,
      failoverTimer: undefined,
      active: false,
      recovered: true,
      suppressedRoles: new Set(),
      registeredTime: this.clock.now(),
      reregisteredTime: undefined,
      unregisteredTime: undefined,
      tasks: new Map(),
      completedTasks: [],
      unreachableTasks: new Map(),
      offers: new Set(),
      executors: new Map(),
    };
    this.frameworks.set(id, framework);
    this.allocator.addFramework(id, this.frameworkSpec(framework), new Map(), false);
    this.events.emit({ kind: 'framework-added', framework });
  }

  private agentMessage(agent: AgentRecord, message: AgentToMaster): void {
    switch (message.type) {
      case AgentToMaster_Type.PONG:
        if (message.pong) agent.lastPongSequence = message.pong.sequence;
        agent.missedPings = 0;
        return;
      case AgentToMaster_Type.STATUS_UPDATE:
        if (message.statusUpdate) this.statusUpdateFromAgent(agent, message.statusUpdate);
        return;
      case AgentToMaster_Type.EXECUTOR_EXITED: {
        const exited = message.executorExited;
        if (!exited) return;
        const framework = this.frameworks.get(exited.frameworkId?.value ?? '');
        const executorId = exited.executorId?.value ?? '';
        if (!framework) return;
        const executors = framework.executors.get(agent.id);
        const executor = executors?.get(executorId);
        if (executor) {
          this.ledger.release(framework.id, agent.id, executor.resources);
          executors!.delete(executorId);
          if (executors!.size === 0) framework.executors.delete(agent.id);
          this.recover(framework.id, agent.id, executor.resources, 0);
        }
        this.send(
          framework,
          create(EventSchema, {
            type: Event_Type.FAILURE,
            failure: {
              agentId: { value: agent.id },
              executorId: { value: executorId },
              status: exited.status,
            },
          }),
        );
        return;
      }
      case AgentToMaster_Type.EXECUTOR_TO_FRAMEWORK: {
        const m = message.executorToFramework;
        const framework = m ? this.frameworks.get(m.frameworkId?.value ?? '') : undefined;
        if (!m || !framework) return;
        this.send(
          framework,
          create(EventSchema, {
            type: Event_Type.MESSAGE,
            message: { agentId: { value: agent.id }, executorId: m.executorId, data: m.data },
          }),
        );
        return;
      }
      case AgentToMaster_Type.UNREGISTER:
        this.log.info({ agentId: agent.id }, 'agent unregistered (graceful shutdown)');
        this.markUnreachable(agent, 'Agent shut down');
        this.removeAgentCompletely(agent);
        return;
      default:
        this.log.warn({ agentId: agent.id, type: message.type }, 'unexpected message from agent');
    }
  }

  private startPinging(agent: AgentRecord): void {
    agent.pinger?.cancel();
    agent.missedPings = 0;
    agent.pinger = this.clock.setInterval(() => {
      if (!agent.link || agent.link.closed) return;
      if (agent.pingSequence > agent.lastPongSequence) {
        agent.missedPings++;
        if (agent.missedPings >= this.config.maxAgentPingTimeouts) {
          this.log.warn({ agentId: agent.id, missed: agent.missedPings }, 'agent missed too many pings');
          const link = agent.link;
          this.markUnreachable(agent, 'Agent missed too many pings');
          link.close('ping timeout');
          return;
        }
      }
      agent.pingSequence++;
      agent.link.send(
        create(MasterToAgentSchema, {
          type: MasterToAgent_Type.PING,
          ping: { sequence: agent.pingSequence, connected: true },
        }),
      );
    }, this.config.agentPingTimeoutMs);
  }

  /**
   * The link broke. Offers on the agent are rescinded at once and tasks of frameworks that do not
   * checkpoint are lost (they cannot survive an agent restart); the rest wait for the agent to come
   * back within the ping budget, after which it is marked unreachable.
   */
  private agentDisconnected(agent: AgentRecord, reason: string): void {
    if (agent.state !== 'registered') return;
    this.log.warn({ agentId: agent.id, reason }, 'agent disconnected');
    agent.link = undefined;
    agent.pinger?.cancel();
    agent.pinger = undefined;
    this.allocator.deactivateAgent(agent.id);
    for (const offerId of [...agent.offers]) this.removeOffer(offerId, { rescind: true });
    for (const [frameworkId, taskIds] of agent.tasks) {
      const framework = this.frameworks.get(frameworkId);
      if (!framework || framework.info.checkpoint) continue;
      for (const taskId of [...taskIds]) {
        const record = framework.tasks.get(taskId);
        if (!record) continue;
        const state = isPartitionAware(framework.info) ? TaskState.TASK_DROPPED : TaskState.TASK_LOST;
        const status = this.masterStatus(
          record.task,
          state,
          TaskStatus_Reason.AGENT_DISCONNECTED,
          'Agent disconnected',
        );
        this.applyState(record, status);
        this.releaseTaskOnInactiveAgent(framework, agent, record);
        framework.tasks.delete(taskId);
        taskIds.delete(taskId);
        this.pushCompleted(framework, record.task);
        this.sendUpdate(framework, status);
      }
    }
    const budget = this.config.agentPingTimeoutMs * this.config.maxAgentPingTimeouts;
    agent.disconnectTimer = this.clock.setTimeout(() => {
      agent.disconnectTimer = undefined;
      if (!agent.link) this.markUnreachable(agent, 'Agent did not reconnect');
    }, budget);
  }

  private releaseTaskOnInactiveAgent(
    framework: FrameworkRecord,
    agent: AgentRecord,
    record: TaskRecord,
  ): void {
    if (record.released) return;
    record.released = true;
    this.ledger.release(framework.id, agent.id, record.resources);
    this.recover(framework.id, agent.id, record.resources, 0);
  }

  /** Partition: the agent's tasks become UNREACHABLE (or LOST), and every framework hears FAILURE. */
  markUnreachable(agent: AgentRecord, reason: string): void {
    if (agent.state === 'unreachable') return;
    this.log.warn({ agentId: agent.id, reason }, 'marking agent unreachable');
    agent.state = 'unreachable';
    agent.unreachableTime = this.clock.now();
    agent.pinger?.cancel();
    agent.pinger = undefined;
    agent.disconnectTimer?.cancel();
    agent.disconnectTimer = undefined;
    this.counters.agentsUnreachable++;
    this.persist({ type: 'mark-unreachable', agentId: agent.id, at: agent.unreachableTime });
    for (const offerId of [...agent.offers]) this.removeOffer(offerId, { rescind: true });
    for (const [frameworkId, taskIds] of agent.tasks) {
      const framework = this.frameworks.get(frameworkId);
      if (!framework) continue;
      for (const taskId of [...taskIds]) {
        const record = framework.tasks.get(taskId);
        if (!record) continue;
        if (!isTerminalState(record.task.state)) {
          const status = this.masterStatus(
            record.task,
            TaskState.TASK_UNREACHABLE,
            TaskStatus_Reason.AGENT_REMOVED,
            reason,
          );
          status.unreachableTime = {
            $typeName: 'mesos.v1.TimeInfo',
            nanoseconds: BigInt(agent.unreachableTime) * 1_000_000n,
          };
          this.applyState(record, status);
          this.sendUpdate(framework, status);
          framework.unreachableTasks.set(taskId, record.task);
          if (framework.unreachableTasks.size > this.config.maxUnreachableTasksPerFramework) {
            const oldest = framework.unreachableTasks.keys().next().value;
            if (oldest !== undefined) framework.unreachableTasks.delete(oldest);
          }
        }
        if (!record.released) this.ledger.release(frameworkId, agent.id, record.resources);
        record.released = true;
        framework.tasks.delete(taskId);
      }
    }
    agent.tasks.clear();
    for (const framework of this.frameworks.values()) {
      for (const executor of framework.executors.get(agent.id)?.values() ?? [])
        this.ledger.release(framework.id, agent.id, executor.resources);
      framework.executors.delete(agent.id);
      this.send(
        framework,
        create(EventSchema, { type: Event_Type.FAILURE, failure: { agentId: { value: agent.id } } }),
      );
    }
    this.allocator.removeAgent(agent.id);
    this.events.emit({ kind: 'agent-removed', agentId: agent.id });
  }

  /**
   * The agent is gone for good and will not come back (Mesos' removeSlave): its tasks become
   * TASK_GONE (TASK_LOST for frameworks that are not partition-aware), REASON_AGENT_REMOVED,
   * every framework hears FAILURE, and the registry forgets the agent.
   */
  private removeAgent(
    agent: AgentRecord,
    reason: string,
    gone: { state: TaskState; reason: TaskStatus_Reason } = {
      state: TaskState.TASK_GONE,
      reason: TaskStatus_Reason.AGENT_REMOVED,
    },
  ): void {
    this.log.warn({ agentId: agent.id, reason }, 'removing agent');
    agent.pinger?.cancel();
    agent.pinger = undefined;
    agent.disconnectTimer?.cancel();
    agent.disconnectTimer = undefined;
    for (const offerId of [...agent.offers]) this.removeOffer(offerId, { rescind: true });
    for (const [frameworkId, taskIds] of agent.tasks) {
      const framework = this.frameworks.get(frameworkId);
      if (!framework) continue;
      for (const taskId of taskIds) {
        const record = framework.tasks.get(taskId);
        if (!record) continue;
        if (!isTerminalState(record.task.state)) {
          const status = this.masterStatus(
            record.task,
            gone.state,
            gone.reason,
            `Agent ${agent.info.hostname} removed: ${reason}`,
          );
          this.applyState(record, status);
          this.sendUpdate(framework, status);
        }
        if (!record.released) this.ledger.release(frameworkId, agent.id, record.resources);
        record.released = true;
        framework.tasks.delete(taskId);
        this.pushCompleted(framework, record.task);
      }
    }
    agent.tasks.clear();
    for (const framework of this.frameworks.values()) {
      for (const executor of framework.executors.get(agent.id)?.values() ?? [])
        this.ledger.release(framework.id, agent.id, executor.resources);
      framework.executors.delete(agent.id);
      this.send(
        framework,
        create(EventSchema, { type: Event_Type.FAILURE, failure: { agentId: { value: agent.id } } }),
      );
    }
    this.allocator.removeAgent(agent.id);
    // No longer 'registered': a late close of its old link must not treat it as disconnected.
    agent.state = 'unreachable';
    this.events.emit({ kind: 'agent-removed', agentId: agent.id });
    this.persist({ type: 'remove-agent', agentId: agent.id });
    this.agents.delete(agent.id);
    if (this.agentsByPid.get(agent.pid) === agent.id) this.agentsByPid.delete(agent.pid);
  }

  /**
   * MARK_AGENT_GONE (reference section 4.1, case O25): the agent is told to shut down and is never
   * admitted again; its tasks become TASK_GONE_BY_OPERATOR (TASK_LOST for frameworks that are not
   * partition-aware) with REASON_AGENT_REMOVED_BY_OPERATOR. Marking a gone agent again is fine.
   * Gone agents are remembered in memory only (a restarted master forgets them).
   */
  markAgentGone(agentId: string): 'marked' | 'already-gone' | 'unknown' {
    if (this.goneAgents.has(agentId)) return 'already-gone';
    const agent = this.agents.get(agentId);
    if (!agent && !this.recoveredAgents.has(agentId)) return 'unknown';
    this.goneAgents.add(agentId);
    this.recoveredAgents.delete(agentId);
    this.log.warn({ agentId }, 'agent marked gone by operator');
    if (!agent) {
      this.persist({ type: 'remove-agent', agentId });
      return 'marked';
    }
    const link = agent.link;
    link?.send(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.SHUTDOWN_AGENT,
        shutdownAgent: { message: 'Agent has been marked gone' },
      }),
    );
    if (agent.state === 'registered') {
      this.removeAgent(agent, 'marked gone by operator', {
        state: TaskState.TASK_GONE_BY_OPERATOR,
        reason: TaskStatus_Reason.AGENT_REMOVED_BY_OPERATOR,
      });
    } else {
      this.persist({ type: 'remove-agent', agentId });
      this.removeAgentCompletely(agent);
    }
    link?.close('agent marked gone');
    return 'marked';
  }

  private removeAgentCompletely(agent: AgentRecord): void {
    if (agent.state === 'registered') this.markUnreachable(agent, 'Agent removed');
    this.agents.delete(agent.id);
    if (this.agentsByPid.get(agent.pid) === agent.id) this.agentsByPid.delete(agent.pid);
  }

  /** Tells every agent to stop pinging and every stream to close: used on shutdown. */
  // ------------------------------------------------------------------ weights, quota, explanations

  /** Weights set by `--weights` or UPDATE_WEIGHTS; roles not here weigh 1. */
  readonly weights = new Map<string, number>();
  /** Quota per role (UPDATE_QUOTA). */
  readonly quotas = new Map<string, QuotaConfig>();

  /** Sets weights (merged over the current ones), as UPDATE_WEIGHTS does; stored when `persist`. */
  updateWeights(weights: ReadonlyMap<string, number>, persist = true): void {
    for (const [role, weight] of weights) {
      if (weight === 1) this.weights.delete(role);
      else this.weights.set(role, weight);
    }
    this.allocator.updateWeights(new Map(this.weights));
    if (persist) this.persist({ type: 'update-weights', weights: Object.fromEntries(this.weights) });
  }

  /** Sets (or with both maps empty removes) a role's quota; stored when `persist`. */
  updateQuota(role: string, quota: QuotaConfig, persist = true): void {
    const remove = quota.guarantees.size === 0 && quota.limits.size === 0;
    if (remove) this.quotas.delete(role);
    else this.quotas.set(role, quota);
    this.allocator.updateQuota(role, quota);
    if (persist) {
      this.persist({
        type: 'update-quota',
        role,
        quota: remove
          ? undefined
          : { guarantees: Object.fromEntries(quota.guarantees), limits: Object.fromEntries(quota.limits) },
      });
    }
  }

  /** Why the framework got (or did not get) offers from each agent in the last allocation cycle. */
  explainOffers(frameworkId: string, agentId?: string): OfferExplanation[] {
    return this.allocator.explain(frameworkId, agentId);
  }

  /** Every role the allocator knows, parents first. */
  roleStatuses(): RoleStatus[] {
    return this.allocator.roles();
  }

  close(): void {
    this.recoveryTimer?.cancel();
    for (const framework of this.frameworks.values()) {
      framework.heartbeat?.cancel();
      framework.failoverTimer?.cancel();
      framework.stream?.close();
    }
    for (const agent of this.agents.values()) {
      agent.pinger?.cancel();
      agent.disconnectTimer?.cancel();
      agent.link?.close('master shutting down');
    }
    for (const offer of this.offers.values()) offer.timer?.cancel();
  }
}

export type { Call };
