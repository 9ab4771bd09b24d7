/**
 * The docker store under `--docker_store_dir`: content-addressed, verified, shared between images.
 *
 *   blobs/sha256/<hex>            manifests and image configs, verified before they are renamed in
 *   layers/<diff_id hex>/rootfs   one unpacked layer (overlay-format whiteouts)
 *   layers/<diff_id hex>/layer.json
 *   images/<sha256(reference)>.json   reference → manifest digest, config digest, diff_ids
 *   staging/<random>/             in-flight layers (cleared at start)
 *   gc/<random>/                  layers being collected
 *
 * Pulls of the same reference share one promise; so do unpacks of the same layer (by diff_id).
 * A layer download that breaks midway is resumed from the byte it broke at (`ResumingReader`), into
 * the same digest/decompress/unpack pipeline.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished, Readable } from 'node:stream';
import { fail, StrataError } from '../../common/errors.js';
import type { Credential } from './auth.js';
import { type ImageConfig, parseImageConfig } from './manifest.js';
import { formatReference, type ImageReference, parseReference } from './reference.js';
import type { ImageSource, LayerSource } from './source.js';
import { type LayerMeta, unpackLayer } from './unpack.js';

export interface LayerProgress {
  readonly image: string;
  /** Layer blob digest (or diff_id when the source has no blob digest). */
  readonly layer: string;
  readonly index: number;
  readonly bytes: number;
  readonly total: number | undefined;
  /** `cached`: already in the store; `pulling`: bytes flowing; `done`: verified and unpacked. */
  readonly state: 'cached' | 'pulling' | 'done';
}

export type ProgressListener = (p: LayerProgress) => void;

export interface StoredImage {
  readonly reference: string;
  readonly manifestDigest: string | undefined;
  readonly configDigest: string;
  readonly diffIds: readonly string[];
  readonly pulledAt: string;
}

export interface PulledImage extends StoredImage {
  readonly config: ImageConfig;
  /** Unpacked layer roots, bottom → top. */
  readonly layerPaths: readonly string[];
}

export interface StoreOptions {
  readonly storeDir: string;
  readonly source: ImageSource;
  /** Registry host for names without one (a label for local archives). */
  readonly defaultRegistry: string;
  /** Layers downloaded at once per image (default 3, as docker). */
  readonly maxConcurrentDownloads?: number;
  /**
   * Attempts per layer when it fails before its download could be resumed (default 3), e.g. the
   * first request; verification failures never retry.
   */
  readonly layerAttempts?: number;
  /**
   * Tries to reopen a layer download that broke, in a row without a new byte (default: the
   * source's `retry.attempts`, else 4); backoff from the source's `retry.backoffMs` (else 200 ms).
   */
  readonly layerResumeAttempts?: number;
  readonly layerResumeBackoffMs?: number;
}

export interface ResumeOptions {
  /** A stream of the blob from byte `offset` on. */
  readonly open: (offset: number, signal?: AbortSignal) => Promise<Readable>;
  /** The stream from byte 0, already open (else the reader opens it). */
  readonly first?: Readable;
  /** Bytes the blob has; a stream that ends short of it broke. Undefined: an end is the end. */
  readonly size: number | undefined;
  /** Reopens in a row that bring no new byte before giving up (a try that brings bytes resets it). */
  readonly attempts: number;
  /** Wait before the n-th reopen in a row: backoffMs × 2ⁿ⁻¹, jittered. */
  readonly backoffMs: number;
  /** Reopens in all (default 16 × attempts), against a source that breaks after every few bytes. */
  readonly maxResumes?: number;
  readonly signal?: AbortSignal;
  /** The error to end with when the download cannot be resumed. */
  readonly giveUp: (detail: string, cause: unknown) => Error;
  readonly onResume?: (offset: number, cause: unknown) => void;
}

/**
 * One stream of a whole blob over as many source streams as it takes: it counts the bytes it
 * delivered and, when a source stream fails (or ends short of the blob's size), reopens the source
 * at that count and goes on, so whatever reads it (hash, decompressor, tar) never sees the break.
 * StrataErrors from opening (404, auth, verification) and the abort signal end it at once.
 */
export class ResumingReader extends Readable {
  /** Bytes handed downstream so far (the offset of the next reopen). */
  delivered = 0;
  resumes = 0;
  /** Set when it ended because the download could not be resumed. */
  gaveUp = false;
  private inner: Readable | undefined;
  private opening = false;
  private tries = 0;
  private sinceOpen = 0;
  private timer: NodeJS.Timeout | undefined;
  private onAbort: (() => void) | undefined;
  private readonly maxResumes: number;

  constructor(private readonly o: ResumeOptions) {
    super({ highWaterMark: 256 * 1024 });
    this.maxResumes = o.maxResumes ?? 16 * Math.max(1, o.attempts);
    if (o.first) this.attach(o.first);
  }

  override _read(): void {
    if (this.inner) this.inner.resume();
    else if (!this.opening && this.timer === undefined) this.connect();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stopWaiting();
    const inner = this.inner;
    this.inner = undefined;
    inner?.destroy();
    cb(err);
  }

  private connect(): void {
    this.opening = true;
    this.sinceOpen = 0;
    this.o.open(this.delivered, this.o.signal).then(
      (s) => {
        this.opening = false;
        if (this.destroyed) s.destroy();
        else this.attach(s);
      },
      (e: unknown) => {
        this.opening = false;
        if (this.destroyed) return;
        if (e instanceof StrataError || this.o.signal?.aborted) this.destroy(e as Error);
        else this.broke(e);
      },
    );
  }

  private attach(s: Readable): void {
    this.inner = s;
    this.sinceOpen = 0;
    const onData = (chunk: Buffer) => {
      if (this.inner !== s) return;
      this.delivered += chunk.length;
      this.sinceOpen += chunk.length;
      if (!this.push(chunk)) s.pause();
    };
    s.on('data', onData);
    const cleanup = finished(s, { writable: false }, (err) => {
      cleanup();
      s.off('data', onData);
      s.on('error', () => {});
      if (this.inner !== s) return; // destroyed by us
      this.inner = undefined;
      if (this.destroyed) return;
      if (this.o.signal?.aborted) {
        s.destroy();
        this.destroy((this.o.signal.reason as Error) ?? err);
        return;
      }
      if (err) {
        s.destroy();
        if (err instanceof StrataError) this.destroy(err);
        else this.broke(err);
        return;
      }
      const size = this.o.size;
      if (size !== undefined && this.delivered < size)
        this.broke(new Error(`the stream ended at byte ${this.delivered} of ${size}`));
      else this.push(null);
    });
  }

  /** The source stream broke at `delivered`: reopen there after a backoff, or give up. */
  private broke(cause: unknown): void {
    this.tries = this.sinceOpen > 0 ? 1 : this.tries + 1;
    this.resumes++;
    const why = cause instanceof Error ? cause.message : String(cause);
    const detail =
      (cause instanceof Error && cause.cause instanceof Error ? `${why}: ${cause.cause.message}` : why) ||
      'stream failed';
    if (this.tries > Math.max(1, this.o.attempts) || this.resumes > this.maxResumes) {
      this.gaveUp = true;
      const at = `byte ${this.delivered}${this.o.size !== undefined ? ` of ${this.o.size}` : ''}`;
      this.destroy(
        this.o.giveUp(
          `the download broke at ${at} and could not be resumed (${this.resumes - 1} resumes, ${this.tries - 1} in a row without progress): ${detail}`,
          cause,
        ),
      );
      return;
    }
    this.o.onResume?.(this.delivered, cause);
    const wait = this.o.backoffMs * 2 ** (this.tries - 1) * (0.75 + Math.random() / 2);
    this.onAbort = () => {
      this.stopWaiting();
      this.destroy(this.o.signal?.reason as Error);
    };
    this.o.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.timer = setTimeout(() => {
      this.stopWaiting();
      if (!this.destroyed) this.connect();
    }, wait);
  }

  private stopWaiting(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.onAbort) this.o.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = undefined;
  }
}

const hex = (digest: string) => digest.slice('sha256:'.length);
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class ImageStore {
  private readonly pulls = new Map<string, Promise<PulledImage>>();
  private readonly unpacks = new Map<string, Promise<LayerMeta>>();
  private readonly layerMetas = new Map<string, LayerMeta>();
  private readonly listeners = new Map<string, Set<ProgressListener>>();

  constructor(readonly options: StoreOptions) {}

  get dir(): string {
    return this.options.storeDir;
  }

  /** Pulls in flight (image GC is refused while there are any). */
  get inFlight(): number {
    return this.pulls.size + this.unpacks.size;
  }

  async init(): Promise<void> {
    for (const d of ['blobs/sha256', 'layers', 'images', 'staging', 'gc'])
      await mkdir(join(this.dir, d), { recursive: true, mode: 0o700 });
    await this.emptyDir('staging');
    await this.emptyDir('gc');
  }

  layerPath(diffId: string): string {
    return join(this.dir, 'layers', hex(diffId), 'rootfs');
  }

  async layerMeta(diffId: string): Promise<LayerMeta | undefined> {
    // A layer is never rewritten once stored (removeLayer forgets it): read once per agent.
    const known = this.layerMetas.get(diffId);
    if (known) return known;
    try {
      const meta = JSON.parse(
        await readFile(join(this.dir, 'layers', hex(diffId), 'layer.json'), 'utf8'),
      ) as LayerMeta;
      this.layerMetas.set(diffId, meta);
      return meta;
    } catch {
      return undefined;
    }
  }

  /** The canonical reference for a name (registry filled in, Hub's library/ prefix). */
  canonical(name: string): ImageReference & { registry: string } {
    const ref = parseReference(name);
    const registry = ref.registry ?? this.options.defaultRegistry;
    const hub = registry === 'registry-1.docker.io';
    return {
      ...ref,
      registry,
      repository: hub && !ref.repository.includes('/') ? `library/${ref.repository}` : ref.repository,
    };
  }

  /**
   * The image for `name`, pulled when missing (or always when `cached` is false, which re-reads the
   * manifest as Mesos' `Image.cached=false` does; unchanged layers are not downloaded again).
   */
  async get(
    name: string,
    opts: {
      cached?: boolean;
      onProgress?: ProgressListener;
      signal?: AbortSignal;
      /** Credentials for this pull only (`Image.Docker.config`), over the agent's. */
      credentials?: ReadonlyMap<string, Credential>;
    } = {},
  ): Promise<PulledImage> {
    const canonical = this.canonical(name);
    const credential = opts.credentials?.get(canonical.registry);
    const ref = credential ? { ...canonical, credential } : canonical;
    const key = formatReference(ref);
    if (opts.onProgress) this.listen(key, opts.onProgress);
    try {
      if (opts.cached !== false && !this.pulls.has(key)) {
        const hit = await this.cachedImage(key);
        if (hit) {
          for (const [index, d] of hit.diffIds.entries())
            opts.onProgress?.({ image: key, layer: d, index, bytes: 0, total: undefined, state: 'cached' });
          return hit;
        }
      }
      let pull = this.pulls.get(key);
      if (!pull) {
        pull = this.pull(ref, key, opts.signal).finally(() => this.pulls.delete(key));
        this.pulls.set(key, pull);
      }
      return await pull;
    } finally {
      if (opts.onProgress) this.listeners.get(key)?.delete(opts.onProgress);
    }
  }

  /** Every image record in the store. */
  async images(): Promise<StoredImage[]> {
    const out: StoredImage[] = [];
    for (const f of await readdir(join(this.dir, 'images'))) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(await readFile(join(this.dir, 'images', f), 'utf8')) as StoredImage);
      } catch {}
    }
    return out;
  }

  async removeImage(reference: string): Promise<void> {
    await rm(this.imageRecordPath(reference), { force: true });
  }

  /** diff_ids of every unpacked layer in the store. */
  async layers(): Promise<string[]> {
    return (await readdir(join(this.dir, 'layers')))
      .filter((n) => /^[a-f0-9]{64}$/.test(n))
      .map((n) => `sha256:${n}`);
  }

  /** Moves a layer into gc/ (atomic mark) and deletes it. */
  async removeLayer(diffId: string): Promise<number> {
    const from = join(this.dir, 'layers', hex(diffId));
    const meta = await this.layerMeta(diffId);
    this.layerMetas.delete(diffId);
    const to = join(this.dir, 'gc', randomUUID());
    try {
      await rename(from, to);
    } catch {
      return 0;
    }
    await rm(to, { recursive: true, force: true });
    return meta?.size ?? 0;
  }

  /** Removes blobs no image record references. */
  async sweepBlobs(): Promise<number> {
    const keep = new Set<string>();
    for (const img of await this.images()) {
      keep.add(hex(img.configDigest));
      if (img.manifestDigest) keep.add(hex(img.manifestDigest));
    }
    let removed = 0;
    for (const f of await readdir(join(this.dir, 'blobs/sha256'))) {
      if (keep.has(f)) continue;
      await rm(join(this.dir, 'blobs/sha256', f), { force: true });
      removed++;
    }
    return removed;
  }

  private listen(key: string, l: ProgressListener): void {
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(l);
  }

  private emit(key: string, p: LayerProgress): void {
    for (const l of this.listeners.get(key) ?? []) {
      try {
        l(p);
      } catch {}
    }
  }

  private imageRecordPath(reference: string): string {
    return join(this.dir, 'images', `${createHash('sha256').update(reference).digest('hex')}.json`);
  }

  /**
   * Images verified once (record, config digest, layers present), by reference: a launch of a
   * cached image then costs a few stats on the main thread rather than reads and a hash in the
   * thread pool. An entry whose record or layers went (GC, PRUNE_IMAGES) is dropped.
   */
  private readonly verified = new Map<string, PulledImage>();

  private async cachedImage(key: string): Promise<PulledImage | undefined> {
    const known = this.verified.get(key);
    if (known) {
      if (
        existsSync(this.imageRecordPath(key)) &&
        known.diffIds.every((d) => existsSync(join(this.dir, 'layers', hex(d), 'layer.json')))
      )
        return known;
      this.verified.delete(key);
    }
    const found = await this.readCachedImage(key);
    if (found) this.verified.set(key, found);
    return found;
  }

  private async readCachedImage(key: string): Promise<PulledImage | undefined> {
    let record: StoredImage;
    try {
      record = JSON.parse(await readFile(this.imageRecordPath(key), 'utf8')) as StoredImage;
    } catch {
      return undefined;
    }
    const configBytes = await this.readBlob(record.configDigest);
    if (!configBytes) return undefined;
    for (const d of record.diffIds)
      if (!(await exists(join(this.dir, 'layers', hex(d), 'layer.json')))) return undefined;
    return {
      ...record,
      config: parseImageConfig(configBytes, key),
      layerPaths: record.diffIds.map((d) => this.layerPath(d)),
    };
  }

  private async readBlob(digest: string): Promise<Buffer | undefined> {
    try {
      const bytes = await readFile(join(this.dir, 'blobs/sha256', hex(digest)));
      return sha256(bytes) === digest ? bytes : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes a verified blob: temp file, then rename. */
  private async putBlob(digest: string, bytes: Buffer): Promise<void> {
    if (sha256(bytes) !== digest) fail('INTERNAL', { detail: `putBlob ${digest} with other bytes` });
    const path = join(this.dir, 'blobs/sha256', hex(digest));
    const tmp = `${path}.${randomUUID()}.part`;
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  }

  private async pull(
    ref: ImageReference & { registry: string },
    key: string,
    signal?: AbortSignal,
  ): Promise<PulledImage> {
    const resolved = await this.options.source.resolve(ref, signal);
    const config = parseImageConfig(resolved.configBytes, key);
    if (config.diffIds.length !== resolved.layers.length)
      fail('IMAGE_MANIFEST_UNSUPPORTED', {
        image: key,
        detail: `${resolved.layers.length} layers but ${config.diffIds.length} diff_ids in the config`,
      });
    const limit = Math.max(1, this.options.maxConcurrentDownloads ?? 3);
    let next = 0;
    const worker = async () => {
      while (next < resolved.layers.length) {
        const index = next++;
        await this.ensureLayer(
          key,
          resolved.layers[index] as LayerSource,
          config.diffIds[index] as string,
          index,
          signal,
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, resolved.layers.length) }, worker));
    if (resolved.manifestDigest && resolved.manifestBytes)
      await this.putBlob(resolved.manifestDigest, resolved.manifestBytes);
    await this.putBlob(resolved.configDigest, resolved.configBytes);
    const record: StoredImage = {
      reference: key,
      manifestDigest: resolved.manifestDigest,
      configDigest: resolved.configDigest,
      diffIds: config.diffIds,
      pulledAt: new Date().toISOString(),
    };
    const path = this.imageRecordPath(key);
    await writeFile(`${path}.part`, JSON.stringify(record));
    await rename(`${path}.part`, path);
    return { ...record, config, layerPaths: config.diffIds.map((d) => this.layerPath(d)) };
  }

  private async ensureLayer(
    key: string,
    source: LayerSource,
    diffId: string,
    index: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const layer = source.digest ?? diffId;
    if (await exists(join(this.dir, 'layers', hex(diffId), 'layer.json'))) {
      this.emit(key, {
        image: key,
        layer,
        index,
        bytes: source.size ?? 0,
        total: source.size,
        state: 'cached',
      });
      return;
    }
    let unpack = this.unpacks.get(diffId);
    if (!unpack) {
      unpack = this.unpackWithRetries(key, source, diffId, index, signal).finally(() =>
        this.unpacks.delete(diffId),
      );
      this.unpacks.set(diffId, unpack);
    }
    const meta = await unpack;
    this.emit(key, {
      image: key,
      layer,
      index,
      bytes: meta.compressedSize,
      total: source.size,
      state: 'done',
    });
  }

  private async unpackWithRetries(
    key: string,
    source: LayerSource,
    diffId: string,
    index: number,
    signal?: AbortSignal,
  ): Promise<LayerMeta> {
    const attempts = Math.max(1, this.options.layerAttempts ?? 3);
    const layer = source.digest ?? diffId;
    for (let attempt = 1; ; attempt++) {
      const staging = join(this.dir, 'staging', randomUUID());
      let reader: ResumingReader | undefined;
      try {
        reader = new ResumingReader({
          first: await source.open(signal, 0),
          open: (offset, sig) => source.open(sig, offset),
          size: source.size,
          attempts: this.options.layerResumeAttempts ?? source.retry?.attempts ?? 4,
          backoffMs: this.options.layerResumeBackoffMs ?? source.retry?.backoffMs ?? 200,
          giveUp: (detail, cause) =>
            new StrataError('IMAGE_LAYER_EXTRACT_FAILED', { layer, image: key, detail }, { cause }),
          ...(signal ? { signal } : {}),
        });
        const meta = await unpackLayer({
          source: reader,
          compression: source.compression,
          expectedDigest: source.digest,
          expectedSize: source.size,
          expectedDiffId: diffId,
          dir: staging,
          image: key,
          onBytes: (bytes) =>
            this.emit(key, { image: key, layer, index, bytes, total: source.size, state: 'pulling' }),
          ...(signal ? { signal } : {}),
        });
        const final = join(this.dir, 'layers', hex(diffId));
        try {
          await rename(staging, final);
        } catch (e) {
          // Someone else (another agent process) finished it first: keep theirs.
          await rm(staging, { recursive: true, force: true });
          if (!(await exists(join(final, 'layer.json')))) throw e;
        }
        return meta;
      } catch (e) {
        reader?.destroy();
        await rm(staging, { recursive: true, force: true });
        const verification =
          e instanceof StrataError &&
          [
            'IMAGE_DIGEST_MISMATCH',
            'IMAGE_LAYER_UNSAFE',
            'IMAGE_LAYER_INVALID',
            'IMAGE_NOT_FOUND',
            'IMAGE_AUTH_FAILED',
          ].includes(e.code);
        // A download that could not be resumed has had its tries: no restart from byte 0.
        if (verification || reader?.gaveUp || attempt >= attempts || signal?.aborted) throw e;
      }
    }
  }

  private async emptyDir(sub: string): Promise<void> {
    for (const f of await readdir(join(this.dir, sub)))
      await rm(join(this.dir, sub, f), { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
