/**
 * The agent's `files` process (reference section 5.5): `/files/browse`, `/files/read`,
 * `/files/download` and `/files/debug`, with the pre-1.7 `.json` aliases, over the virtual tree of
 * files.ts. Also what is attached there: each executor's sandbox under its real directory, the
 * same path through `runs/latest`, and `/frameworks/<fid>/executors/<eid>/runs/latest`; the agent
 * log at `/slave/log` when `--external_log_file` names one.
 *
 * Query and error texts are Mesos': `Expecting 'path=value' in query.`, `Failed to parse offset:
 * ...`, `Negative offset provided: N.`, `Cannot read a directory.`; a path that resolves outside
 * its sandbox is a 400 saying so.
 */
import { join } from 'node:path';
import { invalidIdReason } from '../common/ids.js';
import { type HttpResponse, jsonResponse, textResponse } from '../http/responses.js';
import type { HttpRequest, HttpServer } from '../http/server.js';
import { JsonNumber, type JsonObject, stringifyJson } from '../wire/json-text.js';
import type { Agent, ExecutorRecord, FrameworkRecord } from './agent.js';
import { type FileEntry, Files, FilesError, modeString } from './files.js';

/** The virtual path Mesos gives the latest run of an executor. */
export function executorVirtualPath(frameworkId: string, executorId: string): string {
  return `/frameworks/${frameworkId}/executors/${executorId}/runs/latest`;
}

/** The virtual path of the agent log. */
export const AGENT_LOG_VIRTUAL_PATH = '/slave/log';

function* executorAttachments(executor: ExecutorRecord): Iterable<readonly [string, string]> {
  // An id that is no valid path component never got a sandbox (its launch was refused): nothing to show.
  if (invalidIdReason(executor.frameworkId) !== undefined || invalidIdReason(executor.id) !== undefined)
    return;
  yield [executor.directory, executor.directory];
  yield [join(executor.directory, '..', 'latest'), executor.directory];
  yield [executorVirtualPath(executor.frameworkId, executor.id), executor.directory];
}

function* frameworkAttachments(framework: FrameworkRecord): Iterable<readonly [string, string]> {
  for (const executor of framework.completedExecutors) yield* executorAttachments(executor);
  for (const executor of framework.executors.values()) yield* executorAttachments(executor);
}

/**
 * Every sandbox the agent knows, oldest first so that the `latest` names end up on the newest run
 * of an executor id: completed frameworks, then live ones; within a framework completed
 * executors, then live ones. Runs whose directory has been garbage collected resolve to 404.
 */
export function sandboxAttachments(agent: Agent): () => Iterable<readonly [string, string]> {
  return function* () {
    for (const framework of agent.completedFrameworks) yield* frameworkAttachments(framework);
    for (const framework of agent.frameworks.values()) yield* frameworkAttachments(framework);
  };
}

/** The agent's file tree: its sandboxes and, when given, the agent log. */
export function agentFiles(agent: Agent, externalLogFile: string | undefined): Files {
  const files = new Files([sandboxAttachments(agent)]);
  if (externalLogFile !== undefined && externalLogFile !== '') {
    files.attach(externalLogFile, AGENT_LOG_VIRTUAL_PATH);
  }
  return files;
}

/** A Files failure as Mesos answers it; an empty 404 gets a line naming the path. */
export function filesErrorResponse(err: FilesError, path: string): HttpResponse {
  if (err.kind === 'not-found' && err.message === '') {
    return textResponse(404, `No file or directory at '${path}'.\n`);
  }
  return textResponse(err.status, err.message);
}

/** `mesos.v1.FileInfo` of a listing entry, as LIST_FILES answers it (numeric mode, mtime in ns). */
export function fileInfoInit(entry: FileEntry) {
  return {
    path: entry.path,
    nlink: entry.nlink,
    size: BigInt(entry.size),
    mtime: { nanoseconds: BigInt(entry.mtimeSecs) * 1_000_000_000n },
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
  };
}

/**
 * LIST_FILES of an operator API (agent or master): `respond` gets the `list_files` payload; a
 * path the tree does not have is 404, a directory escape 400 (Mesos' texts).
 */
export async function operatorListFiles(
  files: Files,
  path: string,
  respond: (payload: { fileInfos: ReturnType<typeof fileInfoInit>[] }) => HttpResponse,
): Promise<HttpResponse> {
  try {
    return respond({ fileInfos: (await files.browse(path)).map(fileInfoInit) });
  } catch (err) {
    if (err instanceof FilesError) return filesErrorResponse(err, path);
    throw err;
  }
}

/**
 * READ_FILE of an operator API: `respond` gets the `read_file` payload (`size` is the whole
 * file's); `length` undefined reads as much as one read may.
 */
export async function operatorReadFile(
  files: Files,
  read: { path: string; offset: bigint; length: bigint | undefined },
  respond: (payload: { size: bigint; data: Uint8Array }) => HttpResponse,
): Promise<HttpResponse> {
  // Beyond 2^53 nothing is there to read; clamping keeps the arithmetic in exact doubles.
  const clamp = (n: bigint) => (n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n));
  try {
    const length = read.length === undefined ? undefined : clamp(read.length);
    const result = await files.read(read.path, clamp(read.offset), length);
    return respond({ size: BigInt(result.size), data: result.data });
  } catch (err) {
    if (err instanceof FilesError) return filesErrorResponse(err, read.path);
    throw err;
  }
}

/** A FileInfo in the legacy JSON of `/files/browse` (mtime in seconds, mode as `ls -l` prints it). */
export function fileEntryJson(entry: FileEntry): JsonObject {
  return {
    path: entry.path,
    nlink: entry.nlink,
    size: entry.size,
    mtime: JsonNumber.ofDouble(entry.mtimeSecs),
    mode: modeString(entry.mode),
    uid: entry.uid,
    gid: entry.gid,
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = '0123456789abcdef';
const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  8: '\\b',
  9: '\\t',
  10: '\\n',
  12: '\\f',
  13: '\\r',
};

/**
 * File bytes as a JSON string literal, byte for byte: quotes, backslashes and control characters
 * are escaped and everything else is copied, so bytes that are not UTF-8 are passed on as they are
 * (Mesos writes the data the same way) instead of turning into replacement characters that would
 * shift the offsets a tailing client computes.
 */
export function jsonStringBytes(data: Uint8Array): Buffer {
  let extra = 0;
  for (const byte of data) {
    if (byte === QUOTE || byte === BACKSLASH) extra += 1;
    else if (byte < 0x20) extra += SHORT_ESCAPES[byte] ? 1 : 5;
  }
  const out = Buffer.allocUnsafe(data.length + extra + 2);
  let at = 0;
  out[at++] = QUOTE;
  for (const byte of data) {
    if (byte === QUOTE || byte === BACKSLASH) {
      out[at++] = BACKSLASH;
      out[at++] = byte;
    } else if (byte < 0x20) {
      const short = SHORT_ESCAPES[byte];
      at += out.write(short ?? `\\u00${HEX[byte >> 4]}${HEX[byte & 15]}`, at, 'latin1');
    } else {
      out[at++] = byte;
    }
  }
  out[at++] = QUOTE;
  return out;
}

/** `{"offset":N,"data":"..."}` as bytes. */
export function readJson(offset: number, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`{"offset":${offset},"data":`), jsonStringBytes(data), Buffer.from('}')]);
}

/** An offset or length query value: an integer not below -1, in Mesos' texts otherwise. */
export function parseReadParameter(
  name: 'offset' | 'length',
  text: string,
): { value: number } | { error: string } {
  const trimmed = text.trim();
  if (!/^[+-]?\d+$/.test(trimmed))
    return { error: `Failed to parse ${name}: Failed to convert '${text}' to number.\n` };
  const big = BigInt(trimmed);
  // The value must fit a signed 64-bit integer (off_t / ssize_t), as Mesos parses it.
  if (big > 2n ** 63n - 1n || big < -(2n ** 63n)) {
    return { error: `Failed to parse ${name}: Failed to convert '${text}' to number.\n` };
  }
  if (big < -1n) return { error: `Negative ${name} provided: ${big}.\n` };
  // Beyond 2^53 no file on this machine is that large: clamping keeps every comparison exact.
  return { value: big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big) };
}

/** Content-Disposition for a download; names a header cannot carry go in RFC 5987 form. */
function disposition(name: string): string {
  if (/^[\x20-\x7e]*$/.test(name) && !/[";\\]/.test(name)) return `attachment; filename=${name}`;
  return `attachment; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function requiredPath(request: HttpRequest): string | undefined {
  const path = request.query.get('path');
  return path === null || path === '' ? undefined : path;
}

const MISSING_PATH = "Expecting 'path=value' in query.\n";

async function guarded(path: string, work: () => Promise<HttpResponse>): Promise<HttpResponse> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof FilesError) return filesErrorResponse(err, path);
    throw err;
  }
}

export function registerFilesEndpoints(http: HttpServer, files: Files): void {
  const browse = async (request: HttpRequest): Promise<HttpResponse> => {
    const path = requiredPath(request);
    if (path === undefined) return textResponse(400, MISSING_PATH);
    return guarded(path, async () => {
      const listing = await files.browse(path);
      return jsonResponse(request.query, stringifyJson(listing.map(fileEntryJson)));
    });
  };

  const read = async (request: HttpRequest): Promise<HttpResponse> => {
    const path = requiredPath(request);
    if (path === undefined) return textResponse(400, MISSING_PATH);
    let offset = -1;
    const offsetText = request.query.get('offset');
    if (offsetText !== null) {
      const parsed = parseReadParameter('offset', offsetText);
      if ('error' in parsed) return textResponse(400, parsed.error);
      offset = parsed.value;
    }
    let length: number | undefined;
    const lengthText = request.query.get('length');
    if (lengthText !== null) {
      const parsed = parseReadParameter('length', lengthText);
      if ('error' in parsed) return textResponse(400, parsed.error);
      // -1 is what the web UI's pailer sends first: the same as no length.
      if (parsed.value > -1) length = parsed.value;
    }
    return guarded(path, async () => {
      // offset=-1 (or none) asks for the size: a read of nothing, answered with the size as offset.
      const result = await files.read(path, offset === -1 ? 0 : offset, offset === -1 ? 0 : length);
      return jsonResponse(request.query, readJson(offset === -1 ? result.size : offset, result.data));
    });
  };

  const download = async (request: HttpRequest): Promise<HttpResponse> => {
    const path = requiredPath(request);
    if (path === undefined) return textResponse(400, MISSING_PATH);
    return guarded(path, async () => {
      const opened = await files.openForDownload(path);
      return {
        status: 200,
        headers: { 'Content-Type': opened.contentType, 'Content-Disposition': disposition(opened.name) },
        file: { handle: opened.handle, length: opened.size },
      };
    });
  };

  const debug = async (request: HttpRequest): Promise<HttpResponse> => {
    const table: JsonObject = {};
    for (const [virtual, real] of await files.debug()) table[virtual] = real;
    return jsonResponse(request.query, stringifyJson(table));
  };

  for (const [name, handler] of [
    ['browse', browse],
    ['read', read],
    ['download', download],
    ['debug', debug],
  ] as const) {
    http.route('files', `/${name}`, handler);
    http.route('files', `/${name}.json`, handler);
  }
}
