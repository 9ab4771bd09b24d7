/**
 * The response vocabulary handlers return, plus the small builders every endpoint needs: plain
 * bodies, 202, JSON with the legacy `?jsonp=` wrapper, the leader redirect and 503s. Turning a
 * thrown error into a response also lives here, so the mapping is one function with one test.
 */
import type { FileHandle } from 'node:fs/promises';
import { StrataError } from '../common/errors.js';
import { APPLICATION_JSON, TEXT_JAVASCRIPT, TEXT_PLAIN_UTF8 } from './media.js';
import { encodePath } from './router.js';

export type OutgoingHeaders = Readonly<Record<string, string | number | readonly string[]>>;

/**
 * A complete response: status, headers, and an optional body sent with a Content-Length. A body
 * built in pieces (a large legacy JSON document) may be given as the list of them: they are sent
 * in order, never joined into one buffer, which for hundreds of megabytes would stall the event
 * loop.
 */
export interface BodyResponse {
  status: number;
  headers?: OutgoingHeaders;
  body?: Uint8Array | string | readonly Uint8Array[];
}

/**
 * A RecordIO stream: the status and headers go out at once, then `open` gets the stream. The stream
 * stays open after `open` returns or resolves; it closes when someone calls `end()`, the client
 * disconnects or the server closes. If `open` throws or rejects, the stream is ended. `open` is not
 * called at all when the client has already gone by the time the handler returns.
 */
export interface StreamResponse {
  status: number;
  headers?: OutgoingHeaders;
  open: (stream: RecordStream) => void | Promise<void>;
}

/**
 * A file sent as it is on disk (`/files/download`): `length` bytes streamed from an open handle
 * with a Content-Length, never read into memory whole. The server closes the handle once the body
 * is sent or the client has gone.
 */
export interface FileResponse {
  status: number;
  headers?: OutgoingHeaders;
  file: { handle: FileHandle; length: number };
}

export type HttpResponse = BodyResponse | StreamResponse | FileResponse;

export type StreamCloseReason = 'ended' | 'aborted' | 'disconnected' | 'server-closed';

/** The writing end of a streaming response (chunked transfer encoding, one record per chunk). */
export interface RecordStream {
  /**
   * Frames `record` as RecordIO and sends it as one HTTP chunk, flushed at once. Returns false
   * (and drops the record) when the stream has already closed.
   */
  write(record: Uint8Array | string): boolean;
  /** Bytes accepted but not yet handed to the kernel; lets producers drop a consumer that stalls. */
  readonly bufferedBytes: number;
  readonly closed: boolean;
  /** Aborted when the stream closes, for whatever reason. */
  readonly signal: AbortSignal;
  /** Settles once the stream has closed, with why. */
  readonly done: Promise<StreamCloseReason>;
  /** Sends the terminating chunk after whatever is still queued. Idempotent. */
  end(): void;
  /**
   * Drops the connection at once, discarding queued records: for a consumer that stopped reading,
   * which `end()` would otherwise wait on. The client sees a stream cut short. Idempotent.
   */
  abort(): void;
}

export function isStreamResponse(response: HttpResponse): response is StreamResponse {
  return 'open' in response;
}

export function isFileResponse(response: HttpResponse): response is FileResponse {
  return 'file' in response;
}

/** libprocess' reply to a request no process or endpoint matched: 404, no body. */
export const NOT_FOUND: BodyResponse = { status: 404 };

export const NO_LEADER_ELECTED = 'No leader elected';
export const MASTER_RECOVERING = 'Master has not finished recovery';
export const AGENT_RECOVERING = 'Agent has not finished recovery';

export function textResponse(status: number, text: string): BodyResponse {
  if (text === '') return { status };
  return { status, headers: { 'Content-Type': TEXT_PLAIN_UTF8 }, body: text };
}

/** `202 Accepted`, no body: the answer to every successful non-SUBSCRIBE scheduler call. */
export function accepted(): BodyResponse {
  return { status: 202 };
}

/** `200 OK` with an encoded message (JSON or protobuf) in the negotiated type. */
export function messageResponse(body: Uint8Array | string, contentType: string, status = 200): BodyResponse {
  return { status, headers: { 'Content-Type': contentType }, body };
}

const JSONP_CALLBACK = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/;
const JSONP_CALLBACK_MAX_LENGTH = 256;

/**
 * A legacy JSON endpoint body (`/state`, `/metrics/snapshot`, ...), as text or as bytes. With
 * `?jsonp=cb` it becomes `cb(<json>);` as `text/javascript`, as libprocess does. Unlike libprocess
 * the callback must be a (dotted) JavaScript identifier, so the endpoint cannot be used to reflect
 * arbitrary script.
 */
export function jsonResponse(query: URLSearchParams, json: string | Uint8Array, status = 200): BodyResponse {
  const callback = query.get('jsonp');
  if (callback === null) return { status, headers: { 'Content-Type': APPLICATION_JSON }, body: json };
  if (callback.length > JSONP_CALLBACK_MAX_LENGTH || !JSONP_CALLBACK.test(callback)) {
    throw new StrataError('HTTP_BAD_REQUEST', { detail: "Invalid 'jsonp' callback name" });
  }
  const headers = { 'Content-Type': TEXT_JAVASCRIPT };
  if (typeof json === 'string') return { status, headers, body: `${callback}(${json});` };
  // JSON already in bytes (file data that need not be UTF-8) is wrapped without being decoded.
  return { status, headers, body: [Buffer.from(`${callback}(`), json, Buffer.from(');')] };
}

export function temporaryRedirect(location: string): BodyResponse {
  return { status: 307, headers: { Location: location } };
}

export interface LeaderAddress {
  /** `MasterInfo.hostname` of the leader (or its IP when it has none). */
  hostname: string;
  port: number;
}

/**
 * The scheme-relative URL a non-leading master sends clients to (reference §1.6): the leader's
 * host and port, then the path as rewritten by delegation and the query as received, e.g.
 * `//m2:5050/master/api/v1/scheduler`. Without `request` it is the leader's bare root, which is
 * what `/redirect` answers.
 */
export function leaderLocation(leader: LeaderAddress, request?: { path: string; rawQuery: string }): string {
  const host =
    leader.hostname.includes(':') && !leader.hostname.startsWith('[')
      ? `[${leader.hostname}]`
      : leader.hostname;
  const base = `//${host}:${leader.port}`;
  if (!request) return base;
  const query = request.rawQuery === '' ? '' : `?${headerSafe(request.rawQuery)}`;
  return base + encodePath(request.path) + query;
}

export function redirectToLeader(
  leader: LeaderAddress,
  request?: { path: string; rawQuery: string },
): BodyResponse {
  return temporaryRedirect(leaderLocation(leader, request));
}

/** Throws the 503 whose body is `detail`, e.g. `NO_LEADER_ELECTED` or `MASTER_RECOVERING`. */
export function serviceUnavailable(detail: string): never {
  throw new StrataError('HTTP_SERVICE_UNAVAILABLE', { detail });
}

/** Outcome of mapping a thrown value; `unexpected` ones are bugs and deserve an error log. */
export interface ErrorMapping {
  response: BodyResponse;
  unexpected: boolean;
}

/**
 * A StrataError becomes its catalogue status with its message as a `text/plain; charset=utf-8`
 * body (no body when the message is empty, like libprocess' bare 404), plus `Allow` for a 405.
 * Anything else becomes a 500 that reveals nothing of the failure: details go to the log.
 */
export function errorToResponse(err: unknown): ErrorMapping {
  if (err instanceof StrataError) {
    const response = textResponse(err.status, err.message);
    if (err.code === 'HTTP_METHOD_NOT_ALLOWED' && typeof err.params.allow === 'string') {
      response.headers = { ...response.headers, Allow: err.params.allow };
    }
    return { response, unexpected: err.code === 'INTERNAL' };
  }
  const internal = new StrataError('INTERNAL', {
    detail: 'the request failed unexpectedly; see the server log',
  });
  return { response: textResponse(internal.status, internal.message), unexpected: true };
}

const utf8 = new TextEncoder();

/**
 * Keeps a raw query header-safe: anything outside printable ASCII is percent-encoded. node:http
 * hands the request target over as latin1, so a char up to 0xFF is the original byte.
 */
function headerSafe(rawQuery: string): string {
  return rawQuery.replace(/[^\x21-\x7e]/gu, (char) => {
    const code = char.codePointAt(0)!;
    const bytes = code <= 0xff ? [code] : Array.from(utf8.encode(char));
    return bytes.map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  });
}
