/**
 * proto2 rules that @bufbuild/protobuf leaves to the caller when reading, shared by the Mesos JSON
 * mapping and the binary codec:
 *
 * - Required fields. protobuf-es refuses to *write* a message with an unset required field but
 *   reads one without complaint; C++ peers (and Mesos itself) reject such messages, so we check
 *   after every decode and name the missing paths the way protobuf's InitializationErrorString()
 *   does (`subscribe.framework_info.user`, `offers.offers[3].hostname`).
 * - Closed (proto2) enums. protobuf-es treats an unknown number in a singular or oneof enum field
 *   as unset (it moves to the unknown fields, as C++ does), but keeps unknown numbers in repeated
 *   fields and map values; we drop those elements and entries, so that every enum value a decoded
 *   message holds has a name.
 *
 * Both walks only descend into fields whose type can reach a relevant field, so a message type
 * without required fields costs nothing to check.
 */
import type { DescField, DescMessage, Message } from '@bufbuild/protobuf';

type MessageRecord = Record<string, unknown>;
type OneofValue = { case: string | undefined; value?: unknown };

interface TypeChecks {
  /** Required singular fields of this type. */
  readonly required: readonly DescField[];
  /** Message-typed fields (singular, oneof, list, map) whose type can reach a required field. */
  readonly requiredDescent: readonly DescField[];
  /** List and map fields of this type whose elements are closed enums. */
  readonly enumContainers: readonly DescField[];
  /** Message-typed fields whose type can reach a closed-enum list or map. */
  readonly enumContainerDescent: readonly DescField[];
}

const checksCache = new WeakMap<DescMessage, TypeChecks>();
const reachesRequiredCache = new WeakMap<DescMessage, boolean>();
const reachesEnumContainerCache = new WeakMap<DescMessage, boolean>();

function isRequired(field: DescField): boolean {
  // FeatureSet.FieldPresence.LEGACY_REQUIRED
  return field.presence === 3;
}

function isClosedEnumContainer(field: DescField): boolean {
  if (field.fieldKind === 'map') return field.mapKind === 'enum' && !field.enum.open;
  if (field.fieldKind === 'list') return field.listKind === 'enum' && !field.enum.open;
  return false;
}

/** The message type a field leads to, for singular, oneof, list and map fields. */
export function messageTypeOf(field: DescField): DescMessage | undefined {
  switch (field.fieldKind) {
    case 'message':
      return field.message;
    case 'list':
      return field.listKind === 'message' ? field.message : undefined;
    case 'map':
      return field.mapKind === 'message' ? field.message : undefined;
    default:
      return undefined;
  }
}

/** Whether any message type reachable from `root` (itself included) satisfies `has`. */
function reaches(
  root: DescMessage,
  has: (desc: DescMessage) => boolean,
  cache: WeakMap<DescMessage, boolean>,
) {
  const cached = cache.get(root);
  if (cached !== undefined) return cached;
  const seen = new Set<DescMessage>([root]);
  const queue = [root];
  let found = false;
  while (queue.length > 0 && !found) {
    const desc = queue.pop()!;
    if (has(desc)) found = true;
    for (const field of desc.fields) {
      const child = messageTypeOf(field);
      if (child !== undefined && !seen.has(child)) {
        seen.add(child);
        queue.push(child);
      }
    }
  }
  cache.set(root, found);
  return found;
}

function checksFor(desc: DescMessage): TypeChecks {
  let checks = checksCache.get(desc);
  if (checks !== undefined) return checks;
  const required: DescField[] = [];
  const requiredDescent: DescField[] = [];
  const enumContainers: DescField[] = [];
  const enumContainerDescent: DescField[] = [];
  for (const field of desc.fields) {
    if (isRequired(field)) required.push(field);
    if (isClosedEnumContainer(field)) enumContainers.push(field);
    const child = messageTypeOf(field);
    if (child === undefined) continue;
    if (reaches(child, (d) => d.fields.some(isRequired), reachesRequiredCache)) requiredDescent.push(field);
    if (reaches(child, (d) => d.fields.some(isClosedEnumContainer), reachesEnumContainerCache)) {
      enumContainerDescent.push(field);
    }
  }
  checks = { required, requiredDescent, enumContainers, enumContainerDescent };
  checksCache.set(desc, checks);
  return checks;
}

/** Whether a required (hence non-oneof, explicit-presence) field holds a value. */
function requiredFieldIsSet(message: MessageRecord, field: DescField): boolean {
  const name = field.localName;
  return message[name] !== undefined && Object.hasOwn(message, name);
}

/** The message held by a singular (possibly oneof) message field, if set. */
function singularMessage(message: MessageRecord, field: DescField): MessageRecord | undefined {
  if (field.oneof) {
    const oneof = message[field.oneof.localName] as OneofValue;
    return oneof.case === field.localName ? (oneof.value as MessageRecord) : undefined;
  }
  return message[field.localName] as MessageRecord | undefined;
}

/** Calls `visit` on every sub-message held by `field` of `message`, with its path suffix. */
function forEachChild(
  message: MessageRecord,
  field: DescField,
  visit: (child: MessageRecord, suffix: () => string) => void,
): void {
  const name = field.name;
  switch (field.fieldKind) {
    case 'message': {
      const value = singularMessage(message, field);
      if (value !== undefined) visit(value, () => name);
      return;
    }
    case 'list': {
      const list = message[field.localName] as MessageRecord[];
      for (let i = 0; i < list.length; i++) visit(list[i]!, () => `${name}[${i}]`);
      return;
    }
    case 'map': {
      const map = message[field.localName] as Record<string, MessageRecord>;
      for (const key in map) {
        if (Object.hasOwn(map, key)) visit(map[key]!, () => `${name}[${JSON.stringify(key)}]`);
      }
      return;
    }
    default:
      return;
  }
}

/** True when some required field anywhere in the message is unset. Allocation-free on messages without gaps. */
export function hasMissingRequiredFields(schema: DescMessage, message: Message): boolean {
  return hasMissing(schema, message as unknown as MessageRecord);
}

function hasMissing(desc: DescMessage, message: MessageRecord): boolean {
  const checks = checksFor(desc);
  for (const field of checks.required) {
    if (!requiredFieldIsSet(message, field)) return true;
  }
  for (const field of checks.requiredDescent) {
    switch (field.fieldKind) {
      case 'message': {
        const value = singularMessage(message, field);
        if (value !== undefined && hasMissing(field.message, value)) return true;
        break;
      }
      case 'list': {
        if (field.listKind !== 'message') break;
        const list = message[field.localName] as MessageRecord[];
        for (let i = 0; i < list.length; i++) if (hasMissing(field.message, list[i]!)) return true;
        break;
      }
      case 'map': {
        if (field.mapKind !== 'message') break;
        const map = message[field.localName] as Record<string, MessageRecord>;
        for (const key in map) {
          if (Object.hasOwn(map, key) && hasMissing(field.message, map[key]!)) return true;
        }
        break;
      }
      default:
        break;
    }
  }
  return false;
}

/**
 * Paths of every unset required field, in declaration order, depth first:
 * `["framework_info.user", "tasks[0].name", "limits[\"cpus\"].value"]`. Empty when complete.
 */
export function findMissingRequiredFields(schema: DescMessage, message: Message): string[] {
  const missing: string[] = [];
  collectMissing(schema, message as unknown as MessageRecord, '', missing);
  return missing;
}

function collectMissing(desc: DescMessage, message: MessageRecord, prefix: string, out: string[]): void {
  const checks = checksFor(desc);
  for (const field of desc.fields) {
    if (isRequired(field) && !requiredFieldIsSet(message, field)) out.push(prefix + field.name);
    if (checks.requiredDescent.includes(field)) {
      const child = messageTypeOf(field)!;
      forEachChild(message, field, (value, suffix) =>
        collectMissing(child, value, `${prefix}${suffix()}.`, out),
      );
    }
  }
}

/** Removes list elements and map entries holding a number that is not a value of their closed enum. */
export function dropUnknownEnumValues(schema: DescMessage, message: Message): void {
  dropUnknown(schema, message as unknown as MessageRecord);
}

function dropUnknown(desc: DescMessage, message: MessageRecord): void {
  const checks = checksFor(desc);
  for (const field of checks.enumContainers) {
    if (field.fieldKind === 'list' && field.listKind === 'enum') {
      const known = field.enum.value;
      const list = message[field.localName] as number[];
      if (list.some((value) => known[value] === undefined)) {
        message[field.localName] = list.filter((value) => known[value] !== undefined);
      }
    } else if (field.fieldKind === 'map' && field.mapKind === 'enum') {
      const known = field.enum.value;
      const map = message[field.localName] as Record<string, number>;
      for (const key in map) {
        if (Object.hasOwn(map, key) && known[map[key]!] === undefined) delete map[key];
      }
    }
  }
  for (const field of checks.enumContainerDescent) {
    const child = messageTypeOf(field)!;
    forEachChild(message, field, (value) => dropUnknown(child, value));
  }
}

/** Whether decoded messages of this type need `dropUnknownEnumValues` at all. */
export function mayHoldUnknownEnumValues(schema: DescMessage): boolean {
  const checks = checksFor(schema);
  return checks.enumContainers.length > 0 || checks.enumContainerDescent.length > 0;
}
