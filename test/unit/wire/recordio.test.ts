import assert from 'node:assert/strict';
import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { type ErrorCode, isStrataError } from '../../../src/common/errors.js';
import {
  DEFAULT_MAX_RECORD_BYTES,
  decodeRecords,
  encodeRecord,
  encodeRecordString,
  MAX_PREFIX_DIGITS,
  RecordIODecoder,
  writeRecord,
  writeRecords,
} from '../../../src/wire/recordio.js';

const utf8 = new TextEncoder();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function isCode(code: ErrorCode, pattern?: RegExp) {
  return (err: unknown) => isStrataError(err, code) && (pattern === undefined || pattern.test(err.message));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
}

/** Deterministic PRNG so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('encodeRecord', () => {
  it('frames as <decimal length>\\n<bytes>', () => {
    assert.equal(text(encodeRecordString('{"type":"HEARTBEAT"}')), '20\n{"type":"HEARTBEAT"}');
    assert.deepEqual(encodeRecord(new Uint8Array([1, 2, 3])), new Uint8Array([0x33, 0x0a, 1, 2, 3]));
  });

  it('counts UTF-8 bytes, not UTF-16 code units', () => {
    assert.equal(text(encodeRecordString('é€😀')), '9\né€😀');
  });

  it('frames an empty record as 0\\n', () => {
    assert.equal(text(encodeRecord(new Uint8Array(0))), '0\n');
  });
});

describe('RecordIODecoder', () => {
  const records = ['{"type":"SUBSCRIBED"}', '{"type":"HEARTBEAT"}', 'x'.repeat(1234), 'é€😀'];
  const stream = concat(...records.map(encodeRecordString));

  it('decodes back-to-back records from one chunk', () => {
    const decoder = new RecordIODecoder();
    assert.deepEqual(decoder.push(stream).map(text), records);
    decoder.end();
  });

  it('decodes the same records for every single split point', () => {
    for (let at = 0; at <= stream.byteLength; at++) {
      const decoder = new RecordIODecoder();
      const out = [...decoder.push(stream.subarray(0, at)), ...decoder.push(stream.subarray(at))];
      assert.deepEqual(out.map(text), records, `split at ${at}`);
      decoder.end();
    }
  });

  it('decodes the same records for every pair of split points', () => {
    const small = concat(encodeRecordString('ab'), encodeRecordString('0123456789'), encodeRecordString('z'));
    for (let i = 0; i <= small.byteLength; i++) {
      for (let j = i; j <= small.byteLength; j++) {
        const decoder = new RecordIODecoder();
        const out = [
          ...decoder.push(small.subarray(0, i)),
          ...decoder.push(small.subarray(i, j)),
          ...decoder.push(small.subarray(j)),
        ];
        assert.deepEqual(out.map(text), ['ab', '0123456789', 'z'], `split at ${i},${j}`);
        decoder.end();
      }
    }
  });

  it('decodes byte by byte', () => {
    const decoder = new RecordIODecoder();
    const out: Uint8Array[] = [];
    for (const byte of stream) out.push(...decoder.push(new Uint8Array([byte])));
    assert.deepEqual(out.map(text), records);
    assert.ok(decoder.atRecordBoundary);
  });

  it('survives random re-chunking of random records', () => {
    const next = random(42);
    for (let round = 0; round < 50; round++) {
      const payloads = Array.from({ length: 1 + Math.floor(next() * 8) }, () =>
        Uint8Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256)),
      );
      const wire = concat(...payloads.map(encodeRecord));
      const decoder = new RecordIODecoder();
      const out: Uint8Array[] = [];
      for (let at = 0; at < wire.byteLength; ) {
        const size = 1 + Math.floor(next() * 64);
        out.push(...decoder.push(wire.subarray(at, at + size)));
        at += size;
      }
      decoder.end();
      assert.deepEqual(
        out.map((r) => Array.from(r)),
        payloads.map((p) => Array.from(p)),
      );
    }
  });

  it('returns records that stay valid when a later chunk arrives', () => {
    const decoder = new RecordIODecoder();
    const [first] = decoder.push(utf8.encode('3\nabc4\nde'));
    decoder.push(utf8.encode('fg'));
    assert.equal(text(first!), 'abc');
  });

  it('yields an empty record for length 0 (the producer never sends one)', () => {
    const decoder = new RecordIODecoder();
    const out = decoder.push(utf8.encode('0\n2\nhi0\n'));
    assert.deepEqual(out.map(text), ['', 'hi', '']);
    assert.deepEqual(decoder.push(utf8.encode('0')), []);
    assert.deepEqual(decoder.push(utf8.encode('\n')).map(text), ['']);
    decoder.end();
  });

  it('accepts leading zeros up to the prefix width', () => {
    const decoder = new RecordIODecoder();
    assert.deepEqual(decoder.push(utf8.encode(`${'0'.repeat(MAX_PREFIX_DIGITS - 1)}2\nhi`)).map(text), [
      'hi',
    ]);
  });

  it('ends cleanly on an empty input and at record boundaries', () => {
    new RecordIODecoder().end();
    const decoder = new RecordIODecoder();
    decoder.push(utf8.encode('1\na'));
    decoder.end();
  });

  describe('rejects garbage at once', () => {
    const cases: Array<[string, string, ErrorCode]> = [
      ['an empty prefix', '\n', 'RECORDIO_BAD_LENGTH'],
      ['a non-digit', '1a\n', 'RECORDIO_BAD_LENGTH'],
      ['a sign', '-1\n', 'RECORDIO_BAD_LENGTH'],
      ['a plus sign', '+1\n', 'RECORDIO_BAD_LENGTH'],
      ['a CR before the newline', '2\r\nhi', 'RECORDIO_BAD_LENGTH'],
      ['a space', ' 2\nhi', 'RECORDIO_BAD_LENGTH'],
      ['JSON without framing', '{"type":"HEARTBEAT"}', 'RECORDIO_BAD_LENGTH'],
      ['too many digits', `${'0'.repeat(MAX_PREFIX_DIGITS + 1)}\n`, 'RECORDIO_BAD_LENGTH'],
      ['a length above the limit', `${DEFAULT_MAX_RECORD_BYTES + 1}\n`, 'RECORDIO_TOO_LARGE'],
      ['a uint64-sized length', '18446744073709551615\n', 'RECORDIO_TOO_LARGE'],
    ];
    for (const [what, input, code] of cases) {
      it(what, () => {
        const decoder = new RecordIODecoder();
        assert.throws(() => decoder.push(utf8.encode(input)), isCode(code));
      });
    }

    it('a record after a good one', () => {
      const decoder = new RecordIODecoder();
      assert.throws(() => decoder.push(utf8.encode('1\nax\n')), isCode('RECORDIO_BAD_LENGTH', /"x"/));
    });

    it('an oversized length before its newline arrives (no waiting for a giant record)', () => {
      const decoder = new RecordIODecoder({ maxRecordBytes: 1000 });
      decoder.push(utf8.encode('100'));
      assert.throws(() => decoder.push(utf8.encode('1')), isCode('RECORDIO_TOO_LARGE', /limit of 1000/));
    });

    it('an over-long prefix before its newline arrives', () => {
      const decoder = new RecordIODecoder();
      assert.throws(
        () => decoder.push(utf8.encode('0'.repeat(MAX_PREFIX_DIGITS + 1))),
        isCode('RECORDIO_BAD_LENGTH'),
      );
    });

    it('shows the offending prefix, quoted and cut short', () => {
      const decoder = new RecordIODecoder();
      assert.throws(
        () => decoder.push(utf8.encode('12\t')),
        isCode('RECORDIO_BAD_LENGTH', /prefix "12\\t"$/),
      );
    });
  });

  it('honours the configured limit exactly', () => {
    const decoder = new RecordIODecoder({ maxRecordBytes: 4 });
    assert.deepEqual(decoder.push(utf8.encode('4\nabcd')).map(text), ['abcd']);
    assert.throws(() => decoder.push(utf8.encode('5\n')), isCode('RECORDIO_TOO_LARGE'));
  });

  it('refuses a nonsensical limit', () => {
    assert.throws(() => new RecordIODecoder({ maxRecordBytes: -1 }), RangeError);
    assert.throws(() => new RecordIODecoder({ maxRecordBytes: 1.5 }), RangeError);
  });

  it('reports truncation inside a body with the missing byte count', () => {
    const decoder = new RecordIODecoder();
    decoder.push(utf8.encode('10\nabc'));
    assert.equal(decoder.atRecordBoundary, false);
    assert.throws(() => decoder.end(), isCode('RECORDIO_TRUNCATED', /\(7 bytes missing\)/));
  });

  it('reports truncation inside a prefix', () => {
    const decoder = new RecordIODecoder();
    decoder.push(utf8.encode('12'));
    assert.throws(() => decoder.end(), isCode('RECORDIO_TRUNCATED', /\(13 bytes missing\)/));
  });

  it('reports truncation right after the newline', () => {
    const decoder = new RecordIODecoder();
    decoder.push(utf8.encode('3\n'));
    assert.throws(() => decoder.end(), isCode('RECORDIO_TRUNCATED', /\(3 bytes missing\)/));
  });

  it('drops records completed earlier in the chunk that turns out corrupt', () => {
    const decoder = new RecordIODecoder();
    assert.throws(() => decoder.push(utf8.encode('1\na1\nbZ')), isCode('RECORDIO_BAD_LENGTH'));
  });

  it('stays failed: no resynchronising on a corrupt stream', () => {
    const decoder = new RecordIODecoder();
    assert.throws(() => decoder.push(utf8.encode('x')), isCode('RECORDIO_BAD_LENGTH'));
    assert.throws(() => decoder.push(utf8.encode('1\na')), isCode('RECORDIO_BAD_LENGTH'));
    assert.throws(() => decoder.end(), isCode('RECORDIO_BAD_LENGTH'));
  });

  it('refuses use after end()', () => {
    const decoder = new RecordIODecoder();
    decoder.end();
    assert.throws(() => decoder.push(utf8.encode('1\na')), isCode('INTERNAL'));
  });

  it('never throws anything but a catalogue error on random bytes, and never buffers past its limit', () => {
    const next = random(7);
    for (let round = 0; round < 500; round++) {
      const decoder = new RecordIODecoder({ maxRecordBytes: 4096 });
      const junk = Uint8Array.from({ length: 1 + Math.floor(next() * 200) }, () =>
        // Bias towards digits and newlines so some inputs get past the prefix.
        next() < 0.6 ? 0x30 + Math.floor(next() * 10) : next() < 0.5 ? 0x0a : Math.floor(next() * 256),
      );
      try {
        for (let at = 0; at < junk.byteLength; at += 7) decoder.push(junk.subarray(at, at + 7));
        decoder.end();
      } catch (err) {
        assert.ok(
          isStrataError(err, 'RECORDIO_BAD_LENGTH') ||
            isStrataError(err, 'RECORDIO_TOO_LARGE') ||
            isStrataError(err, 'RECORDIO_TRUNCATED'),
          String(err),
        );
      }
    }
  });
});

describe('decodeRecords', () => {
  it('decodes from a Readable with arbitrary chunking', async () => {
    const wire = concat(encodeRecordString('one'), encodeRecordString('two'), encodeRecordString('three'));
    const chunks = [wire.subarray(0, 2), wire.subarray(2, 9), wire.subarray(9)].map((c) => Buffer.from(c));
    const out: string[] = [];
    for await (const record of decodeRecords(Readable.from(chunks))) out.push(text(record));
    assert.deepEqual(out, ['one', 'two', 'three']);
  });

  it('accepts string chunks as UTF-8', async () => {
    const out: string[] = [];
    for await (const record of decodeRecords(Readable.from(['2\né', '3\n€'], { objectMode: true }))) {
      out.push(text(record));
    }
    assert.deepEqual(out, ['é', '€']);
  });

  it('throws RECORDIO_TRUNCATED when the source ends inside a record', async () => {
    const source = Readable.from([Buffer.from('5\nab')]);
    await assert.rejects(async () => {
      for await (const _ of decodeRecords(source)) assert.fail('no record expected');
    }, isCode('RECORDIO_TRUNCATED'));
  });

  it('stops at the first bad prefix without waiting for more input', async () => {
    const source = new PassThrough();
    source.write('2\nok');
    // The source never ends: the decoder must fail on what it has.
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const record of decodeRecords(source)) {
        seen.push(text(record));
        source.write('XX');
      }
    }, isCode('RECORDIO_BAD_LENGTH'));
    assert.deepEqual(seen, ['ok']);
    assert.ok(source.destroyed, 'the source is released');
  });

  it('destroys the source when the consumer stops early', async () => {
    const source = new PassThrough();
    source.write(encodeRecordString('a'));
    for await (const record of decodeRecords(source)) {
      assert.equal(text(record), 'a');
      break;
    }
    assert.ok(source.destroyed);
  });
});

describe('writeRecord', () => {
  function collector(highWaterMark = 16 * 1024) {
    const writes: Buffer[] = [];
    const sink = new Writable({
      highWaterMark,
      write(chunk: Buffer, _encoding, callback) {
        writes.push(chunk);
        setImmediate(callback);
      },
    });
    return { sink, writes };
  }

  it('writes each record as exactly one write call', async () => {
    const { sink, writes } = collector();
    await writeRecord(sink, '{"type":"HEARTBEAT"}');
    await writeRecord(sink, new Uint8Array([1, 2]));
    await writeRecords(sink, ['a', utf8.encode('bc')]);
    await new Promise<void>((resolve) => sink.end(resolve));
    assert.deepEqual(
      writes.map((w) => w.toString('latin1')),
      ['20\n{"type":"HEARTBEAT"}', '2\n\x01\x02', '1\na', '2\nbc'],
    );
  });

  it('waits for drain under backpressure', async () => {
    const { sink, writes } = collector(4);
    const big = 'x'.repeat(100);
    await writeRecord(sink, big);
    await writeRecord(sink, big);
    assert.equal(writes.length, 2);
  });

  it('rejects on a destroyed stream and when the stream closes while waiting', async () => {
    const { sink } = collector();
    sink.destroy();
    await assert.rejects(writeRecord(sink, 'a'), isCode('INTERNAL'));

    const stuck = new Writable({ highWaterMark: 1, write() {} });
    const pending = writeRecord(stuck, 'abc');
    stuck.destroy();
    await assert.rejects(pending);
  });

  it('round-trips through decodeRecords over a pipe', async () => {
    const pipe = new PassThrough();
    const payloads = Array.from({ length: 100 }, (_, i) => `{"n":${i},"pad":"${'p'.repeat(i * 13)}"}`);
    const writing = (async () => {
      await writeRecords(pipe, payloads);
      pipe.end();
    })();
    const out: string[] = [];
    for await (const record of decodeRecords(pipe)) out.push(text(record));
    await writing;
    assert.deepEqual(out, payloads);
  });
});
