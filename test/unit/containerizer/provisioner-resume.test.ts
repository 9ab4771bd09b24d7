/**
 * Resuming a layer download that breaks midway: a fake registry on a loopback node:http server
 * cuts blob responses after some bytes; the real registry client and store pull through it, and
 * the layer must come out byte-identical (Range honoured with 206, or ignored with 200), or fail
 * clearly (bounded tries; resumed bytes that differ fail the digest check) leaving nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { StrataError } from '../../../src/common/errors.js';
import { LocalArchiveSource } from '../../../src/containerizer/provisioner/local.js';
import { RegistryClient } from '../../../src/containerizer/provisioner/registry.js';
import { ImageStore, type LayerProgress } from '../../../src/containerizer/provisioner/store.js';
import { makeTar, sha256, writeOciLayout } from './provisioner-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'strata-resume-'));
after(() => rmSync(work, { recursive: true, force: true }));

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

/** How the fake registry answers the n-th request (0-based) for a layer blob. */
type BlobBehaviour = (req: IncomingMessage, res: ServerResponse, blob: Buffer, n: number) => void;

interface FakeRegistry {
  readonly host: string;
  readonly layerDigest: string;
  readonly layerSize: number;
  /** Range headers of the layer blob requests, in order ('' when none). */
  readonly ranges: string[];
  close(): Promise<void>;
}

/** The requested start offset (0 without a Range header). */
function rangeStart(req: IncomingMessage): number {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  return m ? Number(m[1]) : 0;
}

/** Answers from `start` (206 when asked for a range, 200 otherwise), cutting at absolute byte `cutAt`. */
function serve(req: IncomingMessage, res: ServerResponse, blob: Buffer, cutAt = Number.POSITIVE_INFINITY) {
  const start = rangeStart(req);
  const headers: Record<string, string | number> = { 'content-length': blob.length - start };
  if (start > 0) headers['content-range'] = `bytes ${start}-${blob.length - 1}/${blob.length}`;
  res.writeHead(start > 0 ? 206 : 200, headers);
  if (cutAt >= blob.length) {
    res.end(blob.subarray(start));
    return;
  }
  const part = blob.subarray(start, Math.max(start, cutAt));
  if (part.length === 0) res.flushHeaders();
  res.write(part, () => setTimeout(() => res.socket?.destroy(), 10));
}

/** A one-image registry (`strata/img:latest`, one layer of `layerBlob`) with its blob behaviour. */
async function fakeRegistry(
  layerTar: Buffer,
  behaviour: BlobBehaviour,
  opts: { gzip?: boolean; cutManifestAndConfigOnce?: boolean } = {},
): Promise<FakeRegistry> {
  const gzip = opts.gzip ?? true;
  const layerBlob = gzip ? gzipSync(layerTar) : layerTar;
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
    }),
  );
  const layerDigest = sha256(layerBlob);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: `application/vnd.oci.image.layer.v1.tar${gzip ? '+gzip' : ''}`,
          digest: layerDigest,
          size: layerBlob.length,
        },
      ],
    }),
  );
  const ranges: string[] = [];
  const cut = new Set<string>();
  /** Whole documents; with cutManifestAndConfigOnce the first answer of each breaks halfway. */
  const document = (res: ServerResponse, path: string, bytes: Buffer, type?: string) => {
    res.writeHead(200, { 'content-length': bytes.length, ...(type ? { 'content-type': type } : {}) });
    if (!opts.cutManifestAndConfigOnce || cut.has(path)) return void res.end(bytes);
    cut.add(path);
    res.write(bytes.subarray(0, bytes.length >> 1), () => setTimeout(() => res.socket?.destroy(), 10));
  };
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === '/v2/' || path === '/v2') return void res.writeHead(200).end('{}');
    if (path === '/v2/strata/img/manifests/latest')
      return document(res, path, manifest, 'application/vnd.oci.image.manifest.v1+json');
    if (path === `/v2/strata/img/blobs/${sha256(config)}`) return document(res, path, config);
    if (path === `/v2/strata/img/blobs/${layerDigest}`) {
      ranges.push(req.headers.range ?? '');
      return behaviour(req, res, layerBlob, ranges.length - 1);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    layerDigest,
    layerSize: layerBlob.length,
    ranges,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let stores = 0;
async function storeFor(
  registry: FakeRegistry,
  extra: { layerResumeBackoffMs?: number } = {},
  timeoutMs?: number,
): Promise<ImageStore> {
  const source = new RegistryClient({
    defaultRegistry: `http://${registry.host}`,
    credentials: new Map(),
    platform: { os: 'linux', architecture: 'amd64' },
    backoffMs: 5,
    ...(timeoutMs ? { timeoutMs } : {}),
  });
  const store = new ImageStore({
    storeDir: join(work, `store${stores++}`),
    source,
    defaultRegistry: registry.host,
    ...extra,
  });
  await store.init();
  return store;
}

/** A layer: a directory and 1 MiB of random (incompressible) data, owned by us (tar as non-root). */
function bigLayer(): { tar: Buffer; data: Buffer } {
  const data = randomBytes(1 << 20);
  const tar = makeTar([
    { name: 'srv', type: '5', uid, gid },
    { name: 'srv/data.bin', data, mode: 0o640, uid, gid },
    { name: 'srv/small.txt', data: 'small\n', uid, gid },
  ]);
  return { tar, data };
}

function assertNoDebris(store: ImageStore): void {
  assert.deepEqual(readdirSync(join(store.dir, 'staging')), [], 'staging is empty');
  assert.deepEqual(readdirSync(join(store.dir, 'layers')), [], 'no layer kept');
}

describe('resuming a broken layer download (loopback registry)', () => {
  it('resumes with Range (206) after the connection is cut, into the same pipeline: identical layer', async () => {
    const { tar, data } = bigLayer();
    // The first two requests are cut (at 300 KB, then at 700 KB); the third completes.
    const reg = await fakeRegistry(tar, (req, res, blob, n) =>
      serve(req, res, blob, n === 0 ? 300_000 : n === 1 ? 700_000 : undefined),
    );
    try {
      const store = await storeFor(reg);
      const progress: LayerProgress[] = [];
      const img = await store.get('strata/img', { onProgress: (p) => progress.push(p) });
      const root = img.layerPaths[0] as string;
      assert.ok(readFileSync(join(root, 'srv/data.bin')).equals(data), 'file data byte-identical');
      assert.equal(readFileSync(join(root, 'srv/small.txt'), 'utf8'), 'small\n');
      assert.equal(lstatSync(join(root, 'srv/data.bin')).mode & 0o7777, 0o640);
      assert.equal(reg.ranges.length, 3);
      assert.equal(reg.ranges[0], '', 'the first request asks for the whole blob');
      assert.match(reg.ranges[1] as string, /^bytes=\d+-$/);
      const first = Number(/\d+/.exec(reg.ranges[1] as string)?.[0]);
      const second = Number(/\d+/.exec(reg.ranges[2] as string)?.[0]);
      assert.ok(first > 0 && first <= 300_000 && second > first && second <= 700_000, `${reg.ranges}`);
      const meta = JSON.parse(readFileSync(join(root, '..', 'layer.json'), 'utf8')) as {
        compressedSize: number;
      };
      assert.equal(meta.compressedSize, reg.layerSize);
      // Progress never goes backwards and its total stays the blob's size.
      const pulling = progress.filter((p) => p.state === 'pulling');
      assert.ok(pulling.length > 0);
      for (const [i, p] of pulling.entries()) {
        assert.equal(p.total, reg.layerSize);
        if (i > 0) assert.ok(p.bytes >= (pulling[i - 1] as LayerProgress).bytes, 'progress is monotonic');
      }
      assert.equal(pulling.at(-1)?.bytes, reg.layerSize);
      assert.equal(progress.filter((p) => p.state === 'done').length, 1);
      assert.deepEqual(readdirSync(join(store.dir, 'staging')), [], 'staging is empty');
    } finally {
      await reg.close();
    }
  });

  it('fetches a manifest and a config whose first answers break again (whole: they are small)', async () => {
    const { tar, data } = bigLayer();
    const reg = await fakeRegistry(tar, (req, res, blob) => serve(req, res, blob), {
      cutManifestAndConfigOnce: true,
    });
    try {
      const store = await storeFor(reg);
      const img = await store.get('strata/img');
      assert.ok(readFileSync(join(img.layerPaths[0] as string, 'srv/data.bin')).equals(data));
    } finally {
      await reg.close();
    }
  });

  it('resumes from a server that ignores Range (200 with the whole blob: the known bytes are skipped)', async () => {
    const { tar, data } = bigLayer();
    const reg = await fakeRegistry(tar, (req, res, blob, n) => {
      if (n === 0) return serve(req, res, blob, 400_000);
      res.writeHead(200, { 'content-length': blob.length }).end(blob);
    });
    try {
      const store = await storeFor(reg);
      const img = await store.get('strata/img');
      assert.ok(readFileSync(join(img.layerPaths[0] as string, 'srv/data.bin')).equals(data));
      assert.equal(reg.ranges.length, 2);
      assert.match(reg.ranges[1] as string, /^bytes=\d+-$/, 'a Range was asked for');
    } finally {
      await reg.close();
    }
  });

  it('gives up after the bounded tries when every resume breaks without a new byte, naming image and layer, keeping nothing', async () => {
    const { tar } = bigLayer();
    // Broken at byte 500 000 for good: the first request gets that far, resumes get nothing.
    const reg = await fakeRegistry(tar, (req, res, blob) => serve(req, res, blob, 500_000));
    try {
      const store = await storeFor(reg);
      const started = Date.now();
      await assert.rejects(store.get('strata/img'), (e: StrataError) => {
        assert.equal(e.code, 'IMAGE_LAYER_EXTRACT_FAILED');
        assert.ok(e.message.includes(reg.layerDigest), e.message);
        assert.ok(e.message.includes(`${reg.host}/strata/img`), e.message);
        assert.match(e.message, /could not be resumed/);
        assert.match(e.message, new RegExp(`of ${reg.layerSize}`));
        return true;
      });
      // The first request, then the client's 4 attempts to resume (no restart from byte 0).
      assert.equal(reg.ranges.filter((r) => r === '').length, 1, `${reg.ranges}`);
      assert.ok(reg.ranges.length >= 5 && reg.ranges.length <= 8, `${reg.ranges.length} requests`);
      assert.ok(Date.now() - started < 10_000);
      assertNoDebris(store);
    } finally {
      await reg.close();
    }
  });

  it('fails with the digest mismatch when the resumed bytes differ from the first ones', async () => {
    const { tar } = bigLayer();
    // Uncompressed, so the altered byte (in file data, past the cut) reaches the digest check.
    const other = Buffer.from(tar);
    other[800_000] = (other[800_000] as number) ^ 0xff;
    const reg = await fakeRegistry(
      tar,
      (req, res, blob, n) => (n === 0 ? serve(req, res, blob, 300_000) : serve(req, res, other)),
      { gzip: false },
    );
    try {
      const store = await storeFor(reg);
      await assert.rejects(store.get('strata/img'), (e: StrataError) => {
        assert.equal(e.code, 'IMAGE_DIGEST_MISMATCH', e.message);
        assert.ok(e.message.includes(reg.layerDigest), e.message);
        return true;
      });
      assert.equal(reg.ranges.length, 2, 'verification failures are not retried');
      assertNoDebris(store);
    } finally {
      await reg.close();
    }
  });

  it('cuts a body that stalls (no byte within the timeout) and resumes; a slow but steady body is not cut', async () => {
    const { tar, data } = bigLayer();
    // First answer: 300 KB, then silence with the connection open. Second: 10 slices, 80 ms apart
    // (longer in all than the 300 ms timeout).
    const reg = await fakeRegistry(tar, (req, res, blob, n) => {
      const start = rangeStart(req);
      res.writeHead(start > 0 ? 206 : 200, {
        'content-length': blob.length - start,
        ...(start > 0 ? { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}),
      });
      if (n === 0) return void res.write(blob.subarray(0, 300_000));
      const rest = blob.subarray(start);
      const step = Math.ceil(rest.length / 10);
      let at = 0;
      const tick = () => {
        res.write(rest.subarray(at, at + step));
        at += step;
        if (at >= rest.length) res.end();
        else setTimeout(tick, 80);
      };
      tick();
    });
    try {
      const store = await storeFor(reg, {}, 300);
      const started = Date.now();
      const img = await store.get('strata/img');
      assert.ok(readFileSync(join(img.layerPaths[0] as string, 'srv/data.bin')).equals(data));
      assert.equal(reg.ranges.length, 2, `${reg.ranges}`);
      assert.ok(Date.now() - started > 800, 'the slow body was read to its end');
    } finally {
      await reg.close();
    }
  });

  it('stops waiting to resume when the pull is aborted', async () => {
    const { tar } = bigLayer();
    const reg = await fakeRegistry(tar, (req, res, blob) => serve(req, res, blob, 200_000));
    try {
      const store = await storeFor(reg, { layerResumeBackoffMs: 60_000 });
      const abort = new AbortController();
      const started = Date.now();
      const pull = store.get('strata/img', { signal: abort.signal });
      setTimeout(() => abort.abort(new Error('stop')), 300);
      await assert.rejects(pull);
      assert.ok(Date.now() - started < 5_000, 'did not sit out the backoff');
      assert.equal(reg.ranges.length, 1);
      assertNoDebris(store);
    } finally {
      await reg.close();
    }
  });
});

describe('LayerSource.open at an offset', () => {
  it('registry blobs: 206 parts, and 200 answers skipped to the offset', async () => {
    const { tar } = bigLayer();
    let ignoreRange = false;
    const reg = await fakeRegistry(tar, (req, res, blob) =>
      ignoreRange ? res.writeHead(200, { 'content-length': blob.length }).end(blob) : serve(req, res, blob),
    );
    try {
      const client = new RegistryClient({
        defaultRegistry: `http://${reg.host}`,
        credentials: new Map(),
        platform: { os: 'linux', architecture: 'amd64' },
      });
      const resolved = await client.resolve({
        registry: reg.host,
        repository: 'strata/img',
        tag: 'latest',
        digest: undefined,
      });
      const layer = resolved.layers[0];
      assert.ok(layer);
      const whole = await readAll(await layer.open(undefined, 0));
      assert.equal(whole.length, reg.layerSize);
      for (const ignore of [false, true]) {
        ignoreRange = ignore;
        const part = await readAll(await layer.open(undefined, 123_457));
        assert.ok(part.equals(whole.subarray(123_457)), `ignoreRange=${ignore}`);
      }
      assert.deepEqual(reg.ranges, ['', 'bytes=123457-', 'bytes=123457-']);
      assert.deepEqual(layer.retry, { attempts: 4, backoffMs: 200 });
    } finally {
      await reg.close();
    }
  });

  it('local archive layers: the member from the offset on', async () => {
    const layout = join(work, 'layout');
    const data = randomBytes(100_000);
    writeOciLayout(layout, [{ tag: 'latest', layers: [makeTar([{ name: 'f', data, uid, gid }])] }]);
    const dir = join(work, 'local');
    mkdirSync(dir);
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-cf', join(dir, 'img.tar'), '-C', layout, '.']);
    const source = new LocalArchiveSource(dir, { os: 'linux', architecture: 'amd64' });
    const resolved = await source.resolve({
      registry: 'local',
      repository: 'img',
      tag: 'latest',
      digest: undefined,
    });
    const layer = resolved.layers[0];
    assert.ok(layer);
    const whole = await readAll(await layer.open());
    assert.equal(sha256(whole), layer.digest);
    assert.ok((await readAll(await layer.open(undefined, 5000))).equals(whole.subarray(5000)));
    assert.equal((await readAll(await layer.open(undefined, whole.length))).length, 0);
  });
});

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
