/**
 * Conversion between the generated `mesos.v1.Resource` messages (src/wire/gen) and this module's
 * model, and the JSON array form used by `--resources`, `/reserve` and friends.
 *
 * Lossless: every field of `Resource` (and of the `ReservationInfo`, `DiskInfo`, `Labels` inside it)
 * survives message → model → message, with presence kept, except that scalars are held at 0.001
 * resolution (Mesos rounds there at its first arithmetic step) and ranges come back coalesced. A
 * `Volume`'s `image`/`source` sub-messages, which resources never interpret, are carried opaquely.
 * Unknown fields are not carried.
 */
import { create, isFieldSet } from '@bufbuild/protobuf';
import { fail, isStrataError } from '../common/errors.js';
import type {
  Image,
  Labels,
  Resource,
  Resource_DiskInfo,
  Resource_DiskInfo_Source,
  Resource_ReservationInfo,
  Volume,
  Volume_Source,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import {
  LabelSchema,
  LabelsSchema,
  Resource_AllocationInfoSchema,
  Resource_DiskInfo_PersistenceSchema,
  Resource_DiskInfo_Source_MountSchema,
  Resource_DiskInfo_Source_PathSchema,
  Resource_DiskInfo_Source_Type,
  Resource_DiskInfo_SourceSchema,
  Resource_DiskInfoSchema,
  Resource_ReservationInfo_Type,
  Resource_ReservationInfoSchema,
  Resource_RevocableInfoSchema,
  Resource_SharedInfoSchema,
  ResourceProviderIDSchema,
  ResourceSchema,
  Value_RangeSchema,
  Value_RangesSchema,
  Value_ScalarSchema,
  Value_SetSchema,
  Value_Type,
  Volume_Mode,
  VolumeSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import type { JsonObject, JsonValue } from '../wire/json-text.js';
import { parseJson } from '../wire/json-text.js';
import { fromMesosJson, toMesosJson } from '../wire/mesos-json.js';
import type {
  DiskInfo,
  DiskSource,
  DiskSourceType,
  Label,
  ReservationInfo,
  ReservationType,
  ResourceInput,
  ValueTypeName,
  VolumeInfo,
} from './resource.js';
import type { ResourceFormat } from './resources.js';
import { Resources } from './resources.js';
import { validateResources } from './validate.js';

const RESOURCE_FIELDS = ResourceSchema.field;
const RESERVATION_FIELDS = Resource_ReservationInfoSchema.field;
const SOURCE_FIELDS = Resource_DiskInfo_SourceSchema.field;

// --- enums -------------------------------------------------------------------------------------------

export function valueTypeName(type: Value_Type): ValueTypeName | 'UNKNOWN' {
  switch (type) {
    case Value_Type.SCALAR:
      return 'SCALAR';
    case Value_Type.RANGES:
      return 'RANGES';
    case Value_Type.SET:
      return 'SET';
    case Value_Type.TEXT:
      return 'TEXT';
    default:
      return 'UNKNOWN';
  }
}

export function valueTypeNumber(type: ValueTypeName | 'UNKNOWN'): Value_Type {
  switch (type) {
    case 'RANGES':
      return Value_Type.RANGES;
    case 'SET':
      return Value_Type.SET;
    case 'TEXT':
      return Value_Type.TEXT;
    default:
      // UNKNOWN only arises from an enum number the wire did not know; SCALAR is the proto2 default.
      return Value_Type.SCALAR;
  }
}

const RESERVATION_TYPE_NAMES: Record<number, ReservationType> = {
  [Resource_ReservationInfo_Type.UNKNOWN]: 'UNKNOWN',
  [Resource_ReservationInfo_Type.STATIC]: 'STATIC',
  [Resource_ReservationInfo_Type.DYNAMIC]: 'DYNAMIC',
};

const RESERVATION_TYPE_NUMBERS: Record<ReservationType, Resource_ReservationInfo_Type> = {
  UNKNOWN: Resource_ReservationInfo_Type.UNKNOWN,
  STATIC: Resource_ReservationInfo_Type.STATIC,
  DYNAMIC: Resource_ReservationInfo_Type.DYNAMIC,
};

const SOURCE_TYPE_NAMES: Record<number, DiskSourceType> = {
  [Resource_DiskInfo_Source_Type.UNKNOWN]: 'UNKNOWN',
  [Resource_DiskInfo_Source_Type.PATH]: 'PATH',
  [Resource_DiskInfo_Source_Type.MOUNT]: 'MOUNT',
  [Resource_DiskInfo_Source_Type.BLOCK]: 'BLOCK',
  [Resource_DiskInfo_Source_Type.RAW]: 'RAW',
};

const SOURCE_TYPE_NUMBERS: Record<DiskSourceType, Resource_DiskInfo_Source_Type> = {
  UNKNOWN: Resource_DiskInfo_Source_Type.UNKNOWN,
  PATH: Resource_DiskInfo_Source_Type.PATH,
  MOUNT: Resource_DiskInfo_Source_Type.MOUNT,
  BLOCK: Resource_DiskInfo_Source_Type.BLOCK,
  RAW: Resource_DiskInfo_Source_Type.RAW,
};

// --- message → model ---------------------------------------------------------------------------------

function labelsFromMessage(labels: Labels): Label[] {
  return labels.labels.map((label) =>
    isFieldSet(label, LabelSchema.field.value) ? { key: label.key, value: label.value } : { key: label.key },
  );
}

function reservationFromMessage(message: Resource_ReservationInfo): ReservationInfo {
  const out: { -readonly [K in keyof ReservationInfo]: ReservationInfo[K] } = {};
  if (isFieldSet(message, RESERVATION_FIELDS.type))
    out.type = RESERVATION_TYPE_NAMES[message.type] ?? 'UNKNOWN';
  if (isFieldSet(message, RESERVATION_FIELDS.role)) out.role = message.role;
  if (isFieldSet(message, RESERVATION_FIELDS.principal)) out.principal = message.principal;
  if (message.labels !== undefined) out.labels = labelsFromMessage(message.labels);
  return out;
}

function sourceFromMessage(message: Resource_DiskInfo_Source): DiskSource {
  const out: { -readonly [K in keyof DiskSource]: DiskSource[K] } = {
    type: SOURCE_TYPE_NAMES[message.type] ?? 'UNKNOWN',
  };
  if (message.path !== undefined) {
    out.path = isFieldSet(message.path, Resource_DiskInfo_Source_PathSchema.field.root)
      ? { root: message.path.root }
      : {};
  }
  if (message.mount !== undefined) {
    out.mount = isFieldSet(message.mount, Resource_DiskInfo_Source_MountSchema.field.root)
      ? { root: message.mount.root }
      : {};
  }
  if (isFieldSet(message, SOURCE_FIELDS.vendor)) out.vendor = message.vendor;
  if (isFieldSet(message, SOURCE_FIELDS.id)) out.id = message.id;
  if (message.metadata !== undefined) out.metadata = labelsFromMessage(message.metadata);
  if (isFieldSet(message, SOURCE_FIELDS.profile)) out.profile = message.profile;
  return out;
}

/** The opaque part of a `Volume` that resources carry but never look at. */
interface VolumeExtra {
  readonly image?: Image;
  readonly source?: Volume_Source;
}

function volumeFromMessage(message: Volume): VolumeInfo {
  const out: { -readonly [K in keyof VolumeInfo]: VolumeInfo[K] } = { containerPath: message.containerPath };
  if (isFieldSet(message, VolumeSchema.field.hostPath)) out.hostPath = message.hostPath;
  if (isFieldSet(message, VolumeSchema.field.mode)) {
    if (message.mode === Volume_Mode.RW) out.mode = 'RW';
    else if (message.mode === Volume_Mode.RO) out.mode = 'RO';
  }
  if (message.image !== undefined || message.source !== undefined) {
    const extra: { image?: Image; source?: Volume_Source } = {};
    if (message.image !== undefined) extra.image = message.image;
    if (message.source !== undefined) extra.source = message.source;
    out.extra = extra;
  }
  return out;
}

function diskFromMessage(message: Resource_DiskInfo): DiskInfo {
  const out: { -readonly [K in keyof DiskInfo]: DiskInfo[K] } = {};
  if (message.persistence !== undefined) {
    out.persistence = isFieldSet(message.persistence, Resource_DiskInfo_PersistenceSchema.field.principal)
      ? { id: message.persistence.id, principal: message.persistence.principal }
      : { id: message.persistence.id };
  }
  if (message.volume !== undefined) out.volume = volumeFromMessage(message.volume);
  if (message.source !== undefined) out.source = sourceFromMessage(message.source);
  return out;
}

/** A generated `Resource` message in this module's wire-shaped model (no validation). */
export function resourceInputFromMessage(message: Resource): ResourceInput {
  const out: { -readonly [K in keyof ResourceInput]: ResourceInput[K] } = {
    name: message.name,
    type: valueTypeName(message.type),
  };
  if (message.providerId !== undefined) out.providerId = message.providerId.value;
  if (message.scalar !== undefined) out.scalar = message.scalar.value;
  if (message.ranges !== undefined)
    out.ranges = message.ranges.range.map((range) => ({ begin: range.begin, end: range.end }));
  if (message.set !== undefined) out.set = message.set.item;
  if (isFieldSet(message, RESOURCE_FIELDS.role)) out.role = message.role;
  if (message.allocationInfo !== undefined) {
    out.allocationInfo = isFieldSet(message.allocationInfo, Resource_AllocationInfoSchema.field.role)
      ? { role: message.allocationInfo.role }
      : {};
  }
  if (message.reservation !== undefined) out.reservation = reservationFromMessage(message.reservation);
  if (message.reservations.length > 0) out.reservations = message.reservations.map(reservationFromMessage);
  if (message.disk !== undefined) out.disk = diskFromMessage(message.disk);
  if (message.revocable !== undefined) out.revocable = true;
  if (message.shared !== undefined) out.shared = true;
  return out;
}

// --- model → message ---------------------------------------------------------------------------------

function labelsToMessage(labels: readonly Label[]): Labels {
  return create(LabelsSchema, {
    labels: labels.map((label) =>
      create(
        LabelSchema,
        label.value === undefined ? { key: label.key } : { key: label.key, value: label.value },
      ),
    ),
  });
}

function reservationToMessage(reservation: ReservationInfo): Resource_ReservationInfo {
  const message = create(Resource_ReservationInfoSchema);
  if (reservation.type !== undefined) message.type = RESERVATION_TYPE_NUMBERS[reservation.type];
  if (reservation.role !== undefined) message.role = reservation.role;
  if (reservation.principal !== undefined) message.principal = reservation.principal;
  if (reservation.labels !== undefined) message.labels = labelsToMessage(reservation.labels);
  return message;
}

function sourceToMessage(source: DiskSource): Resource_DiskInfo_Source {
  const message = create(Resource_DiskInfo_SourceSchema, { type: SOURCE_TYPE_NUMBERS[source.type] });
  if (source.path !== undefined) {
    message.path = create(
      Resource_DiskInfo_Source_PathSchema,
      source.path.root === undefined ? {} : { root: source.path.root },
    );
  }
  if (source.mount !== undefined) {
    message.mount = create(
      Resource_DiskInfo_Source_MountSchema,
      source.mount.root === undefined ? {} : { root: source.mount.root },
    );
  }
  if (source.vendor !== undefined) message.vendor = source.vendor;
  if (source.id !== undefined) message.id = source.id;
  if (source.metadata !== undefined) message.metadata = labelsToMessage(source.metadata);
  if (source.profile !== undefined) message.profile = source.profile;
  return message;
}

function isVolumeExtra(extra: unknown): extra is VolumeExtra {
  return typeof extra === 'object' && extra !== null;
}

function volumeToMessage(volume: VolumeInfo): Volume {
  const message = create(VolumeSchema, { containerPath: volume.containerPath });
  if (volume.hostPath !== undefined) message.hostPath = volume.hostPath;
  if (volume.mode !== undefined) message.mode = volume.mode === 'RW' ? Volume_Mode.RW : Volume_Mode.RO;
  if (isVolumeExtra(volume.extra)) {
    if (volume.extra.image !== undefined) message.image = volume.extra.image;
    if (volume.extra.source !== undefined) message.source = volume.extra.source;
  }
  return message;
}

function diskToMessage(disk: DiskInfo): Resource_DiskInfo {
  const message = create(Resource_DiskInfoSchema);
  if (disk.persistence !== undefined) {
    message.persistence = create(
      Resource_DiskInfo_PersistenceSchema,
      disk.persistence.principal === undefined
        ? { id: disk.persistence.id }
        : { id: disk.persistence.id, principal: disk.persistence.principal },
    );
  }
  if (disk.volume !== undefined) message.volume = volumeToMessage(disk.volume);
  if (disk.source !== undefined) message.source = sourceToMessage(disk.source);
  return message;
}

/** The generated `Resource` message for a wire-shaped resource. */
export function resourceInputToMessage(input: ResourceInput): Resource {
  const message = create(ResourceSchema, { name: input.name, type: valueTypeNumber(input.type) });
  if (input.providerId !== undefined)
    message.providerId = create(ResourceProviderIDSchema, { value: input.providerId });
  if (input.scalar !== undefined) message.scalar = create(Value_ScalarSchema, { value: input.scalar });
  if (input.ranges !== undefined) {
    message.ranges = create(Value_RangesSchema, {
      range: input.ranges.map((range) =>
        create(Value_RangeSchema, { begin: BigInt(range.begin), end: BigInt(range.end) }),
      ),
    });
  }
  if (input.set !== undefined) message.set = create(Value_SetSchema, { item: [...input.set] });
  if (input.role !== undefined) message.role = input.role;
  if (input.allocationInfo !== undefined) {
    message.allocationInfo = create(
      Resource_AllocationInfoSchema,
      input.allocationInfo.role === undefined ? {} : { role: input.allocationInfo.role },
    );
  }
  if (input.reservation !== undefined) message.reservation = reservationToMessage(input.reservation);
  if (input.reservations !== undefined) message.reservations = input.reservations.map(reservationToMessage);
  if (input.disk !== undefined) message.disk = diskToMessage(input.disk);
  if (input.revocable) message.revocable = create(Resource_RevocableInfoSchema);
  if (input.shared) message.shared = create(Resource_SharedInfoSchema);
  return message;
}

// --- collections -------------------------------------------------------------------------------------

/**
 * Normalizes wire resources. Throws RESOURCES_INVALID naming the first invalid one, unless
 * `invalid: 'skip'` (Mesos' silent drop, for input already validated elsewhere).
 */
export function resourcesFromMessages(
  messages: Iterable<Resource>,
  options: { invalid?: 'throw' | 'skip' } = {},
): Resources {
  const inputs: ResourceInput[] = [];
  for (const message of messages) inputs.push(resourceInputFromMessage(message));
  return Resources.fromInputs(inputs, options);
}

/** The messages for a collection in one of §5.2's formats (a shared resource appears once). */
export function resourcesToMessages(
  resources: Resources,
  format: ResourceFormat = 'post-refinement',
): Resource[] {
  return resources.toInputs(format).map(resourceInputToMessage);
}

/** Mesos' `Resources::validate` over messages: the first error naming its resource, or undefined. */
export function validateResourceMessages(messages: Iterable<Resource>): string | undefined {
  const inputs: ResourceInput[] = [];
  for (const message of messages) inputs.push(resourceInputFromMessage(message));
  return validateResources(inputs);
}

/** A collection as a JSON array of Mesos-JSON `Resource` objects, in one of §5.2's formats. */
export function resourcesToJson(
  resources: Resources,
  format: ResourceFormat = 'post-refinement',
): JsonObject[] {
  return resourcesToMessages(resources, format).map((message) => toMesosJson(ResourceSchema, message));
}

/**
 * Reads a JSON array of Mesos-JSON `Resource` objects (text or parsed) into wire-shaped resources,
 * without validating them. A resource with neither `role` nor `reservations` gets `defaultRole`, as
 * Mesos' `Resources::fromJSON` does. Malformed JSON or a malformed element throws RESOURCES_PARSE.
 */
export function resourceInputsFromJson(json: string | JsonValue, defaultRole = '*'): ResourceInput[] {
  const inputText = typeof json === 'string' ? json : '';
  let value: JsonValue;
  try {
    value = typeof json === 'string' ? parseJson(json) : json;
  } catch (error) {
    const detail = isStrataError(error) ? error.message : String(error);
    return fail('RESOURCES_PARSE', { input: inputText, detail }, { cause: error });
  }
  if (!Array.isArray(value))
    fail('RESOURCES_PARSE', { input: inputText, detail: 'expected a JSON array of resources' });
  return value.map((element, position) => {
    let message: Resource;
    try {
      message = fromMesosJson(ResourceSchema, element);
    } catch (error) {
      const detail = isStrataError(error) ? error.message : String(error);
      return fail(
        'RESOURCES_PARSE',
        {
          input: inputText,
          detail: `Some JSON resources were not formatted properly: [${position}]: ${detail}`,
          token: `[${position}]`,
        },
        { cause: error },
      );
    }
    const input = resourceInputFromMessage(message);
    if (input.role === undefined && (input.reservations === undefined || input.reservations.length === 0)) {
      return { ...input, role: defaultRole };
    }
    return input;
  });
}
