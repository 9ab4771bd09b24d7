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
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fail, StrataError } from '../../common/errors.js';
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
  /** Attempts per layer when the transfer breaks (default 3); verification failures never retry. */
  readonly layerAttempts?: number;
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
    opts: { cached?: boolean; onProgress?: ProgressListener; signal?: AbortSignal } = {},
  ): Promise<PulledImage> {
    const ref = this.canonical(name);
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
      try {
        const stream = await source.open(signal);
        const meta = await unpackLayer({
          source: stream,
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
        if (verification || attempt >= attempts || signal?.aborted) throw e;
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
