/**
 * Reservations and persistent volumes as the master applies them (reference §2.4, Mesos'
 * `validation::operation` and `Resources::apply`): one pure function per operation turns a
 * RESERVE, UNRESERVE, CREATE, DESTROY, GROW_VOLUME or SHRINK_VOLUME into a conversion (what it
 * consumes, what it produces), or a refusal with the message Mesos gives.
 *
 * The same code serves a framework's ACCEPT (where the consumed resources come out of its offers and
 * carry its allocation role) and the operator calls RESERVE_RESOURCES and friends (unallocated
 * resources of an agent). Nothing here changes state: the master applies the conversion to the
 * allocator, the agent's total and its checkpointed resources only once it is known to be valid, so
 * a refused operation leaves nothing half-applied.
 */
import { StrataError } from '../common/errors.js';
import {
  applyCreate,
  applyDestroy,
  applyGrowVolume,
  applyReserve,
  applyShrinkVolume,
  applyUnreserve,
  Resources,
  resourceInputFromMessage,
  validateCreate,
  validateDestroy,
  validateReserve,
  validateUnreserve,
} from '../resources/index.js';
import type { ResourceInput } from '../resources/resource.js';
import { type Offer_Operation, Offer_Operation_Type, type Resource } from '../wire/gen/mesos/v1/mesos_pb.js';

export type ResourceOperationKind =
  | 'RESERVE'
  | 'UNRESERVE'
  | 'CREATE'
  | 'DESTROY'
  | 'GROW_VOLUME'
  | 'SHRINK_VOLUME';

/** A valid operation: `consumed` becomes `converted`; `available` is what is left afterwards. */
export interface Conversion {
  kind: ResourceOperationKind;
  consumed: Resources;
  converted: Resources;
  available: Resources;
}

/** A refusal; `insufficient` when the resources are simply not there (HTTP 409, not 400). */
export type ConversionResult = Conversion | { error: string; insufficient: boolean };

export interface ConversionContext {
  /** What the operation may consume: the offers' resources (ACCEPT) or the agent's unallocated ones. */
  available: Resources;
  /** The agent's checkpointed resources (dynamic reservations and persistent volumes, unallocated). */
  checkpointed: Resources;
  /** Resources of the agent's tasks and executors, per framework: volumes in them cannot go. */
  used: Iterable<Resources>;
  /** ACCEPT only: the role the offers were allocated to. */
  allocationRole?: string;
  /** The principal making the request, when known. */
  principal?: string;
  /** ACCEPT only: whether the framework may create shared volumes. */
  sharedAllowed?: boolean;
  /** ACCEPT only: whether the framework may refine reservations (RESERVATION_REFINEMENT). */
  refinementAllowed?: boolean;
}

export function resourceOperationKind(type: Offer_Operation_Type): ResourceOperationKind | undefined {
  switch (type) {
    case Offer_Operation_Type.RESERVE:
      return 'RESERVE';
    case Offer_Operation_Type.UNRESERVE:
      return 'UNRESERVE';
    case Offer_Operation_Type.CREATE:
      return 'CREATE';
    case Offer_Operation_Type.DESTROY:
      return 'DESTROY';
    case Offer_Operation_Type.GROW_VOLUME:
      return 'GROW_VOLUME';
    case Offer_Operation_Type.SHRINK_VOLUME:
      return 'SHRINK_VOLUME';
    default:
      return undefined;
  }
}

function inputs(messages: readonly Resource[]): ResourceInput[] {
  return messages.map(resourceInputFromMessage);
}

/**
 * Resources as an operation names them. Offered ones are allocated to the offer's role; a framework
 * that is not MULTI_ROLE was sent them without `allocation_info`, so it is filled in (Mesos does the
 * same). Operator calls name unallocated resources.
 */
function named(list: readonly ResourceInput[], allocationRole: string | undefined): Resources {
  const resources = Resources.fromInputs(list);
  if (allocationRole === undefined) return resources.unallocate();
  return resources.map((item) =>
    item.allocationInfo === undefined ? item.withAllocation(allocationRole) : item,
  );
}

/**
 * Validates and converts one operation against `context.available`. A framework's resources carry
 * `allocation_info`; operator calls name unallocated resources. Errors are the operator-facing
 * messages Mesos gives ("Invalid RESERVE Operation: ...").
 */
export function convertOperation(operation: Offer_Operation, context: ConversionContext): ConversionResult {
  const kind = resourceOperationKind(operation.type);
  if (kind === undefined) {
    return { error: `Unsupported operation ${Offer_Operation_Type[operation.type]}`, insufficient: false };
  }
  try {
    const error = validate(kind, operation, context);
    if (error !== undefined) return { error: `Invalid ${kind} Operation: ${error}`, insufficient: false };
    return { kind, ...apply(kind, operation, context) };
  } catch (err) {
    if (err instanceof StrataError) {
      return {
        error: `Invalid ${kind} Operation: ${err.message}`,
        insufficient: err.code === 'RESOURCES_INSUFFICIENT',
      };
    }
    throw err;
  }
}

function validate(
  kind: ResourceOperationKind,
  operation: Offer_Operation,
  context: ConversionContext,
): string | undefined {
  const role = context.allocationRole;
  switch (kind) {
    case 'RESERVE': {
      const reserve = inputs(operation.reserve?.resources ?? []);
      if (reserve.length === 0) return 'no resources to reserve';
      if (context.refinementAllowed === false && reserve.some((r) => (r.reservations?.length ?? 0) > 1)) {
        return 'Resources with refined reservations require the RESERVATION_REFINEMENT capability';
      }
      return validateReserve(reserve, {
        ...(context.principal !== undefined ? { principal: context.principal } : {}),
        ...(role !== undefined ? { allocationRole: role } : {}),
      });
    }
    case 'UNRESERVE': {
      const unreserve = inputs(operation.unreserve?.resources ?? []);
      if (unreserve.length === 0) return 'no resources to unreserve';
      return validateUnreserve(unreserve);
    }
    case 'CREATE': {
      const volumes = inputs(operation.create?.volumes ?? []);
      if (volumes.length === 0) return 'no volumes to create';
      return validateCreate(volumes, {
        checkpointed: context.checkpointed,
        ...(context.principal !== undefined ? { principal: context.principal } : {}),
        ...(context.sharedAllowed !== undefined ? { sharedAllowed: context.sharedAllowed } : {}),
      });
    }
    case 'DESTROY': {
      const volumes = inputs(operation.destroy?.volumes ?? []);
      if (volumes.length === 0) return 'no volumes to destroy';
      return validateDestroy(volumes, { checkpointed: context.checkpointed, used: context.used });
    }
    case 'GROW_VOLUME': {
      const grow = operation.growVolume;
      if (!grow?.volume || !grow.addition) return "'volume' and 'addition' are required";
      return validateDestroy([resourceInputFromMessage(grow.volume)], {
        checkpointed: context.checkpointed,
        used: context.used,
      });
    }
    case 'SHRINK_VOLUME': {
      const shrink = operation.shrinkVolume;
      if (!shrink?.volume || !shrink.subtract) return "'volume' and 'subtract' are required";
      return validateDestroy([resourceInputFromMessage(shrink.volume)], {
        checkpointed: context.checkpointed,
        used: context.used,
      });
    }
  }
}

function apply(
  kind: ResourceOperationKind,
  operation: Offer_Operation,
  context: ConversionContext,
): { consumed: Resources; converted: Resources; available: Resources } {
  const role = context.allocationRole;
  const before = context.available;
  let after: Resources;
  switch (kind) {
    case 'RESERVE': {
      const source = operation.reserve?.source ?? [];
      after = applyReserve(
        before,
        named(inputs(operation.reserve?.resources ?? []), role),
        source.length > 0 ? named(inputs(source), role) : undefined,
      );
      break;
    }
    case 'UNRESERVE':
      after = applyUnreserve(before, named(inputs(operation.unreserve?.resources ?? []), role));
      break;
    case 'CREATE':
      after = applyCreate(before, named(inputs(operation.create?.volumes ?? []), role));
      break;
    case 'DESTROY':
      after = applyDestroy(before, named(inputs(operation.destroy?.volumes ?? []), role));
      break;
    case 'GROW_VOLUME': {
      const grow = operation.growVolume!;
      const [volume] = named([resourceInputFromMessage(grow.volume!)], role).items();
      const [addition] = named([resourceInputFromMessage(grow.addition!)], role).items();
      after = applyGrowVolume(before, volume!, addition!);
      break;
    }
    case 'SHRINK_VOLUME': {
      const shrink = operation.shrinkVolume!;
      const [volume] = named([resourceInputFromMessage(shrink.volume!)], role).items();
      after = applyShrinkVolume(before, volume!, shrink.subtract!.value);
      break;
    }
  }
  // What went is what `before` has and `after` lacks, and the other way round.
  return { consumed: before.subtract(after), converted: after.subtract(before), available: after };
}
