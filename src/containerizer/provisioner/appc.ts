/**
 * The Appc (ACI) image store under `--appc_store_dir`, as Mesos' appc store:
 *
 *   images/<id>/manifest          the image manifest (acKind ImageManifest)
 *   images/<id>/rootfs/           the image's root filesystem (one layer for the backends)
 *   images/<id>/strata-layer.json what the unpacker saw (whiteouts, sizes), for the copy backend
 *   index.json                    simple-discovery file name → image id (the cache)
 *   whitelists/<key>/rootfs/      the whiteouts applying an image's pathWhitelist to its layers
 *   staging/<random>/             in-flight fetches and unpacks (cleared at start)
 *
 * Images come by simple discovery: `{prefix}{name}-{version}-{os}-{arch}.aci` (labels `version`,
 * `os`, `arch`; defaults latest, linux, amd64), the prefix (`--appc_simple_discovery_uri_prefix`)
 * being a local directory (absolute path or file://) or an http(s) URL. The ACI may be plain,
 * gzip, bzip2 or xz (told by its first bytes; bzip2 and xz through the `bzip2`/`xz` binaries). The
 * image id is `sha512-<hex>` of the uncompressed tar; a requested id must match. The ACI is
 * unpacked with the docker layers' safe unpacker (no entry may escape; owners, modes, symlinks and
 * xattrs are kept) into a staging directory, checked (an ImageManifest naming the image, a rootfs
 * directory) and only then renamed into place: a refused image leaves nothing behind.
 *
 * Dependencies (`dependencies` of the manifest) are images of their own in the same store, found
 * by the same discovery (imageName + labels; imageID, when given, must match). `resolve` gives the
 * layers bottom → top as Mesos and the spec have them: each dependency's own layers (recursively),
 * in manifest order (a later one over an earlier one), then the image itself over all of them.
 * An image's `pathWhitelist` adds a layer of whiteouts over its own stack (whitelists/<key>/).
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type Dirent, type Stats } from 'node:fs';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { fail, StrataError } from '../../common/errors.js';
import { haveBinary, mknodWhiteouts } from './helpers.js';
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

/** One entry of the manifest's `dependencies` (appc spec: imageName, imageID?, labels?, size?). */
export interface AppcDependency {
  readonly imageName: string;
  readonly imageID: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** Parsed but not checked (the spec leaves open which size it is). */
  readonly size: number | undefined;
}

export interface AppcManifest {
  readonly acKind: 'ImageManifest';
  readonly acVersion: string | undefined;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Bottom → top: a later dependency overrides an earlier one, the image overrides all. */
  readonly dependencies: readonly AppcDependency[];
  /**
   * The paths (relative to the rootfs, normalized; '' is the root) that stay after this image is
   * laid over its dependencies; undefined or empty: everything stays.
   */
  readonly pathWhitelist: readonly string[] | undefined;
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

/**
 * One layer of a resolved image, bottom → top: an image's rootfs (an AppcImage is one), or the
 * whiteouts that apply an image's pathWhitelist (`whitelists/<key>/rootfs`, id `whitelist-<key>`).
 */
export interface AppcLayer {
  readonly id: string;
  readonly name: string;
  readonly rootfs: string;
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
/** How many images deep a dependency chain may go (the image itself is level 1). */
export const MAX_DEPENDENCY_DEPTH = 16;

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

function labelList(v: unknown): Record<string, string> {
  const labels: Record<string, string> = {};
  if (Array.isArray(v))
    for (const l of v as Record<string, unknown>[]) {
      const k = str(l?.name);
      const val = str(l?.value);
      if (k !== undefined && val !== undefined) labels[k] = val;
    }
  return labels;
}

/** Parses and checks an ACI's manifest: an ImageManifest, its dependencies well formed. */
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
  const dependencies: AppcDependency[] = [];
  if (o.dependencies !== undefined && o.dependencies !== null) {
    if (!Array.isArray(o.dependencies)) return unsupported('dependencies of the appc manifest is not a list');
    for (const [i, d] of (o.dependencies as unknown[]).entries()) {
      if (typeof d !== 'object' || d === null || Array.isArray(d))
        return unsupported(`dependency ${i} of the appc manifest is not an object`);
      const dep = d as Record<string, unknown>;
      const imageName = str(dep.imageName);
      if (!imageName || !AC_IDENTIFIER.test(imageName))
        return unsupported(
          `dependency ${i} of the appc manifest has no imageName that is an AC identifier (${JSON.stringify(dep.imageName)})`,
        );
      const imageID = str(dep.imageID) || undefined;
      if (dep.imageID !== undefined && dep.imageID !== '' && (imageID === undefined || !ID.test(imageID)))
        return unsupported(
          `dependency '${imageName}' of the appc manifest has imageID ${JSON.stringify(dep.imageID)}, not sha512-<128 hex digits>`,
        );
      if (dep.labels !== undefined && !Array.isArray(dep.labels))
        return unsupported(`dependency '${imageName}' of the appc manifest has labels that are not a list`);
      const size = typeof dep.size === 'number' && Number.isFinite(dep.size) ? dep.size : undefined;
      dependencies.push({ imageName, imageID, labels: labelList(dep.labels), size });
    }
  }
  let pathWhitelist: string[] | undefined;
  if (o.pathWhitelist !== undefined && o.pathWhitelist !== null) {
    if (!Array.isArray(o.pathWhitelist))
      return unsupported('pathWhitelist of the appc manifest is not a list');
    pathWhitelist = [];
    for (const p of o.pathWhitelist as unknown[]) {
      if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0'))
        return unsupported(`pathWhitelist entry ${JSON.stringify(p)} is not an absolute path`);
      pathWhitelist.push(posix.normalize(p).replace(/^\/+|\/+$/g, ''));
    }
  }
  const labels = labelList(o.labels);
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
  return {
    acKind: 'ImageManifest',
    acVersion: str(o.acVersion),
    name,
    labels,
    dependencies,
    pathWhitelist,
    app,
  };
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

export type AciCompression = 'gzip' | 'bzip2' | 'xz' | 'none';

/** The ACI's compression by its first bytes: gzip `1f 8b`, bzip2 `BZh`, xz `FD 37 7A 58 5A 00`. */
export function aciCompression(head: Uint8Array): AciCompression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  const xz = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
  if (head.length >= xz.length && xz.every((b, i) => head[i] === b)) return 'xz';
  return 'none';
}

/** Hashes what passes through: sha512 (the image id) and sha256 (the unpacker's check). */
class ArchiveHash extends Transform {
  readonly h512 = createHash('sha512');
  readonly h256 = createHash('sha256');
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.h512.update(chunk);
    this.h256.update(chunk);
    cb(null, chunk);
  }
  sums(): { sha512: string; sha256: string } {
    return { sha512: this.h512.digest('hex'), sha256: this.h256.digest('hex') };
  }
}

/** Debian package of each external decompressor. */
const DECOMPRESSOR: Record<'bzip2' | 'xz', { tool: string; pkg: string }> = {
  bzip2: { tool: 'bzip2', pkg: 'bzip2' },
  xz: { tool: 'xz', pkg: 'xz-utils' },
};

/** `tool -d -c` of `file` into `out` (a plain tar), hashed on the way. */
async function decompressTo(
  kind: 'bzip2' | 'xz',
  file: string,
  out: string,
  image: string,
  signal: AbortSignal | undefined,
): Promise<{ sha512: string; sha256: string }> {
  const { tool, pkg } = DECOMPRESSOR[kind];
  const missing = (): never =>
    fail('IMAGE_LAYER_EXTRACT_FAILED', {
      layer: file,
      image,
      detail: `the ACI is ${kind}-compressed and the '${tool}' binary is not installed (Debian package ${pkg})`,
    });
  if (!haveBinary(tool)) missing();
  const child = spawn(tool, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 16384) stderr += d;
  });
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (e) => {
      spawnError = e;
      resolve(null);
    });
    child.once('close', (code) => resolve(code));
  });
  const hash = new ArchiveHash();
  const opts = signal ? { signal } : {};
  let streamError: unknown;
  const streams = [
    pipeline(createReadStream(file), child.stdin, opts),
    pipeline(child.stdout, hash, createWriteStream(out, { mode: 0o600 }), opts),
  ];
  try {
    await Promise.all(streams);
  } catch (e) {
    streamError = e;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.allSettled(streams); // nothing writes into staging after this
  }
  const code = await exited;
  if ((spawnError as { code?: string } | undefined)?.code === 'ENOENT') missing();
  if (signal?.aborted) throw signal.reason ?? streamError;
  // The tool refused the stream (an exit status of its own): a corrupt ACI.
  if (spawnError || (code !== null && code !== 0))
    fail('IMAGE_LAYER_INVALID', {
      layer: file,
      image,
      detail: `the ACI cannot be decompressed (${tool}: ${
        spawnError?.message ?? (stderr.trim().split('\n').slice(-2).join('; ') || `exit ${code}`)
      })`,
    });
  // Reading the ACI or writing the tar failed (the tool was killed for it), or a signal ended it.
  if (streamError !== undefined || code !== 0)
    fail('IMAGE_LAYER_EXTRACT_FAILED', {
      layer: file,
      image,
      detail: `decompressing with ${tool}: ${
        streamError instanceof Error ? streamError.message : `${tool} ended by a signal`
      }`,
    });
  return hash.sums();
}

/**
 * The ACI as the unpacker takes it: the file itself (gzip or plain, which the unpacker reads
 * itself), or for bzip2 and xz its plain tar written to `staging/image.tar`; with the sha512 (the
 * image id) and sha256 of the uncompressed archive.
 */
async function prepareArchive(
  file: string,
  staging: string,
  image: string,
  signal: AbortSignal | undefined,
): Promise<{ tar: string; sha512: string; sha256: string }> {
  const head = Buffer.alloc(6);
  const fh = await open(file, 'r');
  let got = 0;
  try {
    got = (await fh.read(head, 0, head.length, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  const kind = aciCompression(head.subarray(0, got));
  if (kind === 'bzip2' || kind === 'xz') {
    const tar = join(staging, 'image.tar');
    return { tar, ...(await decompressTo(kind, file, tar, image, signal)) };
  }
  const hash = new ArchiveHash();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  try {
    if (kind === 'gzip') await pipeline(createReadStream(file), createGunzip(), hash, sink);
    else await pipeline(createReadStream(file), hash, sink);
  } catch (e) {
    fail('IMAGE_LAYER_INVALID', {
      layer: file,
      image,
      detail: `the ACI cannot be decompressed (${(e as Error).message})`,
    });
  }
  return { tar: file, ...hash.sums() };
}

/** A dependency's error, its message naming the image that needs it and the chain from the top. */
function dependencyError(e: unknown, names: readonly string[]): unknown {
  if (!(e instanceof StrataError)) return e;
  const parent = names[names.length - 2] ?? '';
  const via = `needed by '${parent}' as a dependency (${names.join(' → ')})`;
  const params = { ...e.params };
  if (typeof params.detail === 'string') params.detail = `${via}: ${params.detail}`;
  else if (typeof params.what === 'string') params.what = `${params.what}, ${via},`;
  else if (typeof params.why === 'string') params.why = `${params.why} (${via})`;
  else return e;
  return new StrataError(e.code, params, { cause: e });
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

  /**
   * The image and its dependencies as layers, bottom → top: for each dependency in manifest order
   * its own layers (recursively, so a dependency's dependencies lie below it), then the image. A
   * layer that comes twice is kept at its last (highest) place only, which gives the same tree. A
   * dependency is found like an image (imageName + labels, through the cache unless `cached` is
   * false) and must match its imageID when the manifest gives one. Refused: a cycle, a chain deeper
   * than MAX_DEPENDENCY_DEPTH; errors of a dependency name the chain (`app → base`).
   */
  async resolve(
    appc: AppcImageSpec,
    opts: { cached?: boolean; signal?: AbortSignal } = {},
  ): Promise<{ image: AppcImage; layers: readonly AppcLayer[] }> {
    const top = await this.get(appc, opts);
    const done = new Map<string, readonly AppcLayer[]>();
    const visit = async (img: AppcImage, above: readonly AppcImage[]): Promise<readonly AppcLayer[]> => {
      const known = done.get(img.id);
      if (known) return known;
      const path = [...above, img];
      const layers: AppcLayer[] = [];
      for (const dep of img.manifest.dependencies) {
        const names = [...path.map((i) => i.name), dep.imageName];
        if (path.length >= MAX_DEPENDENCY_DEPTH)
          fail('IMAGE_MANIFEST_UNSUPPORTED', {
            image: top.name,
            detail: `appc dependencies nest deeper than ${MAX_DEPENDENCY_DEPTH} images: ${names.join(' → ')}`,
          });
        opts.signal?.throwIfAborted();
        let got: AppcImage;
        try {
          got = await this.get(
            { name: dep.imageName, ...(dep.imageID ? { id: dep.imageID } : {}), labels: dep.labels },
            opts,
          );
        } catch (e) {
          throw dependencyError(e, names);
        }
        if (path.some((i) => i.id === got.id))
          fail('IMAGE_MANIFEST_UNSUPPORTED', {
            image: top.name,
            detail: `appc dependency cycle: ${names.join(' → ')}`,
          });
        layers.push(...(await visit(got, path)));
      }
      layers.push(img);
      let flat = layers.filter((l, i) => !layers.slice(i + 1).some((m) => m.id === l.id));
      const whitelist = img.manifest.pathWhitelist;
      if (whitelist && whitelist.length > 0)
        flat = [...flat, await this.whitelistLayer(img, whitelist, flat)];
      done.set(img.id, flat);
      return flat;
    };
    return { image: top, layers: await visit(top, []) };
  }

  /**
   * The whiteouts that leave only `whitelist` (and the directories above its paths) of `below`:
   * every path of a layer that is neither listed nor above a listed path gets a whiteout (the
   * topmost such path only). Built once per image and layers, in staging, then renamed into
   * `whitelists/<key>`; the directories holding whiteouts copy owner, mode and times of the
   * topmost layer's directory (overlay takes a directory's attributes from the highest layer).
   */
  private async whitelistLayer(
    img: AppcImage,
    whitelist: readonly string[],
    below: readonly AppcLayer[],
  ): Promise<AppcLayer> {
    const key = createHash('sha256')
      .update(JSON.stringify({ layers: below.map((l) => l.id), whitelist: [...whitelist].sort() }))
      .digest('hex');
    const dir = join(this.dir, 'whitelists', key);
    const layer: AppcLayer = {
      id: `whitelist-${key}`,
      name: `${img.name} (pathWhitelist)`,
      rootfs: join(dir, 'rootfs'),
      layerMeta: undefined,
    };
    if ((await lstat(layer.rootfs).catch(() => undefined))?.isDirectory()) return layer;
    const listed = new Set(whitelist);
    const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
    const above = new Set<string>(['']);
    for (const p of whitelist) for (let d = p; d !== ''; d = parentOf(d)) above.add(parentOf(d));
    // The merged tree, walked through real directories only (readdir's types are lstat's, so no
    // symlink is followed): a name counts as its highest layer has it, and only a name that is a
    // directory there is entered. `source` keeps which layer gives a directory its attributes.
    const removed = new Set<string>();
    const source = new Map<string, string>();
    const walk = async (rel: string, within: readonly string[]): Promise<void> => {
      const isDir = new Map<string, boolean>();
      const dirsIn = new Map<string, string[]>();
      for (const root of within) {
        let entries: Dirent[];
        try {
          entries = await readdir(join(root, rel), { withFileTypes: true });
        } catch {
          continue;
        }
        for (const e of entries) {
          isDir.set(e.name, e.isDirectory());
          if (e.isDirectory()) dirsIn.set(e.name, [...(dirsIn.get(e.name) ?? []), root]);
        }
      }
      for (const [name, dir] of isDir) {
        const path = rel === '' ? name : `${rel}/${name}`;
        if (!listed.has(path) && !above.has(path)) removed.add(path);
        else if (dir) {
          const roots = dirsIn.get(name) ?? [];
          source.set(path, roots[roots.length - 1] as string);
          await walk(path, roots);
        }
      }
    };
    const roots = below.map((l) => l.rootfs);
    if (roots.length > 0) source.set('', roots[roots.length - 1] as string);
    await walk('', roots);
    const staging = join(this.dir, 'staging', randomUUID());
    try {
      const rootfs = join(staging, 'rootfs');
      await mkdir(rootfs, { recursive: true, mode: 0o755 });
      // Directories holding whiteouts, parents first, with the attributes of the topmost layer's.
      const parents = new Set<string>();
      for (const p of removed) for (let d = parentOf(p); d !== ''; d = parentOf(d)) parents.add(d);
      const copyAttrs = async (rel: string) => {
        const from = source.get(rel);
        const st: Stats | undefined = from ? await lstat(join(from, rel)).catch(() => undefined) : undefined;
        if (!st?.isDirectory()) return;
        const target = join(rootfs, rel);
        await chown(target, st.uid, st.gid);
        await chmod(target, st.mode & 0o7777);
        await utimes(target, st.atime, st.mtime);
      };
      for (const d of [...parents].sort((a, b) => a.split('/').length - b.split('/').length))
        await mkdir(join(rootfs, d), { mode: 0o755 });
      await mknodWhiteouts([...removed].map((p) => join(rootfs, p)));
      for (const d of [...parents].sort((a, b) => b.split('/').length - a.split('/').length))
        await copyAttrs(d);
      await copyAttrs('');
      await writeFile(
        join(staging, 'whitelist.json'),
        JSON.stringify({ image: img.id, whitelist, layers: below.map((l) => l.id) }),
      );
      await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
      await rename(staging, dir).catch(async (e) => {
        const code = (e as { code?: string }).code;
        // Built meanwhile by another provision: that one is used.
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      });
    } catch (e) {
      if (e instanceof StrataError) throw e;
      fail('IMAGE_LAYER_EXTRACT_FAILED', {
        layer: layer.id,
        image: img.name,
        detail: `cannot build the pathWhitelist layer: ${(e as Error).message}`,
      });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    return layer;
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
      const { tar, sha512, sha256 } = await prepareArchive(file, staging, image, signal);
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
        source: createReadStream(tar),
        compression: tar === file ? 'sniff' : 'none',
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
