/**
 * Local store mode (`--docker_registry=DIR`): images come from tarballs in DIR instead of a
 * registry: `docker save` / skopeo `docker-archive:` tarballs and OCI-layout tarballs
 * (`oci-archive:`, or an OCI layout tarred up). The archive is indexed by reading only its tar
 * headers; members are then streamed straight from their offsets (no extraction to disk).
 *
 * Lookup, for `repo[:tag]`: DIR/<repo>:<tag>.tar, then DIR/<last repo component>:<tag>.tar (Mesos'
 * naming), then the same without `:<tag>` when the tag is `latest`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fail } from '../../common/errors.js';
import {
  type Descriptor,
  formatPlatform,
  layerCompression,
  type Platform,
  parseImageConfig,
  parseManifest,
  selectPlatform,
} from './manifest.js';
import { formatReference, type ImageReference } from './reference.js';
import type { ImageSource, LayerSource, ResolvedImage } from './source.js';
import { normalizeEntryPath, parseHeader, parsePax } from './tar.js';

interface Member {
  readonly offset: number;
  readonly size: number;
  readonly type: string;
  readonly linkname: string;
}

/** Maps member path → where its data lies, reading only headers (positional reads). */
export async function indexTar(path: string): Promise<Map<string, Member>> {
  const fh = await open(path, 'r');
  const out = new Map<string, Member>();
  try {
    const { size: fileSize } = await fh.stat();
    const block = Buffer.alloc(512);
    let pos = 0;
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    while (pos + 512 <= fileSize) {
      await readExactly(fh, block, pos);
      const h = parseHeader(block);
      if (!h) break;
      const dataAt = pos + 512;
      const size = pax.has('size') ? Number(pax.get('size')) : h.size;
      pos = dataAt + Math.ceil(size / 512) * 512;
      if (h.type === 'x' || h.type === 'L' || h.type === 'K' || h.type === 'g') {
        if (size > 1 << 20) fail('IMAGE_ARCHIVE_INVALID', { path, detail: 'oversized metadata entry' });
        const data = Buffer.alloc(size);
        await readExactly(fh, data, dataAt);
        if (h.type === 'x') pax = new Map([...pax, ...parsePax(data)]);
        else if (h.type === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
        else if (h.type === 'K') longLink = data.toString('utf8').replace(/\0+$/, '');
        continue;
      }
      const name = normalizeEntryPath(pax.get('path') ?? longName ?? h.name);
      const linkname = pax.get('linkpath') ?? longLink ?? h.linkname;
      out.set(name, { offset: dataAt, size, type: h.type, linkname });
      pax = new Map();
      longName = undefined;
      longLink = undefined;
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'IMAGE_ARCHIVE_INVALID') throw e;
    fail('IMAGE_ARCHIVE_INVALID', { path, detail: (e as Error).message });
  } finally {
    await fh.close();
  }
  return out;
}

async function readExactly(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error('truncated archive');
    done += bytesRead;
  }
}

class Archive {
  constructor(
    readonly path: string,
    readonly members: Map<string, Member>,
  ) {}

  /** Follows symlink/hardlink members (docker save links repeated layers) to the data. */
  member(name: string): Member | undefined {
    let current = normalizeEntryPath(name);
    for (let hops = 0; hops < 16; hops++) {
      const m = this.members.get(current);
      if (!m) return undefined;
      if (m.type === '1') current = normalizeEntryPath(m.linkname);
      else if (m.type === '2') {
        const dir = current.includes('/') ? current.slice(0, current.lastIndexOf('/')) : '';
        current = normalizeEntryPath(
          m.linkname.startsWith('/') ? m.linkname.slice(1) : dir ? `${dir}/${m.linkname}` : m.linkname,
        );
      } else return m;
    }
    return undefined;
  }

  async read(name: string, limit = 16 << 20): Promise<Buffer> {
    const m = this.member(name);
    if (!m) fail('IMAGE_ARCHIVE_INVALID', { path: this.path, detail: `no member '${name}'` });
    if (m.size > limit)
      fail('IMAGE_ARCHIVE_INVALID', { path: this.path, detail: `member '${name}' is too large` });
    const fh = await open(this.path, 'r');
    try {
      const buf = Buffer.alloc(m.size);
      await readExactly(fh, buf, m.offset);
      return buf;
    } finally {
      await fh.close();
    }
  }

  stream(name: string): LayerSource['open'] {
    return async (_signal, offset = 0) => {
      const m = this.member(name);
      if (!m) fail('IMAGE_ARCHIVE_INVALID', { path: this.path, detail: `no member '${name}'` });
      if (m.size <= offset) return createReadStream('/dev/null');
      return createReadStream(this.path, {
        start: m.offset + offset,
        end: m.offset + m.size - 1,
        highWaterMark: 256 * 1024,
      });
    };
  }
}

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class LocalArchiveSource implements ImageSource {
  constructor(
    readonly dir: string,
    private readonly platform: Platform,
  ) {}

  async find(ref: ImageReference): Promise<string | undefined> {
    const tag = ref.tag ?? 'latest';
    const last = ref.repository.slice(ref.repository.lastIndexOf('/') + 1);
    const names = [`${ref.repository}:${tag}.tar`, `${last}:${tag}.tar`];
    if (tag === 'latest') names.push(`${ref.repository}.tar`, `${last}.tar`);
    for (const n of names) {
      const p = join(this.dir, n);
      try {
        if ((await stat(p)).isFile()) return p;
      } catch {}
    }
    return undefined;
  }

  async resolve(ref: ImageReference & { registry: string }): Promise<ResolvedImage> {
    const image = formatReference(ref);
    const path = await this.find(ref);
    if (!path) fail('IMAGE_NOT_FOUND', { image, detail: `no archive for it in local store ${this.dir}` });
    const archive = new Archive(path, await indexTar(path));
    if (archive.member('oci-layout') && archive.member('index.json'))
      return this.resolveOci(archive, ref, image);
    if (archive.member('manifest.json')) return this.resolveDocker(archive, ref, image);
    return fail('IMAGE_ARCHIVE_INVALID', {
      path,
      detail: 'neither a docker-archive (manifest.json) nor an OCI layout (oci-layout, index.json)',
    });
  }

  private async resolveDocker(archive: Archive, ref: ImageReference, image: string): Promise<ResolvedImage> {
    let list: unknown;
    try {
      list = JSON.parse((await archive.read('manifest.json')).toString('utf8'));
    } catch (e) {
      fail('IMAGE_ARCHIVE_INVALID', { path: archive.path, detail: `manifest.json: ${(e as Error).message}` });
    }
    if (!Array.isArray(list) || list.length === 0)
      fail('IMAGE_ARCHIVE_INVALID', { path: archive.path, detail: 'manifest.json lists no image' });
    type Entry = { Config?: string; RepoTags?: string[]; Layers?: string[] };
    const entries = list as Entry[];
    const tag = `${ref.repository}:${ref.tag ?? 'latest'}`;
    const entry =
      entries.find((e) => e.RepoTags?.some((t) => t === tag || t.endsWith(`/${tag}`))) ??
      (entries.length === 1 ? entries[0] : undefined);
    if (!entry?.Config || !Array.isArray(entry.Layers))
      fail('IMAGE_NOT_FOUND', { image, detail: `${archive.path} has no entry for ${tag}` });
    const configBytes = await archive.read(entry.Config);
    const configDigest = sha256(configBytes);
    const named = /([a-f0-9]{64})(\.json)?$/.exec(entry.Config);
    if (named && `sha256:${named[1]}` !== configDigest)
      fail('IMAGE_DIGEST_MISMATCH', {
        what: 'image config',
        image,
        expected: `sha256:${named[1]}`,
        actual: configDigest,
      });
    return {
      image,
      manifestDigest: undefined,
      manifestBytes: undefined,
      configDigest,
      configBytes,
      layers: entry.Layers.map((l) => ({
        digest: undefined,
        size: archive.member(l)?.size,
        compression: 'sniff' as const,
        open: archive.stream(l),
      })),
    };
  }

  private async resolveOci(archive: Archive, ref: ImageReference, image: string): Promise<ResolvedImage> {
    const blob = async (d: Descriptor, what: string) => {
      const bytes = await archive.read(`blobs/sha256/${d.digest.slice(7)}`);
      const actual = sha256(bytes);
      if (actual !== d.digest) fail('IMAGE_DIGEST_MISMATCH', { what, image, expected: d.digest, actual });
      return bytes;
    };
    const index = parseManifest(await archive.read('index.json'), undefined, image);
    if (index.kind !== 'index')
      fail('IMAGE_ARCHIVE_INVALID', { path: archive.path, detail: 'index.json is not an index' });
    const tag = ref.tag ?? 'latest';
    const refName = 'org.opencontainers.image.ref.name';
    let desc =
      index.manifests.find((m) => m.annotations?.[refName] === tag) ??
      index.manifests.find((m) => m.annotations?.['io.containerd.image.name']?.endsWith(`:${tag}`)) ??
      (index.manifests.length === 1 ? index.manifests[0] : undefined);
    if (!desc) fail('IMAGE_NOT_FOUND', { image, detail: `${archive.path} has no manifest tagged '${tag}'` });
    let bytes = await blob(desc, `manifest ${desc.digest}`);
    let manifest = parseManifest(bytes, desc.mediaType, image);
    if (manifest.kind === 'index') {
      const chosen = selectPlatform(manifest.manifests, this.platform);
      if (!chosen)
        fail('IMAGE_NO_MATCHING_PLATFORM', {
          image,
          platform: formatPlatform(this.platform),
          available: manifest.manifests
            .map((m) => (m.platform ? formatPlatform(m.platform) : '?'))
            .join(', '),
        });
      desc = chosen;
      bytes = await blob(desc, `manifest ${desc.digest}`);
      manifest = parseManifest(bytes, desc.mediaType, image);
    }
    if (manifest.kind !== 'image') fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: 'nested index' });
    const configBytes = await blob(manifest.config, 'image config');
    parseImageConfig(configBytes, image);
    return {
      image,
      manifestDigest: desc.digest,
      manifestBytes: bytes,
      configDigest: manifest.config.digest,
      configBytes,
      layers: manifest.layers.map((l, i) => ({
        digest: l.digest,
        size: l.size,
        compression: layerCompression(l.mediaType, image, i),
        open: archive.stream(`blobs/sha256/${l.digest.slice(7)}`),
      })),
    };
  }
}
