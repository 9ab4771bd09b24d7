/**
 * Test fixtures for the provisioner: a tiny tar writer (ustar + pax for long names/xattrs) and an
 * OCI layout writer, so tests can make exactly the layers they need (hostile ones included).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface FixtureEntry {
  readonly name: string;
  /** '0' file, '1' hardlink, '2' symlink, '3' char, '5' dir, '6' fifo. */
  readonly type?: string;
  readonly data?: string | Buffer;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs?: Readonly<Record<string, string>>;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(e: FixtureEntry, name: string, linkname: string, size: number, type: string): Buffer {
  const b = Buffer.alloc(512);
  b.write(name.slice(0, 100), 0, 'utf8');
  b.write(octal(e.mode ?? (type === '5' ? 0o755 : 0o644), 8), 100, 'ascii');
  b.write(octal(e.uid ?? 0, 8), 108, 'ascii');
  b.write(octal(e.gid ?? 0, 8), 116, 'ascii');
  b.write(octal(size, 12), 124, 'ascii');
  b.write(octal(1_700_000_000, 12), 136, 'ascii');
  b.write('        ', 148, 'ascii');
  b.write(type, 156, 'ascii');
  b.write(linkname.slice(0, 100), 157, 'utf8');
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'ascii');
  b.write(octal(e.devmajor ?? 0, 8), 329, 'ascii');
  b.write(octal(e.devminor ?? 0, 8), 337, 'ascii');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i] as number;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return b;
}

function pad(data: Buffer): Buffer[] {
  const rest = data.length % 512;
  return rest === 0 ? [data] : [data, Buffer.alloc(512 - rest)];
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (`${len}${body}`.length !== len) len = `${len}${body}`.length;
  return `${len}${body}`;
}

/** A tar archive (uncompressed) of `entries`, in order. */
export function makeTar(entries: readonly FixtureEntry[], endBlocks = 2): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? '0';
    const data = type === '0' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const linkname = e.linkname ?? '';
    const records: string[] = [];
    if (Buffer.byteLength(e.name) > 100) records.push(paxRecord('path', e.name));
    if (Buffer.byteLength(linkname) > 100) records.push(paxRecord('linkpath', linkname));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
    if (records.length > 0) {
      const pax = Buffer.from(records.join(''));
      parts.push(header({ name: 'PaxHeader' }, 'PaxHeader', '', pax.length, 'x'), ...pad(pax));
    }
    parts.push(header(e, e.name, linkname, data.length, type), ...pad(data));
  }
  parts.push(Buffer.alloc(512 * endBlocks));
  return Buffer.concat(parts);
}

export const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface LayoutImage {
  readonly tag: string;
  /** Uncompressed layer tars, bottom → top. */
  readonly layers: readonly Buffer[];
  readonly config?: Record<string, unknown>;
  readonly architecture?: string;
  /** Compress layers with the zstd binary instead of gzip. */
  readonly zstd?: boolean;
}

/** Writes (or adds to) an OCI layout at `dir`; returns the manifest digests by tag. */
export function writeOciLayout(dir: string, images: readonly LayoutImage[]): Record<string, string> {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const blob = (bytes: Buffer) => {
    const d = sha256(bytes);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), bytes);
    return { digest: d, size: bytes.length };
  };
  const out: Record<string, string> = {};
  const manifests = images.map((img) => {
    const gz = img.layers.map((l) =>
      img.zstd ? execFileSync('zstd', ['-q', '-c'], { input: l }) : gzipSync(l),
    );
    const layerType = `application/vnd.oci.image.layer.v1.tar+${img.zstd ? 'zstd' : 'gzip'}`;
    const config = Buffer.from(
      JSON.stringify({
        architecture: img.architecture ?? 'amd64',
        os: 'linux',
        config: img.config ?? {},
        rootfs: { type: 'layers', diff_ids: img.layers.map((l) => sha256(l)) },
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(config) },
        layers: gz.map((g) => ({ mediaType: layerType, ...blob(g) })),
      }),
    );
    const m = blob(manifest);
    out[img.tag] = m.digest;
    return {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...m,
      annotations: { 'org.opencontainers.image.ref.name': img.tag },
    };
  });
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
  return out;
}
