/**
 * What the hierarchical allocator remembers per framework, agent and quota role. Plain records; the
 * allocator (hierarchical-drf.ts) is the only writer.
 */
import type { Resources } from '../resources/resources.js';
import type { FrameworkSpec, QuotaConfig } from './allocator.js';
import type { Quantities } from './quantities.js';
import type { FrameworkClient } from './role-tree.js';

export interface FrameworkState {
  readonly id: string;
  /**
   * Undefined while the framework is only known from an agent's report of what it uses (a master
   * failover: agents re-register before their frameworks re-subscribe). Such a framework holds
   * resources but gets no offers.
   */
  spec: FrameworkSpec | undefined;
  active: boolean;
  suppressed: Set<string>;
  /** Capabilities that decide what may be offered, read once from the spec. */
  gpu: boolean;
  revocable: boolean;
  shared: boolean;
  refinement: boolean;
  /** Role → the framework's own minimum allocatable alternatives (offer filters), if any. */
  minimumByRole: ReadonlyMap<string, readonly MinimumAlternative[]> | undefined;
  /** Agent number → what is allocated to the framework there (offered or in use), role-tagged. */
  readonly allocations: Map<number, Resources>;
  /** Role → the framework's client in that role's sorter (subscribed roles and roles it holds). */
  readonly clients: Map<string, FrameworkClient>;
}

export interface AgentState {
  readonly id: string;
  /** Never reused, so filters and allocations keyed by it cannot point at a later agent. */
  readonly number: number;
  /** Position in the allocator's agent list (moves when another agent is removed). */
  slot: number;
  hostname: string;
  total: Resources;
  /** Unallocated, non-shared resources: total minus everything allocated, without allocation info. */
  available: Resources;
  /**
   * Shared resources (shared volumes) of the total: always offerable to SHARED_RESOURCES frameworks
   * even while in use, but each at most once per cycle.
   */
  sharedTotal: Resources;
  sharedOffered: Resources;
  sharedOfferedCycle: number;
  active: boolean;
  /** Flags read from the total that turn on the slower candidate-offer path. */
  hasGpus: boolean;
  hasReservations: boolean;
  hasRevocable: boolean;
  hasRefined: boolean;
  hasShared: boolean;
  /**
   * Framework × role clients offered something from this agent in cycle `offeredCycle`: the first
   * `offeredCount` entries (the array is reused from cycle to cycle).
   */
  readonly offeredTo: FrameworkClient[];
  offeredCount: number;
  offeredCycle: number;
}

/** One minimum allocatable alternative, as quantities for the fast check. */
export interface MinimumAlternative {
  readonly resources: Resources;
  readonly quantities: Quantities;
  /** Only scalars: the quantity vector decides alone. */
  readonly scalarOnly: boolean;
}

/** A role's quota as vectors; limits are `Infinity` where the config sets none. */
export interface QuotaState {
  readonly config: QuotaConfig;
  readonly guarantees: Quantities;
  readonly limits: Quantities;
  readonly hasGuarantees: boolean;
  readonly hasLimits: boolean;
}
