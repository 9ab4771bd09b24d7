/**
 * Quota (reference §6.5): guarantees and limits on what a role *consumes*, i.e. its reservations
 * (allocated or not) plus the unreserved resources allocated to it.
 *
 *  - A **limit** caps consumption: offers to the role (or any role below it) are chopped so no
 *    role on the path goes over.
 *  - A **guarantee** not yet consumed is *required headroom*: the free unreserved, non-revocable
 *    resources of the cluster (*available headroom*) are not handed to other roles below that
 *    amount. The guaranteed role itself may eat into its own part.
 *
 * Only unreserved, non-revocable scalars are ever chopped: reservations are already counted as
 * consumed, revocable resources never count toward quota, and non-scalars have no quantity.
 */
import type { ResourceItem } from '../resources/resource.js';
import { Resources } from '../resources/resources.js';
import { Scalar } from '../resources/scalar.js';
import type { QuotaConfig } from './allocator.js';
import type { Quantities, ScalarNames } from './quantities.js';
import type { RoleNode } from './role-tree.js';
import type { QuotaState } from './state.js';

export function quotaState(config: QuotaConfig, names: ScalarNames): QuotaState {
  const guarantees: Quantities = [];
  const limits: Quantities = [];
  for (const [name, amount] of config.guarantees) {
    const index = names.numberOf(name);
    while (guarantees.length <= index) guarantees.push(0);
    guarantees[index] = Math.round(amount * 1000);
  }
  for (const [name, amount] of config.limits) {
    const index = names.numberOf(name);
    while (limits.length <= index) limits.push(Number.POSITIVE_INFINITY);
    limits[index] = Math.round(amount * 1000);
  }
  return {
    config,
    guarantees,
    limits,
    hasGuarantees: guarantees.some((g) => g > 0),
    hasLimits: config.limits.size > 0,
  };
}

/** Which kind of cap bound an offer. */
export enum CapKind {
  None = 0,
  Limit = 1,
  Headroom = 2,
}

export class QuotaTracker {
  /** Roles with a quota. */
  readonly roles = new Set<RoleNode>();
  /** Free unreserved, non-revocable scalars on all agents (Mesos' available headroom). */
  readonly availableHeadroom: Quantities = [];
  /** Σ over guaranteed roles of what they still miss. */
  readonly requiredHeadroom: Quantities = [];
  /** Some entry of `requiredHeadroom` is positive. */
  headroomRequired = false;

  constructor(private readonly names: ScalarNames) {}

  /** What `node`'s guarantee still misses of resource `index`. */
  unmet(node: RoleNode, index: number): number {
    const guarantee = node.quota?.guarantees[index] ?? 0;
    const missing = guarantee - (node.subtreeConsumed[index] ?? 0);
    return Math.max(missing, 0);
  }

  hasUnmetGuarantee(node: RoleNode): boolean {
    const quota = node.quota;
    if (quota === undefined || !quota.hasGuarantees) return false;
    for (let i = 0; i < quota.guarantees.length; i++) if (this.unmet(node, i) > 0) return true;
    return false;
  }

  /** Recomputes the required headroom; cheap (quota roles × resource names). */
  refresh(): void {
    const required = this.requiredHeadroom;
    for (let i = 0; i < required.length; i++) required[i] = 0;
    let any = false;
    for (const node of this.roles) {
      const quota = node.quota!;
      if (!quota.hasGuarantees) continue;
      for (let i = 0; i < quota.guarantees.length; i++) {
        const missing = this.unmet(node, i);
        if (missing <= 0) continue;
        while (required.length <= i) required.push(0);
        required[i] = (required[i] ?? 0) + missing;
        any = true;
      }
    }
    this.headroomRequired = any;
  }

  /** Whether any role on `role`'s path to the root has a quota (so offers may need chopping). */
  pathHasQuota(role: RoleNode): boolean {
    if (this.roles.size === 0) return false;
    for (let node: RoleNode | undefined = role; node?.parent !== undefined; node = node.parent)
      if (node.quota !== undefined) return true;
    return false;
  }

  /** The closest role on the path (the role itself first) with a guarantee, if any. */
  guaranteedAncestor(role: RoleNode): RoleNode | undefined {
    for (let node: RoleNode | undefined = role; node?.parent !== undefined; node = node.parent)
      if (node.quota?.hasGuarantees === true) return node;
    return undefined;
  }

  /**
   * Fills `caps` (thousandths per resource number, `Infinity` = uncapped) with how much more
   * unreserved, non-revocable quantity `role` may be offered, and `limitCaps` with the part that
   * comes from limits alone. Returns whether anything is capped at all.
   */
  capsFor(role: RoleNode, caps: Quantities, limitCaps: Quantities): boolean {
    const size = this.names.size;
    for (let i = 0; i < size; i++) {
      caps[i] = Number.POSITIVE_INFINITY;
      limitCaps[i] = Number.POSITIVE_INFINITY;
    }
    let capped = false;
    for (let node: RoleNode | undefined = role; node?.parent !== undefined; node = node.parent) {
      const quota = node.quota;
      if (quota === undefined || !quota.hasLimits) continue;
      for (let i = 0; i < quota.limits.length; i++) {
        const limit = quota.limits[i] ?? Number.POSITIVE_INFINITY;
        if (limit === Number.POSITIVE_INFINITY) continue;
        const left = Math.max(0, limit - (node.subtreeConsumed[i] ?? 0));
        if (left < (limitCaps[i] ?? Number.POSITIVE_INFINITY)) {
          limitCaps[i] = left;
          caps[i] = left;
          capped = true;
        }
      }
    }
    if (this.headroomRequired) {
      const own = this.guaranteedAncestor(role);
      const required = this.requiredHeadroom;
      for (let i = 0; i < required.length; i++) {
        const need = required[i] ?? 0;
        if (need <= 0) continue;
        // Giving the role x of what its own guarantee misses lowers the requirement by x too.
        const surplus =
          (this.availableHeadroom[i] ?? 0) - need + (own === undefined ? 0 : this.unmet(own, i));
        const allowed = Math.max(surplus, 0);
        if (allowed < (caps[i] ?? Number.POSITIVE_INFINITY)) {
          caps[i] = allowed;
          capped = true;
        }
      }
    }
    return capped;
  }
}

function isChoppable(item: ResourceItem): boolean {
  return item.type === 'SCALAR' && item.reservations.length === 0 && !item.revocable;
}

/**
 * `offer` with its unreserved, non-revocable scalars cut to `caps`; the same object when nothing
 * is over. A resource that cannot be split (a MOUNT disk) is left out whole when it does not fit.
 * `scratch` is working space (any contents), so the common "nothing over" answer allocates nothing.
 */
export function chopToCaps(
  offer: Resources,
  caps: Quantities,
  names: ScalarNames,
  scratch: Quantities,
): Resources {
  const items = offer.items();
  for (let i = 0; i < names.size; i++) scratch[i] = 0;
  let over = false;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (!isChoppable(item)) continue;
    const index = names.numberOf(item.name);
    // Several items of one name (a MOUNT disk and plain disk) add up: compare the running sum.
    const sum = (scratch[index] ?? 0) + item.milli;
    scratch[index] = sum;
    if (sum > (caps[index] ?? Number.POSITIVE_INFINITY)) over = true;
  }
  if (!over) return offer;
  for (let i = 0; i < names.size; i++) scratch[i] = caps[i] ?? Number.POSITIVE_INFINITY;
  const kept: ResourceItem[] = [];
  for (const item of items) {
    if (!isChoppable(item)) {
      kept.push(item);
      continue;
    }
    const index = names.numberOf(item.name);
    const room = scratch[index] ?? Number.POSITIVE_INFINITY;
    if (room <= 0) continue;
    let piece = item;
    if (item.milli > room) {
      if (item.exclusive || item.shared) continue;
      piece = item.withValue(new Scalar(room));
    }
    scratch[index] = room - piece.milli;
    kept.push(piece);
  }
  return Resources.from(kept);
}

/** Whether `offer` has some unreserved, non-revocable scalar that `node`'s guarantee still misses. */
export function advancesGuarantee(
  offer: Resources,
  node: RoleNode,
  tracker: QuotaTracker,
  names: ScalarNames,
): boolean {
  for (const item of offer.items()) {
    if (isChoppable(item) && tracker.unmet(node, names.numberOf(item.name)) > 0) return true;
  }
  return false;
}
