/**
 * The virtual file tree behind `/files/*` and the operator calls LIST_FILES / READ_FILE
 * (reference section 5.5, mesos-internals.md section 4.11): host directories and files are
 * "attached" under virtual paths, and every request is resolved against the longest attached
 * prefix, then confined to it.
 *
 * Confinement: the attached root and the requested path are both canonicalised with realpath, and
 * the result must be the root itself or lie below it, so `..`, absolute paths and symlinks that
 * point elsewhere never leave the sandbox. A file is opened without following a final symlink and
 * its descriptor is checked again through /proc, so swapping a path component for a symlink
 * between the check and the open gains nothing.
 *
 * Semantics follow Mesos' FilesProcess: a directory that is browsed lists its entries sorted by
 * name; browsing a file gives an empty list; reads are capped at 16 pages; `offset` past the end
 * gives no data; reading or downloading a directory is a 400.
 */
import { constants, type Dirent, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';

/** Mesos caps one read at 16 pages (`os::pagesize() * 16`): 64 KiB with 4 KiB pages. */
export const MAX_READ_BYTES = 16 * 4096;

/** Why a request failed, in Mesos' FilesError kinds: INVALID → 400, NOT_FOUND → 404, UNKNOWN → 500. */
export type FilesErrorKind = 'invalid' | 'not-found' | 'unknown';

export class FilesError extends Error {
  constructor(
    readonly kind: FilesErrorKind,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return this.kind === 'invalid' ? 400 : this.kind === 'not-found' ? 404 : 500;
  }
}

/** One entry of a listing, as `FileInfo` carries it (uid/gid are names, as Mesos reports them). */
export interface FileEntry {
  /** The virtual path: the requested directory joined with the entry's name. */
  path: string;
  nlink: number;
  size: number;
  /** Whole seconds since the epoch (Mesos takes `st_mtime`). */
  mtimeSecs: number;
  mode: number;
  uid: string;
  gid: string;
}

export interface ReadResult {
  /** The file's size when the read started. */
  size: number;
  data: Buffer;
}

export interface OpenedFile {
  handle: FileHandle;
  size: number;
  /** The real file's name, for `Content-Disposition`. */
  name: string;
  contentType: string;
}

/** Where a virtual path landed: the canonical target and the canonical root it must stay inside. */
export interface Resolved {
  real: string;
  root: string;
  /** `stat` of the target (symlinks followed, which confinement has already vetted). */
  stats: Stats;
}

/** virtual path → host path (not yet canonical: a `runs/latest` link is followed at each request). */
export type AttachmentTable = ReadonlyMap<string, string>;

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

/** ENOENT and ENOTDIR mean "nothing there": Mesos' `None` from realpath, a 404. */
function isMissing(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Strips trailing separators (Mesos attaches and looks paths up without them). */
export function trimVirtualPath(path: string): string {
  return path.replace(/\/+$/, '');
}

/** Whether canonical `real` is `root` or below it; a bare string prefix would let `/a/bc` pass for `/a/b`. */
export function isInside(real: string, root: string): boolean {
  if (real === root) return true;
  const prefix = root.endsWith('/') ? root : `${root}/`;
  return real.startsWith(prefix);
}

/**
 * The attachment a virtual path falls under: the longest attached prefix made of whole path
 * components, and the rest of the path below it (`''` when the path is the attachment itself).
 */
export function longestAttachment(
  table: AttachmentTable,
  virtualPath: string,
): { virtual: string; host: string; suffix: string } | undefined {
  const tokens = trimVirtualPath(virtualPath).split('/');
  for (let i = tokens.length; i > 0; i--) {
    const prefix = tokens.slice(0, i).join('/');
    const host = table.get(prefix);
    if (host !== undefined) return { virtual: prefix, host, suffix: tokens.slice(i).join('/') };
  }
  return undefined;
}

/** `ls -l` style mode text (`drwxr-xr-x`), as Mesos' FileInfo model prints it. */
export function modeString(mode: number): string {
  const type = mode & constants.S_IFMT;
  const kind =
    type === constants.S_IFDIR
      ? 'd'
      : type === constants.S_IFCHR
        ? 'c'
        : type === constants.S_IFBLK
          ? 'b'
          : type === constants.S_IFIFO
            ? 'p'
            : type === constants.S_IFLNK
              ? 'l'
              : type === constants.S_IFSOCK
                ? 's'
                : '-';
  const bits = 'rwxrwxrwx';
  let out = kind;
  for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? bits[i] : '-';
  return out;
}

/**
 * The slice of a file of `size` bytes that a read at `offset` for `length` (undefined: to the end)
 * covers, with Mesos' rules: nothing at or past the end, nothing for a length of 0, at most
 * MAX_READ_BYTES. Pure, so the rules are tested without files.
 */
export function readWindow(size: number, offset: number, length: number | undefined): number {
  if (offset >= size) return 0;
  const wanted = length ?? size - offset;
  return Math.max(0, Math.min(wanted, MAX_READ_BYTES, size - offset));
}

/** MIME types by extension for downloads (the common part of libprocess' table). */
const MIME_TYPES: Readonly<Record<string, string>> = {
  '.txt': 'text/plain',
  '.log': 'text/plain',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.css': 'text/css',
  '.csv': 'text/csv',
  '.js': 'application/javascript',
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/x-gzip',
  '.tgz': 'application/x-gzip',
  '.tar': 'application/x-tar',
  '.bz2': 'application/x-bzip2',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
};

export function contentTypeFor(name: string): string {
  return MIME_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** uid/gid → name from /etc/passwd and /etc/group (what getpwuid/getgrgid find locally). */
class AccountNames {
  private users = new Map<number, string>();
  private groups = new Map<number, string>();
  private loadedAt = Number.NEGATIVE_INFINITY;

  /** Names change rarely; re-reading the files once a minute keeps lookups cheap. */
  private static readonly TTL_MS = 60_000;

  async refresh(): Promise<void> {
    const now = Date.now();
    if (now - this.loadedAt < AccountNames.TTL_MS) return;
    this.loadedAt = now;
    this.users = await AccountNames.parse('/etc/passwd');
    this.groups = await AccountNames.parse('/etc/group');
  }

  private static async parse(file: string): Promise<Map<number, string>> {
    const names = new Map<number, string>();
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return names;
    }
    for (const line of text.split('\n')) {
      const [name, , id] = line.split(':');
      const number = Number(id);
      if (name && id !== undefined && id !== '' && Number.isInteger(number) && !names.has(number)) {
        names.set(number, name);
      }
    }
    return names;
  }

  user(uid: number): string {
    return this.users.get(uid) ?? String(uid);
  }

  group(gid: number): string {
    return this.groups.get(gid) ?? String(gid);
  }
}

/**
 * The tree. `sources` are asked for attachments at each request, so what is attached always
 * matches the agent's records (live and completed executors); `attach` adds fixed ones (the agent
 * log). Later entries win over earlier ones for the same virtual path.
 */
export class Files {
  private readonly fixed = new Map<string, string>();
  private readonly names = new AccountNames();

  constructor(private readonly sources: ReadonlyArray<() => Iterable<readonly [string, string]>> = []) {}

  attach(hostPath: string, virtualPath: string): void {
    this.fixed.set(trimVirtualPath(virtualPath), hostPath);
  }

  detach(virtualPath: string): void {
    this.fixed.delete(trimVirtualPath(virtualPath));
  }

  table(): Map<string, string> {
    const table = new Map(this.fixed);
    for (const source of this.sources) {
      for (const [virtual, host] of source()) table.set(trimVirtualPath(virtual), host);
    }
    return table;
  }

  /** `/files/debug`: each virtual path with the canonical host path it currently stands for. */
  async debug(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [virtual, host] of this.table()) {
      out.set(virtual, await realpath(host).catch(() => host));
    }
    return out;
  }

  /**
   * The canonical host path for `virtualPath`, confined to its attachment. 404 when nothing is
   * attached there or the target does not exist; 400 when it resolves outside its attachment.
   */
  async resolve(virtualPath: string): Promise<Resolved> {
    if (virtualPath.includes('\0')) throw new FilesError('invalid', 'Path contains a NUL byte.\n');
    const match = longestAttachment(this.table(), virtualPath);
    if (!match) throw new FilesError('not-found', '');
    let root: string;
    let rootStats: Stats;
    try {
      root = await realpath(match.host);
      rootStats = await stat(root);
    } catch (err) {
      if (isMissing(err)) throw new FilesError('not-found', '');
      throw new FilesError('unknown', `Failed to access '${match.host}': ${(err as Error).message}.\n`);
    }
    if (!rootStats.isDirectory()) {
      // A file attachment (the agent log) has nothing below it.
      if (match.suffix !== '') throw new FilesError('not-found', '');
      return { real: root, root, stats: rootStats };
    }
    if (match.suffix === '') return { real: root, root, stats: rootStats };
    // Joined as text, not path.join: `..` must be resolved against the real directories (a symlink
    // followed by `..` lands in the link target's parent), which only realpath does.
    const candidate = `${root === '/' ? '' : root}/${match.suffix}`;
    let real: string;
    try {
      real = await realpath(candidate);
    } catch (err) {
      if (isMissing(err)) throw new FilesError('not-found', '');
      if (errnoOf(err) === 'ELOOP') {
        throw new FilesError(
          'invalid',
          `Failed to determine canonical path of '${candidate}': too many symlinks.\n`,
        );
      }
      throw new FilesError(
        'invalid',
        `Failed to determine canonical path of '${candidate}': ${(err as Error).message}.\n`,
      );
    }
    if (!isInside(real, root)) {
      throw new FilesError(
        'invalid',
        `'${candidate}' is inaccessible: it resolves outside '${match.virtual}'.\n`,
      );
    }
    try {
      return { real, root, stats: await stat(real) };
    } catch (err) {
      if (isMissing(err)) throw new FilesError('not-found', '');
      throw new FilesError('unknown', `Failed to stat '${real}': ${(err as Error).message}.\n`);
    }
  }

  /** `/files/browse`, LIST_FILES: the entries of a directory, sorted by name; a file lists as `[]`. */
  async browse(virtualPath: string): Promise<FileEntry[]> {
    const resolved = await this.resolve(virtualPath);
    if (!resolved.stats.isDirectory()) return [];
    let entries: Dirent[];
    try {
      entries = await readdir(resolved.real, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) throw new FilesError('not-found', '');
      throw new FilesError('unknown', `Failed to list '${resolved.real}': ${(err as Error).message}.\n`);
    }
    await this.names.refresh();
    const base = trimVirtualPath(virtualPath);
    const listing: Array<{ name: Buffer; entry: FileEntry }> = [];
    for (const entry of entries) {
      const full = `${resolved.real === '/' ? '' : resolved.real}/${entry.name}`;
      const stats = await this.entryStats(full, entry, resolved.root);
      if (!stats) continue;
      listing.push({
        name: Buffer.from(entry.name),
        entry: {
          path: `${base}/${entry.name}`,
          nlink: stats.nlink,
          size: stats.size,
          mtimeSecs: Math.floor(stats.mtimeMs / 1000),
          mode: stats.mode,
          uid: this.names.user(stats.uid),
          gid: this.names.group(stats.gid),
        },
      });
    }
    // Byte order, as Mesos' std::map of paths sorts them.
    listing.sort((a, b) => Buffer.compare(a.name, b.name));
    return listing.map((l) => l.entry);
  }

  /**
   * What a listing shows for one entry: `stat` (links followed, as Mesos does) unless the entry is
   * a symlink leading outside the root, which shows as the link itself so nothing about the outside
   * leaks. Undefined for an entry that vanished meanwhile.
   */
  private async entryStats(full: string, entry: Dirent, root: string): Promise<Stats | undefined> {
    try {
      if (entry.isSymbolicLink()) {
        const target = await realpath(full).catch(() => undefined);
        if (target === undefined || !isInside(target, root)) return await lstat(full);
      }
      return await stat(full);
    } catch {
      return undefined;
    }
  }

  /**
   * Opens the resolved file for reading: no final symlink is followed, and the descriptor must
   * still name a file inside the root (a component swapped for a symlink after resolution fails).
   */
  private async openConfined(resolved: Resolved): Promise<FileHandle> {
    let handle: FileHandle;
    try {
      handle = await open(resolved.real, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      if (isMissing(err)) throw new FilesError('not-found', '');
      if (errnoOf(err) === 'ELOOP') {
        throw new FilesError('invalid', `'${resolved.real}' is inaccessible: it changed into a symlink.\n`);
      }
      throw new FilesError(
        'unknown',
        `Failed to open file at '${resolved.real}': ${(err as Error).message}.\n`,
      );
    }
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (opened?.startsWith('/') && !isInside(opened, resolved.root)) {
      await handle.close();
      throw new FilesError(
        'invalid',
        `'${resolved.real}' is inaccessible: it resolves outside its sandbox.\n`,
      );
    }
    return handle;
  }

  /**
   * `/files/read`, READ_FILE: up to `length` bytes (undefined: to the end, capped) from `offset`.
   * The size is the file's size, so a caller can tell how far it may go.
   */
  async read(virtualPath: string, offset: number, length: number | undefined): Promise<ReadResult> {
    const resolved = await this.resolve(virtualPath);
    if (resolved.stats.isDirectory()) throw new FilesError('invalid', 'Cannot read a directory.\n');
    const handle = await this.openConfined(resolved);
    try {
      const size = (await handle.stat()).size;
      const count = readWindow(size, offset, length);
      if (count === 0) return { size, data: Buffer.alloc(0) };
      const data = Buffer.alloc(count);
      let filled = 0;
      while (filled < count) {
        const { bytesRead } = await handle.read(data, filled, count - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return { size, data: filled === count ? data : data.subarray(0, filled) };
    } finally {
      await handle.close();
    }
  }

  /** `/files/download`: an open handle on the file; the caller streams and closes it. */
  async openForDownload(virtualPath: string): Promise<OpenedFile> {
    const resolved = await this.resolve(virtualPath);
    if (resolved.stats.isDirectory()) throw new FilesError('invalid', 'Cannot download a directory.\n');
    const handle = await this.openConfined(resolved);
    try {
      const size = (await handle.stat()).size;
      const name = basename(resolved.real);
      return { handle, size, name, contentType: contentTypeFor(name) };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}
