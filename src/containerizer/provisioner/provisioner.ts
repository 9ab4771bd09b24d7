/**
 * The provisioner: image → container root filesystem. The containerizer calls
 * `provision(containerId, image)`, `destroy(containerId)`, `recover(liveContainerIds)` and
 * `prune(excludedImages)`; nothing else is shared with it.
 *
 * State, as in Mesos (mesos-internals.md §2.5), under `<work_dir>/provisioner`:
 *   containers/<id>/rootfses.json                      what was provisioned (for recovery and GC)
 *   containers/<id>/backends/<backend>/rootfses/<uuid> the rootfs
 *   containers/<id>/backends/<backend>/scratch/<uuid>  overlay upper/work and layer links
 *   containers/<id>/containers/<child>/...             nested containers
 *   spares/<uuid>/{rootfses,scratch}/<uuid>            a rootfs built ahead (spares.ts)
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, rm, statfs } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { fail } from '../../common/errors.js';
import { type AppcImageSpec, AppcStore } from './appc.js';
import { type Credential, loadDockerConfig, parseDockerConfig } from './auth.js';
import { type Backend, type BackendLayer, type BackendName, backendByName, listDir } from './backends.js';
import { gcDue, type ImageGcConfig, parseImageGcConfig } from './gc.js';
import { LocalArchiveSource } from './local.js';
import { hostPlatform, type ImageConfig, type Platform } from './manifest.js';
import { formatReference } from './reference.js';
import { RegistryClient } from './registry.js';
import type { ImageSource } from './source.js';
import { type Spare, SparePool } from './spares.js';
import { ImageStore, type ProgressListener } from './store.js';

/** A top-level container id, or the chain root → … → nested container. */
export type ContainerRef = string | readonly string[];

/**
 * A docker image name, Mesos' Image in its JSON shape (`type: "DOCKER"` / `"APPC"`), or the
 * generated protobuf message (`type: Image_Type.DOCKER`, i.e. 2, or `Image_Type.APPC`, i.e. 1).
 */
export type ImageSpec =
  | string
  | {
      readonly type?: string | number;
      /** `config`: Mesos' Secret holding a docker config.json for this image's registry. */
      readonly docker?: { readonly name: string; readonly config?: SecretSpec };
      readonly appc?: AppcImageSpec;
      readonly cached?: boolean;
    };

/**
 * Mesos' Secret (protobuf message or its JSON): `type` VALUE (2) with `value.data` (bytes, or
 * base64 in JSON), or REFERENCE (1), which needs a secret resolver this agent does not have.
 */
export interface SecretSpec {
  readonly type?: string | number;
  readonly value?: { readonly data?: Uint8Array | string };
  readonly reference?: unknown;
}

/** The image providers (`--image_providers`). */
export type ImageProvider = 'docker' | 'appc';

export interface ProvisionerOptions {
  /** The agent's `--work_dir`; state goes to `<work_dir>/provisioner`. */
  readonly workDir: string;
  /** `--docker_store_dir` (default /tmp/mesos/store/docker, as Mesos). */
  readonly dockerStoreDir?: string;
  /** `--docker_registry`: a registry URL, or an absolute directory of image tarballs. */
  readonly dockerRegistry?: string;
  /** `--docker_config`: path to, or inline, docker config.json. */
  readonly dockerConfig?: string;
  /** `--image_provisioner_backend` (default overlay). */
  readonly backend?: BackendName;
  /** `--image_gc_config`. */
  readonly imageGcConfig?: string;
  readonly platform?: Platform;
  readonly insecureRegistries?: readonly string[];
  readonly maxConcurrentDownloads?: number;
  /** Registry request attempts (default 4). */
  readonly registryAttempts?: number;
  readonly registryBackoffMs?: number;
  readonly fetch?: typeof fetch;
  /** `--image_providers`: which image types are provisioned (default docker only). */
  readonly providers?: readonly ImageProvider[];
  /** `--appc_store_dir` (default /tmp/mesos/store/appc). */
  readonly appcStoreDir?: string;
  /** `--appc_simple_discovery_uri_prefix` (default http://). */
  readonly appcSimpleDiscoveryUriPrefix?: string;
  /**
   * `--image_provisioner_spares`: images that get a spare overlay rootfs built ahead for their
   * next container (spares.ts); default 0 here (the agent's flag defaults to 4).
   */
  readonly spareRootfses?: number;
  /** How long an unclaimed spare is kept (default 10 minutes). */
  readonly spareIdleMs?: number;
  /** A spare could not be built or destroyed (nothing else is affected). */
  readonly onSpareError?: (err: unknown) => void;
}

export interface ProvisionOptions {
  /** Bytes per layer as the pull goes (for TASK_STARTING messages and operators). */
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

export interface ProvisionInfo {
  readonly rootfs: string;
  readonly rootfsId: string;
  readonly backend: BackendName;
  readonly config: ImageConfig;
  readonly image: {
    readonly reference: string;
    readonly manifestDigest: string | undefined;
    readonly configDigest: string;
  };
  /** Layer roots, bottom → top. */
  readonly layers: readonly string[];
  /** Writable dirs that belong to the container's disk usage (overlay upper/work). */
  readonly ephemeralVolumes: readonly string[];
}

export interface PruneResult {
  readonly removedImages: readonly string[];
  readonly removedLayers: readonly string[];
  readonly freedBytes: number;
}

interface RootfsRecord {
  readonly id: string;
  readonly backend: BackendName;
  readonly reference: string;
  readonly configDigest: string;
  readonly diffIds: readonly string[];
}

const SAFE_ID = /^[A-Za-z0-9_.\-@:]{1,242}$/;

function chain(id: ContainerRef): readonly string[] {
  const parts = typeof id === 'string' ? [id] : id;
  if (parts.length === 0) fail('ID_INVALID', { kind: 'container id', value: '', detail: 'empty' });
  for (const p of parts)
    if (!SAFE_ID.test(p) || p === '.' || p === '..')
      fail('ID_INVALID', { kind: 'container id', value: p, detail: 'not usable as a directory name' });
  return parts;
}

function isAppc(image: ImageSpec): image is Exclude<ImageSpec, string> {
  return typeof image !== 'string' && (image.type === 'APPC' || image.type === 1);
}

/** The appc part of an APPC image (its name is required). */
function appcImage(image: Exclude<ImageSpec, string>): { appc: AppcImageSpec; cached: boolean } {
  if (!image.appc?.name)
    fail('IMAGE_REFERENCE_INVALID', { reference: JSON.stringify(image), detail: 'no appc.name' });
  return { appc: image.appc, cached: image.cached ?? true };
}

function imageName(image: ImageSpec): { name: string; cached: boolean } {
  if (typeof image === 'string') return { name: image, cached: true };
  if (image.type !== undefined && image.type !== 'DOCKER' && image.type !== 2)
    fail('IMAGE_REFERENCE_INVALID', {
      reference: JSON.stringify(image),
      detail:
        image.type === 'APPC' || image.type === 1
          ? 'appc images are fetched by provision only (pull and GC exclusions are docker only)'
          : `image type ${image.type} is not supported (docker, appc)`,
    });
  if (!image.docker?.name)
    fail('IMAGE_REFERENCE_INVALID', { reference: JSON.stringify(image), detail: 'no docker.name' });
  return { name: image.docker.name, cached: image.cached ?? true };
}

export class Provisioner {
  readonly store: ImageStore;
  readonly backend: Backend;
  readonly root: string;
  readonly gcConfig: ImageGcConfig | undefined;
  readonly appcStore: AppcStore;
  readonly providers: readonly ImageProvider[];
  private provisioning = 0;
  private gcTimer: NodeJS.Timeout | undefined;
  private readonly spares: SparePool;
  /** The layers of each image key the pool may build a spare of. */
  private readonly spareLayers = new Map<string, readonly BackendLayer[]>();
  /** Containers provisioned but not yet started → the image key to build a spare of then. */
  private readonly refillOnStart = new Map<string, string>();

  private constructor(options: ProvisionerOptions, store: ImageStore) {
    this.store = store;
    this.backend = backendByName(options.backend ?? 'overlay');
    this.root = join(options.workDir, 'provisioner');
    this.gcConfig = parseImageGcConfig(options.imageGcConfig);
    this.providers = options.providers ?? ['docker'];
    this.appcStore = new AppcStore({
      storeDir: options.appcStoreDir ?? '/tmp/mesos/store/appc',
      uriPrefix: options.appcSimpleDiscoveryUriPrefix ?? 'http://',
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const backend = this.backend;
    this.spares = new SparePool({
      dir: join(this.root, 'spares'),
      limit: backend.name === 'overlay' ? (options.spareRootfses ?? 0) : 0,
      idleMs: options.spareIdleMs ?? 600_000,
      build: async (key, rootfs, scratch) => {
        const layers = this.spareLayers.get(key);
        if (!layers) throw new Error(`no layers known for spare image ${key}`);
        await backend.provision(layers, rootfs, scratch, 'spare');
      },
      destroy: (rootfs, scratch) => backend.destroy(rootfs, scratch, 'spare'),
      ...(options.onSpareError ? { onError: options.onSpareError } : {}),
    });
  }

  static async create(options: ProvisionerOptions): Promise<Provisioner> {
    const platform = options.platform ?? hostPlatform();
    const registry = options.dockerRegistry ?? 'https://registry-1.docker.io';
    let source: ImageSource;
    let defaultRegistry: string;
    if (isAbsolute(registry)) {
      source = new LocalArchiveSource(registry, platform);
      defaultRegistry = 'local';
    } else {
      const client = new RegistryClient({
        defaultRegistry: registry,
        credentials: loadDockerConfig(options.dockerConfig),
        platform,
        ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
        ...(options.registryAttempts ? { attempts: options.registryAttempts } : {}),
        ...(options.registryBackoffMs !== undefined ? { backoffMs: options.registryBackoffMs } : {}),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
      source = client;
      defaultRegistry = client.defaultHost;
    }
    const store = new ImageStore({
      storeDir: options.dockerStoreDir ?? '/tmp/mesos/store/docker',
      source,
      defaultRegistry,
      ...(options.maxConcurrentDownloads ? { maxConcurrentDownloads: options.maxConcurrentDownloads } : {}),
    });
    await store.init();
    const p = new Provisioner(options, store);
    if (p.providers.includes('appc')) await p.appcStore.init();
    await mkdir(join(p.root, 'containers'), { recursive: true, mode: 0o700 });
    await p.spares.sweep();
    return p;
  }

  containerDir(id: ContainerRef): string {
    return join(this.root, ...chain(id).flatMap((p) => ['containers', p]));
  }

  /** Pulls (or finds) the image and builds a rootfs for the container. */
  async provision(
    containerId: ContainerRef,
    image: ImageSpec,
    opts: ProvisionOptions = {},
  ): Promise<ProvisionInfo> {
    if (isAppc(image)) return this.provisionAppc(containerId, image, opts);
    this.allow('docker', image);
    const { name, cached } = imageName(image);
    const dir = this.containerDir(containerId);
    const container = chain(containerId).join('.');
    this.provisioning++;
    try {
      const credentials = imageCredentials(image, name);
      const pulled = await this.store.get(name, {
        cached,
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(credentials ? { credentials } : {}),
      });
      const layers = await Promise.all(
        pulled.diffIds.map(async (d) => ({
          path: this.store.layerPath(d),
          meta: await this.store.layerMeta(d),
        })),
      );
      const { id, rootfs, scratch } = await this.buildRootfs(dir, container, layers, {
        reference: pulled.reference,
        configDigest: pulled.configDigest,
        diffIds: pulled.diffIds,
      });
      return {
        rootfs,
        rootfsId: id,
        backend: this.backend.name,
        config: pulled.config,
        image: {
          reference: pulled.reference,
          manifestDigest: pulled.manifestDigest,
          configDigest: pulled.configDigest,
        },
        layers: pulled.layerPaths,
        ephemeralVolumes:
          this.backend.name === 'overlay' ? [join(scratch, 'upper'), join(scratch, 'work')] : [],
      };
    } finally {
      this.provisioning--;
    }
  }

  /**
   * A rootfs of `layers` for the container whose provisioner directory is `dir`: recorded before
   * the backend runs (a crash in between is still cleaned up by recover), undone on failure.
   */
  private async buildRootfs(
    dir: string,
    container: string,
    layers: BackendLayer[],
    image: Pick<RootfsRecord, 'reference' | 'configDigest' | 'diffIds'>,
  ): Promise<{ id: string; rootfs: string; scratch: string }> {
    const backendDir = join(dir, 'backends', this.backend.name);
    const key = spareKey(image);
    const claimed = this.claimSpare(key, dir, backendDir);
    const id = claimed ?? randomUUID();
    const rootfs = join(backendDir, 'rootfses', id);
    const scratch = join(backendDir, 'scratch', id);
    if (!claimed) await mkdir(rootfs, { recursive: true, mode: 0o755 });
    const record: RootfsRecord = { id, backend: this.backend.name, ...image };
    this.writeRecords(dir, [...this.readRecords(dir), record]);
    if (!claimed) {
      try {
        await this.backend.provision(layers, rootfs, scratch, container);
      } catch (e) {
        await this.backend.destroy(rootfs, scratch, container).catch(() => {});
        this.writeRecords(
          dir,
          this.readRecords(dir).filter((r) => r.id !== id),
        );
        throw e;
      }
    }
    if (this.spares.enabled) {
      this.spareLayers.set(key, layers);
      this.refillOnStart.set(container, key);
    }
    return { id, rootfs, scratch };
  }

  /**
   * Moves the ready spare of `key` (if any) to `backendDir` of a container; its id, or undefined
   * when there was none or the container already has a directory there.
   */
  private claimSpare(key: string, dir: string, backendDir: string): string | undefined {
    const spare: Spare | undefined = this.spares.take(key);
    if (!spare) return undefined;
    try {
      mkdirSync(join(dir, 'backends'), { recursive: true, mode: 0o700 });
      renameSync(spare.dir, backendDir);
      return spare.id;
    } catch {
      this.spares.discard(spare);
      return undefined;
    }
  }

  private allow(provider: ImageProvider, image: ImageSpec): void {
    if (!this.providers.includes(provider))
      fail('IMAGE_REFERENCE_INVALID', {
        reference: typeof image === 'string' ? image : JSON.stringify(image),
        detail: `${provider} images are not enabled on this agent (--image_providers=${this.providers.join(',')})`,
      });
  }

  /**
   * An Appc image: from the appc store with its dependencies (appc.ts `resolve`), their rootfses
   * the layers bottom → top (dependencies in manifest order, recursively, then the image), recorded
   * like docker rootfses. Nothing is created for the container before every image is there.
   */
  private async provisionAppc(
    containerId: ContainerRef,
    image: Exclude<ImageSpec, string>,
    opts: ProvisionOptions,
  ): Promise<ProvisionInfo> {
    this.allow('appc', image);
    const { appc, cached } = appcImage(image);
    const dir = this.containerDir(containerId);
    const container = chain(containerId).join('.');
    this.provisioning++;
    try {
      const { image: stored, layers } = await this.appcStore.resolve(appc, {
        cached,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      const reference = `appc:${stored.name}`;
      // The ids of every layer: rootfses (and spares) of the same image built over other
      // dependencies differ.
      const layerIds = layers.map((l) => l.id);
      const { id, rootfs, scratch } = await this.buildRootfs(
        dir,
        container,
        layers.map((l) => ({ path: l.rootfs, meta: l.layerMeta })),
        { reference, configDigest: stored.id, diffIds: layers.length > 1 ? layerIds : [] },
      );
      return {
        rootfs,
        rootfsId: id,
        backend: this.backend.name,
        config: { ...stored.config, diffIds: layerIds },
        image: { reference, manifestDigest: undefined, configDigest: stored.id },
        layers: layers.map((l) => l.rootfs),
        ephemeralVolumes:
          this.backend.name === 'overlay' ? [join(scratch, 'upper'), join(scratch, 'work')] : [],
      };
    } finally {
      this.provisioning--;
    }
  }

  /** Pulls an image into the store without provisioning anything. */
  async pull(image: ImageSpec, opts: ProvisionOptions = {}) {
    const { name, cached } = imageName(image);
    return this.store.get(name, { cached, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  }

  /**
   * The container's process runs: the spare for its image's next container is built now, not
   * while this one starts (both would compete for the same CPUs).
   */
  containerStarted(containerId: ContainerRef): void {
    const container = chain(containerId).join('.');
    const key = this.refillOnStart.get(container);
    if (key === undefined) return;
    this.refillOnStart.delete(container);
    this.spares.refill(key);
  }

  /** Destroys every rootfs of the container (nested containers first); unknown ids are fine. */
  async destroy(containerId: ContainerRef): Promise<void> {
    this.refillOnStart.delete(chain(containerId).join('.'));
    await this.destroyDir(this.containerDir(containerId), chain(containerId).join('.'));
  }

  private async destroyDir(dir: string, container: string): Promise<boolean> {
    const children = await listDir(join(dir, 'containers'));
    const existed = children.length > 0 || (await listDir(dir)).length > 0;
    for (const child of children)
      await this.destroyDir(join(dir, 'containers', child), `${container}.${child}`);
    for (const backendName of await listDir(join(dir, 'backends'))) {
      let backend: Backend;
      try {
        backend = backendByName(backendName);
      } catch {
        continue;
      }
      const base = join(dir, 'backends', backendName);
      for (const id of await listDir(join(base, 'rootfses')))
        await backend.destroy(join(base, 'rootfses', id), join(base, 'scratch', id), container);
    }
    await rm(dir, { recursive: true, force: true });
    return existed;
  }

  /**
   * After an agent restart: keeps the rootfses of `live` containers (and their ancestors' records),
   * destroys everything else.
   */
  async recover(live: readonly ContainerRef[]): Promise<{ destroyed: string[] }> {
    const keep = new Set(live.map((id) => chain(id).join('/')));
    const destroyed: string[] = [];
    const walk = async (dir: string, path: string[]) => {
      for (const child of await listDir(join(dir, 'containers'))) {
        const childPath = [...path, child];
        const childDir = join(dir, 'containers', child);
        const key = childPath.join('/');
        if (keep.has(key) || [...keep].some((k) => k.startsWith(`${key}/`))) await walk(childDir, childPath);
        else {
          await this.destroyDir(childDir, childPath.join('.'));
          destroyed.push(childPath.join('.'));
        }
      }
    };
    await walk(this.root, []);
    return { destroyed };
  }

  /** Images and layers used by provisioned containers. */
  async inUse(): Promise<{ references: Set<string>; diffIds: Set<string> }> {
    const references = new Set<string>();
    const diffIds = new Set<string>();
    const walk = async (dir: string) => {
      for (const r of this.readRecords(dir)) {
        references.add(r.reference);
        for (const d of r.diffIds) diffIds.add(d);
      }
      for (const child of await listDir(join(dir, 'containers'))) await walk(join(dir, 'containers', child));
    };
    for (const child of await listDir(join(this.root, 'containers')))
      await walk(join(this.root, 'containers', child));
    return { references, diffIds };
  }

  /**
   * Image GC (mark and sweep): keeps images used by provisioned containers and the excluded ones
   * (argument plus `--image_gc_config`); drops every other image record, then every layer no kept
   * image or container uses, then unreferenced blobs. Refused while a pull or provision runs.
   */
  async prune(excludedImages: readonly ImageSpec[] = []): Promise<PruneResult> {
    if (this.store.inFlight > 0 || this.provisioning > 0)
      fail('PROVISIONER_GC_BUSY', { detail: 'an image pull or provision is in progress' });
    // Spares hold their layers mounted, and are only a cache: they go first.
    await this.spares.drain();
    try {
      return await this.pruneUnused(excludedImages);
    } finally {
      this.spares.resume();
    }
  }

  private async pruneUnused(excludedImages: readonly ImageSpec[]): Promise<PruneResult> {
    const { references, diffIds } = await this.inUse();
    for (const img of [...excludedImages, ...(this.gcConfig?.excludedImages ?? [])])
      if (!isAppc(img)) references.add(formatReference(this.store.canonical(imageName(img).name)));
    const removedImages: string[] = [];
    for (const img of await this.store.images()) {
      if (references.has(img.reference)) {
        for (const d of img.diffIds) diffIds.add(d);
        continue;
      }
      await this.store.removeImage(img.reference);
      removedImages.push(img.reference);
    }
    const removedLayers: string[] = [];
    let freedBytes = 0;
    for (const layer of await this.store.layers()) {
      if (diffIds.has(layer)) continue;
      freedBytes += await this.store.removeLayer(layer);
      removedLayers.push(layer);
    }
    await this.store.sweepBlobs();
    return { removedImages, removedLayers, freedBytes };
  }

  /** Starts the `--image_gc_config` watch: prune when the store's disk has less than headroom free. */
  startGc(onResult?: (r: PruneResult | Error) => void): void {
    const config = this.gcConfig;
    if (!config || this.gcTimer) return;
    this.gcTimer = setInterval(() => {
      void (async () => {
        try {
          const s = await statfs(this.store.dir);
          if (!gcDue({ blocks: s.blocks, bavail: s.bavail }, config.headroom)) return;
          onResult?.(await this.prune());
        } catch (e) {
          onResult?.(e as Error);
        }
      })();
    }, config.watchIntervalMs);
    this.gcTimer.unref();
  }

  stopGc(): void {
    if (this.gcTimer) clearInterval(this.gcTimer);
    this.gcTimer = undefined;
  }

  /** Spare rootfses ready for their image's next container. */
  get spareCount(): number {
    return this.spares.size;
  }

  /** The agent stops: GC stops, and the spare rootfses are destroyed (no mount is left behind). */
  async close(): Promise<void> {
    this.stopGc();
    await this.spares.close();
  }

  // The records are a few hundred bytes: synchronous calls cost less than trips through the
  // thread pool, which are slow on a busy agent (the launch path reads and writes them).
  private readRecords(dir: string): RootfsRecord[] {
    try {
      return JSON.parse(readFileSync(join(dir, 'rootfses.json'), 'utf8')) as RootfsRecord[];
    } catch {
      return [];
    }
  }

  private writeRecords(dir: string, records: readonly RootfsRecord[]): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'rootfses.json');
    writeFileSync(`${path}.part`, JSON.stringify(records));
    renameSync(`${path}.part`, path);
  }
}

/** Spares are per image content: the same config and layers give the same rootfs. */
function spareKey(image: Pick<RootfsRecord, 'configDigest' | 'diffIds'>): string {
  return `${image.configDigest}/${image.diffIds.join(',')}`;
}

/**
 * The registry credentials of an image's own `Image.Docker.config` (a docker config.json in a
 * VALUE secret), used for its pull over `--docker_config`'s; undefined when it has none. A secret
 * REFERENCE or a config that does not parse fails the launch with the reason.
 */
function imageCredentials(image: ImageSpec, name: string): ReadonlyMap<string, Credential> | undefined {
  const secret = typeof image === 'string' ? undefined : image.docker?.config;
  if (!secret) return undefined;
  const invalid = (detail: string): never =>
    fail('IMAGE_REFERENCE_INVALID', { reference: name, detail: `Image.docker.config: ${detail}` });
  const type = secret.type;
  if (type === 'REFERENCE' || type === 1)
    invalid(
      'a secret reference needs a secret resolver, which this agent does not have (give the docker config as a VALUE secret)',
    );
  const data = secret.value?.data;
  if (data === undefined) invalid('a VALUE secret without value.data');
  const text =
    typeof data === 'string'
      ? Buffer.from(data, 'base64').toString('utf8')
      : Buffer.from(data!).toString('utf8');
  try {
    return parseDockerConfig(text, 'Image.docker.config');
  } catch (e) {
    return invalid((e as Error).message.replace(/^flag '--docker_config': Image\.docker\.config: /, ''));
  }
}
