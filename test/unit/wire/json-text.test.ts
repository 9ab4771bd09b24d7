import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ErrorCode, isStrataError } from '../../../src/common/errors.js';
import {
  formatDouble,
  JsonNumber,
  type JsonValue,
  parseJson,
  parseNumberText,
  stringifyJson,
} from '../../../src/wire/json-text.js';

function isCode(code: ErrorCode, offset?: number) {
  return (err: unknown) => {
    if (!isStrataError(err, code)) return false;
    if (offset !== undefined) assert.equal(err.params.offset, offset, err.message);
    return true;
  };
}

describe('parseJson: standard JSON', () => {
  it('parses every value kind', () => {
    assert.deepEqual(parseJson('{"a":[1,-2.5,true,false,null,"x"],"b":{}}'), {
      a: [1, -2.5, true, false, null, 'x'],
      b: {},
    });
    assert.deepEqual(parseJson(' \t\r\n[ ] '), []);
    assert.equal(parseJson('"plain"'), 'plain');
    assert.equal(parseJson('0'), 0);
    assert.ok(Object.is(parseJson('-0'), -0));
  });

  it('agrees with JSON.parse on ordinary documents', () => {
    const docs = [
      '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x","failover_timeout":604800.5}}}',
      '[1e3,1E-3,0.5,-0.25,123456789012345,1.7976931348623157e308,5e-324]',
      '{"nested":{"deeper":{"deepest":[[[]]]}},"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00"}',
    ];
    for (const doc of docs) assert.deepEqual(parseJson(doc), JSON.parse(doc));
  });

  it('decodes escapes, including surrogate pairs and lone surrogates', () => {
    assert.equal(parseJson('"a\\u0041\\n\\ud83d\\ude00z"'), 'aA\n😀z');
    assert.equal(parseJson('"\\udc00"'), '\udc00');
    assert.equal(parseJson('"héllo ☃"'), 'héllo ☃');
  });

  it('keeps __proto__ as an ordinary key', () => {
    const value = parseJson('{"__proto__":{"polluted":1},"a":2}') as Record<string, JsonValue>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value), ['__proto__', 'a']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('lets the last duplicate key win, like JSON.parse', () => {
    assert.deepEqual(parseJson('{"a":1,"a":2}'), { a: 2 });
  });

  it('accepts UTF-8 bytes and a leading byte-order mark', () => {
    assert.deepEqual(parseJson(new TextEncoder().encode('{"k":"☃"}')), { k: '☃' });
    assert.deepEqual(parseJson('\ufeff[1]'), [1]);
    assert.deepEqual(parseJson(Uint8Array.of(0xef, 0xbb, 0xbf, 0x5b, 0x31, 0x5d)), [1]);
  });
});

describe('parseJson: 64-bit precision and Mesos extensions', () => {
  it('returns bigint for integers beyond 2^53 and number within', () => {
    assert.equal(parseJson('9007199254740991'), 9007199254740991);
    assert.equal(parseJson('-9007199254740991'), -9007199254740991);
    assert.equal(parseJson('9007199254740993'), 9007199254740993n);
    assert.equal(parseJson('1470000000123456789'), 1470000000123456789n);
    assert.equal(parseJson('18446744073709551615'), 18446744073709551615n);
    assert.equal(parseJson('-9223372036854775808'), -9223372036854775808n);
    // 16+ digit literals that are still safe come back as numbers.
    assert.equal(parseJson('1000000000000000'), 1000000000000000);
    assert.equal(parseJson('1234567890123456'), 1234567890123456);
  });

  it('computes integral decimal/exponent lexemes beyond 2^53 exactly', () => {
    assert.equal(parseJson('1.8446744073709551615e19'), 18446744073709551615n);
    assert.equal(parseJson('12345678901234567890.0'), 12345678901234567890n);
    assert.equal(parseJson('-1.47e18'), -1470000000000000000n);
    assert.equal(parseJson('1e19'), 10000000000000000000n);
    // Beyond the 64-bit range such lexemes can only be doubles.
    assert.equal(parseJson('1e20'), 1e20);
    assert.equal(parseJson('1.7976931348623157e308'), 1.7976931348623157e308);
    // A non-zero fraction keeps the double.
    assert.equal(parseJson('9007199254740993.5'), Number('9007199254740993.5'));
    assert.equal(parseJson('1.5'), 1.5);
    assert.equal(parseJson('1e400'), Number.POSITIVE_INFINITY);
  });

  it('accepts bare Infinity, -Infinity and NaN', () => {
    assert.deepEqual(parseJson('{"cpus":Infinity,"mem":-Infinity}'), {
      cpus: Number.POSITIVE_INFINITY,
      mem: Number.NEGATIVE_INFINITY,
    });
    assert.ok(Number.isNaN(parseJson('NaN')));
  });

  it('parseNumberText reads numeric strings with the same exactness', () => {
    assert.equal(parseNumberText('42'), 42);
    assert.equal(parseNumberText('-1.25e2'), -125);
    assert.equal(parseNumberText('1470000000123456789'), 1470000000123456789n);
    for (const bad of ['', ' 1', '1 ', '+1', '01', '1.', '.5', '0x10', 'Infinity', '1e', '--1', '١']) {
      assert.equal(parseNumberText(bad), undefined, bad);
    }
  });
});

describe('parseJson: errors', () => {
  it('reports syntax errors with offsets', () => {
    const cases: [string, number][] = [
      ['', 0],
      ['{', 1],
      ['{"a"}', 4],
      ['{"a":1,}', 7],
      ['[1,]', 3],
      ['[1 2]', 3],
      ['{"a":1} x', 8],
      ['tru', 0],
      ['"abc', 0],
      ['"a\u0001"', 2],
      ['"\\x"', 1],
      ['"\\u12G4"', 1],
      ['01', 1],
      ['1.', 2],
      ['1e+', 3],
      ['-', 1],
      ['-Inf', 1],
      ["{'a':1}", 1],
      ['[1,2', 4],
      ['{"a":1', 6],
      ['{1:2}', 1],
      ['nul', 0],
      ['+1', 0],
      ['infinity', 0],
    ];
    for (const [text, offset] of cases) {
      assert.throws(() => parseJson(text), isCode('WIRE_JSON_SYNTAX', offset), JSON.stringify(text));
    }
  });

  it('names invalid UTF-8 by offset', () => {
    assert.throws(
      () => parseJson(Uint8Array.of(0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d)),
      (err: unknown) => isStrataError(err, 'WIRE_JSON_SYNTAX') && /byte offset 2/.test(err.message),
    );
    assert.throws(
      () => parseJson(Uint8Array.of(0x22, 0xed, 0xa0, 0x80, 0x22)),
      isCode('WIRE_JSON_SYNTAX', 1),
    );
    assert.throws(() => parseJson(Uint8Array.of(0x22, 0xe2, 0x98)), isCode('WIRE_JSON_SYNTAX', 1));
  });

  it('limits nesting depth', () => {
    assert.deepEqual(parseJson('[[[]]]', { maxDepth: 3 }), [[[]]]);
    assert.throws(() => parseJson('[[[[]]]]', { maxDepth: 3 }), isCode('WIRE_TOO_DEEP', 3));
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    assert.throws(() => parseJson(deep), isCode('WIRE_TOO_DEEP'));
    const deepObjects = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    assert.throws(() => parseJson(deepObjects), isCode('WIRE_TOO_DEEP'));
  });

  it('limits input size before parsing', () => {
    assert.throws(() => parseJson('[1,2,3]', { maxLength: 6 }), isCode('WIRE_TOO_LARGE'));
    assert.throws(() => parseJson(new Uint8Array(11), { maxLength: 10 }), isCode('WIRE_TOO_LARGE'));
    assert.deepEqual(parseJson('[1,2,3]', { maxLength: 7 }), [1, 2, 3]);
  });
});

describe('formatDouble and stringifyJson', () => {
  it('writes doubles in shortest round-trip form with a decimal point on integral values', () => {
    const cases: [number, string][] = [
      [1, '1.0'],
      [15, '15.0'],
      [0, '0.0'],
      [-0, '-0.0'],
      [5050, '5050.0'],
      [0.1, '0.1'],
      [1.5, '1.5'],
      [-2.25, '-2.25'],
      [1 / 3, '0.3333333333333333'],
      [1e-7, '1e-7'],
      [1e21, '1e+21'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [604800, '604800.0'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [Number.NEGATIVE_INFINITY, '-Infinity'],
      [Number.NaN, 'NaN'],
    ];
    for (const [value, text] of cases) assert.equal(formatDouble(value), text, String(value));
    for (const [value] of cases) {
      const back = parseJson(formatDouble(value));
      assert.ok(Object.is(Number(back), value), `${value} round-trips`);
    }
  });

  it('stringifies values, bigints and JsonNumber lexemes exactly', () => {
    const value: JsonValue = {
      s: 'a"b\\c\n☃\u0001',
      n: 5,
      f: 1.5,
      d: JsonNumber.ofDouble(15),
      big: 1470000000123456789n,
      inf: Number.POSITIVE_INFINITY,
      ninf: JsonNumber.ofDouble(Number.NEGATIVE_INFINITY),
      t: true,
      nil: null,
      list: [1, [2, {}], []],
    };
    assert.equal(
      stringifyJson(value),
      '{"s":"a\\"b\\\\c\\n☃\\u0001","n":5,"f":1.5,"d":15.0,"big":1470000000123456789,' +
        '"inf":Infinity,"ninf":-Infinity,"t":true,"nil":null,"list":[1,[2,{}],[]]}',
    );
  });

  it('round-trips through parseJson without losing precision', () => {
    const text =
      '{"nanoseconds":1470000000123456789,"ranges":[{"begin":31000,"end":18446744073709551615}],"x":-3}';
    assert.equal(stringifyJson(parseJson(text)), text);
  });

  it('JsonNumber behaves as its number', () => {
    const n = JsonNumber.ofDouble(2);
    assert.equal(n.lexeme, '2.0');
    assert.equal(+n, 2);
    assert.equal(`${n}`, '2.0');
  });

  it('guards against cycles', () => {
    const cyclic: JsonValue[] = [];
    cyclic.push(cyclic);
    assert.throws(() => stringifyJson(cyclic), isCode('WIRE_TOO_DEEP'));
  });
});
