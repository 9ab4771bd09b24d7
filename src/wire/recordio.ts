/**
 * RecordIO framing as Mesos uses it on its streaming endpoints: every record is
 * `<decimal byte length>\n<exactly that many bytes>`, with no CR, no separator after the data and
 * no relation between record boundaries and transport chunk boundaries.
 *
 * The decoder is incremental and bounded: it never holds more than one record (at most
 * `maxRecordBytes`) plus a prefix of at most `MAX_PREFIX_DIGITS` digits, and it rejects a bad or
 * oversized length prefix as soon as the offending byte arrives, so a peer cannot make it buffer
 * without limit or wait forever for a record it will refuse anyway.
 *
 * Length 0: the Mesos producer never emits it, but the grammar allows it, so the decoder accepts it
 * and yields an empty record. Whoever decodes the record's payload (JSON or protobuf) then decides;
 * an empty JSON document is already a syntax error there, so nothing slips through silently.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { fail, StrataError } from '../common/errors.js';

/** Default cap on one record's payload: far above any real Mesos event, far below memory trouble. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** The widest decimal a uint64 needs; longer prefixes (even all zeros) are garbage, not lengths. */
export const MAX_PREFIX_DIGITS = 20;

const NEWLINE = 0x0a;
const DIGIT_ZERO = 0x30;
const DIGIT_NINE = 0x39;
const utf8 = new TextEncoder();

export function encodeRecord(record: Uint8Array): Uint8Array {
  const prefix = utf8.encode(`${record.byteLength}\n`);
  const framed = new Uint8Array(prefix.byteLength + record.byteLength);
  framed.set(prefix, 0);
  framed.set(record, prefix.byteLength);
  return framed;
}

/** Frames the UTF-8 bytes of `text`; the length prefix counts bytes, not UTF-16 code units. */
export function encodeRecordString(text: string): Uint8Array {
  return encodeRecord(utf8.encode(text));
}

export interface RecordIODecoderOptions {
  /** Largest record payload accepted, in bytes; default `DEFAULT_MAX_RECORD_BYTES`. */
  maxRecordBytes?: number;
}

/**
 * Incremental decoder: feed transport chunks to `push`, which returns every record they complete;
 * call `end` when the transport ends. Errors are catalogue errors (`RECORDIO_BAD_LENGTH`,
 * `RECORDIO_TOO_LARGE`, `RECORDIO_TRUNCATED`), thrown by the call that meets the bad byte (records
 * that same chunk completed before it are dropped with it: the stream is dead either way), and
 * sticky: every later call throws the same error, because there is no way to resynchronise.
 *
 * A returned record may be a view into a pushed chunk (no copy when a record lies within one
 * chunk), so callers must not modify a chunk after pushing it. The decoder never writes to chunks.
 */
export class RecordIODecoder {
  readonly maxRecordBytes: number;

  private inPrefix = true;
  private prefixDigits = 0;
  private prefixText = '';
  private declaredLength = 0;
  private bodyParts: Uint8Array[] = [];
  private bodyReceived = 0;
  private failure: StrataError | undefined;
  private ended = false;

  constructor(options: RecordIODecoderOptions = {}) {
    const limit = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(`maxRecordBytes must be a non-negative safe integer, got ${limit}`);
    }
    this.maxRecordBytes = limit;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    this.throwIfUnusable();
    const records: Uint8Array[] = [];
    let offset = 0;
    try {
      while (offset < chunk.byteLength) {
        if (this.inPrefix) {
          offset = this.consumePrefix(chunk, offset);
          // A zero-length record is complete at its newline, even at the very end of a chunk.
          if (!this.inPrefix && this.declaredLength === 0) {
            records.push(new Uint8Array(0));
            this.resetForNextRecord();
          }
        } else {
          offset = this.consumeBody(chunk, offset, records);
        }
      }
    } catch (err) {
      if (err instanceof StrataError) this.failure = err;
      throw err;
    }
    return records;
  }

  /** Declares the end of the input; throws `RECORDIO_TRUNCATED` if it stops inside a record. */
  end(): void {
    this.throwIfUnusable();
    this.ended = true;
    if (this.inPrefix && this.prefixDigits === 0) return;
    // Inside a prefix the exact shortfall is unknowable (more digits could have followed); report
    // the least that was certainly missing: the newline plus the bytes declared so far.
    const missing = this.inPrefix ? this.declaredLength + 1 : this.declaredLength - this.bodyReceived;
    this.failure = new StrataError('RECORDIO_TRUNCATED', { missing });
    throw this.failure;
  }

  /** True when no partial record is buffered, i.e. ending the input now would be clean. */
  get atRecordBoundary(): boolean {
    return this.inPrefix && this.prefixDigits === 0;
  }

  private throwIfUnusable(): void {
    if (this.failure) throw this.failure;
    if (this.ended) throw new StrataError('INTERNAL', { detail: 'RecordIODecoder used after end()' });
  }

  private consumePrefix(chunk: Uint8Array, offset: number): number {
    while (offset < chunk.byteLength) {
      const byte = chunk[offset]!;
      offset += 1;
      if (byte === NEWLINE) {
        if (this.prefixDigits === 0) this.rejectPrefix('\n');
        this.startBody();
        return offset;
      }
      if (byte < DIGIT_ZERO || byte > DIGIT_NINE) this.rejectPrefix(String.fromCharCode(byte));
      this.prefixDigits += 1;
      this.prefixText += String.fromCharCode(byte);
      if (this.prefixDigits > MAX_PREFIX_DIGITS) this.rejectPrefix('');
      this.declaredLength = this.declaredLength * 10 + (byte - DIGIT_ZERO);
      // More digits can only grow the value, so an over-limit length is final before its newline.
      if (this.declaredLength > this.maxRecordBytes) {
        fail('RECORDIO_TOO_LARGE', { length: `at least ${this.declaredLength}`, limit: this.maxRecordBytes });
      }
    }
    return offset;
  }

  private consumeBody(chunk: Uint8Array, offset: number, records: Uint8Array[]): number {
    const wanted = this.declaredLength - this.bodyReceived;
    const available = chunk.byteLength - offset;
    if (this.bodyParts.length === 0 && available >= wanted) {
      records.push(chunk.subarray(offset, offset + wanted));
      this.resetForNextRecord();
      return offset + wanted;
    }
    const take = Math.min(wanted, available);
    this.bodyParts.push(chunk.subarray(offset, offset + take));
    this.bodyReceived += take;
    if (this.bodyReceived === this.declaredLength) {
      records.push(concatenate(this.bodyParts, this.declaredLength));
      this.resetForNextRecord();
    }
    return offset + take;
  }

  private startBody(): void {
    this.inPrefix = false;
    this.bodyParts = [];
    this.bodyReceived = 0;
  }

  private resetForNextRecord(): void {
    this.inPrefix = true;
    this.prefixDigits = 0;
    this.prefixText = '';
    this.declaredLength = 0;
    this.bodyParts = [];
    this.bodyReceived = 0;
  }

  private rejectPrefix(offending: string): never {
    fail('RECORDIO_BAD_LENGTH', { prefix: JSON.stringify(this.prefixText.slice(0, 24) + offending) });
  }
}

function concatenate(parts: readonly Uint8Array[], total: number): Uint8Array {
  const joined = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.byteLength;
  }
  return joined;
}

/**
 * Decodes records from any async source of byte chunks: a Node `Readable`, an `IncomingMessage`,
 * a fetch `Response.body`. Strings (a Readable with an encoding set) are taken as UTF-8. Breaking
 * out of the loop early returns the source's iterator, which destroys a Node stream.
 */
export async function* decodeRecords(
  source: AsyncIterable<Uint8Array | string>,
  options: RecordIODecoderOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const decoder = new RecordIODecoder(options);
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? utf8.encode(chunk) : chunk;
    for (const record of decoder.push(bytes)) yield record;
  }
  decoder.end();
}

/**
 * Writes one framed record as a single `write` call, which on a chunked HTTP response is exactly
 * one HTTP chunk: some Mesos clients parse chunk by chunk and drop records split across chunks.
 * Resolves once the stream can take more (honouring backpressure); rejects if the stream is
 * destroyed or errors first.
 */
export async function writeRecord(target: Writable, record: Uint8Array | string): Promise<void> {
  if (target.destroyed || target.writableEnded) {
    throw new StrataError('INTERNAL', { detail: 'cannot write a RecordIO record to a closed stream' });
  }
  const framed = typeof record === 'string' ? encodeRecordString(record) : encodeRecord(record);
  if (target.write(framed)) return;
  await waitForDrain(target);
}

/** Writes every record from `records` with `writeRecord`; does not end the target. */
export async function writeRecords(
  target: Writable,
  records: Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>,
): Promise<void> {
  for await (const record of records) await writeRecord(target, record);
}

async function waitForDrain(target: Writable): Promise<void> {
  const abort = new AbortController();
  try {
    await Promise.race([
      once(target, 'drain', { signal: abort.signal }),
      once(target, 'close', { signal: abort.signal }).then(() => {
        throw new StrataError('INTERNAL', { detail: 'stream closed while a RecordIO record was pending' });
      }),
    ]);
  } finally {
    abort.abort();
  }
}
