/**
 * Validation of wire resources with Mesos' rules and messages (`Resources::validate` and the master's
 * `validation::resource::validate`), and the upgrade of a valid `ResourceInput` into a `ResourceItem`.
 *
 * Functions named `validate…` return Mesos' message or undefined; they never throw, because callers
 * turn the message into different things (a 400 body, a TASK_ERROR reason, an operation error).
 * `assertValid…` throw RESOURCES_INVALID naming the resource.
 */
import { fail } from '../common/errors.js';
import { checkBound, Ranges } from './ranges.js';
import type { Reservation, ReservationInfo, ResourceInput, ResourceValue } from './resource.js';
import { formatResourceParts, ResourceItem } from './resource.js';
import { isStrictSubroleOf, validateRole } from './roles.js';
import { Scalar } from './scalar.js';
import { ValueSet } from './value-set.js';

function labelsEqualAsMultiset(
  left: ReservationInfo['labels'] | undefined,
  right: ReservationInfo['labels'] | undefined,
): boolean {
  if (left === undefined || right === undefined) return left === right;
  if (left.length !== right.length) return false;
  const counts = new Map<string, number>();
  for (const label of left) {
    const key = JSON.stringify([label.key, label.value ?? null]);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const label of right) {
    const key = JSON.stringify([label.key, label.value ?? null]);
    const count = counts.get(key) ?? 0;
    if (count === 0) return false;
    counts.set(key, count - 1);
  }
  return true;
}

function formatLabelsForMessage(labels: ReservationInfo['labels']): string {
  if (labels === undefined) return '';
  return `{${labels.map((label) => (label.value === undefined ? label.key : `${label.key}: ${label.value}`)).join(', ')}}`;
}

function validateValue(input: ResourceInput): string | undefined {
  switch (input.type) {
    case 'SCALAR': {
      if (input.scalar === undefined || input.ranges !== undefined || input.set !== undefined) {
        return 'Invalid scalar resource';
      }
      if (Number.isNaN(input.scalar)) return 'Invalid scalar resource: value is NaN';
      if (input.scalar < 0) return 'Invalid scalar resource: value < 0';
      if (!Number.isFinite(input.scalar)) return 'Invalid scalar resource: value is infinite';
      return undefined;
    }
    case 'RANGES': {
      if (input.scalar !== undefined || input.ranges === undefined || input.set !== undefined) {
        return 'Invalid ranges resource';
      }
      const ranges = input.ranges;
      for (const range of ranges) {
        const begin = checkBound(range.begin);
        const end = checkBound(range.end);
        if (typeof begin === 'string') return `Invalid ranges resource: begin ${begin}`;
        if (typeof end === 'string') return `Invalid ranges resource: end ${end}`;
        if (begin > end) return 'Invalid ranges resource: begin > end';
      }
      // Overlap check on a sorted copy: O(n log n) instead of Mesos' pairwise loop, same verdict.
      const sorted = ranges
        .map(
          (range) =>
            [checkBound(range.begin) as bigint | number, checkBound(range.end) as bigint | number] as const,
        )
        .sort((left, right) => (left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0));
      for (let i = 1; i < sorted.length; i++) {
        if (sorted[i]![0] <= sorted[i - 1]![1]) return 'Invalid ranges resource: overlapping ranges';
      }
      return undefined;
    }
    case 'SET': {
      if (input.scalar !== undefined || input.ranges !== undefined || input.set === undefined) {
        return 'Invalid set resource';
      }
      if (new Set(input.set).size !== input.set.length) return 'Invalid set resource: duplicated elements';
      return undefined;
    }
    default:
      return 'Unsupported resource type';
  }
}

/** Checks a post-refinement reservation stack: typed, valid roles, each level refining the one before. */
export function validateReservationStack(reservations: readonly ReservationInfo[]): string | undefined {
  if (reservations.length === 0) return undefined;
  for (const reservation of reservations) {
    if (reservation.type === undefined) return "Invalid reservation: 'type' must be set";
    if (reservation.type === 'UNKNOWN') return "Unsupported 'Resource.ReservationInfo.type'";
    if (reservation.role === undefined) return "Invalid reservation: 'role' must be set";
    const roleError = validateRole(reservation.role);
    if (roleError !== undefined) return roleError;
    if (reservation.role === '*') return 'Invalid reservation: role "*" cannot be reserved';
  }
  let ancestor = reservations[0]!.role!;
  for (let i = 1; i < reservations.length; i++) {
    const reservation = reservations[i]!;
    if (reservation.type === 'STATIC') {
      return 'Invalid refined reservation: A refined reservation cannot be STATIC';
    }
    const descendant = reservation.role!;
    if (!isStrictSubroleOf(descendant, ancestor)) {
      return `Invalid refined reservation: role '${descendant}' is not a refinement of '${ancestor}'`;
    }
    ancestor = descendant;
  }
  return undefined;
}

function validateReservationFormat(input: ResourceInput): string | undefined {
  const reservations = input.reservations ?? [];
  if (reservations.length === 0) {
    // The pre-refinement format: `role` (default `*`) plus an optional dynamic `reservation`.
    const role = input.role ?? '*';
    const roleError = validateRole(role);
    if (roleError !== undefined) return roleError;
    if (input.reservation !== undefined) {
      if (input.reservation.type !== undefined) {
        return "'Resource.ReservationInfo.type' must not be set for the 'Resource.reservation' field";
      }
      if (input.reservation.role !== undefined) {
        return "'Resource.ReservationInfo.role' must not be set for the 'Resource.reservation' field";
      }
      if (role === '*') return 'Invalid reservation: role "*" cannot be dynamically reserved';
    }
    return undefined;
  }

  const stackError = validateReservationStack(reservations);
  if (stackError !== undefined) return stackError;

  // The endpoint format may also set `role`/`reservation`, if they agree with a single reservation.
  if (reservations.length === 1) {
    const only = reservations[0]!;
    if (input.role !== undefined && input.role !== only.role) {
      return (
        `Invalid resource format: 'Resource.role' field with '${input.role}' does not match the role ` +
        `'${only.role}' in 'Resource.reservations'`
      );
    }
    switch (only.type) {
      case 'STATIC':
        if (input.reservation !== undefined) {
          return (
            "Invalid resource format: 'Resource.reservation' must not be set if the single reservation in " +
            "'Resource.reservations' is STATIC"
          );
        }
        break;
      case 'DYNAMIC':
        if ((input.role !== undefined) !== (input.reservation !== undefined)) {
          return (
            "Invalid resource format: 'Resource.role' and 'Resource.reservation' must either be both set or " +
            "both not set if the single reservation in 'Resource.reservations' is DYNAMIC"
          );
        }
        if (
          input.reservation !== undefined &&
          (input.reservation.principal ?? '') !== (only.principal ?? '')
        ) {
          return (
            `Invalid resource format: 'Resource.reservation.principal' with '${input.reservation.principal ?? ''}' ` +
            `does not match the principal '${only.principal ?? ''}' in 'Resource.reservations'`
          );
        }
        if (
          input.reservation !== undefined &&
          !labelsEqualAsMultiset(input.reservation.labels ?? [], only.labels ?? [])
        ) {
          return (
            `Invalid resource format: 'Resource.reservation.labels' with '${formatLabelsForMessage(input.reservation.labels ?? [])}' ` +
            `does not match the labels '${formatLabelsForMessage(only.labels ?? [])}' in 'Resource.reservations'`
          );
        }
        break;
      default:
        return "Unsupported 'Resource.ReservationInfo.type'";
    }
  } else {
    if (input.role !== undefined) {
      return (
        "Invalid resource format: 'Resource.role' must not be set if there is more than one reservation in " +
        "'Resource.reservations'"
      );
    }
    if (input.reservation !== undefined) {
      return (
        "Invalid resource format: 'Resource.reservation' must not be set if there is more than one " +
        "reservation in 'Resource.reservations'"
      );
    }
  }
  return undefined;
}

/** Mesos' `Resources::validate(const Resource&)`: the message, or undefined when valid. */
export function validateResource(input: ResourceInput): string | undefined {
  if (input.name === '') return 'Empty resource name';
  const valueError = validateValue(input);
  if (valueError !== undefined) return valueError;
  if (input.disk !== undefined && input.name !== 'disk') {
    return `DiskInfo should not be set for ${input.name} resource`;
  }
  const formatError = validateReservationFormat(input);
  if (formatError !== undefined) return formatError;
  if (input.shared) {
    if (input.name !== 'disk') return `Resource ${input.name} cannot be shared`;
    if (input.disk?.persistence === undefined) return 'Only persistent volumes can be shared';
  }
  return undefined;
}

/** Mesos' `Resources::validate(const RepeatedPtrField<Resource>&)`: names the first invalid resource. */
export function validateResources(inputs: Iterable<ResourceInput>): string | undefined {
  for (const input of inputs) {
    const error = validateResource(input);
    if (error !== undefined) return `Resource '${formatResourceInput(input)}' is invalid: ${error}`;
  }
  return undefined;
}

/** Throws RESOURCES_INVALID for the first invalid resource, naming it. */
export function assertValidResources(inputs: Iterable<ResourceInput>): void {
  for (const input of inputs) {
    const error = validateResource(input);
    if (error !== undefined)
      fail('RESOURCES_INVALID', { resource: `'${formatResourceInput(input)}'`, detail: error });
  }
}

/** The reservation stack an input stands for, whichever format it is in (input assumed valid). */
export function reservationsOf(input: ResourceInput): Reservation[] {
  if (input.reservations !== undefined && input.reservations.length > 0) {
    return input.reservations.map((reservation) => cleanReservation(reservation));
  }
  const role = input.role ?? '*';
  if (role === '*') return [];
  if (input.reservation === undefined) return [{ type: 'STATIC', role }];
  return [cleanReservation({ ...input.reservation, type: 'DYNAMIC', role })];
}

function cleanReservation(reservation: ReservationInfo): Reservation {
  const out: { -readonly [K in keyof Reservation]: Reservation[K] } = {
    type: reservation.type as 'STATIC' | 'DYNAMIC',
    role: reservation.role as string,
  };
  if (reservation.principal !== undefined) out.principal = reservation.principal;
  if (reservation.labels !== undefined) out.labels = reservation.labels;
  return out;
}

function normalizedValueOf(input: ResourceInput): ResourceValue {
  switch (input.type) {
    case 'SCALAR':
      return Scalar.of(input.scalar ?? 0);
    case 'RANGES':
      return Ranges.of(input.ranges ?? []);
    default:
      return ValueSet.of(input.set ?? []);
  }
}

/**
 * Upgrades a resource that `validateResource` accepted into the normalized post-refinement item. The
 * scalar is rounded to 0.001 and ranges coalesce; nothing else changes.
 */
export function toResourceItem(input: ResourceInput): ResourceItem {
  return ResourceItem.create(input.name, normalizedValueOf(input), {
    reservations: reservationsOf(input),
    allocationInfo: input.allocationInfo,
    disk: input.disk,
    revocable: input.revocable ?? false,
    shared: input.shared ?? false,
    providerId: input.providerId,
  });
}

/** Mesos' text for a possibly invalid input, for error messages. */
export function formatResourceInput(input: ResourceInput): string {
  let reservations: readonly ReservationInfo[];
  if (input.reservations !== undefined && input.reservations.length > 0) reservations = input.reservations;
  else if (input.role === undefined || input.role === '*') reservations = [];
  else if (input.reservation === undefined) reservations = [{ type: 'STATIC', role: input.role }];
  else reservations = [{ ...input.reservation, type: 'DYNAMIC', role: input.role }];
  const head = formatResourceParts(
    input.name,
    input.allocationInfo,
    reservations,
    input.disk,
    input.revocable ?? false,
    input.shared ?? false,
  );
  switch (input.type) {
    case 'SCALAR':
      return head + String(input.scalar ?? '');
    case 'RANGES':
      return `${head}[${(input.ranges ?? []).map((range) => `${range.begin}-${range.end}`).join(', ')}]`;
    case 'SET':
      return `${head}{${(input.set ?? []).join(', ')}}`;
    default:
      return head;
  }
}

// ---------------------------------------------------------------------------------------------------
// The master's additional checks (`validation::resource::validate` and friends), applied to resources
// that a framework or operator sends (tasks, executors, offer operations).

/** Persistence ids become directory names: no slashes, backslashes, whitespace or control bytes. */
const INVALID_PERSISTENCE_ID_CHARACTER = /[/\\\s\x00-\x1f\x7f]/;

function gpusTotalMilli(inputs: readonly ResourceInput[]): number {
  let milli = 0;
  for (const input of inputs) {
    if (input.name === 'gpus' && input.type === 'SCALAR' && input.scalar !== undefined) {
      milli += Scalar.of(input.scalar).milli;
    }
  }
  return milli;
}

/** Mesos' `validateGpus`: GPUs are whole devices. */
export function validateGpus(inputs: readonly ResourceInput[]): string | undefined {
  return gpusTotalMilli(inputs) % 1000 !== 0 ? "The 'gpus' resource must be an unsigned integer" : undefined;
}

/** Mesos' `validateDiskInfo`: persistent volumes only on reserved, non-revocable disk, and so on. */
export function validateDiskInfo(inputs: readonly ResourceInput[]): string | undefined {
  for (const input of inputs) {
    const disk = input.disk;
    if (disk === undefined) continue;
    if (disk.persistence !== undefined) {
      if (reservationsOf(input).length === 0) {
        return 'Persistent volumes cannot be created from unreserved resources';
      }
      if (input.revocable) return 'Persistent volumes cannot be created from revocable resources';
      if (disk.volume === undefined) return "Expecting 'volume' to be set for persistent volume";
      if (disk.volume.hostPath !== undefined)
        return "Expecting 'host_path' to be unset for persistent volume";
      const id = disk.persistence.id;
      if (id === '' || INVALID_PERSISTENCE_ID_CHARACTER.test(id)) {
        return `Persistence ID '${id}' contains invalid characters`;
      }
    } else if (disk.volume !== undefined) {
      return 'Non-persistent volume not supported';
    } else if (disk.source === undefined) {
      return 'DiskInfo is set but empty';
    }
  }
  return undefined;
}

/** Mesos' `validateDynamicReservationInfo`: a dynamic reservation cannot be revocable. */
export function validateDynamicReservationInfo(inputs: readonly ResourceInput[]): string | undefined {
  for (const input of inputs) {
    const reservations = reservationsOf(input);
    if (reservations[reservations.length - 1]?.type === 'DYNAMIC' && input.revocable) {
      return `Dynamically reserved resource ${formatResourceInput(input)} cannot be created from revocable resources`;
    }
  }
  return undefined;
}

/** Mesos' `validateRevocableAndNonRevocableResources` (task and executor resources). */
export function validateRevocableMix(inputs: readonly ResourceInput[]): string | undefined {
  const revocable = new Set<string>();
  const nonRevocable = new Set<string>();
  for (const input of inputs) (input.revocable ? revocable : nonRevocable).add(input.name);
  for (const name of revocable) {
    if (nonRevocable.has(name))
      return `Cannot use both revocable and non-revocable '${name}' at the same time`;
  }
  return undefined;
}

/** Mesos' `validateUniquePersistenceID`: a persistence id is unique within its role. */
export function validateUniquePersistenceIds(inputs: readonly ResourceInput[]): string | undefined {
  const seen = new Set<string>();
  for (const input of inputs) {
    const id = input.disk?.persistence?.id;
    if (id === undefined) continue;
    const role = reservationsOf(input).at(-1)?.role ?? '*';
    const key = JSON.stringify([role, id]);
    if (seen.has(key)) return `Persistence ID '${id}' is not unique`;
    seen.add(key);
  }
  return undefined;
}

/**
 * The master's validation of resources it receives from frameworks and operators, with Mesos' prefixes
 * (`Invalid resources: …`, `Invalid DiskInfo: …`): the text to put in a TASK_ERROR or a 400.
 */
export function validateResourcesForMaster(inputs: readonly ResourceInput[]): string | undefined {
  const invalid = validateResources(inputs);
  if (invalid !== undefined) return `Invalid resources: ${invalid}`;
  const gpus = validateGpus(inputs);
  if (gpus !== undefined) return `Invalid 'gpus' resource: ${gpus}`;
  const disk = validateDiskInfo(inputs);
  if (disk !== undefined) return `Invalid DiskInfo: ${disk}`;
  const reservation = validateDynamicReservationInfo(inputs);
  if (reservation !== undefined) return `Invalid ReservationInfo: ${reservation}`;
  return undefined;
}
