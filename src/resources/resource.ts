/**
 * One resource: the lean, normalized model of `mesos.v1.Resource` that the collection works on.
 *
 * Two shapes live here:
 *  - `ResourceInput` mirrors the wire message field for field (camelCase, presence kept: an absent
 *    field is `undefined`), in whichever reservation format it arrived. It may be invalid; it is what
 *    validation looks at and what format conversion produces.
 *  - `ResourceItem` is a valid resource in the post-refinement format (reservations as a stack, no
 *    `role`/`reservation`), with its value normalized (scalar in thousandths, ranges coalesced) and a
 *    precomputed identity key. Items are immutable and shared freely between collections.
 *
 * The identity key encodes exactly what Mesos' `operator==(Resource, Resource)` compares apart from the
 * value: name, type, allocation info, the reservation stack (labels compared as a multiset), the disk
 * source and persistence id (not the volume or the persistence principal: Mesos ignores those, since a
 * framework may mount the same volume differently each time), revocable, shared and provider id.
 */
import type { Range } from './ranges.js';
import { Ranges } from './ranges.js';
import { Scalar } from './scalar.js';
import { ValueSet } from './value-set.js';

/** `Value.Type` names. Resources use SCALAR, RANGES and SET; attributes may also be TEXT. */
export type ValueTypeName = 'SCALAR' | 'RANGES' | 'SET' | 'TEXT';
/** The value types a resource may have. */
export type ResourceValueType = 'SCALAR' | 'RANGES' | 'SET';
export type ResourceValue = Scalar | Ranges | ValueSet;

export interface Label {
  readonly key: string;
  readonly value?: string;
}

export type ReservationType = 'UNKNOWN' | 'STATIC' | 'DYNAMIC';

/** `Resource.ReservationInfo` as it appears on the wire (any field may be absent). */
export interface ReservationInfo {
  readonly type?: ReservationType;
  readonly role?: string;
  readonly principal?: string;
  /** `Labels.labels`; `[]` means a `labels` message with no entries, `undefined` no `labels` at all. */
  readonly labels?: readonly Label[];
}

/** One level of a valid reservation stack: type and role always set. */
export interface Reservation extends ReservationInfo {
  readonly type: 'STATIC' | 'DYNAMIC';
  readonly role: string;
}

export interface AllocationInfo {
  readonly role?: string;
}

export type DiskSourceType = 'UNKNOWN' | 'PATH' | 'MOUNT' | 'BLOCK' | 'RAW';

export interface DiskSource {
  readonly type: DiskSourceType;
  readonly path?: { readonly root?: string };
  readonly mount?: { readonly root?: string };
  readonly vendor?: string;
  readonly id?: string;
  readonly metadata?: readonly Label[];
  readonly profile?: string;
}

export interface Persistence {
  readonly id: string;
  readonly principal?: string;
}

export type VolumeMode = 'RW' | 'RO';

/**
 * `Volume` as used inside `DiskInfo`. Persistent volumes only use `containerPath` and `mode`;
 * `hostPath` is modelled so validation can reject it. `extra` carries any other `Volume` fields (image,
 * source) untouched between the wire and back; this module never interprets it.
 */
export interface VolumeInfo {
  readonly containerPath: string;
  readonly hostPath?: string;
  readonly mode?: VolumeMode;
  readonly extra?: unknown;
}

export interface DiskInfo {
  readonly persistence?: Persistence;
  readonly volume?: VolumeInfo;
  readonly source?: DiskSource;
}

/** `mesos.v1.Resource` field for field; may be invalid and in any reservation format. */
export interface ResourceInput {
  readonly providerId?: string;
  readonly name: string;
  /** `UNKNOWN` stands for an enum number the wire did not know. */
  readonly type: ValueTypeName | 'UNKNOWN';
  readonly scalar?: number;
  /** `Value.Ranges.range`; `[]` means an empty `ranges` message, `undefined` no `ranges` at all. */
  readonly ranges?: readonly Range[];
  readonly set?: readonly string[];
  /** Pre-refinement role; `undefined` when the field is unset (which Mesos reads as `*`). */
  readonly role?: string;
  readonly allocationInfo?: AllocationInfo;
  /** Pre-refinement dynamic reservation (`type` and `role` must be unset). */
  readonly reservation?: ReservationInfo;
  readonly reservations?: readonly ReservationInfo[];
  readonly disk?: DiskInfo;
  readonly revocable?: boolean;
  readonly shared?: boolean;
}

/** The metadata of a resource, everything but name and value. */
export interface ResourceMeta {
  readonly reservations?: readonly Reservation[];
  readonly allocationInfo?: AllocationInfo;
  readonly disk?: DiskInfo;
  readonly revocable?: boolean;
  readonly shared?: boolean;
  readonly providerId?: string;
}

const SEP = '\u0001';

/**
 * Key fragments are length-prefixed (`5:hello`), so concatenating them is unambiguous without any
 * escaping; absent optional fields are a marker that cannot start a length (`-`).
 */
function part(text: string): string {
  return `${text.length}:${text}`;
}

function optionalPart(text: string | undefined): string {
  return text === undefined ? '-' : part(text);
}

function labelsKey(labels: readonly Label[] | undefined): string {
  if (labels === undefined) return '-';
  if (labels.length === 0) return '[]';
  // Mesos compares labels as a multiset: order must not change the key.
  const parts = labels.map((label) => part(label.key) + optionalPart(label.value));
  if (parts.length > 1) parts.sort();
  return `[${parts.join('')}]`;
}

function reservationKey(reservation: Reservation): string {
  return (
    (reservation.type === 'STATIC' ? 'S' : 'D') +
    part(reservation.role) +
    optionalPart(reservation.principal) +
    labelsKey(reservation.labels)
  );
}

function diskKey(disk: DiskInfo | undefined): string {
  if (disk === undefined) return '-';
  const source = disk.source;
  let key = 'd';
  if (source === undefined) key += '-';
  else {
    key += `${source.type}:`;
    key += source.path === undefined ? '-' : `p${optionalPart(source.path.root)}`;
    key += source.mount === undefined ? '-' : `m${optionalPart(source.mount.root)}`;
    key += optionalPart(source.vendor) + optionalPart(source.id) + optionalPart(source.profile);
    key += labelsKey(source.metadata);
  }
  return key + optionalPart(disk.persistence?.id);
}

function allocationKey(allocation: AllocationInfo | undefined): string {
  if (allocation === undefined) return '-';
  return allocation.role === undefined ? '+' : part(allocation.role);
}

/**
 * Exclusive resources stand for one physical thing (a MOUNT or BLOCK disk, an identified RAW disk, a
 * persistent volume): two of them never merge, and one is only subtracted or contained by its equal.
 */
function isExclusive(disk: DiskInfo | undefined): boolean {
  if (disk === undefined) return false;
  if (disk.persistence !== undefined) return true;
  const type = disk.source?.type;
  return type === 'MOUNT' || type === 'BLOCK' || (type === 'RAW' && disk.source?.id !== undefined);
}

/** One shared, frozen `{role}` per role: allocation info is immutable, so items can share it. */
const allocationInfos = new Map<string, AllocationInfo>();

function allocationInfoFor(role: string): AllocationInfo {
  let info = allocationInfos.get(role);
  if (info === undefined) {
    info = Object.freeze({ role });
    // Roles are few; the bound only guards against a caller inventing a role per call.
    if (allocationInfos.size < 10_000) allocationInfos.set(role, info);
  }
  return info;
}

/** A valid resource in the post-refinement format with a normalized value. Immutable. */
export class ResourceItem {
  readonly name: string;
  readonly type: ResourceValueType;
  readonly value: ResourceValue;
  /** The reservation stack, outermost (static or first dynamic) first; empty when unreserved. */
  readonly reservations: readonly Reservation[];
  readonly allocationInfo: AllocationInfo | undefined;
  readonly disk: DiskInfo | undefined;
  readonly revocable: boolean;
  readonly shared: boolean;
  readonly providerId: string | undefined;
  /** Identity of everything Mesos compares except the value (see the file comment). */
  readonly key: string;
  /** The key without the allocation part, so (un)allocating re-keys cheaply. */
  private readonly keyWithoutAllocation: string;
  /** See `isExclusive`; shared resources are handled by count instead. */
  readonly exclusive: boolean;

  private constructor(
    name: string,
    type: ResourceValueType,
    value: ResourceValue,
    meta: ResourceMeta,
    keyWithoutAllocation: string,
  ) {
    this.name = name;
    this.type = type;
    this.value = value;
    this.reservations = meta.reservations ?? [];
    this.allocationInfo = meta.allocationInfo;
    this.disk = meta.disk;
    this.revocable = meta.revocable ?? false;
    this.shared = meta.shared ?? false;
    this.providerId = meta.providerId;
    this.keyWithoutAllocation = keyWithoutAllocation;
    this.key = keyWithoutAllocation + SEP + allocationKey(this.allocationInfo);
    this.exclusive = !this.shared && isExclusive(this.disk);
  }

  /** Builds an item from parts that are already valid (see `validateResource` for wire input). */
  static create(name: string, value: ResourceValue, meta: ResourceMeta = {}): ResourceItem {
    const type: ResourceValueType =
      value instanceof Scalar ? 'SCALAR' : value instanceof Ranges ? 'RANGES' : 'SET';
    const reservations = meta.reservations ?? [];
    let key = part(name) + type;
    for (const reservation of reservations) key += `|${reservationKey(reservation)}`;
    key += SEP + diskKey(meta.disk) + (meta.revocable ? 'R' : '-') + (meta.shared ? 'S' : '-');
    key += optionalPart(meta.providerId);
    return new ResourceItem(name, type, value, meta, key);
  }

  /** An unreserved scalar resource, e.g. `scalar('cpus', 1.5)`. */
  static scalar(name: string, value: number, meta: ResourceMeta = {}): ResourceItem {
    return ResourceItem.create(name, Scalar.of(value), meta);
  }

  /** A ranges resource, e.g. `ranges('ports', [[31000, 32000]])`. */
  static ranges(
    name: string,
    ranges: Ranges | Iterable<Range | readonly [number, number]>,
    meta: ResourceMeta = {},
  ) {
    return ResourceItem.create(name, ranges instanceof Ranges ? ranges : Ranges.of(ranges), meta);
  }

  /** A set resource, e.g. `set('disks', ['sda', 'sdb'])`. */
  static set(name: string, items: Iterable<string>, meta: ResourceMeta = {}): ResourceItem {
    return ResourceItem.create(name, ValueSet.of(items), meta);
  }

  /** The metadata, for building a modified copy. */
  get meta(): ResourceMeta {
    return {
      reservations: this.reservations,
      allocationInfo: this.allocationInfo,
      disk: this.disk,
      revocable: this.revocable,
      shared: this.shared,
      providerId: this.providerId,
    };
  }

  /** The same resource with another value of the same type. */
  withValue(value: ResourceValue): ResourceItem {
    return new ResourceItem(this.name, this.type, value, this.meta, this.keyWithoutAllocation);
  }

  /** The same resource with some metadata replaced. */
  withMeta(changes: ResourceMeta): ResourceItem {
    return ResourceItem.create(this.name, this.value, { ...this.meta, ...changes });
  }

  /** The same resource allocated to `role` (or unallocated when `role` is undefined). */
  withAllocation(role: string | undefined): ResourceItem {
    // Built field by field (not `{...this.meta}`): offers tag every item, so this runs a lot.
    const meta: ResourceMeta = {
      reservations: this.reservations,
      allocationInfo: role === undefined ? undefined : allocationInfoFor(role),
      disk: this.disk,
      revocable: this.revocable,
      shared: this.shared,
      providerId: this.providerId,
    };
    return new ResourceItem(this.name, this.type, this.value, meta, this.keyWithoutAllocation);
  }

  /** The scalar value as a floating number (0 for non-scalars). */
  get scalar(): number {
    return this.value instanceof Scalar ? this.value.value : 0;
  }

  /** The scalar value in thousandths (0 for non-scalars). */
  get milli(): number {
    return this.value instanceof Scalar ? this.value.milli : 0;
  }

  /** The role of the innermost reservation, i.e. who the resource is reserved for. */
  get reservationRole(): string | undefined {
    return this.reservations[this.reservations.length - 1]?.role;
  }

  /** The role this resource is allocated to, if any. */
  get allocationRole(): string | undefined {
    return this.allocationInfo?.role;
  }

  get isReserved(): boolean {
    return this.reservations.length > 0;
  }

  get isUnreserved(): boolean {
    return this.reservations.length === 0;
  }

  get isDynamicallyReserved(): boolean {
    return this.reservations[this.reservations.length - 1]?.type === 'DYNAMIC';
  }

  get isStaticallyReserved(): boolean {
    return this.reservations[this.reservations.length - 1]?.type === 'STATIC';
  }

  /** More than one reservation: a refinement such as `eng` → `eng/web`. */
  get hasRefinedReservations(): boolean {
    return this.reservations.length > 1;
  }

  get isPersistentVolume(): boolean {
    return this.disk?.persistence !== undefined;
  }

  /** The disk source type (`PATH`, `MOUNT`, …), or undefined for a plain (root) disk. */
  get diskSourceType(): DiskSourceType | undefined {
    return this.disk?.source?.type;
  }

  isEmpty(): boolean {
    return this.value.isEmpty();
  }

  /** Mesos' `operator==(Resource, Resource)`. */
  equals(other: ResourceItem): boolean {
    return this === other || (this.key === other.key && valuesEqual(this.value, other.value));
  }

  /** Mesos' text form, e.g. `cpus(allocated: eng)(reservations: [(STATIC,eng)]):4`. */
  toString(): string {
    return (
      formatResourceParts(
        this.name,
        this.allocationInfo,
        this.reservations,
        this.disk,
        this.revocable,
        this.shared,
      ) + this.value.toString()
    );
  }
}

export function valuesEqual(left: ResourceValue, right: ResourceValue): boolean {
  if (left instanceof Scalar) return right instanceof Scalar && left.milli === right.milli;
  if (left instanceof Ranges) return right instanceof Ranges && left.equals(right);
  return right instanceof ValueSet && left.equals(right);
}

export function addValues(left: ResourceValue, right: ResourceValue): ResourceValue {
  if (left instanceof Scalar) return left.add(right as Scalar);
  if (left instanceof Ranges) return left.add(right as Ranges);
  return left.add(right as ValueSet);
}

export function subtractValues(left: ResourceValue, right: ResourceValue): ResourceValue {
  if (left instanceof Scalar) return left.subtract(right as Scalar);
  if (left instanceof Ranges) return left.subtract(right as Ranges);
  return left.subtract(right as ValueSet);
}

export function valueContains(outer: ResourceValue, inner: ResourceValue): boolean {
  if (outer instanceof Scalar) return outer.milli >= (inner as Scalar).milli;
  if (outer instanceof Ranges) return outer.contains(inner as Ranges);
  return outer.contains(inner as ValueSet);
}

/** Mesos' `Labels` text: `{k1: v1, k2}`. */
export function formatLabels(labels: readonly Label[]): string {
  return `{${labels.map((label) => (label.value === undefined ? label.key : `${label.key}: ${label.value}`)).join(', ')}}`;
}

/** Mesos' `ReservationInfo` text: `DYNAMIC,eng,principal,{k: v}`. */
export function formatReservation(reservation: ReservationInfo): string {
  let text = `${reservation.type ?? 'UNKNOWN'},${reservation.role ?? ''}`;
  if (reservation.principal !== undefined) text += `,${reservation.principal}`;
  if (reservation.labels !== undefined) text += `,${formatLabels(reservation.labels)}`;
  return text;
}

/** Mesos' `DiskInfo` text: `MOUNT:/mnt/a,vol1:data:rw`. */
export function formatDisk(disk: DiskInfo): string {
  let text = '';
  const source = disk.source;
  if (source !== undefined) {
    text += source.type;
    const root =
      source.type === 'MOUNT' ? source.mount?.root : source.type === 'PATH' ? source.path?.root : undefined;
    if (root !== undefined) text += `:${root}`;
  }
  if (disk.persistence !== undefined) {
    if (source !== undefined) text += ',';
    text += disk.persistence.id;
  }
  if (disk.volume !== undefined) {
    let volume = disk.volume.containerPath;
    if (disk.volume.hostPath !== undefined) volume = `${disk.volume.hostPath}:${volume}`;
    if (disk.volume.mode !== undefined) volume += `:${disk.volume.mode.toLowerCase()}`;
    text += `:${volume}`;
  }
  return text;
}

/** Everything of Mesos' resource text before the value, ending with `:`. */
export function formatResourceParts(
  name: string,
  allocationInfo: AllocationInfo | undefined,
  reservations: readonly ReservationInfo[],
  disk: DiskInfo | undefined,
  revocable: boolean,
  shared: boolean,
): string {
  let text = name;
  if (allocationInfo !== undefined) text += `(allocated: ${allocationInfo.role ?? ''})`;
  if (reservations.length > 0) {
    text += `(reservations: [${reservations.map((reservation) => `(${formatReservation(reservation)})`).join(',')}])`;
  }
  if (disk !== undefined) text += `[${formatDisk(disk)}]`;
  if (revocable) text += '{REV}';
  if (shared) text += '<SHARED>';
  return `${text}:`;
}
