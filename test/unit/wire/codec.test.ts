import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  isFieldSet,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import { type ErrorCode, isStrataError, StrataError } from '../../../src/common/errors.js';
import {
  Codec,
  codec,
  decodeBinary,
  encodeBinary,
  MEDIA_TYPE_JSON,
  MEDIA_TYPE_PROTOBUF,
} from '../../../src/wire/codec.js';
import {
  Color,
  DefaultsSchema,
  EverythingSchema,
  ItemSchema,
  RepeatedSchema,
  ScalarsSchema,
  SpanSchema,
  TreeSchema,
} from '../../../src/wire/gen/strata/testing/v1/fixture_pb.js';
import { fromMesosJson, toMesosJsonText } from '../../../src/wire/mesos-json.js';

const everythingJson = `{"id":"all","kind":"BLUE","mode":"GREEN","nanoseconds":1470000000123456789,
  "scalars":{"f_double":-1.25,"f_float":0.1,"f_int32":-5,"f_int64":-9223372036854775808,"f_uint32":4294967295,
    "f_uint64":18446744073709551615,"f_sint32":-2147483648,"f_sint64":-3,"f_fixed32":7,"f_fixed64":8,
    "f_sfixed32":-9,"f_sfixed64":-10,"f_bool":true,"f_string":"☃ \\u0000 \\"q\\"","f_bytes":"AAEC/w==","f_color":"RED"},
  "defaults":{"ratio":0,"shell":false,"role":"eng","limit":-Infinity},
  "repeated":{"ints":[1,-1,0],"longs":[9007199254740993],"doubles":[0.5,Infinity],"bools":[false,true],
    "strings":["a","b"],"blobs":["","AA=="],"colors":["BLUE","RED"],"items":[{"name":"i1"},{"name":"i2","count":2}],
    "packed_ids":[1,18446744073709551615],"sints":[-1,1],"fixeds":[3],"floats":[1.5]},
  "item":{"name":"root","child":{"name":"c","children":[{"name":"gc"}]}},
  "items_by_name":{"x":{"name":"X"},"":{"name":"empty key"}},
  "limits":{"cpus":Infinity,"mem":1024},
  "picked":{"name":"p"},
  "span":{"ranges":[{"begin":31000,"end":32000},{"begin":0,"end":18446744073709551615}],"mode":"RW"},
  "tree":{"label":"t","left":{"right":{"label":"lr"}}},
  "names_by_id":{"1":"one","-7":"minus seven"},
  "colors_by_name":{"sky":"BLUE"},
  "spans":[{"mode":"RO"},{"mode":"RW","fallback":"RW"}]}`;

function everything() {
  return fromMesosJson(EverythingSchema, everythingJson);
}

function isCode(code: ErrorCode, check?: (err: StrataError) => void) {
  return (err: unknown) => {
    assert.ok(isStrataError(err), `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    check?.(err);
    return true;
  };
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

/** Both paths through the codec must agree on the message and on its Mesos JSON. */
function assertAgreement<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void {
  const viaBinary = decodeBinary(schema, encodeBinary(schema, message));
  assert.ok(equals(schema, viaBinary, message), 'binary round-trip preserves the message');
  const json = toMesosJsonText(schema, message);
  assert.equal(toMesosJsonText(schema, viaBinary), json, 'JSON agrees across the binary path');
  // Mesos JSON carries defaults explicitly, so the JSON path sets them: compare what it writes.
  const viaJson = fromMesosJson(schema, json);
  assert.equal(toMesosJsonText(schema, viaJson), json, 'JSON round-trip is stable');
  const viaJsonThenBinary = decodeBinary(schema, encodeBinary(schema, viaJson));
  assert.ok(equals(schema, viaJsonThenBinary, viaJson), 'binary round-trip of the JSON-read message');
}

describe('binary codec: round trips and agreement with JSON', () => {
  it('round-trips a message using every field kind', () => {
    const message = everything();
    assertAgreement(EverythingSchema, message);
    const decoded = decodeBinary(EverythingSchema, encodeBinary(EverythingSchema, message));
    assert.equal(decoded.nanoseconds, 1470000000123456789n);
    assert.equal(decoded.repeated?.packedIds[1], 18446744073709551615n);
    assert.equal(decoded.scalars?.fFloat, Math.fround(0.1));
    assert.ok(isFieldSet(decoded.defaults!, DefaultsSchema.field.shell!), 'an explicit false stays set');
    assert.match(toMesosJsonText(EverythingSchema, decoded), /"shell":false/);
  });

  it('round-trips minimal and empty-ish messages', () => {
    assertAgreement(
      EverythingSchema,
      fromMesosJson(EverythingSchema, '{"id":"","kind":"COLOR_UNKNOWN","nanoseconds":0}'),
    );
    assertAgreement(TreeSchema, create(TreeSchema));
    assertAgreement(ItemSchema, create(ItemSchema, { name: '' }));
  });

  it('writes repeated scalars unpacked unless declared packed, and reads both forms', () => {
    const message = create(RepeatedSchema, { ints: [1, 2], packedIds: [3n, 4n] });
    assert.equal(hex(encodeBinary(RepeatedSchema, message)), '0801' + '0802' + '4a020304');
    const packedInts = decodeBinary(RepeatedSchema, fromHex('0a020102'));
    assert.deepEqual(packedInts.ints, [1, 2]);
    const unpackedIds = decodeBinary(RepeatedSchema, fromHex('4803 4804'));
    assert.deepEqual(unpackedIds.packedIds, [3n, 4n]);
  });

  it('keeps unknown fields and re-emits them', () => {
    const bytes = fromHex('0a0161' + 'f8ff0301'); // name="a", field 65535 varint 1
    const item = decodeBinary(ItemSchema, bytes);
    assert.equal(item.name, 'a');
    assert.equal(hex(encodeBinary(ItemSchema, item)), hex(bytes));
    assert.equal(toMesosJsonText(ItemSchema, item), '{"name":"a"}');
  });
});

describe('binary codec: proto2 rules', () => {
  it('rejects decoded messages with unset required fields, naming every path', () => {
    assert.throws(
      () => decodeBinary(ItemSchema, fromHex('1005')),
      isCode('WIRE_MISSING_REQUIRED', (err) => assert.equal(err.message, 'Missing required fields: name')),
    );
    // Why the check exists: protobuf-es reads such bytes without complaint (but refuses to write them).
    assert.equal(fromBinary(ItemSchema, fromHex('1005')).count, 5);
    assert.throws(
      () => toBinary(ItemSchema, create(ItemSchema)),
      (err: unknown) => !isStrataError(err),
    );
  });

  it('names missing required fields found in decoded bytes', () => {
    // Everything{id:"x", kind:RED, nanoseconds:1, item:{name:"a", children:[{name:"b"},{count:1}]}, items_by_name:{"k":{}}}
    const bytes = fromHex('0a0178 1001 2001' + '420c 0a0161 2203 0a0162 2202 1001' + '4a05 0a016b 1200');
    assert.throws(
      () => decodeBinary(EverythingSchema, bytes),
      isCode('WIRE_MISSING_REQUIRED', (err) =>
        assert.equal(err.message, 'Missing required fields: item.children[1].name, items_by_name["k"].name'),
      ),
    );
  });

  it('finds missing required fields inside oneof members and map values', () => {
    assert.throws(
      () => decodeBinary(EverythingSchema, fromHex('0a0178 1001 2001 6200')),
      isCode('WIRE_MISSING_REQUIRED', (err) =>
        assert.equal(err.message, 'Missing required fields: picked.name'),
      ),
    );
  });

  it('refuses to encode messages with unset required fields, as an internal error naming them', () => {
    assert.throws(
      () => encodeBinary(ItemSchema, create(ItemSchema, { count: 1 })),
      isCode('INTERNAL', (err) =>
        assert.match(err.message, /strata\.testing\.v1\.Item: Missing required fields: name/),
      ),
    );
    const nested = create(EverythingSchema, {
      id: 'x',
      kind: Color.RED,
      nanoseconds: 1n,
      span: create(SpanSchema),
    });
    assert.throws(
      () => encodeBinary(EverythingSchema, nested),
      isCode('INTERNAL', (err) => assert.match(err.message, /span\.mode/)),
    );
    assert.throws(
      () => codec.encode(ItemSchema, create(ItemSchema), MEDIA_TYPE_JSON),
      isCode('INTERNAL', (err) => assert.match(err.message, /Missing required fields: name/)),
    );
  });

  it('treats unknown enum numbers in optional fields as unset, and fails required ones', () => {
    // Scalars.f_color (16) = 42
    const unknownOptional = fromHex('80012a');
    const scalars = decodeBinary(ScalarsSchema, unknownOptional);
    assert.equal(isFieldSet(scalars, ScalarsSchema.field.fColor!), false);
    assert.equal(toMesosJsonText(ScalarsSchema, scalars), '{}');
    assert.equal(hex(encodeBinary(ScalarsSchema, scalars)), hex(unknownOptional), 'kept as an unknown field');
    // Everything{id:"x", kind:42, nanoseconds:1}
    assert.throws(
      () => decodeBinary(EverythingSchema, fromHex('0a0178 102a 2001')),
      isCode('WIRE_MISSING_REQUIRED', (err) => assert.equal(err.message, 'Missing required fields: kind')),
    );
    // Repeated.colors = [BLUE, 42, RED]
    assert.deepEqual(decodeBinary(RepeatedSchema, fromHex('3803 382a 3801')).colors, [Color.BLUE, Color.RED]);
    // Everything.colors_by_name {"a": 42, "b": GREEN}
    const withMap = decodeBinary(
      EverythingSchema,
      fromHex('0a0178 1001 2001' + '9a0105 0a0161 102a' + '9a0105 0a0162 1002'),
    );
    assert.deepEqual({ ...withMap.colorsByName }, { b: Color.GREEN });
    // oneof shade (18) = 42
    const oneof = decodeBinary(EverythingSchema, fromHex('0a0178 1001 2001 90012a'));
    assert.equal(oneof.choice.case, undefined);
  });
});

describe('binary codec: bad input', () => {
  it('reports truncated input with the message, offset and field', () => {
    const bytes = encodeBinary(EverythingSchema, everything());
    let failures = 0;
    for (let length = 0; length < bytes.length; length++) {
      try {
        decodeBinary(EverythingSchema, bytes.subarray(0, length));
      } catch (err) {
        failures++;
        assertNamed(err);
      }
    }
    assert.ok(failures > bytes.length / 2, `most truncations fail (${failures}/${bytes.length})`);
    assert.throws(
      () => decodeBinary(ItemSchema, fromHex('0a05616263')),
      isCode('WIRE_PROTO_DECODE', (err) => {
        assert.equal(err.params.offset, 1);
        assert.equal(err.params.field, 'name');
        assert.match(
          err.message,
          /invalid protobuf for strata\.testing\.v1\.Item: length 5 runs past the end/,
        );
      }),
    );
    assert.throws(
      () => decodeBinary(EverythingSchema, fromHex('0a0178 1001 2001 4205 0a05616263')),
      isCode('WIRE_PROTO_DECODE', (err) => assert.equal(err.params.field, 'item.name')),
    );
  });

  it('reports malformed wire data', () => {
    const cases: [string, string][] = [
      ['0f', 'invalid wire type'],
      ['1001 10ffffffffffffffffffff01', 'varint'],
      ['00', 'field number 0'],
      ['2c', 'end-group'],
      ['2b', 'group'],
      ['1202ffff', 'wire type 2 does not match'],
    ];
    for (const [input, detail] of cases) {
      assert.throws(
        () => decodeBinary(ItemSchema, fromHex(input)),
        isCode('WIRE_PROTO_DECODE', (err) => {
          assert.match(err.message, new RegExp(detail));
          assert.equal(typeof err.params.offset, 'number', err.message);
        }),
        input,
      );
    }
  });

  it('rejects excessive nesting', () => {
    let bytes = new Uint8Array(0);
    for (let depth = 0; depth < 150; depth++) {
      const header = depth === 0 ? [] : [0x12, ...varint(bytes.length)];
      bytes = Uint8Array.from([...header, ...bytes]);
    }
    assert.throws(
      () => decodeBinary(TreeSchema, bytes),
      isCode('WIRE_TOO_DEEP', (err) => assert.match(String(err.params.field), /^left\.left\./)),
    );
    assert.throws(() => decodeBinary(TreeSchema, bytes, { maxDepth: 10 }), isCode('WIRE_TOO_DEEP'));
  });

  it('rejects oversized input before decoding', () => {
    const small = new Codec({ maxBytes: 8 });
    const body = encodeBinary(ItemSchema, create(ItemSchema, { name: 'a long enough name' }));
    assert.throws(() => small.decode(ItemSchema, body, MEDIA_TYPE_PROTOBUF), isCode('WIRE_TOO_LARGE'));
    assert.throws(
      () => small.decode(ItemSchema, new TextEncoder().encode('{"name":"long"}'), MEDIA_TYPE_JSON),
      isCode('WIRE_TOO_LARGE'),
    );
  });
});

describe('Codec facade', () => {
  it('decodes and encodes both media types', () => {
    const message = everything();
    for (const mediaType of [MEDIA_TYPE_JSON, MEDIA_TYPE_PROTOBUF] as const) {
      const bytes = codec.encode(EverythingSchema, message, mediaType);
      assert.ok(bytes instanceof Uint8Array);
      const back = codec.decode(EverythingSchema, bytes, mediaType);
      if (mediaType === MEDIA_TYPE_PROTOBUF) assert.ok(equals(EverythingSchema, back, message));
      assert.equal(
        toMesosJsonText(EverythingSchema, back),
        toMesosJsonText(EverythingSchema, message),
        mediaType,
      );
    }
    const json = new TextDecoder().decode(
      codec.encode(ItemSchema, create(ItemSchema, { name: '☃' }), MEDIA_TYPE_JSON),
    );
    assert.equal(json, '{"name":"☃"}');
  });

  it('reports JSON problems with field paths', () => {
    const body = new TextEncoder().encode('{"id":"x","kind":"RED","nanoseconds":"soon"}');
    assert.throws(
      () => codec.decode(EverythingSchema, body, MEDIA_TYPE_JSON),
      isCode('WIRE_JSON_TYPE', (err) => assert.equal(err.params.field, 'nanoseconds')),
    );
    assert.throws(
      () => codec.decode(EverythingSchema, new TextEncoder().encode('{"id":'), MEDIA_TYPE_JSON),
      isCode('WIRE_JSON_SYNTAX', (err) => assert.equal(err.params.offset, 6)),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Seeded random input: never a crash, hang or foreign exception.

function varint(value: number): number[] {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return out;
}

/** xorshift32: deterministic so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x100000000;
  };
}

/** Every failure must be a StrataError that says where: a field path, an offset, or the missing fields. */
function assertNamed(err: unknown): void {
  if (!(err instanceof StrataError)) {
    throw new assert.AssertionError({
      message: `non-Strata exception: ${String((err as Error)?.stack ?? err)}`,
    });
  }
  const { params } = err;
  const named =
    typeof params.field === 'string' ||
    typeof params.offset === 'number' ||
    typeof params.fields === 'string';
  assert.ok(named, `${err.code} names neither a field nor an offset: ${err.message}`);
}

function mutateBytes(source: Uint8Array, next: () => number): Uint8Array {
  const bytes = Array.from(source);
  const edits = 1 + Math.floor(next() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(next() * (bytes.length + 1));
    switch (Math.floor(next() * 5)) {
      case 0:
        bytes[at] = Math.floor(next() * 256);
        break;
      case 1:
        bytes.splice(at, 0, Math.floor(next() * 256));
        break;
      case 2:
        bytes.splice(at, 1 + Math.floor(next() * 8));
        break;
      case 3:
        bytes.length = Math.min(bytes.length, at);
        break;
      default:
        bytes[at] = (bytes[at] ?? 0) ^ (1 << Math.floor(next() * 8));
    }
  }
  return Uint8Array.from(bytes);
}

const JSON_NOISE = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  '-',
  '0',
  '1e9',
  'null',
  'true',
  '"x"',
  'Infinity',
  ' ',
];

function mutateText(source: string, next: () => number): string {
  let text = source;
  const edits = 1 + Math.floor(next() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(next() * (text.length + 1));
    const noise = JSON_NOISE[Math.floor(next() * JSON_NOISE.length)]!;
    switch (Math.floor(next() * 4)) {
      case 0:
        text = text.slice(0, at) + noise + text.slice(at + 1);
        break;
      case 1:
        text = text.slice(0, at) + noise + text.slice(at);
        break;
      case 2:
        text = text.slice(0, at) + text.slice(at + 1 + Math.floor(next() * 10));
        break;
      default: {
        // Swap a value for one of another type: keeps the syntax, breaks the types.
        const values = [
          '1',
          '-1',
          '"s"',
          'true',
          '[]',
          '{}',
          '"AAAA"',
          '1.5',
          '18446744073709551616',
          '"RED"',
        ];
        text = text.replace(/:[^,{}[\]]+/g, (match) =>
          next() < 0.1 ? ':' + values[Math.floor(next() * values.length)] : match,
        );
      }
    }
  }
  return text;
}

/** After a successful decode the message must be fully usable: both encodings work. */
function exercise<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void {
  toMesosJsonText(schema, message);
  encodeBinary(schema, message);
}

describe('seeded random input', () => {
  const rounds = 1500;
  const schemas: DescMessage[] = [EverythingSchema, ScalarsSchema, RepeatedSchema, TreeSchema, SpanSchema];

  it('random bytes as protobuf and as JSON', () => {
    const next = random(0x5eed);
    for (let round = 0; round < rounds; round++) {
      const bytes = Uint8Array.from({ length: Math.floor(next() * 64) }, () => Math.floor(next() * 256));
      const schema = schemas[round % schemas.length]!;
      for (const mediaType of [MEDIA_TYPE_PROTOBUF, MEDIA_TYPE_JSON] as const) {
        try {
          exercise(schema, codec.decode(schema, bytes, mediaType));
        } catch (err) {
          assertNamed(err);
        }
      }
    }
  });

  it('mutations of valid protobuf', () => {
    const next = random(0xb17e5);
    const valid = encodeBinary(EverythingSchema, everything());
    let decoded = 0;
    for (let round = 0; round < rounds; round++) {
      const bytes = mutateBytes(valid, next);
      try {
        exercise(EverythingSchema, decodeBinary(EverythingSchema, bytes));
        decoded++;
      } catch (err) {
        assertNamed(err);
      }
    }
    assert.ok(decoded > 0 && decoded < rounds, `some mutations decode, some fail (${decoded}/${rounds})`);
  });

  it('mutations of valid JSON', () => {
    const next = random(0x15011);
    const valid = toMesosJsonText(EverythingSchema, everything());
    let decoded = 0;
    for (let round = 0; round < rounds; round++) {
      const text = mutateText(valid, next);
      try {
        exercise(EverythingSchema, fromMesosJson(EverythingSchema, text));
        decoded++;
      } catch (err) {
        assertNamed(err);
      }
    }
    assert.ok(decoded > 0 && decoded < rounds, `some mutations decode, some fail (${decoded}/${rounds})`);
  });
});
