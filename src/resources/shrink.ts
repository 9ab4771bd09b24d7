/**
 * Cutting resources down to target scalar quantities, as the allocator does when quota limits or
 * headroom "chop" an offer (Mesos' `shrinkResources` / `Resources::shrink`).
 */
import type { ResourceItem } from './resource.js';
import { Resources } from './resources.js';
import { Scalar } from './scalar.js';

/**
 * The largest part of `resources`, taken in order, whose scalar amounts stay within `targets` (name →
 * amount in thousandths). Non-scalar resources and names without a target are left out. A resource
 * that cannot be split (a MOUNT disk, a persistent volume) is taken whole if it fits and skipped
 * otherwise. Callers that want Mesos' random choice among equal candidates shuffle `resources` first.
 */
export function shrinkToQuantities(
  resources: Resources | Iterable<ResourceItem>,
  targets: ReadonlyMap<string, number>,
): Resources {
  const remaining = new Map(targets);
  const taken: ResourceItem[] = [];
  for (const item of resources) {
    if (!(item.value instanceof Scalar)) continue;
    const left = remaining.get(item.name) ?? 0;
    if (left <= 0) continue;
    let piece = item;
    if (item.value.milli > left) {
      // Only a resource that contains a smaller copy of itself can be chopped (exclusive ones cannot).
      if (item.exclusive || item.shared) continue;
      piece = item.withValue(new Scalar(left));
    }
    remaining.set(item.name, left - piece.milli);
    taken.push(piece);
  }
  return Resources.from(taken);
}
