import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { StrataError } from '../../../src/common/errors.js';
import { requireMethod, responseMessageType } from '../../../src/http/media.js';
import {
  accepted,
  jsonResponse,
  messageResponse,
  NO_LEADER_ELECTED,
  type RecordStream,
  redirectToLeader,
  type StreamCloseReason,
  serviceUnavailable,
  textResponse,
} from '../../../src/http/responses.js';
import { type HttpLogger, type HttpRequest, HttpServer } from '../../../src/http/server.js';
import { RecordIODecoder } from '../../../src/wire/recordio.js';
import { RawConnection, rawRequest } from './raw-http.js';

function capturingLogger(): HttpLogger & { errors: Array<{ fields: object; message: string }> } {
  const errors: Array<{ fields: object; message: string }> = [];
  return {
    errors,
    warn() {},
    error(fields, message) {
      errors.push({ fields, message });
    },
  };
}

/** What a handler saw, minus the functions. */
function seen(request: HttpRequest) {
  return {
    method: request.method,
    path: request.path,
    originalPath: request.originalPath,
    processId: request.processId,
    endpoint: request.endpoint,
    subPath: request.subPath,
    rawQuery: request.rawQuery,
    query: Object.fromEntries(request.query),
  };
}

const echo = (request: HttpRequest) => messageResponse(JSON.stringify(seen(request)), 'application/json');

describe('HttpServer routing', () => {
  const server = new HttpServer({ delegate: 'master', logger: capturingLogger() });
  let port = 0;

  before(async () => {
    server
      .route('master', '/', echo)
      .route('master', '/api/v1/scheduler', echo)
      .route('master', '/api/v1', echo)
      .route('master', '/state', echo)
      .route('metrics', '/snapshot', echo)
      .route('version', '/', echo);
    ({ port } = await server.listen('127.0.0.1', 0));
  });
  after(() => server.close());

  async function get(target: string) {
    const response = await rawRequest(port, 'GET', target);
    return {
      status: response.status,
      seen: response.status === 200 ? JSON.parse(response.body.toString()) : undefined,
    };
  }

  it('binds a real port', () => {
    assert.ok(port > 0);
    assert.equal(server.address()?.host, '127.0.0.1');
  });

  it('delegates unprefixed paths and shows the handler the rewritten path', async () => {
    const { status, seen } = await get('/api/v1/scheduler');
    assert.equal(status, 200);
    assert.equal(seen.path, '/master/api/v1/scheduler');
    assert.equal(seen.originalPath, '/api/v1/scheduler');
    assert.equal(seen.endpoint, '/api/v1/scheduler');
    assert.equal((await get('/master/api/v1/scheduler')).seen.path, '/master/api/v1/scheduler');
  });

  it('delegates / to /master', async () => {
    const { seen } = await get('/');
    assert.equal(seen.path, '/master');
    assert.equal(seen.endpoint, '/');
  });

  it('passes query strings through, never letting them affect routing', async () => {
    const { seen } = await get('/api/v1?_ts=1234&x=a%20b&x=2');
    assert.equal(seen.endpoint, '/api/v1');
    assert.equal(seen.rawQuery, '_ts=1234&x=a%20b&x=2');
    assert.deepEqual(seen.query, { _ts: '1234', x: '2' });
  });

  it('ignores a trailing slash and falls back to the longest prefix', async () => {
    assert.equal((await get('/master/state/')).seen.endpoint, '/state');
    const deeper = (await get('/master/state/frameworks/1')).seen;
    assert.equal(deeper.endpoint, '/state');
    assert.equal(deeper.subPath, 'frameworks/1');
  });

  it('serves top-level processes without delegation', async () => {
    assert.equal((await get('/metrics/snapshot')).seen.path, '/metrics/snapshot');
    assert.equal((await get('/version')).seen.processId, 'version');
    assert.equal((await get('/metrics/other')).status, 404);
  });

  it('404s unknown paths with an empty body', async () => {
    const response = await rawRequest(port, 'GET', '/nonsense');
    assert.equal(response.status, 404);
    assert.equal(response.body.length, 0);
    assert.equal((await get('/master/../master/state')).status, 404);
  });

  it('400s malformed targets', async () => {
    assert.equal((await rawRequest(port, 'GET', '/master/%zz')).status, 400);
    assert.equal((await rawRequest(port, 'OPTIONS', '*')).status, 400);
  });
});

describe('HttpServer agent routing', () => {
  const server = new HttpServer({ delegate: 'slave(1)', logger: capturingLogger() });
  let port = 0;
  before(async () => {
    server.route('slave(1)', '/api/v1/executor', echo).route('slave(1)', '/state', echo);
    ({ port } = await server.listen('127.0.0.1', 0));
  });
  after(() => server.close());

  it('routes slave(1) literally and percent-encoded, and delegates to it', async () => {
    for (const target of ['/slave(1)/api/v1/executor', '/slave%281%29/api/v1/executor', '/api/v1/executor']) {
      const response = await rawRequest(port, 'POST', target, {}, '');
      assert.equal(response.status, 200, target);
      assert.equal(JSON.parse(response.body.toString()).path, '/slave(1)/api/v1/executor');
    }
  });
});

describe('HttpServer responses and errors', () => {
  const logger = capturingLogger();
  const server = new HttpServer({ delegate: 'master', logger, maxBodyBytes: 1000 });
  let port = 0;

  before(async () => {
    server
      .route('master', '/api/v1/scheduler', async (request) => {
        requireMethod(request.method, ['POST']);
        const body = await request.body();
        if (body.byteLength === 0) return accepted();
        return messageResponse(body, responseMessageType(request.headers));
      })
      .route('master', '/fail/strata', () => {
        throw new StrataError('HTTP_FORBIDDEN', { detail: 'Framework is not subscribed' });
      })
      .route('master', '/fail/crash', () => {
        throw new Error('secret detail at /etc/shadow');
      })
      .route('master', '/fail/async', async () => {
        await sleep(1);
        throw new TypeError('async secret');
      })
      .route('master', '/fail/string', () => {
        throw 'a bare string';
      })
      .route('master', '/fail/header', () => ({
        status: 200,
        headers: { 'X-Bad': 'a\r\nInjected: yes' },
        body: 'x',
      }))
      .route('master', '/fail/status', () => ({ status: 42 }))
      .route('master', '/leader', (request) => redirectToLeader({ hostname: 'm2', port: 5050 }, request))
      .route('master', '/no-leader', () => serviceUnavailable(NO_LEADER_ELECTED))
      .route('master', '/state', (request) =>
        jsonResponse(request.query, JSON.stringify({ pad: 'p'.repeat(2000) })),
      )
      .route('master', '/small', () => textResponse(200, 'tiny'))
      .route('master', '/big', () => ({ status: 200, body: 'b'.repeat(5000) }), { maxBodyBytes: 10 })
      .route(
        'master',
        '/upload',
        async (request) => textResponse(200, String((await request.body()).byteLength)),
        {
          maxBodyBytes: 10,
        },
      );
    ({ port } = await server.listen('127.0.0.1', 0));
  });
  after(() => server.close());

  it('405s a GET on the scheduler endpoint with Allow and the exact body', async () => {
    const response = await rawRequest(port, 'GET', '/api/v1/scheduler');
    assert.equal(response.status, 405);
    assert.equal(response.headers.allow, 'POST');
    assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(
      response.body.toString(),
      "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.",
    );
  });

  it('202s with no body', async () => {
    const response = await rawRequest(port, 'POST', '/api/v1/scheduler', {}, '');
    assert.equal(response.status, 202);
    assert.equal(response.headers['content-length'], '0');
    assert.equal(response.body.length, 0);
  });

  it('reads the body and negotiates the response type, JSON without an Accept header', async () => {
    const response = await rawRequest(port, 'POST', '/api/v1/scheduler', {}, '{"type":"TEARDOWN"}');
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'application/json');
    assert.equal(response.body.toString(), '{"type":"TEARDOWN"}');
  });

  it('turns a thrown catalogue error into its status and text/plain message', async () => {
    const response = await rawRequest(port, 'GET', '/fail/strata');
    assert.equal(response.status, 403);
    assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(response.body.toString(), 'Framework is not subscribed');
    const notAcceptable = await rawRequest(port, 'POST', '/api/v1/scheduler', { Accept: 'text/html' }, 'x');
    assert.equal(notAcceptable.status, 406);
  });

  it('turns any other failure into a 500 without a stack, logs it, and keeps serving', async () => {
    for (const target of ['/fail/crash', '/fail/async', '/fail/string']) {
      const response = await rawRequest(port, 'GET', target);
      assert.equal(response.status, 500, target);
      assert.doesNotMatch(response.body.toString(), /secret|shadow|bare string| {4}at /);
    }
    assert.ok(logger.errors.length >= 3);
    assert.equal((await rawRequest(port, 'GET', '/small')).status, 200);
  });

  it('answers 500 when a handler returns a header node:http refuses, or a bogus status', async () => {
    const response = await rawRequest(port, 'GET', '/fail/header');
    assert.equal(response.status, 500);
    assert.equal(response.headers.injected, undefined);
    assert.equal((await rawRequest(port, 'GET', '/fail/status')).status, 500);
  });

  it('redirects to the leader with a scheme-relative Location carrying the rewritten path', async () => {
    const response = await rawRequest(port, 'GET', '/leader?x=1');
    assert.equal(response.status, 307);
    assert.equal(response.headers.location, '//m2:5050/master/leader?x=1');
    assert.equal(response.body.length, 0);
  });

  it('sends 503 bodies', async () => {
    const response = await rawRequest(port, 'GET', '/no-leader');
    assert.equal(response.status, 503);
    assert.equal(response.body.toString(), 'No leader elected');
  });

  it('gzips large bodies when the client accepts gzip', async () => {
    const plain = await rawRequest(port, 'GET', '/state');
    assert.equal(plain.headers['content-encoding'], undefined);
    const zipped = await rawRequest(port, 'GET', '/state', { 'Accept-Encoding': 'gzip, deflate' });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.equal(Number(zipped.headers['content-length']), zipped.body.length);
    assert.ok(zipped.body.length < plain.body.length);
    assert.equal(gunzipSync(zipped.body).toString(), plain.body.toString());
    const refused = await rawRequest(port, 'GET', '/state', { 'Accept-Encoding': 'gzip;q=0' });
    assert.equal(refused.headers['content-encoding'], undefined);
  });

  it('does not gzip small bodies', async () => {
    const response = await rawRequest(port, 'GET', '/small', { 'Accept-Encoding': 'gzip' });
    assert.equal(response.headers['content-encoding'], undefined);
    assert.equal(response.body.toString(), 'tiny');
  });

  it('wraps legacy JSON in ?jsonp=', async () => {
    const response = await rawRequest(port, 'GET', '/state?jsonp=cb');
    assert.equal(response.headers['content-type'], 'text/javascript');
    assert.match(response.body.toString(), /^cb\(\{"pad":"p+"\}\);$/);
    assert.equal((await rawRequest(port, 'GET', '/state?jsonp=alert(1)')).status, 400);
  });

  it('413s a body over the route limit, by Content-Length or by counting, and closes the connection', async () => {
    assert.equal((await rawRequest(port, 'POST', '/upload', {}, '0123456789')).body.toString(), '10');

    const declared = await rawRequest(port, 'POST', '/upload', {}, '0123456789A');
    assert.equal(declared.status, 413);
    assert.equal(declared.body.toString(), 'request body exceeds 10 bytes');
    assert.equal(declared.headers.connection, 'close');

    const connection = await RawConnection.open(port);
    connection.send('POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n');
    connection.send('8\r\n01234567\r\n8\r\n89abcdef\r\n');
    const counted = await connection.readResponse();
    assert.equal(counted.status, 413);
    await connection.closedByServer();
  });

  it('keeps connections alive across requests', async () => {
    const connection = await RawConnection.open(port);
    try {
      for (let i = 0; i < 3; i++) {
        connection.request('GET', '/small');
        assert.equal((await connection.readResponse()).body.toString(), 'tiny');
      }
    } finally {
      connection.close();
    }
  });

  it('survives garbage on the socket', async () => {
    for (const garbage of [
      '\x00\x01\x02\r\n\r\n',
      'GET /\r\n\r\n',
      'NOT HTTP AT ALL\r\n\r\n',
      'GET / HTTP/1.1\r\nBad Header\r\n\r\n',
    ]) {
      const connection = await RawConnection.open(port);
      connection.send(garbage);
      await connection.closedByServer().catch(() => {});
      connection.close();
    }
    assert.equal((await rawRequest(port, 'GET', '/small')).status, 200);
  });

  it('survives random request targets', async () => {
    let seed = 3;
    const next = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    const alphabet = '/%2Fa(1)?&=ZZmasterstateapiv1..';
    for (let i = 0; i < 100; i++) {
      const target =
        '/' + Array.from({ length: next() % 24 }, () => alphabet[next() % alphabet.length]).join('');
      const response = await rawRequest(port, 'GET', target);
      assert.ok(
        [200, 400, 404, 405, 503, 307, 500, 403].includes(response.status),
        `${target}: ${response.status}`,
      );
    }
  });
});

describe('HttpServer streams', () => {
  const logger = capturingLogger();
  const server = new HttpServer({ delegate: 'master', logger });
  let port = 0;
  let lastStream: RecordStream | undefined;
  let nextStream: (() => void) | undefined;
  const streamOpened = () =>
    new Promise<RecordStream>((resolve) => {
      nextStream = () => resolve(lastStream!);
    });

  before(async () => {
    server
      .route('master', '/api/v1/scheduler', () => ({
        status: 200,
        headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': 'a-stream' },
        open: (stream) => {
          stream.write('{"type":"SUBSCRIBED"}');
          stream.write('{"type":"HEARTBEAT"}');
          lastStream = stream;
          nextStream?.();
        },
      }))
      .route('master', '/burst', () => ({
        status: 200,
        headers: { 'Content-Type': 'application/json' },
        open: (stream) => {
          for (let i = 0; i < 200; i++) stream.write(`{"n":${i}}`);
          stream.end();
        },
      }))
      .route('master', '/broken', () => ({
        status: 200,
        headers: { 'Content-Type': 'application/json' },
        open: async (stream) => {
          stream.write('{"first":true}');
          await sleep(1);
          throw new Error('producer bug');
        },
      }));
    ({ port } = await server.listen('127.0.0.1', 0));
  });
  after(() => server.close());

  it('flushes the head at once and sends every record as its own chunk', async () => {
    const connection = await RawConnection.open(port);
    try {
      const opened = streamOpened();
      connection.request('POST', '/api/v1/scheduler', { 'Content-Type': 'application/json' }, '{}');
      const head = await connection.readHead();
      assert.equal(head.status, 200);
      assert.equal(head.headers['transfer-encoding'], 'chunked');
      assert.equal(head.headers['content-length'], undefined);
      assert.equal(head.headers['content-type'], 'application/json');
      assert.equal(head.headers['mesos-stream-id'], 'a-stream');
      assert.equal(head.headers['content-encoding'], undefined);
      assert.equal((await connection.readChunk())?.toString(), '21\n{"type":"SUBSCRIBED"}');
      assert.equal((await connection.readChunk())?.toString(), '20\n{"type":"HEARTBEAT"}');

      const stream = await opened;
      assert.equal(server.openStreams, 1);
      assert.equal(stream.write('{"type":"OFFERS"}'), true);
      assert.equal((await connection.readChunk())?.toString(), '17\n{"type":"OFFERS"}');
      stream.end();
      assert.equal(await connection.readChunk(), undefined, 'terminating chunk');
      assert.equal(await stream.done, 'ended');
      assert.equal(stream.closed, true);
      assert.equal(stream.write('late'), false);
    } finally {
      connection.close();
    }
  });

  it('keeps one record per chunk under a burst, never gzipping', async () => {
    const response = await rawRequest(port, 'GET', '/burst', { 'Accept-Encoding': 'gzip' });
    assert.equal(response.headers['content-encoding'], undefined);
    assert.equal(response.chunks.length, 200);
    response.chunks.forEach((chunk, i) => {
      const decoder = new RecordIODecoder();
      const records = decoder.push(chunk);
      assert.equal(records.length, 1);
      assert.equal(Buffer.from(records[0]!).toString(), `{"n":${i}}`);
      assert.ok(decoder.atRecordBoundary);
    });
  });

  it('notices a client that disconnects', async () => {
    const connection = await RawConnection.open(port);
    const opened = streamOpened();
    connection.request('POST', '/api/v1/scheduler', { 'Content-Type': 'application/json' }, '{}');
    await connection.readHead();
    const stream = await opened;
    connection.close();
    const reason: StreamCloseReason = await stream.done;
    assert.equal(reason, 'disconnected');
    assert.ok(stream.signal.aborted);
    assert.equal(stream.write('{}'), false);
    await sleep(5);
    assert.equal(server.openStreams, 0);
  });

  it('ends the stream when its producer throws', async () => {
    const response = await rawRequest(port, 'GET', '/broken');
    assert.equal(response.status, 200);
    assert.deepEqual(
      response.chunks.map((c) => c.toString()),
      ['14\n{"first":true}'],
    );
    assert.ok(logger.errors.some((e) => /stream producer failed/.test(e.message)));
  });
});

describe('HttpServer request details', () => {
  const server = new HttpServer({ delegate: 'master', logger: capturingLogger() });
  let port = 0;
  let aborted: Promise<void> | undefined;

  before(async () => {
    server
      .route('master', '/wait', (request) => {
        aborted = new Promise((resolve) => request.signal.addEventListener('abort', () => resolve()));
        return new Promise(() => {});
      })
      .route('master', '/twice', async (request) => {
        const body = await request.body();
        assert.equal(await request.body(), body, 'body() is memoised');
        assert.throws(() => request.bodyStream(), /already consumed/);
        return textResponse(200, `${request.header('X-Custom')} ${request.remoteAddress} ${body.byteLength}`);
      });
    ({ port } = await server.listen('127.0.0.1', 0));
  });
  after(() => server.close());

  it('aborts the request signal when the client goes away before the response', async () => {
    const connection = await RawConnection.open(port);
    connection.request('GET', '/wait');
    while (!aborted) await sleep(1);
    connection.close();
    await aborted;
  });

  it('memoises body(), refuses a second consumer, and exposes headers and the peer', async () => {
    const response = await rawRequest(port, 'POST', '/twice', { 'X-Custom': 'hello' }, 'abc');
    assert.equal(response.body.toString(), 'hello 127.0.0.1 3');
  });
});

describe('HttpServer lifecycle', () => {
  it('ends open streams cleanly on close and stops listening', async () => {
    const server = new HttpServer({ delegate: 'master', logger: capturingLogger(), closeGraceMs: 2000 });
    let stream: RecordStream | undefined;
    server.route('master', '/api/v1', () => ({
      status: 200,
      headers: { 'Content-Type': 'application/json' },
      open: (s) => {
        stream = s;
        s.write('{"type":"SUBSCRIBED"}');
      },
    }));
    const { port } = await server.listen('127.0.0.1', 0);
    const connection = await RawConnection.open(port);
    connection.request('POST', '/api/v1', { 'Content-Type': 'application/json' }, '{}');
    await connection.readHead();
    await connection.readChunk();

    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 1500, 'close does not wait for the grace period');
    assert.equal(await connection.readChunk(), undefined, 'terminating chunk');
    assert.equal(await stream!.done, 'server-closed');
    await connection.closedByServer();
    await assert.rejects(RawConnection.open(port));
    await server.close();
  });

  it('lets an in-flight request finish on close', async () => {
    const server = new HttpServer({ delegate: 'master', logger: capturingLogger() });
    let release: (() => void) | undefined;
    const entered = new Promise<void>((resolve) => {
      server.route('master', '/slow', async () => {
        resolve();
        await new Promise<void>((r) => {
          release = r;
        });
        return textResponse(200, 'done');
      });
    });
    const { port } = await server.listen('127.0.0.1', 0);
    const pending = rawRequest(port, 'GET', '/slow');
    await entered;
    const closing = server.close();
    release!();
    const response = await pending;
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'done');
    assert.equal(response.headers.connection, 'close');
    await closing;
  });

  it('cuts connections that outlive the grace period', async () => {
    const server = new HttpServer({ delegate: 'master', logger: capturingLogger(), closeGraceMs: 50 });
    server.route('master', '/hang', () => new Promise(() => {}));
    const { port } = await server.listen('127.0.0.1', 0);
    const connection = await RawConnection.open(port);
    connection.request('GET', '/hang');
    await sleep(20);
    await server.close();
    await connection.closedByServer();
  });

  it('rejects listening on a port in use, and listening twice', async () => {
    const first = new HttpServer({ logger: capturingLogger() });
    const { port } = await first.listen('127.0.0.1', 0);
    const second = new HttpServer({ logger: capturingLogger() });
    await assert.rejects(second.listen('127.0.0.1', port), /EADDRINUSE/);
    await assert.rejects(first.listen('127.0.0.1', 0));
    await second.close();
    await first.close();
  });

  it('closes a server that never listened', async () => {
    await new HttpServer().close();
  });
});
