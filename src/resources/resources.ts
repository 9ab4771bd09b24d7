/**
 * `Resources`: an immutable, normalized collection of resources with Mesos' arithmetic.
 *
 * Ownership: a `Resources` value never changes after construction. `add`, `subtract` and every filter
 * or transformation return a new collection (or the same one when nothing changes), and items are
 * shared between collections, so a value may be handed to any number of holders (master, allocator,
 * HTTP views) without copying or defensive cloning.
 *
 * Normal form (what Mesos keeps in its `Resources` vector):
 *  - no empty items (zero scalars, empty ranges or sets are dropped on the way in);
 *  - at most one item per identity key for ordinary resources; adding merges values (scalars sum in
 *    thousandths, ranges and sets take the union), subtracting removes the item once it is empty or
 *    would go negative;
 *  - exclusive resources (MOUNT/BLOCK disks, identified RAW disks, persistent volumes) never merge and
 *    are only subtracted or contained by an equal item;
 *  - shared resources (shared persistent volumes) carry a count: adding an equal one increments it,
 *    subtracting decrements it, and containment compares counts, so one shared volume can be handed to
 *    several tasks and is only gone once every copy has been given back.
 * Iteration yields every item once in insertion order; a shared item's count is `countOf(item)`.
 */
import { fail } from '../common/errors.js';
import type { Ranges } from './ranges.js';
import type { Reservation, ReservationInfo, ResourceInput, ResourceValueType } from './resource.js';
import { addValues, ResourceItem, subtractValues, valueContains, valuesEqual } from './resource.js';
import { isRoleInSubtree, isStrictSubroleOf } from './roles.js';
import { Scalar } from './scalar.js';
import {
  formatResourceInput,
  toResourceItem,
  validateReservationStack,
  validateResource,
} from './validate.js';
import type { ValueSet } from './value-set.js';

/**
 * The reservation formats of §5.2:
 *  - `post-refinement`: only `reservations` (the stack); how the master stores resources.
 *  - `pre-refinement`: only `role` (`*` when unreserved) and, for a dynamic reservation, `reservation`;
 *    for frameworks without RESERVATION_REFINEMENT. Refined reservations cannot be expressed.
 *  - `endpoint`: both; `role`/`reservation` only when there is at most one reservation.
 */
export type ResourceFormat = 'post-refinement' | 'pre-refinement' | 'endpoint';

/** Collections larger than this get a key → positions index instead of linear scans. */
const INDEX_THRESHOLD = 16;

type Match = 'add' | 'subtract' | 'contain';

type PositionIndex = Map<string, number[]>;

function buildIndex(items: readonly (ResourceItem | undefined)[]): PositionIndex {
  const index: PositionIndex = new Map();
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item === undefined) continue;
    const positions = index.get(item.key);
    if (positions === undefined) index.set(item.key, [i]);
    else positions.push(i);
  }
  return index;
}

function matches(
  existing: ResourceItem,
  existingCount: number,
  wanted: ResourceItem,
  wantedCount: number,
  match: Match,
): boolean {
  if (existing.key !== wanted.key) return false;
  if (wanted.shared) {
    return valuesEqual(existing.value, wanted.value) && (match !== 'contain' || existingCount >= wantedCount);
  }
  if (wanted.exclusive) return match !== 'add' && valuesEqual(existing.value, wanted.value);
  return match !== 'contain' || valueContains(existing.value, wanted.value);
}

/** Position of the first item that `wanted` can be added to / subtracted from / is contained in. */
function findPosition(
  items: readonly (ResourceItem | undefined)[],
  counts: readonly number[] | undefined,
  index: PositionIndex | undefined,
  wanted: ResourceItem,
  wantedCount: number,
  match: Match,
): number {
  if (index !== undefined) {
    const positions = index.get(wanted.key);
    if (positions === undefined) return -1;
    for (const i of positions) {
      const existing = items[i];
      if (existing !== undefined && matches(existing, counts?.[i] ?? 1, wanted, wantedCount, match)) return i;
    }
    return -1;
  }
  for (let i = 0; i < items.length; i++) {
    const existing = items[i];
    if (existing !== undefined && matches(existing, counts?.[i] ?? 1, wanted, wantedCount, match)) return i;
  }
  return -1;
}

/** A private, mutable working copy used while one operation builds its result. */
class Builder {
  private readonly items: (ResourceItem | undefined)[];
  private counts: number[] | undefined;
  private index: PositionIndex | undefined;
  private removed = 0;

  constructor(items: readonly ResourceItem[], counts: readonly number[] | undefined) {
    this.items = items.slice();
    this.counts = counts?.slice();
    this.index = this.items.length > INDEX_THRESHOLD ? buildIndex(this.items) : undefined;
  }

  private countAt(i: number): number {
    return this.counts?.[i] ?? 1;
  }

  private setCount(i: number, count: number): void {
    if (this.counts === undefined) {
      if (count === 1) return;
      this.counts = new Array<number>(this.items.length).fill(1);
    }
    this.counts[i] = count;
  }

  private remove(i: number): void {
    this.items[i] = undefined;
    this.removed++;
  }

  private push(item: ResourceItem, count: number): void {
    const i = this.items.length;
    this.items.push(item);
    this.counts?.push(1);
    this.setCount(i, count);
    if (this.index !== undefined) {
      const positions = this.index.get(item.key);
      if (positions === undefined) this.index.set(item.key, [i]);
      else positions.push(i);
    } else if (this.items.length > INDEX_THRESHOLD) {
      this.index = buildIndex(this.items);
    }
  }

  add(item: ResourceItem, count: number): void {
    if (item.isEmpty() || count <= 0) return;
    const i = findPosition(this.items, this.counts, this.index, item, count, 'add');
    if (i < 0) {
      this.push(item, count);
    } else if (item.shared) {
      this.setCount(i, this.countAt(i) + count);
    } else {
      const existing = this.items[i]!;
      this.items[i] = existing.withValue(addValues(existing.value, item.value));
    }
  }

  subtract(item: ResourceItem, count: number): void {
    if (item.isEmpty() || count <= 0) return;
    const i = findPosition(this.items, this.counts, this.index, item, count, 'subtract');
    if (i < 0) return;
    if (item.shared) {
      const left = this.countAt(i) - count;
      if (left <= 0) this.remove(i);
      else this.setCount(i, left);
    } else if (item.exclusive) {
      this.remove(i);
    } else {
      const existing = this.items[i]!;
      const value = subtractValues(existing.value, item.value);
      // Subtracting more than there is leaves nothing (Mesos drops the then-invalid negative scalar).
      if (value.isEmpty() || (value instanceof Scalar && value.milli < 0)) this.remove(i);
      else this.items[i] = existing.withValue(value);
    }
  }

  contains(item: ResourceItem, count: number): boolean {
    return findPosition(this.items, this.counts, this.index, item, count, 'contain') >= 0;
  }

  build(): Resources {
    let items = this.items as ResourceItem[];
    let counts = this.counts;
    if (this.removed > 0) {
      items = [];
      const kept: number[] | undefined = counts === undefined ? undefined : [];
      for (let i = 0; i < this.items.length; i++) {
        const item = this.items[i];
        if (item === undefined) continue;
        items.push(item);
        kept?.push(counts![i]!);
      }
      counts = kept;
    }
    if (counts?.every((count) => count === 1)) counts = undefined;
    return Resources.fromNormalized(items, counts);
  }
}

export class Resources implements Iterable<ResourceItem> {
  static readonly EMPTY = new Resources([], undefined);

  private readonly list: readonly ResourceItem[];
  /** Shared counts aligned with `list`; undefined when every count is 1. */
  private readonly counts: readonly number[] | undefined;
  private index: PositionIndex | undefined;
  /**
   * Set on the result of `allocate` when it was called on unallocated resources: that source is
   * exactly what `unallocate` gives back, so offers going out and coming back cost no rebuilding.
   */
  private unallocatedSource: Resources | undefined;

  private constructor(list: readonly ResourceItem[], counts: readonly number[] | undefined) {
    this.list = list;
    this.counts = counts;
    this.index = undefined;
    this.unallocatedSource = undefined;
  }

  /** Internal: wraps arrays that are already in normal form. */
  static fromNormalized(list: readonly ResourceItem[], counts: readonly number[] | undefined): Resources {
    return list.length === 0 ? Resources.EMPTY : new Resources(list, counts);
  }

  /** A normalized collection of the given items (repeated items add up). */
  static of(...items: ResourceItem[]): Resources {
    return Resources.from(items);
  }

  static from(items: Iterable<ResourceItem>): Resources {
    const builder = new Builder([], undefined);
    for (const item of items) builder.add(item, 1);
    return builder.build();
  }

  /** The sum of several collections. */
  static sum(collections: Iterable<Resources>): Resources {
    let builder: Builder | undefined;
    let only: Resources = Resources.EMPTY;
    for (const resources of collections) {
      if (resources.isEmpty()) continue;
      if (builder === undefined) {
        if (only.isEmpty()) {
          only = resources;
          continue;
        }
        builder = new Builder(only.list, only.counts);
      }
      resources.forEachEntry((item, count) => builder!.add(item, count));
    }
    return builder === undefined ? only : builder.build();
  }

  /**
   * Upgrades and normalizes wire resources. An invalid one throws RESOURCES_INVALID naming it, unless
   * `invalid: 'skip'`, which drops it silently the way Mesos' `Resources(RepeatedPtrField)` does.
   */
  static fromInputs(
    inputs: Iterable<ResourceInput>,
    options: { invalid?: 'throw' | 'skip' } = {},
  ): Resources {
    const builder = new Builder([], undefined);
    for (const input of inputs) {
      const error = validateResource(input);
      if (error !== undefined) {
        if (options.invalid === 'skip') continue;
        fail('RESOURCES_INVALID', { resource: `'${formatResourceInput(input)}'`, detail: error });
      }
      builder.add(toResourceItem(input), 1);
    }
    return builder.build();
  }

  /** Number of distinct items (a shared item counts once). */
  get size(): number {
    return this.list.length;
  }

  isEmpty(): boolean {
    return this.list.length === 0;
  }

  [Symbol.iterator](): Iterator<ResourceItem> {
    return this.list[Symbol.iterator]();
  }

  /** The items in insertion order (a shared item appears once). */
  items(): readonly ResourceItem[] {
    return this.list;
  }

  /** Calls `visit` with every item and its count (1 unless shared). */
  forEachEntry(visit: (item: ResourceItem, count: number) => void): void {
    for (let i = 0; i < this.list.length; i++) visit(this.list[i]!, this.counts?.[i] ?? 1);
  }

  /** How many copies of an item equal to `item` this holds: the shared count, 1, or 0 (Mesos' `count`). */
  countOf(item: ResourceItem): number {
    for (let i = 0; i < this.list.length; i++) {
      if (this.list[i]!.equals(item)) return this.counts?.[i] ?? 1;
    }
    return 0;
  }

  private lookupIndex(): PositionIndex | undefined {
    if (this.list.length <= INDEX_THRESHOLD) return undefined;
    this.index ??= buildIndex(this.list);
    return this.index;
  }

  // --- arithmetic ------------------------------------------------------------------------------------

  add(other: Resources | ResourceItem): Resources {
    if (other instanceof ResourceItem) {
      if (other.isEmpty()) return this;
      const builder = new Builder(this.list, this.counts);
      builder.add(other, 1);
      return builder.build();
    }
    if (other.list.length === 0) return this;
    if (this.list.length === 0) return other;
    const builder = new Builder(this.list, this.counts);
    other.forEachEntry((item, count) => builder.add(item, count));
    return builder.build();
  }

  subtract(other: Resources | ResourceItem): Resources {
    if (this.list.length === 0) return this;
    if (other instanceof ResourceItem) {
      if (other.isEmpty()) return this;
      const builder = new Builder(this.list, this.counts);
      builder.subtract(other, 1);
      return builder.build();
    }
    if (other.list.length === 0) return this;
    const builder = new Builder(this.list, this.counts);
    other.forEachEntry((item, count) => builder.subtract(item, count));
    return builder.build();
  }

  /** Whether `other` could be subtracted from this without running short (Mesos' `contains`). */
  contains(other: Resources | ResourceItem): boolean {
    if (other instanceof ResourceItem) {
      return (
        other.isEmpty() || findPosition(this.list, this.counts, this.lookupIndex(), other, 1, 'contain') >= 0
      );
    }
    if (other.list.length === 0) return true;
    if (other.list.length > 0 && this.list.length === 0) return false;
    const consumesExclusively = other.list.some((item) => item.exclusive || item.shared);
    if (!consumesExclusively) {
      const index = this.lookupIndex();
      for (let i = 0; i < other.list.length; i++) {
        if (findPosition(this.list, this.counts, index, other.list[i]!, 1, 'contain') < 0) return false;
      }
      return true;
    }
    // Two equal persistent volumes (or MOUNT disks) in `other` need two distinct ones here.
    const remaining = new Builder(this.list, this.counts);
    for (let i = 0; i < other.list.length; i++) {
      const item = other.list[i]!;
      const count = other.counts?.[i] ?? 1;
      if (!remaining.contains(item, count)) return false;
      if (item.exclusive || item.shared) remaining.subtract(item, count);
    }
    return true;
  }

  /** Same resources with the same metadata and amounts, in any order. */
  equals(other: Resources): boolean {
    if (this === other) return true;
    if (this.list.length !== other.list.length) return false;
    return this.contains(other) && other.contains(this);
  }

  // --- filters ---------------------------------------------------------------------------------------

  /** The items for which `predicate` holds (counts kept). */
  filter(predicate: (item: ResourceItem) => boolean): Resources {
    const items: ResourceItem[] = [];
    const counts: number[] | undefined = this.counts === undefined ? undefined : [];
    for (let i = 0; i < this.list.length; i++) {
      const item = this.list[i]!;
      if (!predicate(item)) continue;
      items.push(item);
      counts?.push(this.counts![i]!);
    }
    if (items.length === this.list.length) return this;
    return Resources.fromNormalized(items, counts?.every((count) => count === 1) ? undefined : counts);
  }

  /** Replaces every item (counts kept) and normalizes again, since changed items may now merge. */
  map(transform: (item: ResourceItem) => ResourceItem): Resources {
    const builder = new Builder([], undefined);
    this.forEachEntry((item, count) => builder.add(transform(item), count));
    return builder.build();
  }

  named(name: string): Resources {
    return this.filter((item) => item.name === name);
  }

  /** Reserved resources; with `role`, only those whose reservation role is exactly `role`. */
  reserved(role?: string): Resources {
    return role === undefined
      ? this.filter((item) => item.isReserved)
      : this.filter((item) => item.reservationRole === role);
  }

  unreserved(): Resources {
    return this.filter((item) => item.isUnreserved);
  }

  staticallyReserved(): Resources {
    return this.filter((item) => item.isStaticallyReserved);
  }

  dynamicallyReserved(): Resources {
    return this.filter((item) => item.isDynamicallyReserved);
  }

  /** Resources reserved to `role` or to any role below it (`eng` covers `eng/web`). */
  reservedToRoleSubtree(role: string): Resources {
    return this.filter(
      (item) => item.reservationRole !== undefined && isRoleInSubtree(item.reservationRole, role),
    );
  }

  /**
   * What a framework in `role` may be offered: unreserved resources and those reserved to `role` or to
   * one of its ancestors (a reservation for `eng` can go to `eng/web`).
   */
  allocatableTo(role: string): Resources {
    return this.filter((item) => {
      const reservationRole = item.reservationRole;
      return (
        reservationRole === undefined || reservationRole === role || isStrictSubroleOf(role, reservationRole)
      );
    });
  }

  /** Resources allocated to exactly `role`. */
  allocatedTo(role: string): Resources {
    return this.filter((item) => item.allocationInfo?.role === role);
  }

  /** Resources allocated to `role` or to any role below it. */
  allocatedToRoleSubtree(role: string): Resources {
    return this.filter(
      (item) => item.allocationRole !== undefined && isRoleInSubtree(item.allocationRole, role),
    );
  }

  unallocated(): Resources {
    return this.filter((item) => item.allocationInfo === undefined);
  }

  revocable(): Resources {
    return this.filter((item) => item.revocable);
  }

  nonRevocable(): Resources {
    return this.filter((item) => !item.revocable);
  }

  shared(): Resources {
    return this.filter((item) => item.shared);
  }

  nonShared(): Resources {
    return this.filter((item) => !item.shared);
  }

  persistentVolumes(): Resources {
    return this.filter((item) => item.isPersistentVolume);
  }

  scalars(): Resources {
    return this.filter((item) => item.type === 'SCALAR');
  }

  nonScalars(): Resources {
    return this.filter((item) => item.type !== 'SCALAR');
  }

  /** Resources from resource providers; with `providerId`, only that provider's. */
  fromProvider(providerId?: string): Resources {
    return providerId === undefined
      ? this.filter((item) => item.providerId !== undefined)
      : this.filter((item) => item.providerId === providerId);
  }

  /** Reserved resources grouped by reservation role (the innermost one). */
  reservations(): Map<string, Resources> {
    return this.groupBy((item) => item.reservationRole);
  }

  /** Allocated resources grouped by allocation role. */
  allocations(): Map<string, Resources> {
    return this.groupBy((item) => item.allocationRole);
  }

  private groupBy(keyOf: (item: ResourceItem) => string | undefined): Map<string, Resources> {
    const groups = new Map<string, Resources>();
    for (const key of new Set(this.list.map(keyOf))) {
      if (key !== undefined)
        groups.set(
          key,
          this.filter((item) => keyOf(item) === key),
        );
    }
    return groups;
  }

  // --- quantities ------------------------------------------------------------------------------------

  /** Distinct resource names in first-seen order. */
  names(): string[] {
    return [...new Set(this.list.map((item) => item.name))];
  }

  /** Resource name → value type (first seen when a name is used with two types). */
  types(): Map<string, ResourceValueType> {
    const types = new Map<string, ResourceValueType>();
    for (const item of this.list) if (!types.has(item.name)) types.set(item.name, item.type);
    return types;
  }

  /** Sum of the scalar resources named `name` in thousandths, whatever their metadata; 0 when absent. */
  scalarMilli(name: string): number {
    let milli = 0;
    for (const item of this.list)
      if (item.name === name && item.value instanceof Scalar) milli += item.value.milli;
    return milli;
  }

  /** Sum of the scalar resources named `name`, or undefined when there is none (Mesos' `get<Scalar>`). */
  scalar(name: string): number | undefined {
    let found = false;
    let milli = 0;
    for (const item of this.list) {
      if (item.name === name && item.value instanceof Scalar) {
        found = true;
        milli += item.value.milli;
      }
    }
    return found ? new Scalar(milli).value : undefined;
  }

  /** Name → total in thousandths for every scalar resource, in first-seen order. */
  scalarTotalsMilli(): Map<string, number> {
    const totals = new Map<string, number>();
    for (const item of this.list) {
      if (item.value instanceof Scalar)
        totals.set(item.name, (totals.get(item.name) ?? 0) + item.value.milli);
    }
    return totals;
  }

  /** Name → total for every scalar resource, in first-seen order. */
  scalarTotals(): Map<string, number> {
    const totals = new Map<string, number>();
    for (const [name, milli] of this.scalarTotalsMilli()) totals.set(name, new Scalar(milli).value);
    return totals;
  }

  /** Union of the ranges resources named `name`, or undefined when there is none. */
  ranges(name: string): Ranges | undefined {
    let union: Ranges | undefined;
    for (const item of this.list) {
      if (item.name !== name || item.type !== 'RANGES') continue;
      const value = item.value as Ranges;
      union = union === undefined ? value : union.add(value);
    }
    return union;
  }

  /** Union of the set resources named `name`, or undefined when there is none. */
  set(name: string): ValueSet | undefined {
    let union: ValueSet | undefined;
    for (const item of this.list) {
      if (item.name !== name || item.type !== 'SET') continue;
      const value = item.value as ValueSet;
      union = union === undefined ? value : union.add(value);
    }
    return union;
  }

  cpus(): number | undefined {
    return this.scalar('cpus');
  }

  mem(): number | undefined {
    return this.scalar('mem');
  }

  disk(): number | undefined {
    return this.scalar('disk');
  }

  gpus(): number | undefined {
    return this.scalar('gpus');
  }

  ports(): Ranges | undefined {
    return this.ranges('ports');
  }

  // --- transformations -------------------------------------------------------------------------------

  /** Every reservation removed (disk info, allocation and the rest kept). */
  toUnreserved(): Resources {
    if (this.list.every((item) => item.isUnreserved)) return this;
    return this.map((item) => (item.isUnreserved ? item : item.withMeta({ reservations: [] })));
  }

  /**
   * Pure quantities: every item stripped to name, type and value (no reservations, allocation, disk
   * info, revocable, shared or provider) and merged, so `cpus(eng):2; cpus:1` flattens to `cpus:3`. A
   * shared resource counts once, since all its copies use the same capacity.
   */
  flatten(): Resources {
    const builder = new Builder([], undefined);
    for (const item of this.list) builder.add(ResourceItem.create(item.name, item.value), 1);
    return builder.build();
  }

  /** Only the scalar resources, flattened (Mesos' `createStrippedScalarQuantity`). */
  toScalarQuantities(): Resources {
    return this.scalars().flatten();
  }

  /**
   * Pushes `reservation` onto every item's stack: reserves unreserved resources, or refines reserved
   * ones (`eng` → `eng/web`). Throws RESOURCES_INVALID when the result would be invalid (a STATIC
   * refinement, a role that does not refine the current one, role `*`).
   */
  pushReservation(reservation: Reservation): Resources {
    return this.map((item) => {
      const reservations = [...item.reservations, reservation];
      const error = validateReservationStack(reservations);
      if (error !== undefined) fail('RESOURCES_INVALID', { resource: `'${item}'`, detail: error });
      return item.withMeta({ reservations });
    });
  }

  /** Pops the innermost reservation of every item; throws RESOURCES_INVALID for an unreserved one. */
  popReservation(): Resources {
    return this.map((item) => {
      if (item.isUnreserved) {
        fail('RESOURCES_INVALID', {
          resource: `'${item}'`,
          detail: 'cannot pop the reservation of an unreserved resource',
        });
      }
      return item.withMeta({ reservations: item.reservations.slice(0, -1) });
    });
  }

  /** Every item allocated to `role` (Mesos' `allocate`). */
  allocate(role: string): Resources {
    if (this.list.every((item) => item.allocationInfo?.role === role)) return this;
    if (!this.list.every((item) => item.allocationInfo === undefined))
      return this.map((item) => item.withAllocation(role));
    // All unallocated and normalized: giving every item the same allocation merges nothing, so the
    // items map one to one and the result needs no re-normalizing.
    const result = new Resources(
      this.list.map((item) => item.withAllocation(role)),
      this.counts,
    );
    result.unallocatedSource = this;
    return result;
  }

  /** Allocation info removed from every item (Mesos' `unallocate`). */
  unallocate(): Resources {
    if (this.unallocatedSource !== undefined) return this.unallocatedSource;
    if (this.list.every((item) => item.allocationInfo === undefined)) return this;
    return this.map((item) => item.withAllocation(undefined));
  }

  // --- output ----------------------------------------------------------------------------------------

  /** Mesos' text: items joined by `; `, `{}` when empty. */
  toString(): string {
    return this.list.length === 0 ? '{}' : this.list.join('; ');
  }

  /** The wire shape of every item (a shared item once) in one of the §5.2 reservation formats. */
  toInputs(format: ResourceFormat = 'post-refinement'): ResourceInput[] {
    return this.list.map((item) => toInput(item, format));
  }
}

function reservationForPreRefinement(reservation: Reservation): ReservationInfo {
  const out: { principal?: string; labels?: ReservationInfo['labels'] } = {};
  if (reservation.principal !== undefined) out.principal = reservation.principal;
  if (reservation.labels !== undefined) out.labels = reservation.labels;
  return out;
}

/** One item in wire shape, in the given reservation format (Mesos' `convertResourceFormat`). */
export function toInput(item: ResourceItem, format: ResourceFormat): ResourceInput {
  const out: { -readonly [K in keyof ResourceInput]: ResourceInput[K] } = {
    name: item.name,
    type: item.type,
  };
  if (item.providerId !== undefined) out.providerId = item.providerId;
  const value = item.value;
  if (value instanceof Scalar) out.scalar = value.value;
  else if (item.type === 'RANGES') out.ranges = (value as Ranges).toArray();
  else out.set = (value as ValueSet).items();
  if (item.allocationInfo !== undefined) out.allocationInfo = item.allocationInfo;
  const reservations = item.reservations;
  if (format !== 'post-refinement') {
    if (reservations.length === 0) {
      out.role = '*';
    } else if (reservations.length === 1) {
      const only = reservations[0]!;
      out.role = only.role;
      if (only.type === 'DYNAMIC') out.reservation = reservationForPreRefinement(only);
    } else if (format === 'pre-refinement') {
      fail('RESOURCES_INVALID', {
        resource: `'${item}'`,
        detail: 'refined reservations cannot be expressed in the pre-reservation-refinement format',
      });
    }
  }
  if (format !== 'pre-refinement' && reservations.length > 0) out.reservations = reservations;
  if (item.disk !== undefined) out.disk = item.disk;
  if (item.revocable) out.revocable = true;
  if (item.shared) out.shared = true;
  return out;
}
