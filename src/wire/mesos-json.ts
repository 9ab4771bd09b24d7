/**
 * The protobuf ⇄ JSON mapping Mesos uses (stout's `protobuf::parse` / `JSON::protobuf`), which is
 * not proto3 canonical JSON (reference §5.1). In short:
 *
 * Reading: keys are proto field names (camelCase is not recognised), unknown keys are ignored,
 * `null` means absent, arrays only for repeated fields, maps are objects, enums by value name (an
 * unknown name drops an optional field and fails a required one; numbers are rejected), bytes are
 * padded standard base64, numeric fields take a JSON number or a numeric string, double/float also
 * take "Infinity"/"-Infinity"/"NaN", bool takes true/false/"true"/"false"; then every required
 * field must be present.
 *
 * Writing: set fields, plus unset non-deprecated fields with an explicit `[default = …]`, in
 * declaration order; empty repeated fields omitted; enums as names; bytes as base64; every
 * integer (int64 included) as a bare JSON number; doubles in shortest round-trip form with `.0`
 * on integral values; infinities as bare `Infinity`/`-Infinity`.
 *
 * Each message type is compiled once into a field table of specialised read/write closures; the
 * hot paths do no per-field allocation beyond the values they produce. Error paths are collected
 * while the failure unwinds, so successful reads never build path strings.
 */
import {
  create,
  type DescEnum,
  type DescField,
  type DescMessage,
  type Message,
  type MessageShape,
  ScalarType,
} from '@bufbuild/protobuf';
import { type ErrorCode, type ErrorParams, fail, StrataError } from '../common/errors.js';
import {
  DEFAULT_JSON_MAX_DEPTH,
  formatDouble,
  JsonNumber,
  type JsonObject,
  type JsonParseOptions,
  type JsonValue,
  parseJson,
  parseNumberText,
} from './json-text.js';
import { findMissingRequiredFields } from './proto2-checks.js';

export interface MesosJsonReadOptions extends JsonParseOptions {}

type MessageRecord = Record<string, unknown>;
type OneofValue = { case: string | undefined; value?: unknown };

// ---------------------------------------------------------------------------------------------
// Errors: thrown internally without a path, which is assembled innermost-first while unwinding.

class PathedFailure {
  readonly code: ErrorCode;
  readonly params: ErrorParams;
  /** Path segments, innermost first: `user`, `framework_info`, `subscribe`; indexes as `[3]`. */
  readonly segments: string[] = [];

  constructor(code: ErrorCode, params: ErrorParams) {
    this.code = code;
    this.params = params;
  }
}

function pathOf(segments: readonly string[]): string {
  if (segments.length === 0) return '(root)';
  let path = '';
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i]!;
    path += path === '' || segment.charCodeAt(0) === 0x5b ? segment : '.' + segment;
  }
  return path;
}

function toStrataError(failure: PathedFailure): StrataError {
  return new StrataError(failure.code, { ...failure.params, field: pathOf(failure.segments) });
}

function describe(json: JsonValue): string {
  if (json === null) return 'null';
  if (Array.isArray(json)) return 'an array';
  if (json instanceof JsonNumber) return `the number ${json.lexeme}`;
  switch (typeof json) {
    case 'string':
      return json.length > 40
        ? `the string ${JSON.stringify(json.slice(0, 40))}…`
        : `the string ${JSON.stringify(json)}`;
    case 'number':
    case 'bigint':
      return `the number ${String(json)}`;
    case 'boolean':
      return String(json);
    default:
      return 'an object';
  }
}

function typeFailure(expected: string, json: JsonValue): PathedFailure {
  return new PathedFailure('WIRE_JSON_TYPE', { expected, actual: describe(json) });
}

function rangeFailure(value: number | bigint | string, type: string): PathedFailure {
  return new PathedFailure('WIRE_NUMBER_RANGE', { value: String(value), type });
}

// ---------------------------------------------------------------------------------------------
// Scalar conversions, JSON → field value.

/** Signals "leave the field unset" (an unknown enum name outside a required field). */
const DROP: unique symbol = Symbol('drop');

type ReadContext = { depth: number; maxDepth: number; missingRequired: boolean };
type ValueReader = (json: JsonValue, ctx: ReadContext) => unknown;

function isJsonObject(json: JsonValue): json is JsonObject {
  return typeof json === 'object' && json !== null && !Array.isArray(json) && !(json instanceof JsonNumber);
}

/** A JSON number, numeric string or JsonNumber as number/bigint; undefined when not numeric. */
function numericValue(json: JsonValue): number | bigint | undefined {
  switch (typeof json) {
    case 'number':
    case 'bigint':
      return json;
    case 'string':
      return parseNumberText(json);
    default:
      return json instanceof JsonNumber ? parseNumberText(json.lexeme) : undefined;
  }
}

function readString(json: JsonValue): string {
  if (typeof json === 'string') return json;
  throw typeFailure('a string', json);
}

function readBool(json: JsonValue): boolean {
  if (json === true || json === 'true') return true;
  if (json === false || json === 'false') return false;
  throw typeFailure('a boolean', json);
}

function readDouble(json: JsonValue): number {
  if (typeof json === 'number') return json;
  let text: string | undefined;
  if (typeof json === 'string') text = json;
  else if (json instanceof JsonNumber) text = json.lexeme;
  if (text !== undefined) {
    if (text === 'Infinity') return Number.POSITIVE_INFINITY;
    if (text === '-Infinity') return Number.NEGATIVE_INFINITY;
    if (text === 'NaN') return Number.NaN;
  }
  const value = numericValue(json);
  if (value === undefined) throw typeFailure('a number', json);
  return Number(value);
}

const FLOAT32_MAX = 3.4028234663852886e38;

function readFloat(json: JsonValue): number {
  const value = readDouble(json);
  // Stored as the float32 a C++ peer would hold, so JSON and binary round-trips agree.
  const rounded = Math.fround(value);
  if (Number.isFinite(value) && !Number.isFinite(rounded) && Math.abs(value) > FLOAT32_MAX) {
    throw rangeFailure(value, 'float');
  }
  return rounded;
}

function integerReader(type: string, min: number, max: number): ValueReader {
  return (json) => {
    const value = numericValue(json);
    if (value === undefined) throw typeFailure(`an integer (${type})`, json);
    if (typeof value === 'bigint') {
      if (value < BigInt(min) || value > BigInt(max)) throw rangeFailure(value, type);
      return Number(value);
    }
    if (!Number.isInteger(value)) {
      if (Number.isFinite(value)) throw typeFailure(`an integer (${type})`, json);
      throw rangeFailure(value, type);
    }
    if (value < min || value > max) throw rangeFailure(value, type);
    return value === 0 ? 0 : value;
  };
}

function integer64Reader(type: string, min: bigint, max: bigint, longAsString: boolean): ValueReader {
  return (json) => {
    const value = numericValue(json);
    if (value === undefined) throw typeFailure(`an integer (${type})`, json);
    let big: bigint;
    if (typeof value === 'bigint') {
      big = value;
    } else if (Number.isInteger(value)) {
      big = BigInt(value);
    } else if (Number.isFinite(value)) {
      throw typeFailure(`an integer (${type})`, json);
    } else {
      throw rangeFailure(value, type);
    }
    if (big < min || big > max) throw rangeFailure(big, type);
    return longAsString ? big.toString() : big;
  };
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function base64Code(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2b ||
    c === 0x2f
  );
}

/** Standard alphabet, padded to a multiple of 4; a validating loop rather than a regex, for long inputs. */
function isPaddedBase64(text: string): boolean {
  const length = text.length;
  if (length % 4 !== 0) return false;
  let end = length;
  if (length > 0 && text.charCodeAt(length - 1) === 0x3d) end--;
  if (end < length && end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  for (let i = 0; i < end; i++) {
    if (!base64Code(text.charCodeAt(i))) return false;
  }
  return true;
}

function readBytes(json: JsonValue): Uint8Array {
  if (typeof json !== 'string') throw typeFailure('a base64 string', json);
  if (!isPaddedBase64(json)) throw new PathedFailure('WIRE_BAD_BASE64', {});
  const buffer = Buffer.from(json, 'base64');
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function scalarReader(scalar: ScalarType, longAsString: boolean): ValueReader {
  switch (scalar) {
    case ScalarType.STRING:
      return readString;
    case ScalarType.BOOL:
      return readBool;
    case ScalarType.DOUBLE:
      return readDouble;
    case ScalarType.FLOAT:
      return readFloat;
    case ScalarType.BYTES:
      return readBytes;
    case ScalarType.INT32:
      return integerReader('int32', INT32_MIN, INT32_MAX);
    case ScalarType.SINT32:
      return integerReader('sint32', INT32_MIN, INT32_MAX);
    case ScalarType.SFIXED32:
      return integerReader('sfixed32', INT32_MIN, INT32_MAX);
    case ScalarType.UINT32:
      return integerReader('uint32', 0, UINT32_MAX);
    case ScalarType.FIXED32:
      return integerReader('fixed32', 0, UINT32_MAX);
    case ScalarType.INT64:
      return integer64Reader('int64', INT64_MIN, INT64_MAX, longAsString);
    case ScalarType.SINT64:
      return integer64Reader('sint64', INT64_MIN, INT64_MAX, longAsString);
    case ScalarType.SFIXED64:
      return integer64Reader('sfixed64', INT64_MIN, INT64_MAX, longAsString);
    case ScalarType.UINT64:
      return integer64Reader('uint64', 0n, UINT64_MAX, longAsString);
    case ScalarType.FIXED64:
      return integer64Reader('fixed64', 0n, UINT64_MAX, longAsString);
  }
}

function enumReader(desc: DescEnum, unknownIsError: boolean): ValueReader {
  const numbers = new Map<string, number>();
  for (const value of desc.values) numbers.set(value.name, value.number);
  const expected = `a value name of enum ${desc.typeName}`;
  return (json) => {
    if (typeof json !== 'string') throw typeFailure(expected, json);
    const number = numbers.get(json);
    if (number !== undefined) return number;
    if (unknownIsError) throw new PathedFailure('WIRE_BAD_ENUM', { value: json, enum: desc.typeName });
    return DROP;
  };
}

/** Map keys arrive as JSON object keys; returns the key as protobuf-es stores it (a string). */
function mapKeyReader(key: ScalarType): (text: string) => string {
  switch (key) {
    case ScalarType.STRING:
      return (text) => text;
    case ScalarType.BOOL:
      return (text) => {
        if (text === 'true' || text === 'false') return text;
        throw typeFailure('a map key "true" or "false"', text);
      };
    default: {
      const read = scalarReader(key, false);
      return (text) => String(read(text, NO_CONTEXT));
    }
  }
}

const NO_CONTEXT: ReadContext = { depth: 0, maxDepth: 0, missingRequired: false };

// ---------------------------------------------------------------------------------------------
// Scalar conversions, field value → JSON.

type TextWriter = (value: unknown, ctx: WriteContext) => string | undefined;
type TreeWriter = (value: unknown, ctx: WriteContext) => JsonValue | undefined;
type WriteContext = { missingRequired: boolean; depth: number };

/** Deepest message nesting written; binary decoding caps input at 100, so this only stops cycles. */
const WRITE_MAX_DEPTH = 1000;

function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function integerText(value: unknown): string {
  return String(value);
}

function scalarTextWriter(scalar: ScalarType): TextWriter {
  switch (scalar) {
    case ScalarType.STRING:
      return (value) => JSON.stringify(value);
    case ScalarType.BOOL:
      return (value) => (value ? 'true' : 'false');
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return (value) => formatDouble(value as number);
    case ScalarType.BYTES:
      return (value) => '"' + base64Of(value as Uint8Array) + '"';
    default:
      return integerText;
  }
}

function scalarTreeWriter(scalar: ScalarType): TreeWriter {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BOOL:
      return (value) => value as string | boolean;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return (value) => JsonNumber.ofDouble(value as number);
    case ScalarType.BYTES:
      return (value) => base64Of(value as Uint8Array);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return (value) => (typeof value === 'bigint' ? value : BigInt(value as string));
    default:
      return (value) => value as number;
  }
}

/** Enum numbers without a name (open enums, or values assigned in code) are written as unset. */
function enumTextWriter(desc: DescEnum): TextWriter {
  const names = new Map<number, string>();
  for (const value of desc.values) names.set(value.number, JSON.stringify(value.name));
  return (value) => names.get(value as number);
}

function enumTreeWriter(desc: DescEnum): TreeWriter {
  const names = new Map<number, string>();
  for (const value of desc.values) names.set(value.number, value.name);
  return (value) => names.get(value as number);
}

// ---------------------------------------------------------------------------------------------
// Per-type field tables.

type Cardinality = 'singular' | 'oneof' | 'list' | 'map';

interface FieldPlan {
  readonly name: string;
  readonly localName: string;
  readonly cardinality: Cardinality;
  readonly oneofLocalName: string;
  /** Proto3-style implicit presence (never in Mesos' proto2 files; supported for completeness). */
  readonly implicitZero: unknown;
  readonly implicitPresence: boolean;
  readonly required: boolean;
  /** `"name":` */
  readonly keyText: string;
  readonly read: ValueReader;
  readonly readMapKey: ((text: string) => string) | undefined;
  readonly writeText: TextWriter;
  readonly writeTree: TreeWriter;
  /** Written when the field is unset: explicit default of a non-deprecated field. */
  readonly defaultText: string | undefined;
  readonly defaultTree: JsonValue | undefined;
}

interface MessagePlan {
  readonly desc: DescMessage;
  readonly fields: readonly FieldPlan[];
  readonly byName: ReadonlyMap<string, FieldPlan>;
  readonly required: readonly FieldPlan[];
  readonly create: () => MessageRecord;
}

const plans = new WeakMap<DescMessage, MessagePlan>();

function planFor(desc: DescMessage): MessagePlan {
  let plan = plans.get(desc);
  if (plan === undefined) plan = buildPlan(desc);
  return plan;
}

function buildPlan(desc: DescMessage): MessagePlan {
  const fields: FieldPlan[] = [];
  const byName = new Map<string, FieldPlan>();
  const plan: MessagePlan = {
    desc,
    fields,
    byName,
    required: [],
    create: () => create(desc) as unknown as MessageRecord,
  };
  // Registered before the fields are compiled: recursive types resolve their own plan lazily.
  plans.set(desc, plan);
  for (const field of desc.fields) {
    const fieldPlan = buildFieldPlan(field);
    fields.push(fieldPlan);
    byName.set(field.name, fieldPlan);
    if (fieldPlan.required) (plan.required as FieldPlan[]).push(fieldPlan);
  }
  return plan;
}

/** Resolves a field's message plan on first use: recursive types are still being compiled now. */
function lazyPlan(desc: DescMessage): () => MessagePlan {
  let plan: MessagePlan | undefined;
  return () => {
    if (plan === undefined) plan = planFor(desc);
    return plan;
  };
}

function messageReader(desc: DescMessage): ValueReader {
  const plan = lazyPlan(desc);
  return (json, ctx) => readMessage(plan(), json, ctx);
}

function messageTextWriter(desc: DescMessage): TextWriter {
  const plan = lazyPlan(desc);
  return (value, ctx) => writeMessageText(plan(), value as MessageRecord, ctx);
}

function messageTreeWriter(desc: DescMessage): TreeWriter {
  const plan = lazyPlan(desc);
  return (value, ctx) => writeMessageTree(plan(), value as MessageRecord, ctx);
}

function defaultsOf(field: DescField): { text: string | undefined; tree: JsonValue | undefined } {
  if (field.deprecated || (field.fieldKind !== 'scalar' && field.fieldKind !== 'enum')) {
    return { text: undefined, tree: undefined };
  }
  const value = field.getDefaultValue();
  if (value === undefined) return { text: undefined, tree: undefined };
  if (field.fieldKind === 'enum') {
    const name = field.enum.value[value as number]?.name;
    return name === undefined
      ? { text: undefined, tree: undefined }
      : { text: JSON.stringify(name), tree: name };
  }
  const text = scalarTextWriter(field.scalar)(value, { missingRequired: false, depth: 0 });
  const tree = scalarTreeWriter(field.scalar)(value, { missingRequired: false, depth: 0 });
  return { text, tree };
}

function buildFieldPlan(field: DescField): FieldPlan {
  let cardinality: Cardinality;
  let read: ValueReader;
  let writeText: TextWriter;
  let writeTree: TreeWriter;
  let readMapKey: ((text: string) => string) | undefined;
  const required = field.presence === 3; // LEGACY_REQUIRED
  switch (field.fieldKind) {
    case 'scalar':
      cardinality = field.oneof ? 'oneof' : 'singular';
      read = scalarReader(field.scalar, field.longAsString);
      writeText = scalarTextWriter(field.scalar);
      writeTree = scalarTreeWriter(field.scalar);
      break;
    case 'enum':
      cardinality = field.oneof ? 'oneof' : 'singular';
      read = enumReader(field.enum, required);
      writeText = enumTextWriter(field.enum);
      writeTree = enumTreeWriter(field.enum);
      break;
    case 'message':
      cardinality = field.oneof ? 'oneof' : 'singular';
      read = messageReader(field.message);
      writeText = messageTextWriter(field.message);
      writeTree = messageTreeWriter(field.message);
      break;
    case 'list':
      cardinality = 'list';
      switch (field.listKind) {
        case 'scalar':
          read = scalarReader(field.scalar, field.longAsString);
          writeText = scalarTextWriter(field.scalar);
          writeTree = scalarTreeWriter(field.scalar);
          break;
        case 'enum':
          read = enumReader(field.enum, false);
          writeText = enumTextWriter(field.enum);
          writeTree = enumTreeWriter(field.enum);
          break;
        case 'message':
          read = messageReader(field.message);
          writeText = messageTextWriter(field.message);
          writeTree = messageTreeWriter(field.message);
          break;
      }
      break;
    case 'map':
      cardinality = 'map';
      readMapKey = mapKeyReader(field.mapKey);
      switch (field.mapKind) {
        case 'scalar':
          read = scalarReader(field.scalar, false);
          writeText = scalarTextWriter(field.scalar);
          writeTree = scalarTreeWriter(field.scalar);
          break;
        case 'enum':
          read = enumReader(field.enum, false);
          writeText = enumTextWriter(field.enum);
          writeTree = enumTreeWriter(field.enum);
          break;
        case 'message':
          read = messageReader(field.message);
          writeText = messageTextWriter(field.message);
          writeTree = messageTreeWriter(field.message);
          break;
      }
      break;
  }
  const implicitPresence = field.presence === 2 && cardinality === 'singular'; // IMPLICIT
  let implicitZero: unknown;
  if (implicitPresence) {
    const zeroHolder = create(field.parent) as unknown as MessageRecord;
    implicitZero = zeroHolder[field.localName];
  }
  const defaults = defaultsOf(field);
  return {
    name: field.name,
    localName: field.localName,
    cardinality,
    oneofLocalName: field.oneof?.localName ?? '',
    implicitZero,
    implicitPresence,
    required,
    keyText: JSON.stringify(field.name) + ':',
    read,
    readMapKey,
    writeText,
    writeTree,
    defaultText: defaults.text,
    defaultTree: defaults.tree,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading.

function setOwnProperty(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function readMessage(plan: MessagePlan, json: JsonValue, ctx: ReadContext): MessageRecord {
  if (!isJsonObject(json)) throw new PathedFailure('WIRE_JSON_NOT_OBJECT', { message: plan.desc.typeName });
  if (++ctx.depth > ctx.maxDepth) throw new PathedFailure('WIRE_TOO_DEEP', { limit: ctx.maxDepth });
  const message = plan.create();
  const byName = plan.byName;
  let key = '';
  try {
    for (key in json) {
      const field = byName.get(key);
      if (field === undefined) continue;
      const value = json[key];
      if (value === null || value === undefined) continue;
      readField(field, message, value, ctx);
    }
  } catch (error) {
    if (error instanceof PathedFailure) error.segments.push(key);
    throw error;
  }
  ctx.depth--;
  const required = plan.required;
  for (let i = 0; i < required.length; i++) {
    const localName = required[i]!.localName;
    if (message[localName] === undefined || !Object.hasOwn(message, localName)) {
      ctx.missingRequired = true;
      break;
    }
  }
  return message;
}

function readField(field: FieldPlan, message: MessageRecord, json: JsonValue, ctx: ReadContext): void {
  switch (field.cardinality) {
    case 'singular': {
      const value = field.read(json, ctx);
      if (value !== DROP) message[field.localName] = value;
      return;
    }
    case 'oneof': {
      const value = field.read(json, ctx);
      if (value !== DROP) message[field.oneofLocalName] = { case: field.localName, value };
      return;
    }
    case 'list': {
      if (!Array.isArray(json)) throw typeFailure('an array', json);
      const list = message[field.localName] as unknown[];
      const read = field.read;
      let i = 0;
      try {
        for (; i < json.length; i++) {
          const element = json[i]!;
          if (element === null) throw typeFailure('a value (null is not allowed in an array)', element);
          const value = read(element, ctx);
          if (value !== DROP) list.push(value);
        }
      } catch (error) {
        if (error instanceof PathedFailure) error.segments.push(`[${i}]`);
        throw error;
      }
      return;
    }
    case 'map': {
      if (!isJsonObject(json)) throw typeFailure('an object (map)', json);
      const map = message[field.localName] as Record<string, unknown>;
      const read = field.read;
      const readKey = field.readMapKey!;
      let key = '';
      try {
        for (key in json) {
          const element = json[key];
          if (element === null || element === undefined) continue;
          const mapKey = readKey(key);
          const value = read(element, ctx);
          if (value !== DROP) setOwnProperty(map, mapKey, value);
        }
      } catch (error) {
        if (error instanceof PathedFailure) error.segments.push(`[${JSON.stringify(key)}]`);
        throw error;
      }
      return;
    }
  }
}

/**
 * Reads a message from Mesos JSON: text, UTF-8 bytes, or an already parsed value (from
 * `parseJson`, or `JSON.parse` when 64-bit precision does not matter). A string argument is always
 * taken as JSON text. Throws StrataError (WIRE_*) naming the offending field path.
 */
export function fromMesosJson<Desc extends DescMessage>(
  schema: Desc,
  input: JsonValue | Uint8Array,
  options?: MesosJsonReadOptions,
): MessageShape<Desc> {
  const json = typeof input === 'string' || input instanceof Uint8Array ? parseJson(input, options) : input;
  const ctx: ReadContext = {
    depth: 0,
    maxDepth: options?.maxDepth ?? DEFAULT_JSON_MAX_DEPTH,
    missingRequired: false,
  };
  let message: MessageRecord;
  try {
    message = readMessage(planFor(schema), json, ctx);
  } catch (error) {
    if (error instanceof PathedFailure) throw toStrataError(error);
    throw error;
  }
  const result = message as unknown as MessageShape<Desc>;
  if (ctx.missingRequired) {
    fail('WIRE_MISSING_REQUIRED', { fields: findMissingRequiredFields(schema, result).join(', ') });
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Writing.

function enterWrite(ctx: WriteContext, plan: MessagePlan): void {
  if (++ctx.depth > WRITE_MAX_DEPTH) {
    fail('WIRE_TOO_DEEP', { limit: WRITE_MAX_DEPTH, message: plan.desc.typeName });
  }
}

function writeMessageText(plan: MessagePlan, message: MessageRecord, ctx: WriteContext): string {
  enterWrite(ctx, plan);
  let out = '{';
  const fields = plan.fields;
  for (let f = 0; f < fields.length; f++) {
    const field = fields[f]!;
    let piece: string | undefined;
    switch (field.cardinality) {
      case 'singular': {
        const value = message[field.localName];
        if (field.implicitPresence) {
          if (value !== field.implicitZero && !isEmptyBytes(value)) piece = field.writeText(value, ctx);
          break;
        }
        if (value !== undefined && Object.hasOwn(message, field.localName))
          piece = field.writeText(value, ctx);
        if (piece === undefined) {
          // A required field with a default (MasterInfo.port) is written with it, as stout does,
          // but still counts as missing for encoders that insist on required fields.
          piece = field.defaultText;
          if (field.required) ctx.missingRequired = true;
        }
        break;
      }
      case 'oneof': {
        const oneof = message[field.oneofLocalName] as OneofValue;
        if (oneof.case === field.localName) piece = field.writeText(oneof.value, ctx);
        break;
      }
      case 'list': {
        const list = message[field.localName] as unknown[];
        if (list.length === 0) break;
        let items = '';
        for (let i = 0; i < list.length; i++) {
          const item = field.writeText(list[i], ctx);
          if (item !== undefined) items += items === '' ? item : ',' + item;
        }
        if (items !== '') piece = '[' + items + ']';
        break;
      }
      case 'map': {
        const map = message[field.localName] as Record<string, unknown>;
        let entries = '';
        for (const key in map) {
          if (!Object.hasOwn(map, key)) continue;
          const value = field.writeText(map[key], ctx);
          if (value === undefined) continue;
          entries += (entries === '' ? '' : ',') + JSON.stringify(key) + ':' + value;
        }
        if (entries !== '') piece = '{' + entries + '}';
        break;
      }
    }
    if (piece !== undefined) out += (out.length === 1 ? '' : ',') + field.keyText + piece;
  }
  ctx.depth--;
  return out + '}';
}

function isEmptyBytes(value: unknown): boolean {
  return value instanceof Uint8Array && value.byteLength === 0;
}

function writeMessageTree(plan: MessagePlan, message: MessageRecord, ctx: WriteContext): JsonObject {
  enterWrite(ctx, plan);
  const out: JsonObject = {};
  const fields = plan.fields;
  for (let f = 0; f < fields.length; f++) {
    const field = fields[f]!;
    let value: JsonValue | undefined;
    switch (field.cardinality) {
      case 'singular': {
        const raw = message[field.localName];
        if (field.implicitPresence) {
          if (raw !== field.implicitZero && !isEmptyBytes(raw)) value = field.writeTree(raw, ctx);
          break;
        }
        if (raw !== undefined && Object.hasOwn(message, field.localName)) value = field.writeTree(raw, ctx);
        if (value === undefined) {
          value = field.defaultTree;
          if (field.required) ctx.missingRequired = true;
        }
        break;
      }
      case 'oneof': {
        const oneof = message[field.oneofLocalName] as OneofValue;
        if (oneof.case === field.localName) value = field.writeTree(oneof.value, ctx);
        break;
      }
      case 'list': {
        const list = message[field.localName] as unknown[];
        if (list.length === 0) break;
        const items: JsonValue[] = [];
        for (let i = 0; i < list.length; i++) {
          const item = field.writeTree(list[i], ctx);
          if (item !== undefined) items.push(item);
        }
        if (items.length > 0) value = items;
        break;
      }
      case 'map': {
        const map = message[field.localName] as Record<string, unknown>;
        let entries: JsonObject | undefined;
        for (const key in map) {
          if (!Object.hasOwn(map, key)) continue;
          const entry = field.writeTree(map[key], ctx);
          if (entry === undefined) continue;
          entries ??= {};
          setOwnProperty(entries, key, entry);
        }
        value = entries;
        break;
      }
    }
    if (value !== undefined) out[field.name] = value;
  }
  ctx.depth--;
  return out;
}

export interface MesosJsonWriteResult<T> {
  readonly json: T;
  /** True when some required field was unset (written with its default if it has one, else absent). */
  readonly missingRequired: boolean;
}

/**
 * Writes a message as Mesos JSON text. Does not insist on required fields (use `Codec.encode`
 * for that); unset required fields without a default are simply absent.
 */
export function toMesosJsonText<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): string {
  return writeMesosJsonText(schema, message).json;
}

/** As `toMesosJsonText`, also reporting whether a required field was missing. */
export function writeMesosJsonText(schema: DescMessage, message: Message): MesosJsonWriteResult<string> {
  const ctx: WriteContext = { missingRequired: false, depth: 0 };
  const json = writeMessageText(planFor(schema), message as unknown as MessageRecord, ctx);
  return { json, missingRequired: ctx.missingRequired };
}

/**
 * Writes a message as a Mesos JSON value, for embedding in larger documents (`stringifyJson`
 * writes it exactly as `toMesosJsonText` would). 64-bit integers are `bigint`; doubles and floats
 * are `JsonNumber` so that `5.0` keeps its decimal point.
 */
export function toMesosJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): JsonObject {
  const ctx: WriteContext = { missingRequired: false, depth: 0 };
  return writeMessageTree(planFor(schema), message as unknown as MessageRecord, ctx);
}
