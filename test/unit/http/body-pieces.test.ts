/**
 * A response body given as a list of pieces (how the master's large legacy JSON documents are
 * returned) goes out in order with the total Content-Length, and is gzipped whole when allowed.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { HttpServer } from '../../../src/http/server.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function fetchRaw(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HttpServer body pieces', () => {
  const server = new HttpServer({ delegate: 'master' });
  const pieces = [Buffer.from('{"a":'), Buffer.from(`"${'y'.repeat(5000)}"}`)];
  const whole = Buffer.concat(pieces);
  let port = 0;

  before(async () => {
    server.route('master', '/pieces', () => ({
      status: 200,
      headers: { 'Content-Type': 'application/json' },
      body: pieces,
    }));
    server.route('master', '/none', () => ({ status: 200, body: [] }));
    port = (await server.listen('127.0.0.1', 0)).port;
  });
  after(() => server.close());

  it('sends the pieces in order with the total Content-Length', async () => {
    const answer = await fetchRaw(port, '/pieces');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-length'], String(whole.byteLength));
    assert.deepEqual(answer.body, whole);
  });

  it('gzips the pieces as one body when the client accepts gzip', async () => {
    const answer = await fetchRaw(port, '/master/pieces', { 'Accept-Encoding': 'gzip' });
    assert.equal(answer.headers['content-encoding'], 'gzip');
    assert.equal(answer.headers['content-length'], String(answer.body.byteLength));
    assert.deepEqual(gunzipSync(answer.body), whole);
  });

  it('an empty list is an empty body', async () => {
    const answer = await fetchRaw(port, '/none');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-length'], '0');
    assert.equal(answer.body.byteLength, 0);
  });
});
