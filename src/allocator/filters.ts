/**
 * Refusal filters (reference §6.7). A framework that declines (or leaves unused) resources of an
 * agent with `refuse_seconds > 0` is not offered that agent's resources in the same role again
 * until the filter lapses, unless the new offer is larger than what was refused: a filter only
 * blocks offers that the refused resources *contain*.
 *
 * Time is whatever `now` the master passes (ms); lapsed filters are dropped when next looked at,
 * so expiry needs no timer and replays exactly.
 */
import type { Resources } from '../resources/resources.js';
import type { FrameworkClient } from './role-tree.js';

export interface RefusalFilter {
  /** What was declined, without allocation info. */
  readonly refused: Resources;
  /** The allocator's clock (ms) from which the filter no longer applies. */
  readonly expiresAt: number;
}

/** Mesos caps `refuse_seconds` at a year. */
const MAX_REFUSE_MS = 365 * 24 * 3600 * 1000;

/**
 * How long a refusal lasts: at least one allocation interval, because freed resources only come
 * back at the next batched cycle and a shorter filter would have lapsed by then (MESOS-4302).
 */
export function refusalDurationMs(refuseSeconds: number, allocationIntervalMs: number): number {
  return Math.min(Math.max(refuseSeconds * 1000, allocationIntervalMs), MAX_REFUSE_MS);
}

/**
 * The filter that blocks offering `candidate` from agent `agentNumber` to `client` at `now`, if any.
 * A lapsed filter is removed on the way.
 */
export function blockingFilter(
  client: FrameworkClient,
  agentNumber: number,
  candidate: Resources,
  now: number,
): RefusalFilter | undefined {
  const filter = client.filters.get(agentNumber);
  if (filter === undefined) return undefined;
  if (filter.expiresAt <= now) {
    client.filters.delete(agentNumber);
    return undefined;
  }
  return filter.refused.contains(candidate) ? filter : undefined;
}
