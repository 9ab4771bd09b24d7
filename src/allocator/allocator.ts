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
}

/** What the allocator needs to know of a framework. */
export interface FrameworkSpec {
  roles: readonly string[];
  /** Roles that get no offers until revived. */
  suppressedRoles: readonly string[];
  /** FrameworkInfo capability names that gate offers (GPU_RESOURCES, MULTI_ROLE, ...). */
  capabilities: ReadonlySet<string>;
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

  /** One allocation cycle: what to offer now. The returned resources count as allocated. */
  allocate(now: number): Allocation[];
}
