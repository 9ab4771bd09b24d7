/**
 * Offer operations on resources (§2.4): RESERVE, UNRESERVE, CREATE, DESTROY, GROW_VOLUME and
 * SHRINK_VOLUME as pure conversions (Mesos' `ResourceConversion`s and `Resources::apply`), and the
 * resource-level parts of the master's validation of each.
 *
 * `apply…` functions consume some resources and produce others: they throw RESOURCES_INSUFFICIENT
 * (`<available> does not contain <consumed>`) when the consumed part is not available and
 * RESOURCES_INVALID for an operation that is malformed in itself. Each converted resource is applied
 * in order, seeing the result of the previous one, like Mesos. The total amount never changes.
 *
 * `validate…` functions return the message to report (OPERATION_ERROR / 400 / 409), or undefined.
 * Authorization and capability checks that need framework or agent state stay with the master; the
 * inputs they depend on (authenticated principal, allocation role, SHARED_RESOURCES) are parameters.
 */
import { fail } from '../common/errors.js';
import type { ResourceInput, ResourceItem } from './resource.js';
import { Resources } from './resources.js';
import { isStrictSubroleOf } from './roles.js';
import { Scalar } from './scalar.js';
import {
  formatResourceInput,
  reservationsOf,
  validateResourcesForMaster,
  validateUniquePersistenceIds,
} from './validate.js';

function invalid(operation: string, detail: string): never {
  return fail('RESOURCES_INVALID', { resource: `in ${operation} operation`, detail });
}

/** Replaces `consumed` by `converted` in `resources`, or throws RESOURCES_INSUFFICIENT. */
export function applyConversion(resources: Resources, consumed: Resources, converted: Resources): Resources {
  if (!resources.contains(consumed)) {
    fail('RESOURCES_INSUFFICIENT', { detail: `${resources} does not contain ${consumed}` });
  }
  return resources.subtract(consumed).add(converted);
}

/** Strips the volume parts from a persistent volume, giving back the disk it was created from. */
function volumeToDisk(volume: ResourceItem): ResourceItem {
  const disk = volume.disk;
  const source = disk?.source;
  return volume.withMeta({ disk: source === undefined ? undefined : { source }, shared: false });
}

/**
 * RESERVE: each resource (carrying its new, dynamic reservation on top) is made from the same
 * resource with that reservation popped. With `source` (1.10 re-reservation), `source` as a whole is
 * turned into `reserved`, which must hold the same quantities.
 */
export function applyReserve(available: Resources, reserved: Resources, source?: Resources): Resources {
  if (source !== undefined && !source.isEmpty()) {
    if (!source.toUnreserved().flatten().equals(reserved.toUnreserved().flatten())) {
      invalid('RESERVE', "'source' and 'resources' must hold the same resource quantities");
    }
    return applyConversion(available, source, reserved);
  }
  let result = available;
  for (const item of reserved) {
    if (!item.isReserved) invalid('RESERVE', 'Resource must be reserved');
    if (!item.isDynamicallyReserved) invalid('RESERVE', 'Resource must be dynamically reserved');
    const single = Resources.of(item);
    result = applyConversion(result, single.popReservation(), single);
  }
  return result;
}

/** UNRESERVE: each dynamically reserved resource loses its innermost reservation. */
export function applyUnreserve(available: Resources, reserved: Resources): Resources {
  let result = available;
  for (const item of reserved) {
    if (!item.isReserved) invalid('UNRESERVE', 'Resource is not reserved');
    if (!item.isDynamicallyReserved) invalid('UNRESERVE', 'Resource is not dynamically reserved');
    if (item.isPersistentVolume) {
      invalid(
        'UNRESERVE',
        `Dynamically reserved persistent volume ${item} cannot be unreserved directly. Please destroy the ` +
          'persistent volume first then unreserve the resource',
      );
    }
    const single = Resources.of(item);
    result = applyConversion(result, single, single.popReservation());
  }
  return result;
}

/** CREATE: each persistent volume is made from the (reserved) disk it sits on. */
export function applyCreate(available: Resources, volumes: Resources): Resources {
  let result = available;
  volumes.forEachEntry((volume, count) => {
    if (volume.disk === undefined) invalid('CREATE', "Missing 'disk'");
    if (!volume.isPersistentVolume) invalid('CREATE', "Missing 'persistence'");
    for (let copy = 0; copy < count; copy++) {
      result = applyConversion(result, Resources.of(volumeToDisk(volume)), Resources.of(volume));
    }
  });
  return result;
}

/**
 * DESTROY: each persistent volume goes back to plain disk. A shared volume can only be destroyed
 * once no other copy of it remains (i.e. no task still holds it).
 */
export function applyDestroy(available: Resources, volumes: Resources): Resources {
  let result = available;
  for (const volume of volumes) {
    if (volume.disk === undefined) invalid('DESTROY', "Missing 'disk'");
    if (!volume.isPersistentVolume) invalid('DESTROY', "Missing 'persistence'");
    result = applyConversion(result, Resources.of(volume), Resources.of(volumeToDisk(volume)));
    if (volume.shared && result.contains(volume)) {
      fail('RESOURCES_INSUFFICIENT', {
        detail: `Persistent volume ${volume} cannot be removed due to additional shared copies`,
      });
    }
  }
  return result;
}

/** GROW_VOLUME: the volume and `addition` (plain disk) become one bigger volume. */
export function applyGrowVolume(
  available: Resources,
  volume: ResourceItem,
  addition: ResourceItem,
): Resources {
  if (!volume.isPersistentVolume || volume.type !== 'SCALAR')
    invalid('GROW_VOLUME', 'not a persistent volume');
  if (addition.type !== 'SCALAR' || addition.isEmpty())
    invalid('GROW_VOLUME', "'addition' must be a positive scalar");
  const grown = volume.withValue((volume.value as Scalar).add(addition.value as Scalar));
  return applyConversion(available, Resources.of(volume, addition), Resources.of(grown));
}

/** SHRINK_VOLUME: `subtract` of the volume's size goes back as plain disk. */
export function applyShrinkVolume(available: Resources, volume: ResourceItem, subtract: number): Resources {
  if (!volume.isPersistentVolume || volume.type !== 'SCALAR')
    invalid('SHRINK_VOLUME', 'not a persistent volume');
  const amount = Scalar.of(subtract);
  const size = volume.value as Scalar;
  if (amount.milli <= 0 || amount.milli >= size.milli) {
    invalid('SHRINK_VOLUME', `'subtract' must be positive and smaller than the volume (${size})`);
  }
  const shrunk = volume.withValue(size.subtract(amount));
  const freed = volumeToDisk(volume).withValue(amount);
  return applyConversion(available, Resources.of(volume), Resources.of(shrunk, freed));
}

// --- checkpointed resources -------------------------------------------------------------------------

/**
 * What the agent must checkpoint out of its total: every dynamically reserved resource and every
 * persistent volume, unallocated. Static reservations come from `--resources` again on restart.
 */
export function checkpointedOf(total: Resources): Resources {
  return total.unallocate().filter((item) => item.isDynamicallyReserved || item.isPersistentVolume);
}

/**
 * An agent's total: its `--resources` with the checkpointed reservations and volumes applied (Mesos'
 * `applyCheckpointedResources`). Each checkpointed resource is carved out of the plain resource it
 * was made from; fails (RESOURCES_INSUFFICIENT) when `--resources` no longer holds them.
 */
export function applyCheckpointed(flagResources: Resources, checkpointed: Resources): Resources {
  let total = flagResources;
  checkpointed.forEachEntry((item, count) => {
    let base = Resources.of(item.isPersistentVolume ? volumeToDisk(item) : item);
    while (base.dynamicallyReserved().size > 0) base = base.popReservation();
    for (let copy = 0; copy < count; copy++) {
      if (!total.contains(base)) {
        fail('RESOURCES_INSUFFICIENT', {
          detail: `checkpointed resource ${item} is not in the agent's resources ${total}`,
        });
      }
      total = total.subtract(base).add(Resources.of(item));
    }
  });
  return total;
}

// --- validation --------------------------------------------------------------------------------------

export interface ReserveValidationOptions {
  /** The authenticated principal making the request: every reservation must name it. */
  readonly principal?: string;
  /**
   * For a framework's ACCEPT: the offer's allocation role. The reservation role must be it or a role
   * below it (reserving for `eng/web` out of an `eng` offer).
   */
  readonly allocationRole?: string;
}

/** The resource-level checks of the master's RESERVE validation. */
export function validateReserve(
  resources: readonly ResourceInput[],
  options: ReserveValidationOptions = {},
): string | undefined {
  const error = validateResourcesForMaster(resources);
  if (error !== undefined) return error;
  for (const resource of resources) {
    const reservations = reservationsOf(resource);
    const top = reservations[reservations.length - 1];
    if (top?.type !== 'DYNAMIC')
      return `Resource ${formatResourceInput(resource)} is not dynamically reserved`;
    if (options.principal !== undefined && top.principal !== options.principal) {
      return (
        `A reserve operation was attempted by authenticated principal '${options.principal}', which does not ` +
        `match a reserved resource in the request with principal '${top.principal ?? ''}'`
      );
    }
    if (
      options.allocationRole !== undefined &&
      top.role !== options.allocationRole &&
      !isStrictSubroleOf(top.role, options.allocationRole)
    ) {
      return (
        `A reserve operation was attempted for a resource with role '${top.role}', but the offer is ` +
        `allocated to role '${options.allocationRole}'`
      );
    }
    if (resource.disk?.persistence !== undefined) {
      return `A persistent volume ${formatResourceInput(resource)} must already be reserved`;
    }
  }
  return undefined;
}

/** The resource-level checks of the master's UNRESERVE validation. */
export function validateUnreserve(resources: readonly ResourceInput[]): string | undefined {
  const error = validateResourcesForMaster(resources);
  if (error !== undefined) return error;
  for (const resource of resources) {
    const reservations = reservationsOf(resource);
    if (reservations[reservations.length - 1]?.type !== 'DYNAMIC') {
      return `Resource ${formatResourceInput(resource)} is not dynamically reserved`;
    }
    if (resource.disk?.persistence !== undefined) {
      return (
        `A dynamically reserved persistent volume ${formatResourceInput(resource)} cannot be unreserved ` +
        'directly. Please destroy the persistent volume first then unreserve the resource'
      );
    }
  }
  return undefined;
}

function validatePersistentVolumes(volumes: readonly ResourceInput[]): string | undefined {
  for (const volume of volumes) {
    if (volume.disk === undefined) return `Resource ${formatResourceInput(volume)} does not have DiskInfo`;
    if (volume.disk.persistence === undefined) return "'persistence' is not set in DiskInfo";
  }
  return undefined;
}

export interface CreateValidationOptions {
  /** The authenticated principal: every volume's `persistence.principal` must be it. */
  readonly principal?: string;
  /** The agent's checkpointed resources, against which persistence ids must stay unique. */
  readonly checkpointed?: Resources;
  /** Whether shared volumes may be created (the framework has SHARED_RESOURCES). */
  readonly sharedAllowed?: boolean;
}

/** The resource-level checks of the master's CREATE validation. */
export function validateCreate(
  volumes: readonly ResourceInput[],
  options: CreateValidationOptions = {},
): string | undefined {
  const error = validateResourcesForMaster(volumes);
  if (error !== undefined) return error;
  const notVolume = validatePersistentVolumes(volumes);
  if (notVolume !== undefined) return `Not a persistent volume: ${notVolume}`;
  const existing = options.checkpointed?.persistentVolumes().toInputs() ?? [];
  const duplicate = validateUniquePersistenceIds([...existing, ...volumes]);
  if (duplicate !== undefined) return duplicate;
  for (const volume of volumes) {
    const principal = volume.disk?.persistence?.principal;
    if (options.principal !== undefined && principal === undefined) {
      return (
        `Create volume operation has been attempted by principal '${options.principal}', but there is a ` +
        "volume in the operation with no principal set in 'DiskInfo.Persistence'"
      );
    }
    if (options.principal !== undefined && principal !== options.principal) {
      return (
        `Create volume operation has been attempted by principal '${options.principal}', but there is a ` +
        `volume in the operation with principal '${principal}' set in 'DiskInfo.Persistence'`
      );
    }
    if (volume.shared && options.sharedAllowed === false) {
      return `Create volume operation for '${formatResourceInput(volume)}' has been attempted by a framework with no SHARED_RESOURCES capability`;
    }
  }
  return undefined;
}

export interface DestroyValidationOptions {
  /** The agent's checkpointed resources, which must hold the volumes. */
  readonly checkpointed: Resources;
  /** Resources in use by tasks and executors (per framework or otherwise grouped). */
  readonly used?: Iterable<Resources>;
}

/** The resource-level checks of the master's DESTROY validation. */
export function validateDestroy(
  volumes: readonly ResourceInput[],
  options: DestroyValidationOptions,
): string | undefined {
  const error = validateResourcesForMaster(volumes);
  if (error !== undefined) return error;
  const notVolume = validatePersistentVolumes(volumes);
  if (notVolume !== undefined) return `Not a persistent volume: ${notVolume}`;
  // Offered volumes carry allocation info and checkpointed ones do not: compare unallocated.
  const wanted = Resources.fromInputs(volumes).unallocate();
  if (!options.checkpointed.unallocate().contains(wanted)) return 'Persistent volumes not found';
  for (const used of options.used ?? []) {
    const inUse = used.unallocate();
    for (const volume of wanted) if (inUse.contains(volume)) return 'Persistent volumes in use';
  }
  return undefined;
}
