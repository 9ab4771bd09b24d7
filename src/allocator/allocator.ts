/**
 * The allocator interface the master calls. Implementations are pure: no sockets, files or clocks
 * of their own. The master tells them what changed (incremental calls keep their sorted
 * structures warm) and asks `allocate(now)` for the next round of offers; `now` is the only time
 * they see, so the same calls with the same seed give the same result.
 */
import type { Resources } from '../resources/resources.js';

export interface AllocatorOptions {
  /** Seed for the agent shuffle; same seed + same calls = same allocations. */
  seed: number;
  /**
   * Alternatives for the smallest offer worth making (`--min_allocatable_resources`,
   * `cpus:0.01|mem:32`): an agent's available resources are offered only if they contain at least
   * one alternative. An empty list means any non-empty resources are worth offering.
   */
  minAllocatable: readonly Resources[];
  /** Role weights (`--weights`, UPDATE_WEIGHTS); roles not listed weigh 1. */
  weights?: ReadonlyMap<string, number>;
  /**
   * `--allocation_interval` in ms (default 1000): refusal filters last at least this long, so a
   * declined agent is not offered straight back in the next cycle (MESOS-4302).
   */
  allocationIntervalMs?: number;
  /** `--filter_gpu_resources` (default true): GPU agents only go to GPU_RESOURCES frameworks. */
  filterGpuResources?: boolean;
  /** `--fair_sharing_excluded_resource_names`: ignored when computing dominant shares. */
  fairnessExcludedResourceNames?: readonly string[];
}

/** What the allocator needs to know of a framework. */
export interface FrameworkSpec {
  roles: readonly string[];
  /** Roles that get no offers until revived. */
  suppressedRoles: readonly string[];
  /** FrameworkInfo capability names that gate offers (GPU_RESOURCES, MULTI_ROLE, ...). */
  capabilities: ReadonlySet<string>;
  /**
   * `FrameworkInfo.offer_filters[role].min_allocatable_resources`: per role, alternatives that
   * replace `--min_allocatable_resources` for this framework (an empty list: anything goes).
   */
  minAllocatable?: ReadonlyMap<string, readonly Resources[]>;
}

/** What the allocator needs to know of an agent. */
export interface AgentSpec {
  hostname: string;
  /** Total resources, including reservations. */
  total: Resources;
}

/** One offer to make: resources of one agent, allocated to one role of one framework. */
export interface Allocation {
  frameworkId: string;
  agentId: string;
  role: string;
  /** Already tagged with `allocation_info.role = role`. */
  resources: Resources;
}

export interface Allocator {
  addFramework(
    frameworkId: string,
    spec: FrameworkSpec,
    /** Resources the framework already uses per agent (tasks found on re-registering agents). */
    used: ReadonlyMap<string, Resources>,
    active: boolean,
  ): void;
  updateFramework(frameworkId: string, spec: FrameworkSpec): void;
  /** Stops offers to the framework (disconnected) without forgetting what it uses. */
  deactivateFramework(frameworkId: string): void;
  activateFramework(frameworkId: string): void;
  removeFramework(frameworkId: string): void;

  addAgent(agentId: string, spec: AgentSpec, used: ReadonlyMap<string, Resources>): void;
  updateAgent(agentId: string, total: Resources): void;
  /** Stops offering the agent's resources (disconnected, draining) without forgetting them. */
  deactivateAgent(agentId: string): void;
  activateAgent(agentId: string): void;
  removeAgent(agentId: string): void;

  /**
   * Resources of an agent return to the pool: an offer declined, rescinded or partly used, or a
   * task ended. With `refuseSeconds > 0` they are not offered back to that framework from that
   * agent until `now + refuseSeconds`.
   */
  recoverResources(
    frameworkId: string,
    agentId: string,
    resources: Resources,
    refuseSeconds: number,
    now: number,
  ): void;

  /** No offers for these roles of the framework (all its roles when empty) until revived. */
  suppressOffers(frameworkId: string, roles: readonly string[]): void;
  /** Un-suppresses the roles (all when empty) and clears the framework's refusal filters. */
  reviveOffers(frameworkId: string, roles: readonly string[]): void;

  updateWeights(weights: ReadonlyMap<string, number>): void;

  /**
   * One allocation cycle: what to offer now. The returned resources count as allocated. With
   * `agentIds`, only those agents are considered (an event-driven run for new or changed agents).
   */
  allocate(now: number, agentIds?: readonly string[]): Allocation[];
}

/**
 * A role's quota (UPDATE_QUOTA's `QuotaConfig`): scalar quantities only. `guarantees` are held back
 * as headroom from other roles until the role consumes them; `limits` cap what the role consumes
 * (its reservations plus the unreserved resources allocated to it). An empty map means none.
 */
export interface QuotaConfig {
  /** Resource name → amount (units, as in `cpus:2`). */
  guarantees: ReadonlyMap<string, number>;
  limits: ReadonlyMap<string, number>;
}

/** Why a framework got no offer from an agent in the last cycle (the "explainable allocation"). */
export type OfferExplanationReason =
  /** It did get one. */
  | 'OFFERED'
  | 'FRAMEWORK_INACTIVE'
  | 'AGENT_INACTIVE'
  /** The framework suppressed offers for the role. */
  | 'SUPPRESSED'
  /** GPU agent without GPU_RESOURCES, or all that is left needs REVOCABLE/SHARED/refinement. */
  | 'CAPABILITY_MISSING'
  /** The agent has nothing allocatable to the role (all used, or reserved to other roles). */
  | 'NOTHING_AVAILABLE'
  /** A refusal filter from an earlier decline; `filteredUntil` says when it lapses. */
  | 'FILTERED'
  /** The role (or an ancestor) consumes its quota limit already. */
  | 'QUOTA_LIMIT'
  /** What is left is held back as headroom for other roles' unmet quota guarantees. */
  | 'HEADROOM'
  /** What could be offered is smaller than every `--min_allocatable_resources` alternative. */
  | 'BELOW_MIN_ALLOCATABLE'
  /** Nothing blocks it: frameworks earlier in the fair-share order took the agent's resources. */
  | 'FAIR_SHARE_ORDER';

export interface OfferExplanation {
  frameworkId: string;
  agentId: string;
  role: string;
  reason: OfferExplanationReason;
  /** One sentence for operators, e.g. "filtered until 2026-11-25T22:30:00.000Z (refused cpus:4)". */
  message: string;
  /** For FILTERED: when the refusal filter lapses (the allocator's clock, ms). */
  filteredUntil?: number;
}

/** A role as the allocator sees it, for `/roles`, GET_ROLES and the UI. */
export interface RoleStatus {
  role: string;
  weight: number;
  /** Weighted dominant share of the role's subtree (reservations plus unreserved allocations). */
  share: number;
  /** Resource name → amount consumed: reservations (allocated or not) + unreserved allocations. */
  consumed: Map<string, number>;
  /** Frameworks subscribed to exactly this role. */
  frameworks: string[];
  quota?: QuotaConfig;
}

/**
 * What the hierarchical DRF allocator adds to `Allocator` for quota, reservations and volumes and
 * for explaining its decisions. The master keeps calling the base interface; these are for the
 * operator calls (UPDATE_QUOTA, RESERVE_RESOURCES, ...) and offer operations.
 */
export interface HierarchicalAllocatorApi extends Allocator {
  /** Sets (or, with both maps empty, removes) a role's quota. */
  updateQuota(role: string, quota: QuotaConfig): void;
  /**
   * An offer operation (RESERVE, UNRESERVE, CREATE, DESTROY, GROW, SHRINK) converted resources the
   * framework holds on the agent: `consumed` (as allocated) became `converted`. The agent's total
   * changes the same way. Returns false and changes nothing when the framework does not hold
   * `consumed` there.
   */
  updateAllocation(frameworkId: string, agentId: string, consumed: Resources, converted: Resources): boolean;
  /**
   * An operator operation (RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE/DESTROY_VOLUMES) converts
   * unallocated resources of the agent. Returns false and changes nothing when `consumed` is not
   * available (the master then rescinds offers and retries, as Mesos does).
   */
  updateAvailable(agentId: string, consumed: Resources, converted: Resources): boolean;
  /** Why the framework got (or did not get) an offer from each agent (or just `agentId`) last cycle. */
  explain(frameworkId: string, agentId?: string): OfferExplanation[];
  /** Every known role, parents before children. */
  roles(): RoleStatus[];
}
