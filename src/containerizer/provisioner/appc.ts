/**
 * The Appc (ACI) image store under `--appc_store_dir`, as Mesos' appc store:
 *
 *   images/<id>/manifest          the image manifest (acKind ImageManifest)
 *   images/<id>/rootfs/           the image's root filesystem (one layer for the backends)
 *   images/<id>/strata-layer.json what the unpacker saw (whiteouts, sizes), for the copy backend
 *   index.json                    simple-discovery file name → image id (the cache)
 *   staging/<random>/             in-flight fetches and unpacks (cleared at start)
 *
 * Images come by simple discovery: `{prefix}{name}-{version}-{os}-{arch}.aci` (labels `version`,
 * `os`, `arch`; defaults latest, linux, amd64), the prefix (`--appc_simple_discovery_uri_prefix`)
 * being a local directory (absolute path or file://) or an http(s) URL. The image id is
 * `sha512-<hex>` of the uncompressed tar; a requested id must match. The ACI is unpacked with the
 * docker layers' safe unpacker (no entry may escape; owners, modes, symlinks and xattrs are kept)
 * into a staging directory, checked (an ImageManifest, a rootfs directory, no dependencies) and
 * only then renamed into place: a refused image leaves nothing behind.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { fail, StrataError } from '../../common/errors.js';
import type { ImageConfig } from './manifest.js';
import { type LayerMeta, unpackLayer } from './unpack.js';

/** Mesos' Image.Appc in its protobuf or JSON shape (labels as `Labels` or a plain record). */
export interface AppcImageSpec {
  readonly name: string;
  readonly id?: string | undefined;
  readonly labels?:
    | { readonly labels?: readonly { readonly key: string; readonly value?: string | undefined }[] }
    | Readonly<Record<string, string>>
    | undefined;
}

export interface AppcManifest {
  readonly acKind: 'ImageManifest';
  readonly acVersion: string | undefined;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly app:
    | {
        readonly exec: readonly string[];
        readonly user: string | undefined;
        readonly group: string | undefined;
        readonly workingDirectory: string | undefined;
        readonly environment: readonly { readonly name: string; readonly value: string }[];
      }
    | undefined;
}

export interface AppcImage {
  readonly id: string;
  readonly name: string;
  /** `images/<id>`. */
  readonly dir: string;
  /** `images/<id>/rootfs`: the one layer of the image. */
  readonly rootfs: string;
  readonly manifest: AppcManifest;
  readonly config: ImageConfig;
  readonly layerMeta: LayerMeta | undefined;
}

export interface AppcStoreOptions {
  /** `--appc_store_dir` (default /tmp/mesos/store/appc). */
  readonly storeDir: string;
  /** `--appc_simple_discovery_uri_prefix` (default http://). */
  readonly uriPrefix: string;
  readonly fetch?: typeof fetch;
}

const ID = /^sha512-[0-9a-f]{128}$/;
/** AC Identifier (appc spec): lower-case alphanumerics separated by one of `-._~/`. */
const AC_IDENTIFIER = /^[a-z0-9]+([-._~/][a-z0-9]+)*$/;
const LAYER_META = 'strata-layer.json';

function labelRecord(labels: AppcImageSpec['labels']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!labels) return out;
  const list = (labels as { labels?: unknown }).labels;
  if (Array.isArray(list)) {
    for (const l of list as { key?: unknown; value?: unknown }[])
      if (typeof l.key === 'string') out[l.key] = typeof l.value === 'string' ? l.value : '';
    return out;
  }
  for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** The labels simple discovery uses, with Mesos' defaults. */
export function discoveryLabels(appc: AppcImageSpec): { version: string; os: string; arch: string } {
  const labels = labelRecord(appc.labels);
  return {
    version: labels.version || 'latest',
    os: labels.os || 'linux',
    arch: labels.arch || 'amd64',
  };
}

/** `{name}-{version}-{os}-{arch}.aci`; the name keeps its `/` (path segments below the prefix). */
export function discoveryFileName(appc: AppcImageSpec): string {
  if (!AC_IDENTIFIER.test(appc.name))
    fail('IMAGE_REFERENCE_INVALID', {
      reference: appc.name,
      detail: 'an appc image name must be an AC identifier (lower-case a-z, 0-9 and -._~/)',
    });
  const { version, os, arch } = discoveryLabels(appc);
  for (const [key, value] of Object.entries({ version, os, arch }))
    if (/[/\0\s]/.test(value))
      fail('IMAGE_REFERENCE_INVALID', {
        reference: appc.name,
        detail: `label ${key}='${value}' cannot be part of a file name`,
      });
  return `${appc.name}-${version}-${os}-${arch}.aci`;
}

/** Where simple discovery looks: a local path (absolute or file://) or a URL, as Mesos, prefix + file. */
export function discoveryUri(prefix: string, appc: AppcImageSpec): { local: boolean; uri: string } {
  const file = discoveryFileName(appc);
  if (prefix.startsWith('file://')) return { local: true, uri: join(fileURLToPath(prefix), file) };
  if (isAbsolute(prefix)) return { local: true, uri: join(prefix, file) };
  if (/^https?:\/\//.test(prefix)) return { local: false, uri: `${prefix}${file}` };
  return fail('PROVISIONER_CONFIG_INVALID', {
    flag: 'appc_simple_discovery_uri_prefix',
    detail: `'${prefix}' is neither an absolute directory, a file:// URI nor an http(s) URL`,
  });
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Parses and checks an ACI's manifest: an ImageManifest without dependencies. */
export function parseAppcManifest(bytes: Uint8Array | string, image: string): AppcManifest {
  const unsupported = (detail: string): never => fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail });
  let doc: unknown;
  try {
    doc = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    return unsupported(`the appc manifest is not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return unsupported('the appc manifest is not a JSON object');
  const o = doc as Record<string, unknown>;
  if (o.acKind !== 'ImageManifest')
    return unsupported(`the appc manifest has acKind '${String(o.acKind)}', not ImageManifest`);
  const name = str(o.name);
  if (!name) return unsupported('the appc manifest has no name');
  if (Array.isArray(o.dependencies) && o.dependencies.length > 0)
    return unsupported('appc image dependencies are not supported');
  const labels: Record<string, string> = {};
  if (Array.isArray(o.labels))
    for (const l of o.labels as Record<string, unknown>[]) {
      const k = str(l?.name);
      const v = str(l?.value);
      if (k !== undefined && v !== undefined) labels[k] = v;
    }
  let app: AppcManifest['app'];
  if (o.app !== undefined && o.app !== null) {
    if (typeof o.app !== 'object') return unsupported('the appc manifest app is not an object');
    const a = o.app as Record<string, unknown>;
    const exec = Array.isArray(a.exec) ? a.exec : [];
    if (!exec.every((e) => typeof e === 'string'))
      return unsupported('app.exec of the appc manifest is not a list of strings');
    const environment: { name: string; value: string }[] = [];
    if (Array.isArray(a.environment))
      for (const e of a.environment as Record<string, unknown>[]) {
        const n = str(e?.name);
        if (!n) return unsupported('app.environment of the appc manifest has an entry without a name');
        environment.push({ name: n, value: str(e?.value) ?? '' });
      }
    app = {
      exec: exec as string[],
      user: str(a.user),
      group: str(a.group),
      workingDirectory: str(a.workingDirectory),
      environment,
    };
  }
  return { acKind: 'ImageManifest', acVersion: str(o.acVersion), name, labels, app };
}

/** The manifest as the launch sees an image config: exec → Entrypoint (no Cmd), environment → Env. */
export function appcImageConfig(manifest: AppcManifest, id?: string): ImageConfig {
  const app = manifest.app;
  return {
    architecture: manifest.labels.arch,
    os: manifest.labels.os,
    entrypoint: app && app.exec.length > 0 ? [...app.exec] : undefined,
    cmd: [],
    env: (app?.environment ?? []).map((e) => `${e.name}=${e.value}`),
    workingDir: app?.workingDirectory || undefined,
    user: app?.user || undefined,
    labels: manifest.labels,
    exposedPorts: [],
    volumes: [],
    stopSignal: undefined,
    diffIds: id ? [id] : [],
  };
}

const isMissing = (e: unknown) => (e as { code?: string }).code === 'ENOENT';

/** sha512 (the image id) and sha256 (the unpacker's check) of the uncompressed archive. */
async function hashArchive(file: string, image: string): Promise<{ sha512: string; sha256: string }> {
  const head = Buffer.alloc(2);
  const fh = await open(file, 'r');
  try {
    await fh.read(head, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const h512 = createHash('sha512');
  const h256 = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      h512.update(chunk);
      h256.update(chunk);
      cb();
    },
  });
  try {
    if (head[0] === 0x1f && head[1] === 0x8b) await pipeline(createReadStream(file), createGunzip(), sink);
    else await pipeline(createReadStream(file), sink);
  } catch (e) {
    fail('IMAGE_LAYER_INVALID', {
      layer: file,
      image,
      detail: `the ACI cannot be decompressed (${(e as Error).message})`,
    });
  }
  return { sha512: h512.digest('hex'), sha256: h256.digest('hex') };
}

export class AppcStore {
  private readonly index = new Map<string, string>();
  private readonly inFlight = new Map<string, Promise<AppcImage>>();
  private ready: Promise<void> | undefined;

  constructor(readonly options: AppcStoreOptions) {}

  get dir(): string {
    return this.options.storeDir;
  }

  imageDir(id: string): string {
    return join(this.dir, 'images', id);
  }

  /** Creates the layout, clears staging, loads the index (once; get() calls it too). */
  init(): Promise<void> {
    this.ready ??= (async () => {
      discoveryUri(this.options.uriPrefix, { name: 'check' }); // a bad prefix fails the start
      for (const d of ['images', 'staging']) await mkdir(join(this.dir, d), { recursive: true, mode: 0o700 });
      for (const e of await readdir(join(this.dir, 'staging')))
        await rm(join(this.dir, 'staging', e), { recursive: true, force: true });
      try {
        const doc = JSON.parse(await readFile(join(this.dir, 'index.json'), 'utf8')) as Record<
          string,
          unknown
        >;
        for (const [k, v] of Object.entries(doc))
          if (typeof v === 'string' && ID.test(v)) this.index.set(k, v);
      } catch {
        // no index yet (or a broken one): images are fetched again
      }
    })();
    return this.ready;
  }

  /** Ids of the images in the store. */
  async images(): Promise<string[]> {
    await this.init();
    return (await readdir(join(this.dir, 'images'))).filter((e) => ID.test(e));
  }

  /**
   * The image, from the store when it is there (by id, else by its discovery file name) and
   * `cached` is not false; otherwise fetched, verified and unpacked.
   */
  async get(appc: AppcImageSpec, opts: { cached?: boolean; signal?: AbortSignal } = {}): Promise<AppcImage> {
    await this.init();
    const key = discoveryFileName(appc);
    if (appc.id !== undefined && appc.id !== '' && !ID.test(appc.id))
      fail('IMAGE_REFERENCE_INVALID', {
        reference: appc.name,
        detail: `image id '${appc.id}' is not sha512-<128 hex digits>`,
      });
    const wantId = appc.id || undefined;
    if (opts.cached !== false) {
      const id = wantId ?? this.index.get(key);
      if (id) {
        // Not there, or broken: fetched again (a broken directory is replaced below).
        const found = await this.load(id, appc.name).catch(() => undefined);
        if (found) return found;
      }
    }
    const flightKey = `${key}@${wantId ?? ''}`;
    let flight = this.inFlight.get(flightKey);
    if (!flight) {
      flight = this.fetchAndStore(appc, key, wantId, opts.signal).finally(() =>
        this.inFlight.delete(flightKey),
      );
      this.inFlight.set(flightKey, flight);
    }
    return flight;
  }

  /** An image already in the store; rejects when it is not there (or broken). */
  async load(id: string, image = id): Promise<AppcImage> {
    const dir = this.imageDir(id);
    const manifest = parseAppcManifest(await readFile(join(dir, 'manifest')), image);
    let layerMeta: LayerMeta | undefined;
    try {
      layerMeta = JSON.parse(await readFile(join(dir, LAYER_META), 'utf8')) as LayerMeta;
    } catch {
      layerMeta = undefined;
    }
    if (!(await lstat(join(dir, 'rootfs'))).isDirectory()) throw new Error(`${dir}/rootfs is no directory`);
    return {
      id,
      name: manifest.name,
      dir,
      rootfs: join(dir, 'rootfs'),
      manifest,
      config: appcImageConfig(manifest, id),
      layerMeta,
    };
  }

  private async fetchAndStore(
    appc: AppcImageSpec,
    key: string,
    wantId: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<AppcImage> {
    const image = appc.name;
    const { local, uri } = discoveryUri(this.options.uriPrefix, appc);
    const staging = join(this.dir, 'staging', randomUUID());
    await mkdir(staging, { recursive: true, mode: 0o700 });
    try {
      let file = uri;
      if (local) {
        try {
          if (!(await stat(uri)).isFile()) fail('IMAGE_NOT_FOUND', { image, detail: `${uri} is not a file` });
        } catch (e) {
          if (e instanceof StrataError) throw e;
          fail('IMAGE_NOT_FOUND', {
            image,
            detail: isMissing(e)
              ? `no ACI at ${uri} (simple discovery)`
              : `cannot read ${uri}: ${(e as Error).message}`,
          });
        }
      } else {
        file = join(staging, 'image.aci');
        await this.download(uri, file, image, signal);
      }
      const { sha512, sha256 } = await hashArchive(file, image);
      const id = `sha512-${sha512}`;
      if (wantId !== undefined && wantId !== id)
        fail('IMAGE_DIGEST_MISMATCH', {
          what: `the appc image id (${uri})`,
          image,
          expected: wantId,
          actual: id,
        });
      const existing = await this.load(id, image).catch(() => undefined);
      if (existing) {
        await this.remember(key, id);
        return existing;
      }
      const unpackDir = join(staging, 'unpack');
      const meta = await unpackLayer({
        source: createReadStream(file),
        compression: 'sniff',
        expectedDigest: undefined,
        expectedSize: undefined,
        expectedDiffId: `sha256:${sha256}`,
        dir: unpackDir,
        image,
        ...(signal ? { signal } : {}),
      });
      const top = join(unpackDir, 'rootfs');
      const notAci = (detail: string): never =>
        fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: `${uri} is not an ACI: ${detail}` });
      const manifestStat = await lstat(join(top, 'manifest')).catch(() => undefined);
      if (!manifestStat?.isFile()) notAci('it has no manifest file');
      const manifest = parseAppcManifest(await readFile(join(top, 'manifest')), image);
      if (manifest.name !== appc.name)
        fail('IMAGE_MANIFEST_UNSUPPORTED', {
          image,
          detail: `the manifest of ${uri} names the image '${manifest.name}'`,
        });
      const rootfsStat = await lstat(join(top, 'rootfs')).catch(() => undefined);
      if (!rootfsStat?.isDirectory()) notAci('it has no rootfs directory');
      // The unpacker's paths are relative to the archive; the backends want them below rootfs/.
      const below = (paths: readonly string[]) =>
        paths.filter((p) => p.startsWith('rootfs/')).map((p) => p.slice('rootfs/'.length));
      await writeFile(
        join(top, LAYER_META),
        JSON.stringify({ ...meta, whiteouts: below(meta.whiteouts), opaques: below(meta.opaques) }),
      );
      await mkdir(join(this.dir, 'images'), { recursive: true, mode: 0o700 });
      try {
        await rename(top, this.imageDir(id));
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        // Stored meanwhile by another fetch of the same bytes, or a broken leftover: replaced.
        if (!(await this.load(id, image).catch(() => undefined))) {
          await rename(this.imageDir(id), join(staging, 'broken'));
          await rename(top, this.imageDir(id));
        }
      }
      await this.remember(key, id);
      return await this.load(id, image);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  private async download(uri: string, file: string, image: string, signal?: AbortSignal): Promise<void> {
    const doFetch = this.options.fetch ?? fetch;
    let res: Response;
    try {
      res = await doFetch(uri, signal ? { signal } : {});
    } catch (e) {
      return fail('IMAGE_NOT_FOUND', { image, detail: `cannot fetch ${uri}: ${(e as Error).message}` });
    }
    if (!res.ok || !res.body)
      fail('IMAGE_NOT_FOUND', { image, detail: `${uri} answered ${res.status} ${res.statusText}` });
    await pipeline(
      Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>),
      createWriteStream(file, { mode: 0o600 }),
    );
  }

  private async remember(key: string, id: string): Promise<void> {
    this.index.set(key, id);
    const path = join(this.dir, 'index.json');
    const part = `${path}.${randomUUID()}.part`;
    await writeFile(part, JSON.stringify(Object.fromEntries(this.index)));
    await rename(part, path);
  }
}
