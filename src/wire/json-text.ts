/**
 * JSON text ⇄ value, the way Mesos writes and reads it.
 *
 * `JSON.parse` cannot be used for Mesos bodies: 64-bit integers (`TimeInfo.nanoseconds` ≈ 1.47e18,
 * uint64 range bounds) would be rounded to the nearest double, and Mesos writes infinities as the
 * bare, non-standard tokens `Infinity` / `-Infinity` (rapidjson's kWriteNanAndInfFlag). This module
 * parses integral numbers beyond ±2^53 to `bigint` (exactly, even when written as `1.8e19` or
 * `12345678901234567890.0`), accepts `Infinity`, `-Infinity` and `NaN`, limits nesting depth and
 * input size, and reports syntax errors as WIRE_JSON_SYNTAX with the offset of the offending
 * character (UTF-16 code units into the decoded text).
 *
 * Serialization writes `bigint` as bare digits and `JsonNumber` lexemes verbatim, which is how the
 * Mesos mapping emits doubles in shortest round-trip form with a decimal point (`1.0`, `15.0`).
 */
import { fail, StrataError } from '../common/errors.js';

/** A number kept as its exact JSON lexeme; serialized verbatim. */
export class JsonNumber {
  readonly lexeme: string;

  constructor(lexeme: string) {
    this.lexeme = lexeme;
  }

  /** The double in Mesos' form: shortest round-trip digits, `.0` on integral values. */
  static ofDouble(value: number): JsonNumber {
    return new JsonNumber(formatDouble(value));
  }

  valueOf(): number {
    return Number(this.lexeme);
  }

  toString(): string {
    return this.lexeme;
  }
}

export type JsonValue = null | boolean | number | bigint | string | JsonNumber | JsonValue[] | JsonObject;
export type JsonObject = { [key: string]: JsonValue };

export interface JsonParseOptions {
  /** Deepest allowed nesting of arrays and objects (the top-level value is depth 1). */
  maxDepth?: number;
  /** Longest accepted input: bytes for a Uint8Array, UTF-16 code units for a string. */
  maxLength?: number;
}

export const DEFAULT_JSON_MAX_DEPTH = 100;
export const DEFAULT_JSON_MAX_LENGTH = 64 * 1024 * 1024;

/** Depth guard for serialization, where deep input can only come from a cycle or a bug. */
const STRINGIFY_MAX_DEPTH = 1000;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO_POW_64 = 2 ** 64;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Parses JSON text (a string, or UTF-8 bytes) into a JsonValue. */
export function parseJson(input: string | Uint8Array, options?: JsonParseOptions): JsonValue {
  const maxLength = options?.maxLength ?? DEFAULT_JSON_MAX_LENGTH;
  const size = typeof input === 'string' ? input.length : input.byteLength;
  if (size > maxLength) fail('WIRE_TOO_LARGE', { size, limit: maxLength });
  const text = typeof input === 'string' ? input : decodeUtf8(input);
  const parser = new Parser(text, options?.maxDepth ?? DEFAULT_JSON_MAX_DEPTH);
  return parser.parseDocument();
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    const offset = firstInvalidUtf8Offset(bytes);
    return fail('WIRE_JSON_SYNTAX', { offset, detail: `invalid UTF-8 (byte offset ${offset})` });
  }
}

/** Only called once decoding has failed, to say where. */
function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return i;
    }
    if (i + need >= bytes.length) return i;
    let codePoint = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) return i;
      codePoint = (codePoint << 6) | (c & 0x3f);
    }
    if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return i;
    i += need + 1;
  }
  return bytes.length;
}

const CH_TAB = 0x09;
const CH_LF = 0x0a;
const CH_CR = 0x0d;
const CH_SPACE = 0x20;
const CH_QUOTE = 0x22;
const CH_PLUS = 0x2b;
const CH_COMMA = 0x2c;
const CH_MINUS = 0x2d;
const CH_DOT = 0x2e;
const CH_0 = 0x30;
const CH_9 = 0x39;
const CH_COLON = 0x3a;
const CH_UPPER_E = 0x45;
const CH_UPPER_I = 0x49;
const CH_UPPER_N = 0x4e;
const CH_LBRACKET = 0x5b;
const CH_BACKSLASH = 0x5c;
const CH_RBRACKET = 0x5d;
const CH_LOWER_E = 0x65;
const CH_LOWER_F = 0x66;
const CH_LOWER_N = 0x6e;
const CH_LOWER_T = 0x74;
const CH_LOWER_U = 0x75;
const CH_LBRACE = 0x7b;
const CH_RBRACE = 0x7d;
const CH_BOM = 0xfeff;

class Parser {
  private pos = 0;
  private depth = 0;
  private readonly text: string;
  private readonly maxDepth: number;

  constructor(text: string, maxDepth: number) {
    this.text = text;
    this.maxDepth = maxDepth;
  }

  parseDocument(): JsonValue {
    if (this.text.charCodeAt(0) === CH_BOM) this.pos = 1;
    this.skipWhitespace();
    const value = this.parseValue();
    this.skipWhitespace();
    if (this.pos < this.text.length) this.syntaxError('unexpected content after the JSON value');
    return value;
  }

  private syntaxError(detail: string, offset = this.pos): never {
    throw new StrataError('WIRE_JSON_SYNTAX', { offset, detail });
  }

  private unexpected(): never {
    if (this.pos >= this.text.length) this.syntaxError('unexpected end of input');
    const ch = this.text.codePointAt(this.pos)!;
    this.syntaxError(`unexpected character ${JSON.stringify(String.fromCodePoint(ch))}`);
  }

  private skipWhitespace(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === CH_SPACE || c === CH_LF || c === CH_CR || c === CH_TAB) pos++;
      else break;
    }
    this.pos = pos;
  }

  private parseValue(): JsonValue {
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case CH_LBRACE:
        return this.parseObject();
      case CH_LBRACKET:
        return this.parseArray();
      case CH_QUOTE:
        return this.parseString();
      case CH_LOWER_T:
        return this.parseLiteral('true', true);
      case CH_LOWER_F:
        return this.parseLiteral('false', false);
      case CH_LOWER_N:
        return this.parseLiteral('null', null);
      case CH_UPPER_I:
        return this.parseLiteral('Infinity', Number.POSITIVE_INFINITY);
      case CH_UPPER_N:
        return this.parseLiteral('NaN', Number.NaN);
      default:
        if (c === CH_MINUS || (c >= CH_0 && c <= CH_9)) return this.parseNumber();
        return this.unexpected();
    }
  }

  private parseLiteral<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.syntaxError(`invalid literal, expected '${word}'`);
    this.pos += word.length;
    return value;
  }

  private enter(): void {
    if (++this.depth > this.maxDepth) {
      throw new StrataError('WIRE_TOO_DEEP', { limit: this.maxDepth, offset: this.pos });
    }
  }

  private parseObject(): JsonObject {
    this.enter();
    const text = this.text;
    const result: JsonObject = {};
    this.pos++;
    this.skipWhitespace();
    if (text.charCodeAt(this.pos) === CH_RBRACE) {
      this.pos++;
      this.depth--;
      return result;
    }
    for (;;) {
      if (text.charCodeAt(this.pos) !== CH_QUOTE) {
        if (this.pos >= text.length) this.syntaxError('unexpected end of input inside an object');
        this.syntaxError('expected a string key');
      }
      const key = this.parseString();
      this.skipWhitespace();
      if (text.charCodeAt(this.pos) !== CH_COLON) this.syntaxError("expected ':' after an object key");
      this.pos++;
      this.skipWhitespace();
      const value = this.parseValue();
      if (key === '__proto__') {
        // A plain assignment would replace the object's prototype instead of adding a key.
        Object.defineProperty(result, key, { value, writable: true, enumerable: true, configurable: true });
      } else {
        result[key] = value;
      }
      this.skipWhitespace();
      const c = text.charCodeAt(this.pos);
      if (c === CH_COMMA) {
        this.pos++;
        this.skipWhitespace();
        continue;
      }
      if (c === CH_RBRACE) {
        this.pos++;
        this.depth--;
        return result;
      }
      if (this.pos >= text.length) this.syntaxError('unexpected end of input inside an object');
      this.syntaxError("expected ',' or '}' in an object");
    }
  }

  private parseArray(): JsonValue[] {
    this.enter();
    const text = this.text;
    const result: JsonValue[] = [];
    this.pos++;
    this.skipWhitespace();
    if (text.charCodeAt(this.pos) === CH_RBRACKET) {
      this.pos++;
      this.depth--;
      return result;
    }
    for (;;) {
      result.push(this.parseValue());
      this.skipWhitespace();
      const c = text.charCodeAt(this.pos);
      if (c === CH_COMMA) {
        this.pos++;
        this.skipWhitespace();
        continue;
      }
      if (c === CH_RBRACKET) {
        this.pos++;
        this.depth--;
        return result;
      }
      if (this.pos >= text.length) this.syntaxError('unexpected end of input inside an array');
      this.syntaxError("expected ',' or ']' in an array");
    }
  }

  private parseString(): string {
    const text = this.text;
    const start = ++this.pos;
    let pos = start;
    // Fast path: no escapes, one slice.
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === CH_QUOTE) {
        this.pos = pos + 1;
        return text.slice(start, pos);
      }
      if (c === CH_BACKSLASH) break;
      if (c < CH_SPACE || Number.isNaN(c)) {
        if (pos >= text.length) this.syntaxError('unterminated string', start - 1);
        this.syntaxError('unescaped control character in a string', pos);
      }
      pos++;
    }
    let result = text.slice(start, pos);
    let chunkStart = pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === CH_QUOTE) {
        this.pos = pos + 1;
        return result + text.slice(chunkStart, pos);
      }
      if (c === CH_BACKSLASH) {
        result += text.slice(chunkStart, pos);
        const escaped = text.charCodeAt(pos + 1);
        switch (escaped) {
          case CH_QUOTE:
            result += '"';
            break;
          case CH_BACKSLASH:
            result += '\\';
            break;
          case 0x2f:
            result += '/';
            break;
          case 0x62:
            result += '\b';
            break;
          case CH_LOWER_F:
            result += '\f';
            break;
          case CH_LOWER_N:
            result += '\n';
            break;
          case 0x72:
            result += '\r';
            break;
          case CH_LOWER_T:
            result += '\t';
            break;
          case CH_LOWER_U: {
            const code = parseHex4(text, pos + 2);
            if (code < 0) this.syntaxError('invalid \\u escape', pos);
            result += String.fromCharCode(code);
            pos += 4;
            break;
          }
          default:
            if (pos + 1 >= text.length) this.syntaxError('unterminated string', start - 1);
            this.syntaxError('invalid escape sequence', pos);
        }
        pos += 2;
        chunkStart = pos;
        continue;
      }
      if (c < CH_SPACE || Number.isNaN(c)) {
        if (pos >= text.length) this.syntaxError('unterminated string', start - 1);
        this.syntaxError('unescaped control character in a string', pos);
      }
      pos++;
    }
  }

  private parseNumber(): number | bigint {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    if (text.charCodeAt(pos) === CH_MINUS) {
      pos++;
      if (text.charCodeAt(pos) === CH_UPPER_I) {
        this.pos = pos;
        this.parseLiteral('Infinity', 0);
        return Number.NEGATIVE_INFINITY;
      }
    }
    const intStart = pos;
    let c = text.charCodeAt(pos);
    if (c === CH_0) {
      pos++;
    } else if (c >= 0x31 && c <= CH_9) {
      do c = text.charCodeAt(++pos);
      while (c >= CH_0 && c <= CH_9);
    } else {
      this.pos = pos;
      this.syntaxError('invalid number: expected a digit');
    }
    const intDigits = pos - intStart;
    let integral = true;
    c = text.charCodeAt(pos);
    if (c === CH_DOT) {
      integral = false;
      c = text.charCodeAt(++pos);
      if (!(c >= CH_0 && c <= CH_9)) {
        this.pos = pos;
        this.syntaxError('invalid number: expected a digit after the decimal point');
      }
      do c = text.charCodeAt(++pos);
      while (c >= CH_0 && c <= CH_9);
    }
    if (c === CH_LOWER_E || c === CH_UPPER_E) {
      integral = false;
      c = text.charCodeAt(++pos);
      if (c === CH_PLUS || c === CH_MINUS) c = text.charCodeAt(++pos);
      if (!(c >= CH_0 && c <= CH_9)) {
        this.pos = pos;
        this.syntaxError('invalid number: expected a digit in the exponent');
      }
      do c = text.charCodeAt(++pos);
      while (c >= CH_0 && c <= CH_9);
    }
    this.pos = pos;
    const lexeme = text.slice(start, pos);
    if (integral) {
      // Up to 15 digits always fits a double exactly.
      if (intDigits <= 15) return Number(lexeme);
      return integerValue(BigInt(lexeme));
    }
    return numberFromDecimalLexeme(lexeme);
  }
}

function parseHex4(text: string, at: number): number {
  let value = 0;
  for (let i = 0; i < 4; i++) {
    const c = text.charCodeAt(at + i);
    let digit: number;
    if (c >= CH_0 && c <= CH_9) digit = c - CH_0;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x61 + 10;
    else if (c >= 0x41 && c <= 0x46) digit = c - 0x41 + 10;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}

/** A bigint inside the safe range becomes a number, so callers see one type for small integers. */
function integerValue(value: bigint): number | bigint {
  return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value;
}

/**
 * Value of a lexeme with a fraction or exponent. Integral values beyond 2^53 within the 64-bit
 * integer range (`1.8446744073709551615e19`) are computed exactly from the digits rather than
 * rounded through a double; larger magnitudes can only be meant as doubles and stay numbers.
 */
function numberFromDecimalLexeme(lexeme: string): number | bigint {
  const approx = Number(lexeme);
  const magnitude = Math.abs(approx);
  if (magnitude <= MAX_SAFE || magnitude > TWO_POW_64 || !Number.isInteger(approx)) return approx;
  const exact = exactIntegerFromLexeme(lexeme);
  return exact ?? approx;
}

/** The exact integer a decimal lexeme denotes, or undefined when it has a non-zero fraction. */
function exactIntegerFromLexeme(lexeme: string): bigint | undefined {
  const negative = lexeme.charCodeAt(0) === CH_MINUS;
  const body = negative ? lexeme.slice(1) : lexeme;
  const expAt = body.search(/[eE]/);
  const mantissa = expAt < 0 ? body : body.slice(0, expAt);
  const exponent = expAt < 0 ? 0 : Number(body.slice(expAt + 1));
  const dot = mantissa.indexOf('.');
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const fractionLength = dot < 0 ? 0 : mantissa.length - dot - 1;
  // value = digits × 10^(exponent − fractionLength)
  const shift = exponent - fractionLength;
  let magnitude: bigint;
  if (shift >= 0) {
    // The caller only asks for values up to 2^64, so the result has at most 20 digits.
    magnitude = BigInt(digits) * 10n ** BigInt(shift);
  } else {
    const cut = digits.length + shift;
    const dropped = cut > 0 ? digits.slice(cut) : digits;
    if (!/^0*$/.test(dropped)) return undefined;
    magnitude = cut > 0 ? BigInt(digits.slice(0, cut)) : 0n;
  }
  return negative ? -magnitude : magnitude;
}

const NUMBER_TEXT = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/**
 * Reads a number written as text (Mesos accepts numeric fields as JSON strings): the JSON number
 * grammar, with the same exactness as `parseJson`. Returns undefined for anything else.
 */
export function parseNumberText(text: string): number | bigint | undefined {
  if (!NUMBER_TEXT.test(text)) return undefined;
  if (text.indexOf('.') < 0 && text.indexOf('e') < 0 && text.indexOf('E') < 0) {
    const digits = text.charCodeAt(0) === CH_MINUS ? text.length - 1 : text.length;
    if (digits <= 15) return Number(text);
    return integerValue(BigInt(text));
  }
  return numberFromDecimalLexeme(text);
}

/**
 * A double in Mesos' JSON form: shortest round-trip digits (ECMAScript Number::toString is
 * shortest round-trip), `.0` appended to integral values, bare `Infinity` / `-Infinity` / `NaN`.
 */
export function formatDouble(value: number): string {
  if (Number.isInteger(value)) {
    if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
    const text = String(value);
    // 1e21 and beyond are already written with an exponent.
    return text.indexOf('e') < 0 ? text + '.0' : text;
  }
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

/** Writes a JSON string literal (JSON.stringify's escaping: native, and well-formed for lone surrogates). */
export function quoteJsonString(value: string): string {
  return JSON.stringify(value);
}

/**
 * Serializes a JsonValue. Numbers use ECMAScript's shortest form (integral values without `.0`;
 * use `JsonNumber` to control the lexeme), infinities and NaN are written as bare tokens, bigints
 * as bare digits. Object keys keep insertion order.
 */
export function stringifyJson(value: JsonValue): string {
  return stringifyValue(value, 0);
}

function stringifyValue(value: JsonValue, depth: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (Number.isFinite(value)) return String(value);
      return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      break;
  }
  if (value === null) return 'null';
  if (value instanceof JsonNumber) return value.lexeme;
  if (depth >= STRINGIFY_MAX_DEPTH) fail('WIRE_TOO_DEEP', { limit: STRINGIFY_MAX_DEPTH });
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    let out = '[' + stringifyValue(value[0]!, depth + 1);
    for (let i = 1; i < value.length; i++) out += ',' + stringifyValue(value[i]!, depth + 1);
    return out + ']';
  }
  let out = '{';
  let first = true;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const member = value[key];
    if (member === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(key) + ':' + stringifyValue(member, depth + 1);
    first = false;
  }
  return out + '}';
}
