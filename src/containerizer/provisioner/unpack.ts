/**
 * One layer, one pipeline: blob bytes → sha256 (digest, size) → decompress (gzip, zstd, none) →
 * sha256 (diff_id) + tar walker (safety rules, whiteouts, end of archive) → GNU tar writing into a
 * staging directory. Then whiteouts are converted for overlay, metadata written, and the directory
 * renamed into place. Any failure kills tar and removes the staging directory: nothing is kept.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { lstat, mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex, type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { fail, StrataError } from '../../common/errors.js';
import { haveBinary, mknodWhiteouts, setXattr, TAR_EXTRACT_FLAGS } from './helpers.js';
import type { Compression } from './manifest.js';
import { CorruptTarError, TarWalker, UnsafeEntryError } from './tar.js';

export interface LayerMeta {
  readonly diffId: string;
  /** Digest of the blob it came from (undefined for uncompressed archive layers without one). */
  readonly digest: string | undefined;
  readonly compressedSize: number;
  readonly size: number;
  readonly entries: number;
  /** Paths (relative to the layer root) that are overlay whiteouts (0/0 char devices). */
  readonly whiteouts: readonly string[];
  /** Directories marked `trusted.overlay.opaque=y`. */
  readonly opaques: readonly string[];
  readonly unpackedAt: string;
}

export interface UnpackRequest {
  readonly source: Readable;
  readonly compression: Compression | 'sniff';
  readonly expectedDigest: string | undefined;
  readonly expectedSize: number | undefined;
  readonly expectedDiffId: string;
  /** Directory to create: `<dir>/rootfs` gets the files, `<dir>/layer.json` the metadata. */
  readonly dir: string;
  readonly image: string;
  readonly onBytes?: (compressedBytes: number) => void;
  readonly signal?: AbortSignal;
}

class HashCount extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly onBytes?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** Hashes the whole uncompressed stream (diff_id) and forwards only the archive to tar. */
class WalkHash extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  constructor(readonly walker: TarWalker) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    try {
      const used = this.walker.write(chunk);
      cb(null, used === chunk.length ? chunk : used > 0 ? chunk.subarray(0, used) : undefined);
    } catch (e) {
      cb(e as Error);
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.walker.end();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}

/** Picks the decompressor from the first bytes (docker-archive layers may be anything). */
class Sniff extends Transform {
  private inner: Duplex | undefined;
  private first: Buffer[] = [];
  private seen = 0;
  constructor(
    private readonly declared: Compression | 'sniff',
    private readonly children: ChildProcess[],
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.inner) {
      this.first.push(chunk);
      this.seen += chunk.length;
      if (this.seen < 4) {
        cb();
        return;
      }
      const head = Buffer.concat(this.first);
      this.first = [];
      this.start(head, cb);
      return;
    }
    this.feed(chunk, cb);
  }
  override _flush(cb: TransformCallback): void {
    const finish = () => {
      if (!this.inner) return cb();
      this.inner.once('end', () => cb());
      this.inner.once('error', cb);
      this.inner.end();
    };
    if (!this.inner && this.first.length > 0) {
      const head = Buffer.concat(this.first);
      this.first = [];
      this.start(head, (e) => (e ? cb(e) : finish()));
      return;
    }
    finish();
  }
  override _read(size: number): void {
    this.inner?.resume();
    super._read(size);
  }
  private start(head: Buffer, cb: TransformCallback): void {
    let kind = this.declared;
    if (kind === 'sniff') {
      if (head[0] === 0x1f && head[1] === 0x8b) kind = 'gzip';
      else if (head.readUInt32LE(0) === 0xfd2fb528) kind = 'zstd';
      else kind = 'none';
    }
    this.inner = decompressor(kind, this.children);
    this.inner.on('data', (d: Buffer) => {
      if (!this.push(d)) this.inner?.pause();
    });
    this.inner.on('error', (e) => this.destroy(e));
    this.feed(head, cb);
  }
  private feed(chunk: Buffer, cb: TransformCallback): void {
    const inner = this.inner as Duplex;
    if (inner.write(chunk)) cb();
    else inner.once('drain', () => cb());
  }
}

function decompressor(kind: Compression, children: ChildProcess[]): Duplex {
  if (kind === 'gzip') return createGunzip({ chunkSize: 256 * 1024 });
  if (kind === 'none') return new Transform({ transform: (c, _e, cb) => cb(null, c) });
  if (haveBinary('zstd')) {
    const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
    child.on('close', (code) => {
      if (code !== 0 && code !== null)
        duplex.destroy(new CorruptTarError(`zstd: ${stderr.trim() || `exit ${code}`}`));
    });
    return duplex;
  }
  // Pure-JS fallback (fzstd) when the zstd binary is absent.
  let out: Transform | undefined;
  const z = new ZstdDecompress((data) => {
    out?.push(Buffer.from(data));
  });
  out = new Transform({
    transform(chunk: Buffer, _e, cb) {
      try {
        z.push(chunk);
        cb();
      } catch (e) {
        cb(new CorruptTarError(`zstd: ${(e as Error).message}`));
      }
    },
    flush(cb) {
      try {
        z.push(new Uint8Array(0), true);
        cb();
      } catch (e) {
        cb(new CorruptTarError(`zstd: ${(e as Error).message}`));
      }
    },
  });
  return out;
}

function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('close', (code) => resolve(code)));
}

/**
 * Unpacks one layer into `req.dir` (which must not exist). On success `req.dir/rootfs` holds the
 * layer with overlay-format whiteouts and `req.dir/layer.json` its metadata; on failure nothing.
 */
export async function unpackLayer(req: UnpackRequest): Promise<LayerMeta> {
  const layer = req.expectedDigest ?? req.expectedDiffId;
  const rootfs = join(req.dir, 'rootfs');
  await mkdir(rootfs, { recursive: true, mode: 0o755 });
  const children: ChildProcess[] = [];
  let tarStderr = '';
  const tar = spawn('tar', [...TAR_EXTRACT_FLAGS, '-C', rootfs], { stdio: ['pipe', 'ignore', 'pipe'] });
  children.push(tar);
  tar.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (tarStderr.length < 16384) tarStderr += d;
  });
  const tarExit = waitExit(tar);
  const compressed = new HashCount(req.onBytes);
  const walker = new TarWalker();
  const walk = new WalkHash(walker);
  let brokenPipe = false;
  try {
    try {
      await pipeline(
        req.source,
        compressed,
        new Sniff(req.compression, children),
        walk,
        tar.stdin as NodeJS.WritableStream,
        {
          ...(req.signal ? { signal: req.signal } : {}),
        },
      );
    } catch (e) {
      if (e instanceof UnsafeEntryError)
        fail('IMAGE_LAYER_UNSAFE', { layer, image: req.image, entry: e.entry, why: e.why });
      if (e instanceof CorruptTarError || (e as { code?: string }).code?.startsWith('Z_'))
        fail('IMAGE_LAYER_INVALID', { layer, image: req.image, detail: (e as Error).message });
      // tar dying early (e.g. EPIPE) is reported from its exit status below.
      if ((e as { code?: string }).code !== 'EPIPE') throw e;
      brokenPipe = true;
    }
    const code = await tarExit;
    if (brokenPipe || code !== 0)
      fail('IMAGE_LAYER_EXTRACT_FAILED', {
        layer,
        image: req.image,
        detail: `tar exited ${code}: ${tarStderr.trim().split('\n').slice(-3).join('; ')}`,
      });
    const digest = compressed.digest();
    if (req.expectedDigest !== undefined && digest !== req.expectedDigest)
      fail('IMAGE_DIGEST_MISMATCH', {
        what: `layer blob ${req.expectedDigest}`,
        image: req.image,
        expected: req.expectedDigest,
        actual: digest,
      });
    if (req.expectedSize !== undefined && compressed.bytes !== req.expectedSize)
      fail('IMAGE_DIGEST_MISMATCH', {
        what: `size of layer ${layer}`,
        image: req.image,
        expected: `${req.expectedSize} bytes`,
        actual: `${compressed.bytes} bytes`,
      });
    const diffId = `sha256:${walk.hash.digest('hex')}`;
    if (diffId !== req.expectedDiffId)
      fail('IMAGE_DIGEST_MISMATCH', {
        what: `diff_id of layer ${layer}`,
        image: req.image,
        expected: req.expectedDiffId,
        actual: diffId,
      });
    await convertWhiteouts(rootfs, walker, layer, req.image);
    const meta: LayerMeta = {
      diffId,
      digest: req.expectedDigest,
      compressedSize: compressed.bytes,
      size: walk.bytes,
      entries: walker.entries,
      whiteouts: walker.whiteouts,
      opaques: walker.opaques,
      unpackedAt: new Date().toISOString(),
    };
    await writeFile(join(req.dir, 'layer.json'), JSON.stringify(meta));
    return meta;
  } catch (e) {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map(waitExit));
    await rm(req.dir, { recursive: true, force: true });
    if (e instanceof StrataError) throw e;
    fail('IMAGE_LAYER_EXTRACT_FAILED', { layer, image: req.image, detail: (e as Error).message });
  }
}

/** Every component below the root must be a real directory (no symlink), checked with lstat. */
async function realDirectory(root: string, rel: string): Promise<boolean> {
  let path = root;
  for (const part of rel === '' ? [] : rel.split('/')) {
    path = join(path, part);
    try {
      const st = await lstat(path);
      if (!st.isDirectory()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** `.wh.X` → 0/0 char device X; `.wh..wh..opq` → `trusted.overlay.opaque=y` on its directory. */
async function convertWhiteouts(
  rootfs: string,
  walker: TarWalker,
  layer: string,
  image: string,
): Promise<void> {
  const parent = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
  const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  const nodes: string[] = [];
  for (const target of walker.whiteouts) {
    const dir = parent(target);
    if (!(await realDirectory(rootfs, dir)))
      fail('IMAGE_LAYER_UNSAFE', { layer, image, entry: target, why: 'is a whiteout below a non-directory' });
    const marker = join(rootfs, dir, `.wh.${base(target)}`);
    await unlink(marker).catch(() => {});
    await rm(join(rootfs, target), { recursive: true, force: true });
    nodes.push(join(rootfs, target));
  }
  for (const meta of walker.metas) await rm(join(rootfs, meta), { recursive: true, force: true });
  const opaque: string[] = [];
  for (const dir of walker.opaques) {
    if (!(await realDirectory(rootfs, dir)))
      fail('IMAGE_LAYER_UNSAFE', {
        layer,
        image,
        entry: dir,
        why: 'is an opaque marker below a non-directory',
      });
    await unlink(join(rootfs, dir, '.wh..wh..opq')).catch(() => {});
    opaque.push(join(rootfs, dir));
  }
  await mknodWhiteouts(nodes);
  await setXattr('trusted.overlay.opaque', 'y', opaque);
}
