/**
 * Scalar quantities as small dense vectors: the allocator's hot path adds, subtracts and compares
 * amounts per resource name thousands of times per cycle, so names are numbered once
 * (`ScalarNames`) and a quantity set is a plain `number[]` of thousandths indexed by that number.
 * Plain arrays of doubles stay unboxed in V8 and cost no hashing, unlike `Map<string, number>`.
 */
import type { Resources } from '../resources/resources.js';

/** Amounts in thousandths (like `Scalar.milli`), indexed by `ScalarNames` number; missing = 0. */
export type Quantities = number[];

/** Numbers resource names in first-seen order; the numbering never changes once given. */
export class ScalarNames {
  private readonly numbers = new Map<string, number>();
  readonly names: string[] = [];

  numberOf(name: string): number {
    let index = this.numbers.get(name);
    if (index === undefined) {
      index = this.names.length;
      this.names.push(name);
      this.numbers.set(name, index);
    }
    return index;
  }

  get size(): number {
    return this.names.length;
  }

  /** Name → amount in units for the non-zero entries, in numbering order. */
  toMap(quantities: Quantities): Map<string, number> {
    const out = new Map<string, number>();
    for (let i = 0; i < quantities.length; i++) {
      const milli = quantities[i] ?? 0;
      if (milli !== 0) out.set(this.names[i]!, milli / 1000);
    }
    return out;
  }

  /** A name → units map as a vector. */
  fromMap(amounts: ReadonlyMap<string, number>): Quantities {
    const out: Quantities = [];
    for (const [name, amount] of amounts) {
      const index = this.numberOf(name);
      while (out.length <= index) out.push(0);
      out[index] = Math.round(amount * 1000);
    }
    return out;
  }
}

/** Which scalar items of a collection count. */
export enum Part {
  All = 0,
  /** Items without a reservation. */
  Unreserved = 1,
  /** Unreserved and not revocable: what quota headroom is made of. */
  UnreservedFirm = 2,
}

function counts(part: Part, reserved: boolean, revocable: boolean): boolean {
  if (part === Part.All) return true;
  if (reserved) return false;
  return part === Part.Unreserved || !revocable;
}

/** `target += sign × scalars(resources)` for the chosen part; a shared item counts once per copy. */
export function accumulate(
  target: Quantities,
  names: ScalarNames,
  resources: Resources,
  sign: number,
  part: Part = Part.All,
): void {
  const items = resources.items();
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item.type !== 'SCALAR') continue;
    if (!counts(part, item.reservations.length > 0, item.revocable)) continue;
    const index = names.numberOf(item.name);
    while (target.length <= index) target.push(0);
    const amount = item.shared ? item.milli * resources.countOf(item) : item.milli;
    target[index] = (target[index] ?? 0) + sign * amount;
  }
}

/** `target += sign × delta`. */
export function addQuantities(target: Quantities, delta: Quantities, sign: number): void {
  while (target.length < delta.length) target.push(0);
  for (let i = 0; i < delta.length; i++) target[i] = (target[i] ?? 0) + sign * (delta[i] ?? 0);
}

/** Every entry zero (or absent). */
export function isZero(quantities: Quantities): boolean {
  for (let i = 0; i < quantities.length; i++) if ((quantities[i] ?? 0) !== 0) return false;
  return true;
}

/** Sets every entry to zero, keeping the array (no garbage in the cycle). */
export function clear(quantities: Quantities): void {
  for (let i = 0; i < quantities.length; i++) quantities[i] = 0;
}

/** `outer ≥ inner` entry by entry. */
export function containsQuantities(outer: Quantities, inner: Quantities): boolean {
  for (let i = 0; i < inner.length; i++) if ((inner[i] ?? 0) > (outer[i] ?? 0)) return false;
  return true;
}

/**
 * DRF: the largest fraction of the cluster total that `allocation` holds of any resource, skipping
 * resources the cluster has none of and those excluded from fair sharing.
 */
export function dominantShare(
  allocation: Quantities,
  totals: Quantities,
  excluded: readonly boolean[],
): number {
  let share = 0;
  const n = Math.min(allocation.length, totals.length);
  for (let i = 0; i < n; i++) {
    const total = totals[i] ?? 0;
    if (total <= 0 || excluded[i] === true) continue;
    const fraction = (allocation[i] ?? 0) / total;
    if (fraction > share) share = fraction;
  }
  return share;
}
