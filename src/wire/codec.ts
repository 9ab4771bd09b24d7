/**
 * Binary protobuf encode/decode with proto2 semantics, and the `Codec` facade the HTTP endpoints
 * use for both media types.
 *
 * What @bufbuild/protobuf (v2) does and does not do for us, and what we add:
 * - It decodes messages with unset required fields without complaint: we check every required
 *   field after decoding (WIRE_MISSING_REQUIRED, naming the paths), as C++ peers do.
 * - Closed (proto2) enums: an unknown number in a singular or oneof field goes to the unknown
 *   fields and the field stays unset, matching C++; repeated fields and map values keep unknown
 *   numbers, so we drop those elements and entries (see proto2-checks.ts).
 * - It enforces a recursion limit (default 100, like C++) with a plain Error: we report it as
 *   WIRE_TOO_DEEP and every other failure as WIRE_PROTO_DECODE naming the message type and, where
 *   our own structural scan can find it, the byte offset and field path of the damage.
 * - It refuses to encode a message with an unset required field (a plain Error): we report the
 *   missing paths. Encoding problems are our own bugs, hence INTERNAL rather than a 4xx code.
 * - Unknown fields are kept and re-emitted on encode, so forwarded messages lose nothing.
 */
import {
  type DescField,
  type DescMessage,
  fromBinary,
  type MessageShape,
  ScalarType,
  toBinary,
} from '@bufbuild/protobuf';
import { fail, isStrataError, StrataError } from '../common/errors.js';
import { DEFAULT_JSON_MAX_DEPTH, DEFAULT_JSON_MAX_LENGTH, parseJson } from './json-text.js';
import { fromMesosJson, writeMesosJsonText } from './mesos-json.js';
import {
  dropUnknownEnumValues,
  findMissingRequiredFields,
  hasMissingRequiredFields,
  mayHoldUnknownEnumValues,
} from './proto2-checks.js';

export const MEDIA_TYPE_JSON = 'application/json';
export const MEDIA_TYPE_PROTOBUF = 'application/x-protobuf';
export type WireMediaType = typeof MEDIA_TYPE_JSON | typeof MEDIA_TYPE_PROTOBUF;

export interface DecodeLimits {
  /** Largest accepted input in bytes (WIRE_TOO_LARGE beyond). */
  maxBytes?: number;
  /** Deepest accepted message / JSON nesting (WIRE_TOO_DEEP beyond). */
  maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = DEFAULT_JSON_MAX_LENGTH;
export const DEFAULT_MAX_DEPTH = DEFAULT_JSON_MAX_DEPTH;

/** Decodes binary protobuf, then applies the proto2 checks described above. */
export function decodeBinary<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  limits?: DecodeLimits,
): MessageShape<Desc> {
  const maxBytes = limits?.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = limits?.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (bytes.byteLength > maxBytes) fail('WIRE_TOO_LARGE', { size: bytes.byteLength, limit: maxBytes });
  let message: MessageShape<Desc>;
  try {
    message = fromBinary(schema, bytes, { recursionLimit: maxDepth });
  } catch (error) {
    throw decodeFailure(schema, bytes, maxDepth, error);
  }
  if (mayHoldUnknownEnumValues(schema)) dropUnknownEnumValues(schema, message);
  if (hasMissingRequiredFields(schema, message)) {
    fail('WIRE_MISSING_REQUIRED', {
      fields: findMissingRequiredFields(schema, message).join(', '),
      message: schema.typeName,
    });
  }
  return message;
}

/** Encodes binary protobuf (repeated scalars unpacked, as proto2 declares them). */
export function encodeBinary<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): Uint8Array {
  try {
    return toBinary(schema, message);
  } catch (error) {
    throw encodeFailure(schema, message, error);
  }
}

function encodeFailure<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, cause: unknown) {
  if (isStrataError(cause)) return cause;
  const missing = findMissingRequiredFields(schema, message);
  const detail =
    missing.length > 0
      ? `cannot encode ${schema.typeName}: Missing required fields: ${missing.join(', ')}`
      : `cannot encode ${schema.typeName}: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new StrataError('INTERNAL', { detail, message: schema.typeName }, { cause });
}

function decodeFailure(
  schema: DescMessage,
  bytes: Uint8Array,
  maxDepth: number,
  cause: unknown,
): StrataError {
  if (isStrataError(cause)) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  const located = locateWireDamage(schema, bytes, maxDepth);
  if (/recursion depth/.test(reason) || located?.tooDeep) {
    return new StrataError(
      'WIRE_TOO_DEEP',
      { limit: maxDepth, message: schema.typeName, ...(located ? { field: located.path } : {}) },
      { cause },
    );
  }
  const detail = located ? `${located.detail} at byte ${located.offset} (field '${located.path}')` : reason;
  return new StrataError(
    'WIRE_PROTO_DECODE',
    {
      message: schema.typeName,
      detail,
      ...(located ? { offset: located.offset, field: located.path } : {}),
    },
    { cause },
  );
}

// ---------------------------------------------------------------------------------------------
// Failure diagnostics: a structural scan of the wire format, run only after decoding failed, that
// finds the first malformed record and the field path leading to it.

interface WireDamage {
  offset: number;
  path: string;
  detail: string;
  tooDeep: boolean;
}

class Damage {
  readonly offset: number;
  readonly detail: string;
  readonly tooDeep: boolean;
  /** Path segments, innermost first. */
  readonly segments: string[] = [];

  constructor(offset: number, detail: string, tooDeep = false) {
    this.offset = offset;
    this.detail = detail;
    this.tooDeep = tooDeep;
  }
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

/** What the scanner needs to know about one field number of the message being scanned. */
interface ScanField {
  readonly name: string;
  readonly repeated: boolean;
  /** The wire types a well-formed record of this field may use. */
  readonly wireTypes: readonly number[];
  /** Layout of the nested message, for message fields and map entries. */
  readonly nested: (() => Layout) | undefined;
}

type Layout = (fieldNo: number) => ScanField | undefined;

const layouts = new WeakMap<DescMessage, Layout>();

function messageLayout(desc: DescMessage): Layout {
  let layout = layouts.get(desc);
  if (layout === undefined) {
    const byNumber = new Map<number, ScanField>();
    for (const field of desc.fields) byNumber.set(field.number, scanFieldOf(field));
    layout = (fieldNo) => byNumber.get(fieldNo);
    layouts.set(desc, layout);
  }
  return layout;
}

function mapEntryLayout(field: DescField & { fieldKind: 'map' }): Layout {
  const key: ScanField = {
    name: 'key',
    repeated: false,
    wireTypes: [scalarWireType(field.mapKey)],
    nested: undefined,
  };
  let value: ScanField;
  switch (field.mapKind) {
    case 'message': {
      const child = field.message;
      value = {
        name: 'value',
        repeated: false,
        wireTypes: [WIRE_LENGTH_DELIMITED],
        nested: () => messageLayout(child),
      };
      break;
    }
    case 'enum':
      value = { name: 'value', repeated: false, wireTypes: [WIRE_VARINT], nested: undefined };
      break;
    default:
      value = {
        name: 'value',
        repeated: false,
        wireTypes: [scalarWireType(field.scalar)],
        nested: undefined,
      };
  }
  return (fieldNo) => (fieldNo === 1 ? key : fieldNo === 2 ? value : undefined);
}

function scanFieldOf(field: DescField): ScanField {
  const name = field.name;
  switch (field.fieldKind) {
    case 'message': {
      const child = field.message;
      const wireType = field.delimitedEncoding ? WIRE_START_GROUP : WIRE_LENGTH_DELIMITED;
      return { name, repeated: false, wireTypes: [wireType], nested: () => messageLayout(child) };
    }
    case 'map': {
      const entry = mapEntryLayout(field);
      return { name, repeated: true, wireTypes: [WIRE_LENGTH_DELIMITED], nested: () => entry };
    }
    case 'enum':
      return { name, repeated: false, wireTypes: [WIRE_VARINT], nested: undefined };
    case 'scalar':
      return { name, repeated: false, wireTypes: [scalarWireType(field.scalar)], nested: undefined };
    case 'list': {
      if (field.listKind === 'message') {
        const child = field.message;
        const wireType = field.delimitedEncoding ? WIRE_START_GROUP : WIRE_LENGTH_DELIMITED;
        return { name, repeated: true, wireTypes: [wireType], nested: () => messageLayout(child) };
      }
      const wireType = field.listKind === 'enum' ? WIRE_VARINT : scalarWireType(field.scalar);
      // Packed encoding is accepted for every numeric list, whatever the declaration says.
      const wireTypes = wireType === WIRE_LENGTH_DELIMITED ? [wireType] : [wireType, WIRE_LENGTH_DELIMITED];
      return { name, repeated: true, wireTypes, nested: undefined };
    }
  }
}

/** The wire type a scalar is written with when not packed. */
function scalarWireType(scalar: ScalarType): number {
  switch (scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WIRE_FIXED64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WIRE_FIXED32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WIRE_LENGTH_DELIMITED;
    default:
      return WIRE_VARINT;
  }
}

function locateWireDamage(schema: DescMessage, bytes: Uint8Array, maxDepth: number): WireDamage | undefined {
  try {
    new WireScanner(bytes, maxDepth).scan(messageLayout(schema), 0, bytes.byteLength, 1, -1);
    return undefined;
  } catch (error) {
    if (!(error instanceof Damage)) return undefined;
    let path = '';
    for (let i = error.segments.length - 1; i >= 0; i--) {
      const segment = error.segments[i]!;
      path += path === '' || segment.startsWith('[') ? segment : '.' + segment;
    }
    return { offset: error.offset, path: path || '(root)', detail: error.detail, tooDeep: error.tooDeep };
  }
}

class WireScanner {
  private pos = 0;
  private readonly bytes: Uint8Array;
  private readonly maxDepth: number;

  constructor(bytes: Uint8Array, maxDepth: number) {
    this.bytes = bytes;
    this.maxDepth = maxDepth;
  }

  private varint(end: number): number {
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw new Damage(start, 'truncated varint');
      const byte = this.bytes[this.pos++]!;
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) return value;
    }
    throw new Damage(start, 'varint longer than 10 bytes');
  }

  private skip(count: number, end: number, what: string): void {
    if (count > end - this.pos) throw new Damage(this.pos, `truncated ${what}`);
    this.pos += count;
  }

  /**
   * Scans [start, end) with `layout`. `groupField` >= 0 means a group body, terminated by its
   * END_GROUP tag rather than by `end`.
   */
  scan(layout: Layout | undefined, start: number, end: number, depth: number, groupField: number): void {
    if (depth > this.maxDepth) throw new Damage(start, 'message nesting too deep', true);
    this.pos = start;
    const occurrences = new Map<number, number>();
    while (this.pos < end) {
      const tagAt = this.pos;
      const tag = this.varint(end);
      const fieldNo = Math.floor(tag / 8);
      const wireType = tag % 8;
      const field = layout?.(fieldNo);
      let segment = `#${fieldNo}`;
      if (field !== undefined) {
        const index = occurrences.get(fieldNo) ?? 0;
        occurrences.set(fieldNo, index + 1);
        segment = field.repeated ? `${field.name}[${index}]` : field.name;
      }
      try {
        if (fieldNo === 0 || fieldNo > 0x1fffffff) throw new Damage(tagAt, `illegal field number ${fieldNo}`);
        if (
          field !== undefined &&
          wireType !== WIRE_END_GROUP &&
          wireType <= WIRE_FIXED32 &&
          !field.wireTypes.includes(wireType)
        ) {
          throw new Damage(tagAt, `wire type ${wireType} does not match the field's declared type`);
        }
        switch (wireType) {
          case WIRE_VARINT:
            this.varint(end);
            break;
          case WIRE_FIXED64:
            this.skip(8, end, 'fixed64');
            break;
          case WIRE_FIXED32:
            this.skip(4, end, 'fixed32');
            break;
          case WIRE_LENGTH_DELIMITED: {
            const lengthAt = this.pos;
            const length = this.varint(end);
            if (length > end - this.pos) throw new Damage(lengthAt, `length ${length} runs past the end`);
            const bodyEnd = this.pos + length;
            if (field?.nested !== undefined) this.scan(field.nested(), this.pos, bodyEnd, depth + 1, -1);
            this.pos = bodyEnd;
            break;
          }
          case WIRE_START_GROUP:
            this.scan(field?.nested?.(), this.pos, end, depth + 1, fieldNo);
            break;
          case WIRE_END_GROUP:
            if (fieldNo === groupField) return;
            throw new Damage(tagAt, 'unexpected end-group tag');
          default:
            throw new Damage(tagAt, `invalid wire type ${wireType}`);
        }
      } catch (error) {
        if (error instanceof Damage) error.segments.push(segment);
        throw error;
      }
    }
    if (groupField >= 0) throw new Damage(end, 'group without end-group tag');
  }
}

// ---------------------------------------------------------------------------------------------
// The facade.

export interface CodecOptions extends DecodeLimits {}

/**
 * Decodes request bodies and encodes responses/events in either media type. Both directions
 * insist on proto2 required fields; JSON follows the Mesos mapping (mesos-json.ts).
 */
export class Codec {
  readonly maxBytes: number;
  readonly maxDepth: number;

  constructor(options?: CodecOptions) {
    this.maxBytes = options?.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  }

  decode<Desc extends DescMessage>(
    schema: Desc,
    bytes: Uint8Array,
    mediaType: WireMediaType,
  ): MessageShape<Desc> {
    if (mediaType === MEDIA_TYPE_PROTOBUF) {
      return decodeBinary(schema, bytes, { maxBytes: this.maxBytes, maxDepth: this.maxDepth });
    }
    if (mediaType === MEDIA_TYPE_JSON) {
      const json = parseJson(bytes, { maxLength: this.maxBytes, maxDepth: this.maxDepth });
      return fromMesosJson(schema, json, { maxDepth: this.maxDepth });
    }
    return unsupportedMediaType(mediaType);
  }

  encode<Desc extends DescMessage>(
    schema: Desc,
    message: MessageShape<Desc>,
    mediaType: WireMediaType,
  ): Uint8Array {
    if (mediaType === MEDIA_TYPE_PROTOBUF) return encodeBinary(schema, message);
    if (mediaType === MEDIA_TYPE_JSON) {
      const written = writeMesosJsonText(schema, message);
      if (written.missingRequired) throw encodeFailure(schema, message, new Error('required field not set'));
      const buffer = Buffer.from(written.json, 'utf8');
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    }
    return unsupportedMediaType(mediaType);
  }
}

function unsupportedMediaType(mediaType: never): never {
  return fail('INTERNAL', { detail: `codec: unsupported media type '${String(mediaType)}'` });
}

/** The default codec (64 MiB inputs, nesting depth 100). */
export const codec = new Codec();
