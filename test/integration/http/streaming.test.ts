import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isStrataError } from '../../../src/common/errors.js';
import {
  agentRequestMessageType,
  checkAgentCallStreaming,
  negotiateAgentApiMedia,
  requestMessageType,
  responseMessageType,
} from '../../../src/http/media.js';
import { type RecordStream, textResponse } from '../../../src/http/responses.js';
import { type HttpLogger, HttpServer } from '../../../src/http/server.js';
import { decodeRecords, writeRecord } from '../../../src/wire/recordio.js';

const quiet: HttpLogger = { warn() {}, error() {} };
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

/** Deterministic payloads of very different sizes, so records straddle every kind of boundary. */
function payloads(count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const size = i % 50 === 0 ? 200_000 : (i * 7919) % 3000;
    return JSON.stringify({ type: 'UPDATE', n: i, pad: 'x'.repeat(size) });
  });
}

describe('RecordIO over real HTTP', () => {
  const server = new HttpServer({ delegate: 'master', logger: quiet, closeGraceMs: 2000 });
  const subscribers = new Set<RecordStream>();
  const events = payloads(1000);
  let base = '';

  before(async () => {
    server
      .route('master', '/api/v1/scheduler', async (request) => {
        requestMessageType(request.headers);
        await request.body();
        return {
          status: 200,
          headers: { 'Content-Type': responseMessageType(request.headers) },
          open: async (stream) => {
            for (const event of events) {
              stream.write(event);
              // Yield now and then so the socket really is written piecemeal.
              if (stream.bufferedBytes > 1 << 20) await sleep(1);
            }
            stream.end();
          },
        };
      })
      .route('master', '/api/v1', () => ({
        status: 200,
        headers: { 'Content-Type': 'application/json' },
        open: (stream) => {
          subscribers.add(stream);
          void stream.done.then(() => subscribers.delete(stream));
          stream.write('{"type":"SUBSCRIBED"}');
        },
      }))
      .route('master', '/firehose', () => ({
        status: 200,
        headers: { 'Content-Type': 'application/json' },
        open: (stream) => {
          subscribers.add(stream);
          void stream.done.then(() => subscribers.delete(stream));
        },
      }))
      .route('slave(1)', '/api/v1', async (request) => {
        const media = negotiateAgentApiMedia(request.headers);
        const calls = decodeRecords(request.bodyStream(), { maxRecordBytes: 1024 });
        const received: string[] = [];
        try {
          for await (const record of calls) {
            const call = JSON.parse(text(record)) as { type: string };
            if (received.length === 0) checkAgentCallStreaming(media, call.type);
            received.push(call.type);
          }
        } catch (err) {
          if (isStrataError(err)) return textResponse(err.status, err.message);
          throw err;
        }
        return textResponse(200, `${agentRequestMessageType(media)} ${received.join(',')}`);
      });
    const { port } = await server.listen('127.0.0.1', 0);
    base = `http://127.0.0.1:${port}`;
  });
  after(() => server.close());

  it('a fetch client decodes 1000 records of mixed sizes, in order, unzipped', async () => {
    const response = await fetch(`${base}/api/v1/scheduler`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept-Encoding': 'gzip' },
      body: '{"type":"SUBSCRIBE"}',
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-encoding'), null);
    assert.ok(response.body);
    const received: string[] = [];
    for await (const record of decodeRecords(response.body)) received.push(text(record));
    assert.equal(received.length, events.length);
    assert.deepEqual(received, events);
  });

  it('shows a stalled consumer as buffered bytes, and delivers everything once it reads again', async () => {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`${base}/firehose`, { method: 'POST' }, resolve);
      req.on('error', reject);
      req.end();
    });
    response.pause();
    while (subscribers.size === 0) await sleep(1);
    const [stream] = [...subscribers];
    const record = 'y'.repeat(64 * 1024);
    let written = 0;
    while (stream!.bufferedBytes < 4 << 20 && written < 2000) {
      stream!.write(record);
      written += 1;
      if (written % 16 === 0) await sleep(1);
    }
    assert.ok(stream!.bufferedBytes > 0, 'the kernel buffers filled and the rest is queued');
    stream!.end();
    let count = 0;
    response.resume();
    for await (const received of decodeRecords(response)) {
      assert.equal(received.byteLength, record.length);
      count += 1;
    }
    assert.equal(count, written);
  });

  it('aborts a stalled consumer at once, without waiting for it to read', async () => {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`${base}/firehose`, { method: 'POST' }, resolve);
      req.on('error', reject);
      req.end();
    });
    response.pause();
    while (subscribers.size === 0) await sleep(1);
    const [stream] = [...subscribers];
    const record = 'z'.repeat(64 * 1024);
    for (let i = 0; stream!.bufferedBytes === 0 && i < 2000; i++) {
      stream!.write(record);
      if (i % 16 === 15) await sleep(1);
    }
    assert.ok(stream!.bufferedBytes > 0);
    stream!.abort();
    assert.equal(await stream!.done, 'aborted');
    assert.equal(stream!.write(record), false);
    response.resume();
    await assert.rejects(async () => {
      for await (const _ of decodeRecords(response)) {
        // Drain whatever made it before the cut.
      }
    });
  });

  it('reads a streamed request body (agent ATTACH_CONTAINER_INPUT style) record by record', async () => {
    const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${base}/slave(1)/api/v1`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/recordio', 'Message-Content-Type': 'application/json' },
        },
        async (res) => {
          const chunks: Buffer[] = [];
          for await (const chunk of res) chunks.push(chunk as Buffer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
        },
      );
      req.on('error', reject);
      void (async () => {
        await writeRecord(req, '{"type":"ATTACH_CONTAINER_INPUT"}');
        for (let i = 0; i < 20; i++) {
          await writeRecord(req, '{"type":"PROCESS_IO"}');
          await sleep(1);
        }
        req.end();
      })();
    });
    assert.equal(result.status, 200);
    assert.equal(
      result.body,
      `application/json ATTACH_CONTAINER_INPUT,${Array(20).fill('PROCESS_IO').join(',')}`,
    );
  });

  it('refuses a streamed body for a call that may not stream, and an oversized record', async () => {
    const post = async (body: string) => {
      const response = await fetch(`${base}/slave(1)/api/v1`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/recordio', 'Message-Content-Type': 'application/json' },
        body,
      });
      return { status: response.status, body: await response.text() };
    };
    assert.deepEqual(await post(`20\n{"type":"GET_STATE"}`), {
      status: 415,
      body: "Streaming 'Content-Type' application/recordio is not supported for GET_STATE call",
    });
    const huge = await post('999999\n{');
    assert.equal(huge.status, 413);
    const garbage = await post('{"type":"GET_STATE"}');
    assert.equal(garbage.status, 400);
  });

  it('ends 100 open subscriptions cleanly on close; every client sees a clean end of stream', async () => {
    const clients = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const response = await fetch(`${base}/api/v1`, { method: 'POST' });
        assert.ok(response.body);
        const records: string[] = [];
        const finished = (async () => {
          for await (const record of decodeRecords(response.body!)) records.push(text(record));
        })();
        return { records, finished };
      }),
    );
    while (subscribers.size < 100) await sleep(1);
    await server.close();
    for (const client of clients) {
      await client.finished;
      assert.deepEqual(client.records, ['{"type":"SUBSCRIBED"}']);
    }
    assert.equal(server.openStreams, 0);
  });
});
