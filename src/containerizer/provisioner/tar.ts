/**
 * A streaming tar header walker: it parses ustar/pax/GNU headers as bytes flow past (never
 * buffering file data), checks every entry against the layer safety rules, collects whiteouts, and
 * tells the caller where the archive ends. GNU tar does the writing (see README: why).
 *
 * Safety rules (an entry breaking one fails the whole layer):
 * - no absolute path (except the root entry `/` some tools write), no `..` component, no NUL;
 * - no entry below a path that an earlier entry of the same layer made a symlink (or a hardlink
 *   to one): writing through it could leave the layer directory;
 * - hardlink targets obey the same rules;
 * - whiteout names must name a real child (`.wh.`, `.wh..`, `.wh...` are refused).
 */

export interface TarEntry {
  /** Normalised path relative to the layer root (`''` for the root itself). */
  readonly path: string;
  /** Typeflag character: '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo. */
  readonly type: string;
  readonly size: number;
  readonly mode: number;
  readonly linkname: string;
}

export type WhiteoutKind = 'whiteout' | 'opaque' | 'meta' | 'none';

/**
 * What a layer entry means for overlay: `.wh..wh..opq` makes its directory opaque, `.wh.X` hides X,
 * other `.wh..wh.*` are AUFS bookkeeping (dropped). `target` is the path the marker applies to.
 */
export function classifyWhiteout(path: string): { kind: WhiteoutKind; target: string } {
  const slash = path.lastIndexOf('/');
  const dir = slash >= 0 ? path.slice(0, slash) : '';
  const base = slash >= 0 ? path.slice(slash + 1) : path;
  if (!base.startsWith('.wh.')) return { kind: 'none', target: path };
  if (base === '.wh..wh..opq') return { kind: 'opaque', target: dir };
  if (base.startsWith('.wh..wh.')) return { kind: 'meta', target: path };
  const name = base.slice(4);
  return { kind: 'whiteout', target: dir ? `${dir}/${name}` : name };
}

export class UnsafeEntryError extends Error {
  constructor(
    readonly entry: string,
    readonly why: string,
  ) {
    super(`entry '${entry}' ${why}`);
  }
}

export class CorruptTarError extends Error {}

/** Normalises an entry name; throws UnsafeEntryError when it could escape. */
export function normalizeEntryPath(raw: string): string {
  if (raw.includes('\0')) throw new UnsafeEntryError(raw, 'contains a NUL byte');
  let name = raw;
  if (name === '/' || name === './' || name === '.' || name === '') return '';
  if (name.startsWith('/')) throw new UnsafeEntryError(raw, 'is an absolute path');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new UnsafeEntryError(raw, "contains a '..' component");
    parts.push(part);
  }
  name = parts.join('/');
  return name;
}

const BLOCK = 512;
const MAX_META = 1024 * 1024;

function cstring(buf: Buffer, start: number, length: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end >= 0 && end < start + length ? end : start + length);
}

function number(buf: Buffer, start: number, length: number): number {
  const first = buf[start] as number;
  if (first & 0x80) {
    // base-256 (GNU): big-endian, high bit of the first byte is the marker.
    let value = first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (buf[start + i] as number);
    return value;
  }
  const text = buf
    .toString('ascii', start, start + length)
    .replace(/\0.*$/s, '')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new CorruptTarError(`bad octal field '${text}'`);
  return Number.parseInt(text, 8);
}

export interface RawHeader {
  readonly name: string;
  readonly linkname: string;
  readonly type: string;
  readonly size: number;
  readonly mode: number;
}

/** Parses one 512-byte header block; undefined for an all-zero block. Verifies the checksum. */
export function parseHeader(block: Buffer): RawHeader | undefined {
  let zero = true;
  for (let i = 0; i < BLOCK; i++)
    if (block[i] !== 0) {
      zero = false;
      break;
    }
  if (zero) return undefined;
  const expected = number(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] as number);
  if (sum !== expected) throw new CorruptTarError(`header checksum mismatch (${sum} != ${expected})`);
  const magic = block.toString('latin1', 257, 263);
  let name = cstring(block, 0, 100);
  if (magic === 'ustar\0') {
    const prefix = cstring(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const typeByte = block[156] as number;
  return {
    name,
    linkname: cstring(block, 157, 100),
    type: typeByte === 0 ? '0' : String.fromCharCode(typeByte),
    size: number(block, 124, 12),
    mode: number(block, 100, 8),
  };
}

/** Parses pax records (`<len> key=value\n`). */
export function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space < 0) break;
    const len = Number.parseInt(data.toString('ascii', i, space), 10);
    if (!Number.isFinite(len) || len <= 0 || i + len > data.length)
      throw new CorruptTarError('bad pax record length');
    const record = data.toString('utf8', space + 1, i + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    i += len;
  }
  return out;
}

/**
 * Incremental walker. Feed chunks with `write`; it returns how many bytes of the chunk belong to
 * the archive (everything up to and including the two end-of-archive zero blocks). Call `end` once
 * the input is done.
 */
export class TarWalker {
  readonly whiteouts: string[] = [];
  readonly opaques: string[] = [];
  readonly metas: string[] = [];
  entries = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes still to skip (file data + padding). */
  private skip = 0;
  /** Collecting a meta entry's data (pax / GNU long name). */
  private meta: { type: string; size: number; padded: number } | undefined;
  private pax = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;
  private zeroBlocks = 0;
  private done = false;
  /** Paths that are symlinks (or hardlinks to symlinks) in this layer. */
  private readonly symlinks = new Set<string>();

  constructor(private readonly onEntry?: (e: TarEntry) => void) {}

  get finished(): boolean {
    return this.done;
  }

  write(chunk: Buffer): number {
    if (this.done) return 0;
    let offset = 0;
    while (offset < chunk.length && !this.done) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - offset);
        this.skip -= n;
        offset += n;
        continue;
      }
      const need = this.meta ? this.meta.padded : BLOCK;
      const n = Math.min(need - this.pendingBytes, chunk.length - offset);
      this.pending.push(chunk.subarray(offset, offset + n));
      this.pendingBytes += n;
      offset += n;
      if (this.pendingBytes < need) break;
      const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      if (this.meta) this.finishMeta(data);
      else this.header(data);
    }
    return offset;
  }

  end(): void {
    if (this.done) return;
    if (this.skip > 0 || this.pendingBytes > 0 || this.meta)
      throw new CorruptTarError('archive is truncated (ended inside an entry)');
    if (this.entries === 0 && this.zeroBlocks === 0)
      throw new CorruptTarError('empty input: not a tar archive');
    // A missing end-of-archive marker after complete entries is accepted, as GNU tar does.
    this.done = true;
  }

  private header(block: Buffer): void {
    const h = parseHeader(block);
    if (!h) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.done = true;
      return;
    }
    if (this.zeroBlocks > 0) throw new CorruptTarError('a lone zero block inside the archive');
    if (h.type === 'x' || h.type === 'g' || h.type === 'L' || h.type === 'K') {
      if (h.size > MAX_META) throw new CorruptTarError(`metadata entry of ${h.size} bytes`);
      const padded = Math.ceil(h.size / BLOCK) * BLOCK;
      if (padded === 0) return;
      this.meta = { type: h.type, size: h.size, padded };
      return;
    }
    const size = this.pax.has('size') ? Number(this.pax.get('size')) : h.size;
    if (!Number.isSafeInteger(size) || size < 0)
      throw new CorruptTarError(`bad size '${this.pax.get('size')}'`);
    const rawName = this.pax.get('path') ?? this.longName ?? h.name;
    const rawLink = this.pax.get('linkpath') ?? this.longLink ?? h.linkname;
    this.pax = new Map();
    this.longName = undefined;
    this.longLink = undefined;
    // Only regular files (and GNU contiguous/sparse) carry data; links and devices do not.
    const hasData = h.type === '0' || h.type === '7' || h.type === 'S' || h.type === 'D';
    this.skip = hasData ? Math.ceil(size / BLOCK) * BLOCK : 0;
    this.entries++;
    this.check({ path: rawName, type: h.type, size, mode: h.mode, linkname: rawLink });
  }

  private finishMeta(data: Buffer): void {
    const meta = this.meta as { type: string; size: number };
    this.meta = undefined;
    const body = data.subarray(0, meta.size);
    if (meta.type === 'x') for (const [k, v] of parsePax(body)) this.pax.set(k, v);
    else if (meta.type === 'L') this.longName = body.toString('utf8').replace(/\0+$/, '');
    else if (meta.type === 'K') this.longLink = body.toString('utf8').replace(/\0+$/, '');
    // 'g' (global pax) carries no path for us; GNU tar applies it itself.
  }

  private check(raw: TarEntry): void {
    const path = normalizeEntryPath(raw.path);
    if (path === '') {
      if (raw.type !== '5') throw new UnsafeEntryError(raw.path, 'is the layer root but not a directory');
      this.onEntry?.({ ...raw, path });
      return;
    }
    this.throughSymlink(path, raw.path);
    let linkname = raw.linkname;
    if (raw.type === '1') {
      const target = normalizeEntryPath(raw.linkname);
      if (target === '') throw new UnsafeEntryError(raw.path, 'is a hardlink to the layer root');
      this.throughSymlink(target, raw.path);
      linkname = target;
    }
    const w = classifyWhiteout(path);
    if (w.kind === 'whiteout') {
      const base = w.target.slice(w.target.lastIndexOf('/') + 1);
      if (base === '' || base === '.' || base === '..')
        throw new UnsafeEntryError(raw.path, 'is a whiteout of no real name');
      this.whiteouts.push(w.target);
    } else if (w.kind === 'opaque') this.opaques.push(w.target);
    else if (w.kind === 'meta') this.metas.push(path);
    if (raw.type === '2' || (raw.type === '1' && this.symlinks.has(linkname))) this.symlinks.add(path);
    else this.symlinks.delete(path);
    this.onEntry?.({ ...raw, path, linkname });
  }

  private throughSymlink(path: string, raw: string): void {
    if (this.symlinks.size === 0) return;
    let i = path.indexOf('/');
    while (i >= 0) {
      const prefix = path.slice(0, i);
      if (this.symlinks.has(prefix))
        throw new UnsafeEntryError(
          raw,
          `would be written through the symlink '${prefix}' planted by an earlier entry`,
        );
      i = path.indexOf('/', i + 1);
    }
  }
}
