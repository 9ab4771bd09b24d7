import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, isFieldSet } from '@bufbuild/protobuf';
import { type ErrorCode, isStrataError } from '../../../src/common/errors.js';
import {
  Color,
  DefaultsSchema,
  EverythingSchema,
  ItemSchema,
  RepeatedSchema,
  ScalarsSchema,
  Span_Mode,
  SpanSchema,
  TreeSchema,
} from '../../../src/wire/gen/strata/testing/v1/fixture_pb.js';
import { type JsonValue, parseJson, stringifyJson } from '../../../src/wire/json-text.js';
import {
  fromMesosJson,
  toMesosJson,
  toMesosJsonText,
  writeMesosJsonText,
} from '../../../src/wire/mesos-json.js';

/** Asserts a StrataError with `code` whose message mentions `field` (when given). */
function isCode(code: ErrorCode, field?: string) {
  return (err: unknown) => {
    assert.ok(isStrataError(err), `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (field !== undefined) {
      assert.equal(err.params.field, field, err.message);
      assert.ok(err.message.includes(field), err.message);
    }
    return true;
  };
}

const minimal = '{"id":"e1","kind":"RED","nanoseconds":1}';

describe('fromMesosJson: fixture, every field kind', () => {
  it('reads every scalar type from JSON numbers, strings and literals', () => {
    const scalars = fromMesosJson(
      ScalarsSchema,
      `{"f_double":1.5,"f_float":0.1,"f_int32":-2147483648,"f_int64":-9223372036854775808,
        "f_uint32":4294967295,"f_uint64":18446744073709551615,"f_sint32":-7,"f_sint64":"-1470000000123456789",
        "f_fixed32":"12","f_fixed64":1470000000123456789,"f_sfixed32":-3,"f_sfixed64":"9223372036854775807",
        "f_bool":"true","f_string":"héllo","f_bytes":"AAEC/w==","f_color":"BLUE"}`,
    );
    assert.equal(scalars.fDouble, 1.5);
    assert.equal(scalars.fFloat, Math.fround(0.1));
    assert.equal(scalars.fInt32, -2147483648);
    assert.equal(scalars.fInt64, -9223372036854775808n);
    assert.equal(scalars.fUint32, 4294967295);
    assert.equal(scalars.fUint64, 18446744073709551615n);
    assert.equal(scalars.fSint32, -7);
    assert.equal(scalars.fSint64, -1470000000123456789n);
    assert.equal(scalars.fFixed32, 12);
    assert.equal(scalars.fFixed64, 1470000000123456789n);
    assert.equal(scalars.fSfixed32, -3);
    assert.equal(scalars.fSfixed64, 9223372036854775807n);
    assert.equal(scalars.fBool, true);
    assert.equal(scalars.fString, 'héllo');
    assert.deepEqual(scalars.fBytes, Uint8Array.of(0, 1, 2, 255));
    assert.equal(scalars.fColor, Color.BLUE);
  });

  it('accepts numeric strings, Infinity strings for doubles, and bool strings', () => {
    const s = fromMesosJson(
      ScalarsSchema,
      '{"f_double":"-Infinity","f_float":"Infinity","f_int32":"42","f_bool":"false"}',
    );
    assert.equal(s.fDouble, Number.NEGATIVE_INFINITY);
    assert.equal(s.fFloat, Number.POSITIVE_INFINITY);
    assert.equal(s.fInt32, 42);
    assert.equal(s.fBool, false);
    assert.ok(isFieldSet(s, ScalarsSchema.field.fBool!));
    assert.equal(fromMesosJson(ScalarsSchema, '{"f_double":Infinity}').fDouble, Number.POSITIVE_INFINITY);
    assert.equal(fromMesosJson(ScalarsSchema, '{"f_double":"1e3"}').fDouble, 1000);
    assert.equal(fromMesosJson(ScalarsSchema, '{"f_int32":5.0}').fInt32, 5);
    assert.equal(fromMesosJson(ScalarsSchema, '{"f_int64":1.47e18}').fInt64, 1470000000000000000n);
  });

  it('ignores unknown keys and camelCase spellings, and treats null as absent', () => {
    const s = fromMesosJson(
      ScalarsSchema,
      '{"fDouble":2,"unknown":{"deep":[1,{"x":null}]},"f_int32":null,"f_string":"x"}',
    );
    assert.equal(isFieldSet(s, ScalarsSchema.field.fDouble!), false);
    assert.equal(isFieldSet(s, ScalarsSchema.field.fInt32!), false);
    assert.equal(s.fString, 'x');
  });

  it('reads repeated fields from arrays only, and singular fields never from arrays', () => {
    const r = fromMesosJson(
      RepeatedSchema,
      `{"ints":[1,"2",-3],"longs":[9007199254740993,"-5"],"doubles":[1.5,"Infinity"],"bools":[true,"false"],
        "strings":["a",""],"blobs":["","AA=="],"colors":["RED","MAUVE","BLUE"],"items":[{"name":"i"}],
        "packed_ids":[18446744073709551615],"sints":[-1],"fixeds":[7],"floats":[0.5]}`,
    );
    assert.deepEqual(r.ints, [1, 2, -3]);
    assert.deepEqual(r.longs, [9007199254740993n, -5n]);
    assert.deepEqual(r.doubles, [1.5, Number.POSITIVE_INFINITY]);
    assert.deepEqual(r.bools, [true, false]);
    assert.deepEqual(r.strings, ['a', '']);
    assert.deepEqual(r.blobs, [new Uint8Array(0), Uint8Array.of(0)]);
    assert.deepEqual(r.colors, [Color.RED, Color.BLUE], 'unknown enum names are dropped from lists');
    assert.equal(r.items[0]?.name, 'i');
    assert.deepEqual(r.packedIds, [18446744073709551615n]);
    assert.throws(() => fromMesosJson(RepeatedSchema, '{"ints":1}'), isCode('WIRE_JSON_TYPE', 'ints'));
    assert.throws(
      () => fromMesosJson(RepeatedSchema, '{"items":{"name":"x"}}'),
      isCode('WIRE_JSON_TYPE', 'items'),
    );
    assert.throws(() => fromMesosJson(ScalarsSchema, '{"f_int32":[1]}'), isCode('WIRE_JSON_TYPE', 'f_int32'));
    assert.throws(
      () => fromMesosJson(ItemSchema, '{"name":"x","child":[]}'),
      isCode('WIRE_JSON_NOT_OBJECT', 'child'),
    );
    assert.throws(
      () => fromMesosJson(RepeatedSchema, '{"ints":[1,null]}'),
      isCode('WIRE_JSON_TYPE', 'ints[1]'),
    );
  });

  it('reads enums by name only: unknown optional → unset, unknown required → error, numbers rejected', () => {
    const s = fromMesosJson(ScalarsSchema, '{"f_color":"MAUVE"}');
    assert.equal(isFieldSet(s, ScalarsSchema.field.fColor!), false);
    const e = fromMesosJson(EverythingSchema, '{"id":"x","kind":"GREEN","nanoseconds":1,"mode":"NOPE"}');
    assert.equal(isFieldSet(e, EverythingSchema.field.mode!), false);
    assert.equal(e.mode, Color.RED, 'an unset field reads as its default');
    assert.throws(
      () => fromMesosJson(EverythingSchema, '{"id":"x","kind":"MAUVE","nanoseconds":1}'),
      isCode('WIRE_BAD_ENUM', 'kind'),
    );
    assert.throws(() => fromMesosJson(ScalarsSchema, '{"f_color":2}'), isCode('WIRE_JSON_TYPE', 'f_color'));
    assert.throws(
      () => fromMesosJson(SpanSchema, '{"mode":"rw"}'),
      (err: unknown) =>
        isStrataError(err, 'WIRE_BAD_ENUM') && /strata\.testing\.v1\.Span\.Mode/.test(err.message),
    );
    assert.equal(fromMesosJson(SpanSchema, '{"mode":"RW"}').mode, Span_Mode.RW);
  });

  it('reads bytes as padded standard base64', () => {
    assert.deepEqual(
      fromMesosJson(ScalarsSchema, '{"f_bytes":"aGk="}').fBytes,
      new TextEncoder().encode('hi'),
    );
    assert.deepEqual(fromMesosJson(ScalarsSchema, '{"f_bytes":""}').fBytes, new Uint8Array(0));
    for (const bad of ['aGk', 'aGk=a', 'a===', 'aG-_', 'aG k', '====', 'aGk==', '=aGk']) {
      assert.throws(
        () => fromMesosJson(ScalarsSchema, JSON.stringify({ f_bytes: bad })),
        isCode('WIRE_BAD_BASE64', 'f_bytes'),
        bad,
      );
    }
    assert.throws(() => fromMesosJson(ScalarsSchema, '{"f_bytes":12}'), isCode('WIRE_JSON_TYPE', 'f_bytes'));
  });

  it('rejects wrong types and out-of-range numbers, naming the field', () => {
    const cases: [string, ErrorCode, string][] = [
      ['{"f_string":5}', 'WIRE_JSON_TYPE', 'f_string'],
      ['{"f_bool":1}', 'WIRE_JSON_TYPE', 'f_bool'],
      ['{"f_bool":"yes"}', 'WIRE_JSON_TYPE', 'f_bool'],
      ['{"f_double":"fast"}', 'WIRE_JSON_TYPE', 'f_double'],
      ['{"f_double":{}}', 'WIRE_JSON_TYPE', 'f_double'],
      ['{"f_int32":1.5}', 'WIRE_JSON_TYPE', 'f_int32'],
      ['{"f_int32":"0x10"}', 'WIRE_JSON_TYPE', 'f_int32'],
      ['{"f_int32":2147483648}', 'WIRE_NUMBER_RANGE', 'f_int32'],
      ['{"f_int32":Infinity}', 'WIRE_NUMBER_RANGE', 'f_int32'],
      ['{"f_uint32":-1}', 'WIRE_NUMBER_RANGE', 'f_uint32'],
      ['{"f_fixed32":4294967296}', 'WIRE_NUMBER_RANGE', 'f_fixed32'],
      ['{"f_int64":9223372036854775808}', 'WIRE_NUMBER_RANGE', 'f_int64'],
      ['{"f_uint64":18446744073709551616}', 'WIRE_NUMBER_RANGE', 'f_uint64'],
      ['{"f_uint64":-1}', 'WIRE_NUMBER_RANGE', 'f_uint64'],
      ['{"f_sint64":"1.5"}', 'WIRE_JSON_TYPE', 'f_sint64'],
      ['{"f_float":1e39}', 'WIRE_NUMBER_RANGE', 'f_float'],
    ];
    for (const [json, code, field] of cases) {
      assert.throws(() => fromMesosJson(ScalarsSchema, json), isCode(code, field), json);
    }
  });

  it('reads maps as objects, with typed keys', () => {
    const e = fromMesosJson(
      EverythingSchema,
      `{"id":"x","kind":"RED","nanoseconds":1,"limits":{"cpus":"Infinity","mem":256,"skip":null},
        "items_by_name":{"a":{"name":"A"},"__proto__":{"name":"P"}},"names_by_id":{"1":"one","-2":"minus two"},
        "colors_by_name":{"sky":"BLUE","odd":"MAUVE"}}`,
    );
    assert.deepEqual({ ...e.limits }, { cpus: Number.POSITIVE_INFINITY, mem: 256 });
    assert.equal(e.itemsByName.a?.name, 'A');
    assert.ok(Object.hasOwn(e.itemsByName, '__proto__'));
    assert.equal(Object.getPrototypeOf(e.itemsByName), Object.prototype);
    assert.deepEqual({ ...e.namesById }, { 1: 'one', '-2': 'minus two' });
    assert.deepEqual({ ...e.colorsByName }, { sky: Color.BLUE }, 'unknown enum names drop the entry');
    assert.throws(
      () =>
        fromMesosJson(EverythingSchema, '{"id":"x","kind":"RED","nanoseconds":1,"names_by_id":{"one":"x"}}'),
      isCode('WIRE_JSON_TYPE', 'names_by_id["one"]'),
    );
    assert.throws(
      () => fromMesosJson(EverythingSchema, '{"id":"x","kind":"RED","nanoseconds":1,"limits":[]}'),
      isCode('WIRE_JSON_TYPE', 'limits'),
    );
    assert.throws(
      () =>
        fromMesosJson(EverythingSchema, '{"id":"x","kind":"RED","nanoseconds":1,"limits":{"cpus":"lots"}}'),
      isCode('WIRE_JSON_TYPE', 'limits["cpus"]'),
    );
  });

  it('reads oneof members as plain fields; the last one in the object wins', () => {
    const text = fromMesosJson(EverythingSchema, '{"id":"x","kind":"RED","nanoseconds":1,"text":"hello"}');
    assert.deepEqual(text.choice, { case: 'text', value: 'hello' });
    const picked = fromMesosJson(
      EverythingSchema,
      '{"id":"x","kind":"RED","nanoseconds":1,"text":"t","picked":{"name":"p"}}',
    );
    assert.equal(picked.choice.case, 'picked');
    assert.equal(picked.choice.case === 'picked' && picked.choice.value.name, 'p');
    const shade = fromMesosJson(EverythingSchema, '{"id":"x","kind":"RED","nanoseconds":1,"shade":"NOPE"}');
    assert.equal(shade.choice.case, undefined);
  });

  it('checks required fields after parsing and names every missing path', () => {
    assert.throws(
      () => fromMesosJson(EverythingSchema, '{}'),
      (err: unknown) =>
        isStrataError(err, 'WIRE_MISSING_REQUIRED') &&
        err.message === 'Missing required fields: id, kind, nanoseconds',
    );
    assert.throws(
      () =>
        fromMesosJson(
          EverythingSchema,
          `{"id":"x","kind":"RED","nanoseconds":1,"item":{"name":"a","children":[{"name":"b"},{"child":{}}]},
            "items_by_name":{"k":{}},"span":{"ranges":[{"begin":1}]},"picked":{}}`,
        ),
      (err: unknown) =>
        isStrataError(err, 'WIRE_MISSING_REQUIRED') &&
        err.message ===
          'Missing required fields: item.children[1].name, item.children[1].child.name, ' +
            'items_by_name["k"].name, picked.name, span.ranges[0].end, span.mode',
    );
  });

  it('names nested paths in errors', () => {
    assert.throws(
      () =>
        fromMesosJson(
          EverythingSchema,
          '{"id":"x","kind":"RED","nanoseconds":1,"item":{"name":"a","children":[{"name":"b"},{"name":"c","child":{"name":"d","count":"x"}}]}}',
        ),
      isCode('WIRE_JSON_TYPE', 'item.children[1].child.count'),
    );
    assert.throws(
      () =>
        fromMesosJson(
          EverythingSchema,
          '{"id":"x","kind":"RED","nanoseconds":1,"span":{"ranges":[{"begin":1,"end":-1}]}}',
        ),
      isCode('WIRE_NUMBER_RANGE', 'span.ranges[0].end'),
    );
  });

  it('requires an object at the top and for messages', () => {
    for (const bad of ['[]', '1', 'null', 'true', '"text"']) {
      assert.throws(() => fromMesosJson(ItemSchema, bad), isCode('WIRE_JSON_NOT_OBJECT', '(root)'), bad);
    }
    assert.throws(
      () => fromMesosJson(ItemSchema, '{"name":"a","child":"b"}'),
      isCode('WIRE_JSON_NOT_OBJECT', 'child'),
    );
  });

  it('accepts parsed values, including plain JSON.parse output', () => {
    const fromValue = fromMesosJson(
      ItemSchema,
      JSON.parse('{"name":"a","count":3,"child":{"name":"b"}}') as JsonValue,
    );
    assert.equal(fromValue.child?.name, 'b');
    assert.equal(fromValue.count, 3);
    const fromBytes = fromMesosJson(ItemSchema, new TextEncoder().encode('{"name":"☃"}'));
    assert.equal(fromBytes.name, '☃');
  });

  it('limits message nesting for text and for values', () => {
    const depth = 150;
    const text = '{"left":'.repeat(depth) + '{}' + '}'.repeat(depth);
    assert.throws(() => fromMesosJson(TreeSchema, text), isCode('WIRE_TOO_DEEP'));
    assert.throws(() => fromMesosJson(TreeSchema, JSON.parse(text) as JsonValue), isCode('WIRE_TOO_DEEP'));
    const ok = '{"left":'.repeat(50) + '{"label":"leaf"}' + '}'.repeat(50);
    assert.equal(toMesosJsonText(TreeSchema, fromMesosJson(TreeSchema, ok)), ok);
    assert.throws(() => fromMesosJson(TreeSchema, ok, { maxDepth: 20 }), isCode('WIRE_TOO_DEEP'));
  });
});

describe('toMesosJson: fixture', () => {
  it('emits explicit defaults of unset, non-deprecated fields', () => {
    assert.equal(
      toMesosJsonText(DefaultsSchema, create(DefaultsSchema)),
      '{"ratio":5.0,"weight":1.5,"port":5050,"big":1470000000000000000,"shell":true,"checkpoint":false,' +
        '"scheme":"http","color":"GREEN","limit":Infinity,"magic":"AQL/","huge":18446744073709551615,' +
        '"floor":-Infinity,"timeout":0.0,"offset":-3}',
    );
    const set = create(DefaultsSchema, { role: 'eng', plain: 4, ratio: 2 });
    const text = toMesosJsonText(DefaultsSchema, set);
    assert.ok(text.startsWith('{"ratio":2.0,'), text);
    assert.ok(text.includes('"role":"eng"'), 'a deprecated field is emitted when set');
    assert.ok(text.includes('"plain":4'), text);
  });

  it('emits set fields in declaration order, omits empty repeated fields and unset fields without defaults', () => {
    const e = fromMesosJson(EverythingSchema, minimal);
    assert.equal(
      toMesosJsonText(EverythingSchema, e),
      '{"id":"e1","kind":"RED","mode":"RED","nanoseconds":1}',
    );
    const r = create(RepeatedSchema, { ints: [], strings: ['a'] });
    assert.equal(toMesosJsonText(RepeatedSchema, r), '{"strings":["a"]}');
  });

  it('writes every scalar kind', () => {
    const s = create(ScalarsSchema, {
      fDouble: 15,
      fFloat: 0.5,
      fInt32: -1,
      fInt64: 1470000000123456789n,
      fUint32: 4294967295,
      fUint64: 18446744073709551615n,
      fSint32: -2,
      fSint64: -9223372036854775808n,
      fFixed32: 3,
      fFixed64: 4n,
      fSfixed32: -5,
      fSfixed64: -6n,
      fBool: false,
      fString: 'q"uote\n',
      fBytes: Uint8Array.of(0xfb, 0xff),
      fColor: Color.GREEN,
    });
    assert.equal(
      toMesosJsonText(ScalarsSchema, s),
      '{"f_double":15.0,"f_float":0.5,"f_int32":-1,"f_int64":1470000000123456789,"f_uint32":4294967295,' +
        '"f_uint64":18446744073709551615,"f_sint32":-2,"f_sint64":-9223372036854775808,"f_fixed32":3,' +
        '"f_fixed64":4,"f_sfixed32":-5,"f_sfixed64":-6,"f_bool":false,"f_string":"q\\"uote\\n",' +
        '"f_bytes":"+/8=","f_color":"GREEN"}',
    );
  });

  it('writes unknown enum numbers as unset', () => {
    const s = create(ScalarsSchema, { fColor: 42 as Color });
    assert.equal(toMesosJsonText(ScalarsSchema, s), '{}');
    const d = create(DefaultsSchema, { color: 42 as Color });
    assert.ok(toMesosJsonText(DefaultsSchema, d).includes('"color":"GREEN"'));
  });

  it('writes maps as objects and oneof members as plain fields', () => {
    const e = create(EverythingSchema, {
      id: 'x',
      kind: Color.BLUE,
      nanoseconds: 5n,
      limits: { cpus: Number.POSITIVE_INFINITY, mem: 32 },
      itemsByName: { a: create(ItemSchema, { name: 'A' }) },
      namesById: { 7: 'seven' },
      choice: { case: 'number', value: 9007199254740993n },
    });
    assert.equal(
      toMesosJsonText(EverythingSchema, e),
      '{"id":"x","kind":"BLUE","mode":"RED","nanoseconds":5,"items_by_name":{"a":{"name":"A"}},' +
        '"limits":{"cpus":Infinity,"mem":32.0},"number":9007199254740993,"names_by_id":{"7":"seven"}}',
    );
  });

  it('reports unset required fields without failing', () => {
    const written = writeMesosJsonText(ItemSchema, create(ItemSchema, { count: 1 }));
    assert.equal(written.json, '{"count":1}');
    assert.equal(written.missingRequired, true);
    assert.equal(writeMesosJsonText(ItemSchema, create(ItemSchema, { name: 'n' })).missingRequired, false);
  });

  it('the value form stringifies to exactly the text form', () => {
    const e = fromMesosJson(
      EverythingSchema,
      `{"id":"x","kind":"RED","nanoseconds":1470000000123456789,"scalars":{"f_double":1,"f_float":"Infinity",
        "f_bytes":"AQ==","f_uint64":"18446744073709551615"},"defaults":{},"repeated":{"doubles":[1,2.5],"colors":["RED"]},
        "limits":{"a":0},"picked":{"name":"p","children":[{"name":"c"}]},"tree":{"left":{"label":"l"}}}`,
    );
    const tree = toMesosJson(EverythingSchema, e);
    assert.equal(stringifyJson(tree), toMesosJsonText(EverythingSchema, e));
    assert.equal(tree.nanoseconds, 1470000000123456789n);
    assert.equal(String((tree.scalars as Record<string, JsonValue>).f_double), '1.0');
  });

  it('round-trips JSON → message → JSON', () => {
    const docs = [
      '{"id":"r","kind":"GREEN","mode":"BLUE","nanoseconds":-1,"repeated":{"ints":[1,2],"longs":[9223372036854775807],"bools":[true],"blobs":["AAAA"]},"text":"t"}',
      '{"id":"r","kind":"GREEN","mode":"RED","nanoseconds":0,"item":{"name":"a","count":0,"child":{"name":"b"}},"span":{"ranges":[{"begin":0,"end":18446744073709551615}],"mode":"RO","fallback":"RO"}}',
    ];
    for (const doc of docs) {
      assert.equal(toMesosJsonText(EverythingSchema, fromMesosJson(EverythingSchema, doc)), doc);
      assert.equal(stringifyJson(parseJson(doc)), doc);
    }
  });
});
