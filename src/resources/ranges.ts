/**
 * `Value.Ranges` arithmetic over uint64 bounds.
 *
 * Representation: a sorted, coalesced list of half-open intervals `[begin, endExclusive)` flattened
 * into one array. Half-open bounds make every operation a pure comparison walk (no `+1`/`-1` in the
 * inner loops) and make "adjacent" the same as "touching", so `[1-2]` and `[3-4]` coalesce to `[1-4]`
 * exactly as Mesos' `coalesce()` does.
 *
 * Bounds are `number` when they are at most Number.MAX_SAFE_INTEGER and `bigint` above it (canonical
 * form, so equal bounds are always `===`). Ports and every range seen in practice stay on the fast
 * `number` path; values up to 2^64-1 (and the exclusive end 2^64) are still exact. JavaScript compares
 * a `number` with a `bigint` exactly, so the walks below never need to know which is which.
 */
import { fail } from '../common/errors.js';

/** A range bound: a `number` up to Number.MAX_SAFE_INTEGER, a `bigint` above it. */
export type RangeBound = number | bigint;

/** An inclusive range as it appears on the wire (`Value.Range{begin, end}`). */
export interface Range {
  readonly begin: RangeBound;
  readonly end: RangeBound;
}

export const UINT64_MAX = 0xffff_ffff_ffff_ffffn;
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);

/** The canonical representation of an integer bound: a `number` when it is safe, else a `bigint`. */
export function canonicalBound(value: bigint): RangeBound {
  return value <= MAX_SAFE_BIGINT ? Number(value) : value;
}

/**
 * Checks that `value` is an integer in [0, 2^64-1] and returns it in canonical form, or returns a
 * reason it is not.
 */
export function checkBound(value: number | bigint): RangeBound | string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return `${value} is not an integer`;
    if (value < 0) return `${value} is negative`;
    if (value <= Number.MAX_SAFE_INTEGER) return value;
    value = BigInt(value);
  }
  if (value < 0n) return `${value} is negative`;
  if (value > UINT64_MAX) return `${value} is out of the range of uint64`;
  return canonicalBound(value);
}

function successor(bound: RangeBound): RangeBound {
  if (typeof bound === 'number') return bound < Number.MAX_SAFE_INTEGER ? bound + 1 : BigInt(bound) + 1n;
  return bound + 1n;
}

function predecessor(bound: RangeBound): RangeBound {
  return typeof bound === 'number' ? bound - 1 : canonicalBound(bound - 1n);
}

function compareBounds(left: RangeBound, right: RangeBound): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

function largerBound(left: RangeBound, right: RangeBound): RangeBound {
  return left < right ? right : left;
}

function smallerBound(left: RangeBound, right: RangeBound): RangeBound {
  return left < right ? left : right;
}

/** Merges two sorted half-open interval lists into one coalesced list. */
function unionBounds(left: readonly RangeBound[], right: readonly RangeBound[]): RangeBound[] {
  const out: RangeBound[] = [];
  let i = 0;
  let j = 0;
  let currentBegin: RangeBound = 0;
  let currentEnd: RangeBound = 0;
  let open = false;
  while (i < left.length || j < right.length) {
    let begin: RangeBound;
    let end: RangeBound;
    if (j >= right.length || (i < left.length && left[i]! <= right[j]!)) {
      begin = left[i]!;
      end = left[i + 1]!;
      i += 2;
    } else {
      begin = right[j]!;
      end = right[j + 1]!;
      j += 2;
    }
    if (!open) {
      currentBegin = begin;
      currentEnd = end;
      open = true;
    } else if (begin <= currentEnd) {
      if (end > currentEnd) currentEnd = end;
    } else {
      out.push(currentBegin, currentEnd);
      currentBegin = begin;
      currentEnd = end;
    }
  }
  if (open) out.push(currentBegin, currentEnd);
  return out;
}

function subtractBounds(left: readonly RangeBound[], right: readonly RangeBound[]): RangeBound[] {
  const out: RangeBound[] = [];
  let j = 0;
  for (let i = 0; i < left.length; i += 2) {
    let begin = left[i]!;
    const end = left[i + 1]!;
    // Intervals of `right` that end before this one begins cannot touch it or any later one.
    while (j < right.length && right[j + 1]! <= begin) j += 2;
    let consumed = false;
    for (let k = j; k < right.length && right[k]! < end; k += 2) {
      const cutBegin = right[k]!;
      const cutEnd = right[k + 1]!;
      if (cutBegin > begin) out.push(begin, cutBegin);
      if (cutEnd >= end) {
        consumed = true;
        break;
      }
      begin = cutEnd;
    }
    if (!consumed) out.push(begin, end);
  }
  return out;
}

function intersectBounds(left: readonly RangeBound[], right: readonly RangeBound[]): RangeBound[] {
  const out: RangeBound[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    const begin = largerBound(left[i]!, right[j]!);
    const leftEnd = left[i + 1]!;
    const rightEnd = right[j + 1]!;
    const end = smallerBound(leftEnd, rightEnd);
    if (begin < end) out.push(begin, end);
    if (leftEnd < rightEnd) i += 2;
    else j += 2;
  }
  return out;
}

function containsBounds(outer: readonly RangeBound[], inner: readonly RangeBound[]): boolean {
  let i = 0;
  for (let j = 0; j < inner.length; j += 2) {
    const end = inner[j + 1]!;
    // An interval of `outer` ending before `end` cannot hold this or any later interval of `inner`.
    while (i < outer.length && outer[i + 1]! < end) i += 2;
    if (i >= outer.length || outer[i]! > inner[j]!) return false;
  }
  return true;
}

function sameBounds(left: readonly RangeBound[], right: readonly RangeBound[]): boolean {
  if (left.length !== right.length) return false;
  for (let i = 0; i < left.length; i++) if (left[i] !== right[i]) return false;
  return true;
}

/** An immutable, normalized set of uint64 values stored as ranges. */
export class Ranges {
  static readonly EMPTY = new Ranges([]);

  /** Sorted, coalesced half-open intervals: `[begin0, endExclusive0, begin1, endExclusive1, ...]`. */
  private readonly bounds: readonly RangeBound[];

  private constructor(bounds: readonly RangeBound[]) {
    this.bounds = bounds;
  }

  /**
   * Builds normalized ranges from inclusive `{begin, end}` pairs in any order; overlapping and adjacent
   * ranges coalesce. Throws RESOURCES_INVALID for a bound that is not a uint64 or for `begin > end`.
   */
  static of(ranges: Iterable<Range | readonly [RangeBound, RangeBound]>): Ranges {
    const pairs: [RangeBound, RangeBound][] = [];
    let sorted = true;
    let previousEnd: RangeBound = -1;
    for (const range of ranges) {
      const rawBegin = Array.isArray(range) ? range[0] : (range as Range).begin;
      const rawEnd = Array.isArray(range) ? range[1] : (range as Range).end;
      const begin = checkBound(rawBegin);
      const end = checkBound(rawEnd);
      if (typeof begin === 'string' || typeof end === 'string') {
        const reason = typeof begin === 'string' ? begin : (end as string);
        fail('RESOURCES_INVALID', { resource: `[${rawBegin}-${rawEnd}]`, detail: reason });
      }
      if (begin > end) {
        fail('RESOURCES_INVALID', { resource: `[${rawBegin}-${rawEnd}]`, detail: 'begin > end' });
      }
      const endExclusive = successor(end);
      // Already sorted and separated by a gap: the common case for wire input needs no sort.
      if (begin <= previousEnd) sorted = false;
      previousEnd = endExclusive;
      pairs.push([begin, endExclusive]);
    }
    if (pairs.length === 0) return Ranges.EMPTY;
    if (sorted) return new Ranges(pairs.flat());
    pairs.sort((left, right) => compareBounds(left[0], right[0]));
    return new Ranges(unionBounds(pairs.flat(), []));
  }

  /** The single range `[begin-end]`. */
  static single(begin: RangeBound, end: RangeBound): Ranges {
    return Ranges.of([[begin, end]]);
  }

  isEmpty(): boolean {
    return this.bounds.length === 0;
  }

  /** Number of disjoint ranges after coalescing. */
  get rangeCount(): number {
    return this.bounds.length / 2;
  }

  /** Number of values covered, e.g. 1001 for `[31000-32000]`. */
  count(): bigint {
    let total = 0n;
    for (let i = 0; i < this.bounds.length; i += 2) {
      total += BigInt(this.bounds[i + 1]!) - BigInt(this.bounds[i]!);
    }
    return total;
  }

  /** The normalized inclusive ranges, ascending. */
  toArray(): Range[] {
    const out: Range[] = [];
    for (let i = 0; i < this.bounds.length; i += 2) {
      out.push({ begin: this.bounds[i]!, end: predecessor(this.bounds[i + 1]!) });
    }
    return out;
  }

  add(other: Ranges): Ranges {
    if (other.bounds.length === 0) return this;
    if (this.bounds.length === 0) return other;
    return new Ranges(unionBounds(this.bounds, other.bounds));
  }

  subtract(other: Ranges): Ranges {
    if (other.bounds.length === 0 || this.bounds.length === 0) return this;
    const bounds = subtractBounds(this.bounds, other.bounds);
    if (bounds.length === 0) return Ranges.EMPTY;
    // Nothing removed: keep the identity, so callers can cheaply tell that nothing changed.
    return sameBounds(bounds, this.bounds) ? this : new Ranges(bounds);
  }

  intersection(other: Ranges): Ranges {
    const bounds = intersectBounds(this.bounds, other.bounds);
    return bounds.length === 0 ? Ranges.EMPTY : new Ranges(bounds);
  }

  /** Whether every value of `other` is in this set. */
  contains(other: Ranges): boolean {
    return containsBounds(this.bounds, other.bounds);
  }

  /** Whether the single value is in this set. */
  has(value: number | bigint): boolean {
    for (let i = 0; i < this.bounds.length; i += 2) {
      if (value < this.bounds[i]!) return false;
      if (value < this.bounds[i + 1]!) return true;
    }
    return false;
  }

  equals(other: Ranges): boolean {
    return this === other || sameBounds(this.bounds, other.bounds);
  }

  /** Mesos' text form: `[31000-32000, 33000-34000]`; `[]` when empty. */
  toString(): string {
    return this.format(', ');
  }

  /** The text form with a chosen separator; the agent flag syntax uses `,`. */
  format(separator: string): string {
    const parts: string[] = [];
    for (let i = 0; i < this.bounds.length; i += 2) {
      parts.push(`${this.bounds[i]}-${predecessor(this.bounds[i + 1]!)}`);
    }
    return `[${parts.join(separator)}]`;
  }
}
