/**
 * Manifests, indexes, image configs and platforms: parsing and validation of what a registry or an
 * archive hands us (pure; no I/O).
 */
import { fail } from '../../common/errors.js';

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/**
 * Every manifest type we read. distribution 2.8 answers 404 for an OCI manifest without the OCI
 * type and silently converts docker v2 manifests to schema1 without the docker type, so all four
 * always go out (host-setup.md §4.3).
 */
export const MANIFEST_ACCEPT = [
  MEDIA.ociIndex,
  MEDIA.dockerList,
  MEDIA.ociManifest,
  MEDIA.dockerManifest,
].join(', ');

export type Compression = 'gzip' | 'zstd' | 'none';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly urls?: readonly string[] | undefined;
  readonly platform?: Platform | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

export type ParsedManifest =
  | { readonly kind: 'index'; readonly mediaType: string; readonly manifests: readonly Descriptor[] }
  | {
      readonly kind: 'image';
      readonly mediaType: string;
      readonly config: Descriptor;
      readonly layers: readonly Descriptor[];
    };

const DIGEST = /^sha256:[a-f0-9]{64}$/;

const NODE_ARCH: Record<string, Platform> = {
  x64: { os: 'linux', architecture: 'amd64' },
  arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
  ia32: { os: 'linux', architecture: '386' },
  ppc64: { os: 'linux', architecture: 'ppc64le' },
  s390x: { os: 'linux', architecture: 's390x' },
  riscv64: { os: 'linux', architecture: 'riscv64' },
  mips64el: { os: 'linux', architecture: 'mips64le' },
  loong64: { os: 'linux', architecture: 'loong64' },
};

/** The agent's platform in OCI terms, from Node's `process.arch`. */
export function hostPlatform(arch: string = process.arch): Platform {
  return NODE_ARCH[arch] ?? { os: 'linux', architecture: arch };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function normalVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64') return p.variant ?? 'v8';
  return p.variant;
}

/**
 * Picks the manifest for `platform` from an index: os and architecture must match; a variant must
 * match when both sides name one (arm64 without a variant means v8). An exact variant beats a
 * missing one. Attestation entries (`unknown/unknown`) never match.
 */
export function selectPlatform(manifests: readonly Descriptor[], platform: Platform): Descriptor | undefined {
  let loose: Descriptor | undefined;
  const want = normalVariant(platform);
  for (const d of manifests) {
    const p = d.platform;
    if (!p || p.os !== platform.os || p.architecture !== platform.architecture) continue;
    const have = normalVariant(p);
    if (have === want) return d;
    if (have === undefined || want === undefined) loose ??= d;
  }
  return loose;
}

function object(value: unknown, what: string, image: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: `${what} is not a JSON object` });
  return value as Record<string, unknown>;
}

export function parseDescriptor(value: unknown, image: string, what: string): Descriptor {
  const o = object(value, what, image);
  const { mediaType, digest, size, urls, platform, annotations } = o;
  if (typeof digest !== 'string' || !DIGEST.test(digest))
    fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: `${what} has no sha256 digest (${String(digest)})` });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: `${what} has no valid size` });
  let plat: Platform | undefined;
  if (platform !== undefined) {
    const p = object(platform, `${what}.platform`, image);
    plat = {
      os: String(p.os ?? ''),
      architecture: String(p.architecture ?? ''),
      variant: typeof p.variant === 'string' ? p.variant : undefined,
    };
  }
  return {
    mediaType: typeof mediaType === 'string' ? mediaType : '',
    digest,
    size,
    urls: Array.isArray(urls) ? urls.filter((u): u is string => typeof u === 'string') : undefined,
    platform: plat,
    annotations:
      typeof annotations === 'object' && annotations !== null
        ? (annotations as Record<string, string>)
        : undefined,
  };
}

/** Parses a manifest or index; the media type comes from the document, else from Content-Type. */
export function parseManifest(
  bytes: Uint8Array,
  contentType: string | undefined,
  image: string,
): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: `manifest is not JSON (${(e as Error).message})` });
  }
  const o = object(doc, 'manifest', image);
  const header = contentType?.split(';')[0]?.trim();
  const mediaType = typeof o.mediaType === 'string' ? o.mediaType : (header ?? '');
  if (o.schemaVersion === 1 || mediaType === MEDIA.dockerSchema1 || mediaType === MEDIA.dockerSchema1Signed)
    fail('IMAGE_MANIFEST_UNSUPPORTED', {
      image,
      detail: 'docker schema1 manifests are not supported; push as v2s2 or OCI',
    });
  if (o.schemaVersion !== 2)
    fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: `schemaVersion ${String(o.schemaVersion)}` });
  const isIndex =
    mediaType === MEDIA.ociIndex ||
    mediaType === MEDIA.dockerList ||
    (Array.isArray(o.manifests) && !o.layers);
  if (isIndex) {
    if (!Array.isArray(o.manifests))
      fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: 'index without manifests' });
    return {
      kind: 'index',
      mediaType: mediaType || MEDIA.ociIndex,
      manifests: o.manifests.map((m, i) => parseDescriptor(m, image, `manifests[${i}]`)),
    };
  }
  if (mediaType !== '' && mediaType !== MEDIA.ociManifest && mediaType !== MEDIA.dockerManifest)
    fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: `media type '${mediaType}'` });
  if (!Array.isArray(o.layers))
    fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: 'manifest without layers' });
  const config = parseDescriptor(o.config, image, 'config');
  const layers = o.layers.map((l, i) => parseDescriptor(l, image, `layers[${i}]`));
  for (const [i, l] of layers.entries()) layerCompression(l.mediaType, image, i);
  return { kind: 'image', mediaType: mediaType || MEDIA.ociManifest, config, layers };
}

/** How a layer of this media type is compressed; unknown types (artifacts, helm charts) are refused. */
export function layerCompression(mediaType: string, image: string, index = 0): Compression {
  switch (mediaType) {
    case MEDIA.dockerLayerGzip:
    case MEDIA.dockerForeignLayerGzip:
    case MEDIA.ociLayerGzip:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return 'gzip';
    case MEDIA.ociLayerZstd:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    case MEDIA.ociLayer:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    default:
      return fail('IMAGE_MANIFEST_UNSUPPORTED', {
        image,
        detail: `layer ${index} has media type '${mediaType}'`,
      });
  }
}

/** The parts of an image config (docker v1 / OCI config) that the provisioner and launch use. */
export interface ImageConfig {
  readonly architecture: string | undefined;
  readonly os: string | undefined;
  readonly entrypoint: string[] | undefined;
  readonly cmd: string[] | undefined;
  readonly env: string[];
  readonly workingDir: string | undefined;
  readonly user: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly exposedPorts: readonly string[];
  readonly volumes: readonly string[];
  readonly stopSignal: string | undefined;
  readonly diffIds: readonly string[];
}

function strings(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((v): v is string => typeof v === 'string');
}

export function parseImageConfig(bytes: Uint8Array, image: string): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    fail('IMAGE_MANIFEST_UNSUPPORTED', {
      image,
      detail: `image config is not JSON (${(e as Error).message})`,
    });
  }
  const o = object(doc, 'image config', image);
  const c = (typeof o.config === 'object' && o.config !== null ? o.config : {}) as Record<string, unknown>;
  const rootfs = object(o.rootfs ?? {}, 'rootfs', image);
  const diffIds = strings(rootfs.diff_ids) ?? [];
  for (const d of diffIds)
    if (!DIGEST.test(d))
      fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: `diff_id '${d}' is not sha256` });
  const keys = (v: unknown) => (typeof v === 'object' && v !== null ? Object.keys(v) : []);
  return {
    architecture: typeof o.architecture === 'string' ? o.architecture : undefined,
    os: typeof o.os === 'string' ? o.os : undefined,
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    env: strings(c.Env) ?? [],
    workingDir: typeof c.WorkingDir === 'string' && c.WorkingDir !== '' ? c.WorkingDir : undefined,
    user: typeof c.User === 'string' && c.User !== '' ? c.User : undefined,
    labels: (typeof c.Labels === 'object' && c.Labels !== null ? c.Labels : {}) as Record<string, string>,
    exposedPorts: keys(c.ExposedPorts),
    volumes: keys(c.Volumes),
    stopSignal: typeof c.StopSignal === 'string' ? c.StopSignal : undefined,
    diffIds,
  };
}
