/**
 * The HTTP layer master and agent share: node:http plus libprocess routing (router.ts), typed
 * requests and responses (responses.ts), RecordIO streaming, error mapping and gzip. No framework:
 * delegation of unknown first segments, percent-decoded process ids and one-chunk-per-record
 * streams are rules frameworks do not have and would fight.
 *
 * Flow of a request: split the target into path and query -> RouteTable.resolve (404 / 400 on
 * failure) -> handler(HttpRequest) -> BodyResponse (gzip when allowed, Content-Length) or
 * StreamResponse (headers flushed, chunked, records written one per chunk). Anything thrown becomes
 * a response through errorToResponse; nothing a handler does can take the process down.
 */

import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip, gzip } from 'node:zlib';
import { StrataError } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { encodeRecord, encodeRecordString } from '../wire/recordio.js';
import { headerValue, shouldGzip } from './media.js';
import {
  type BodyResponse,
  errorToResponse,
  type FileResponse,
  type HttpResponse,
  isFileResponse,
  isStreamResponse,
  NOT_FOUND,
  type OutgoingHeaders,
  type RecordStream,
  type StreamCloseReason,
  type StreamResponse,
  textResponse,
} from './responses.js';
import { RouteTable } from './router.js';

const gzipAsync = promisify(gzip);

/** Default cap on a buffered request body: one message, as large as a RecordIO record may be. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
/** How long `close()` lets in-flight requests finish before cutting their connections. */
export const DEFAULT_CLOSE_GRACE_MS = 5000;

/** What the server logs: a subset of pino's Logger, so the project's loggers (common/log.ts) fit as is. */
export interface HttpLogger {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface HttpRequest {
  readonly method: string;
  /** Decoded, normalised and delegated: `/master/api/v1/scheduler` even when `/api/v1/scheduler` came in. */
  readonly path: string;
  /** The path exactly as it appeared in the request line, without the query. */
  readonly originalPath: string;
  readonly processId: string;
  /** The matched endpoint inside the process, e.g. `/state`, `/api/v1`, `/` for the root. */
  readonly endpoint: string;
  /** Decoded components below the endpoint (`x` for `/master/state/x`), empty when exact. */
  readonly subPath: string;
  /** The query as received, without `?`; empty when there is none. */
  readonly rawQuery: string;
  readonly query: URLSearchParams;
  /** Lower-case header names, as node:http delivers them. */
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string | undefined;
  /** Aborted when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
  /** One header's value (duplicates joined with `, `), looked up case-insensitively. */
  header(name: string): string | undefined;
  /** The whole body; `HTTP_BODY_TOO_LARGE` (413) beyond `maxBytes` (default: the route's limit). */
  body(options?: { maxBytes?: number }): Promise<Uint8Array>;
  /** The body as it arrives, unbounded (for streamed request bodies); use either this or `body`. */
  bodyStream(): AsyncIterable<Uint8Array>;
}

export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

export type Handler = (request: HttpRequest) => HttpResponse | Promise<HttpResponse>;

export interface RouteOptions {
  /** Cap for `request.body()` on this route; default the server's `maxBodyBytes`. */
  maxBodyBytes?: number;
}

export interface HttpServerOptions {
  /** The main process (`master`, `slave(1)`) that unknown first path segments are delegated to. */
  delegate?: string;
  maxBodyBytes?: number;
  closeGraceMs?: number;
  logger?: HttpLogger;
}

export interface BoundAddress {
  host: string;
  port: number;
  family: string;
}

interface Route {
  handler: Handler;
  maxBodyBytes: number;
}

export class HttpServer {
  private readonly routes: RouteTable<Route>;
  private readonly maxBodyBytes: number;
  private readonly closeGraceMs: number;
  private readonly logger: HttpLogger;
  private readonly streams = new Set<ResponseRecordStream>();
  private server: Server | undefined;
  private upgradeHandler: UpgradeHandler | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: HttpServerOptions = {}) {
    this.routes = new RouteTable<Route>(options.delegate);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.closeGraceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    this.logger = options.logger ?? createLogger('http');
  }

  /** Serves `endpoint` (`/state`, `/api/v1`, `/` for the root) of process `processId`. */
  route(processId: string, endpoint: string, handler: Handler, options: RouteOptions = {}): this {
    this.routes.add(processId, endpoint, {
      handler,
      maxBodyBytes: options.maxBodyBytes ?? this.maxBodyBytes,
    });
    return this;
  }

  /**
   * Takes over HTTP/1.1 Upgrade requests (the master's strata-link/1 agent connections). Without
   * a handler, node:http closes such connections.
   */
  onUpgrade(handler: UpgradeHandler): this {
    this.upgradeHandler = handler;
    this.server?.on('upgrade', handler);
    return this;
  }

  /** Starts listening; port 0 picks a free port. Resolves with the address actually bound. */
  async listen(host: string, port: number): Promise<BoundAddress> {
    if (this.server) throw new StrataError('INTERNAL', { detail: 'HttpServer.listen called twice' });
    // requestTimeout 0: a streamed request body (ATTACH_CONTAINER_INPUT) may legitimately last for
    // hours; headersTimeout still bounds clients that never finish their headers.
    const server = createServer({ requestTimeout: 0, noDelay: true, keepAlive: true }, (req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        this.logger.error({ err }, 'http: failed to answer a request');
        if (!res.destroyed) res.destroy();
      });
    });
    this.server = server;
    if (this.upgradeHandler) server.on('upgrade', this.upgradeHandler);
    const settled = new AbortController();
    try {
      server.listen({ host, port });
      await Promise.race([
        once(server, 'listening', { signal: settled.signal }),
        once(server, 'error', { signal: settled.signal }).then(([err]) => {
          throw err;
        }),
      ]);
    } catch (err) {
      this.server = undefined;
      throw err;
    } finally {
      settled.abort();
    }
    // Without a listener a late server error (EMFILE on accept, say) would crash the process.
    server.on('error', (err) => this.logger.error({ err }, 'http: server error'));
    return this.address()!;
  }

  /** The bound address, or undefined when not listening. */
  address(): BoundAddress | undefined {
    const address = this.server?.address();
    if (!address || typeof address === 'string') return undefined;
    const { address: host, port, family } = address as AddressInfo;
    return { host, port, family };
  }

  /** Open streaming responses (subscriptions), for metrics and tests. */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Stops accepting connections, ends every open stream cleanly (terminating chunk), lets in-flight
   * requests finish for up to `closeGraceMs`, then cuts what is left. Idempotent.
   */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    for (const stream of this.streams) stream.endBecause('server-closed');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const sweep = setInterval(() => server.closeIdleConnections(), 25);
    const deadline = setTimeout(() => server.closeAllConnections(), this.closeGraceMs);
    try {
      await closed;
    } finally {
      clearInterval(sweep);
      clearTimeout(deadline);
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    const queryAt = target.indexOf('?');
    const originalPath = queryAt === -1 ? target : target.slice(0, queryAt);
    const rawQuery = queryAt === -1 ? '' : target.slice(queryAt + 1);

    const resolution = this.routes.resolve(originalPath);
    if (resolution.kind === 'bad-request') {
      await this.send(req, res, textResponse(400, resolution.detail));
      return;
    }
    if (resolution.kind === 'not-found') {
      await this.send(req, res, NOT_FOUND);
      return;
    }

    const request = new IncomingRequest(req, res, {
      path: resolution.path,
      originalPath,
      processId: resolution.processId,
      endpoint: resolution.endpoint,
      subPath: resolution.subPath,
      rawQuery,
      maxBodyBytes: resolution.value.maxBodyBytes,
    });

    let response: HttpResponse;
    try {
      response = await resolution.value.handler(request);
    } catch (err) {
      const mapped = errorToResponse(err);
      if (mapped.unexpected) {
        this.logger.error({ err, method: req.method, path: request.path }, 'http: handler failed');
      }
      response = mapped.response;
    }

    if (isStreamResponse(response)) await this.startStream(req, res, response, request.path);
    else if (isFileResponse(response)) await this.sendFile(req, res, response, request.path);
    else await this.send(req, res, response, request.bodyOverflowed);
  }

  private async send(
    req: IncomingMessage,
    res: ServerResponse,
    response: BodyResponse,
    closeConnection = false,
  ): Promise<void> {
    if (res.headersSent || res.destroyed) return;
    let body = toPieces(response.body);
    try {
      if (!Number.isInteger(response.status) || response.status < 100 || response.status > 599) {
        throw new StrataError('INTERNAL', { detail: `handler returned HTTP status ${response.status}` });
      }
      res.statusCode = response.status;
      applyHeaders(res, response.headers);
      const alreadyEncoded = res.hasHeader('Content-Encoding');
      if (shouldGzip(req.headers, { bodyBytes: byteLength(body), streaming: false, alreadyEncoded })) {
        body = body.length === 1 ? [await gzipAsync(body[0]!)] : await gzipPieces(body);
        res.setHeader('Content-Encoding', 'gzip');
      }
      res.setHeader('Content-Length', byteLength(body));
      // An unread oversized body would otherwise be drained to keep the connection alive.
      if (closeConnection || this.closing) res.setHeader('Connection', 'close');
    } catch (err) {
      // Typically a header value node:http refuses (a bug in a handler): answer 500 instead.
      this.logger.error({ err, method: req.method, url: req.url }, 'http: could not send a response');
      if (res.headersSent || res.destroyed) return;
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      const fallback = errorToResponse(err).response;
      res.statusCode = fallback.status;
      applyHeaders(res, fallback.headers);
      body = toPieces(fallback.body);
      res.setHeader('Content-Length', byteLength(body));
    }
    for (let i = 0; i < body.length - 1; i++) res.write(body[i]!);
    res.end(body[body.length - 1]);
  }

  /**
   * Streams a file body with its Content-Length (not gzipped: downloads are sent as stored). A file
   * that shrinks while being sent leaves the body short, so the connection is cut rather than
   * letting the client wait for bytes that never come.
   */
  private async sendFile(
    req: IncomingMessage,
    res: ServerResponse,
    response: FileResponse,
    path: string,
  ): Promise<void> {
    const { handle, length } = response.file;
    if (res.headersSent || res.destroyed) {
      await handle.close().catch(() => undefined);
      return;
    }
    try {
      res.statusCode = response.status;
      applyHeaders(res, response.headers);
      res.setHeader('Content-Length', length);
      if (this.closing) res.setHeader('Connection', 'close');
    } catch (err) {
      await handle.close().catch(() => undefined);
      this.logger.error({ err, method: req.method, path }, 'http: could not start a file response');
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      await this.send(req, res, errorToResponse(err).response);
      return;
    }
    if (length === 0) {
      await handle.close().catch(() => undefined);
      res.end();
      return;
    }
    const source = handle.createReadStream({ start: 0, end: length - 1, autoClose: true });
    try {
      await pipeline(source, res);
      // Fewer bytes than announced: only a closed connection tells the client the body is short.
      if (source.bytesRead < length) res.destroy();
    } catch (err) {
      if (!res.destroyed) {
        this.logger.warn({ err, path }, 'http: a file response failed part way; closing the connection');
        res.destroy();
      }
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  private async startStream(
    req: IncomingMessage,
    res: ServerResponse,
    response: StreamResponse,
    path: string,
  ): Promise<void> {
    if (res.headersSent || res.destroyed) return;
    try {
      res.statusCode = response.status;
      applyHeaders(res, response.headers);
      // A stream has no length; a stale one from the handler would break chunked framing.
      res.removeHeader('Content-Length');
      res.flushHeaders();
    } catch (err) {
      this.logger.error({ err, method: req.method, path }, 'http: could not start a stream');
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      await this.send(req, res, errorToResponse(err).response);
      return;
    }
    const stream = new ResponseRecordStream(res);
    this.streams.add(stream);
    void stream.done.then(() => this.streams.delete(stream));
    if (this.closing) stream.endBecause('server-closed');
    try {
      await response.open(stream);
    } catch (err) {
      this.logger.error({ err, method: req.method, path }, 'http: stream producer failed; ending the stream');
      stream.end();
    }
  }
}

class IncomingRequest implements HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly originalPath: string;
  readonly processId: string;
  readonly endpoint: string;
  readonly subPath: string;
  readonly rawQuery: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string | undefined;
  readonly signal: AbortSignal;
  bodyOverflowed = false;

  private readonly maxBodyBytes: number;
  private bodyRead: Promise<Uint8Array> | undefined;
  private streamed = false;

  constructor(
    private readonly req: IncomingMessage,
    res: ServerResponse,
    routed: {
      path: string;
      originalPath: string;
      processId: string;
      endpoint: string;
      subPath: string;
      rawQuery: string;
      maxBodyBytes: number;
    },
  ) {
    this.method = req.method ?? 'GET';
    this.path = routed.path;
    this.originalPath = routed.originalPath;
    this.processId = routed.processId;
    this.endpoint = routed.endpoint;
    this.subPath = routed.subPath;
    this.rawQuery = routed.rawQuery;
    this.query = new URLSearchParams(routed.rawQuery);
    this.headers = req.headers;
    this.remoteAddress = req.socket.remoteAddress;
    this.maxBodyBytes = routed.maxBodyBytes;
    const abort = new AbortController();
    this.signal = abort.signal;
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
  }

  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }

  body(options: { maxBytes?: number } = {}): Promise<Uint8Array> {
    if (this.streamed) {
      return Promise.reject(
        new StrataError('INTERNAL', { detail: 'request body already consumed as a stream' }),
      );
    }
    this.bodyRead ??= this.readBody(options.maxBytes ?? this.maxBodyBytes);
    return this.bodyRead;
  }

  bodyStream(): AsyncIterable<Uint8Array> {
    if (this.streamed || this.bodyRead) {
      throw new StrataError('INTERNAL', { detail: 'request body already consumed' });
    }
    this.streamed = true;
    return this.req;
  }

  private readBody(limit: number): Promise<Uint8Array> {
    const req = this.req;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      this.bodyOverflowed = true;
      return Promise.reject(new StrataError('HTTP_BODY_TOO_LARGE', { limit }));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      const cleanUp = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onFailure);
        req.off('close', onClose);
      };
      const onData = (chunk: Buffer) => {
        total += chunk.byteLength;
        if (total > limit) {
          cleanUp();
          req.pause();
          this.bodyOverflowed = true;
          reject(new StrataError('HTTP_BODY_TOO_LARGE', { limit }));
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => {
        cleanUp();
        resolve(Buffer.concat(chunks, total));
      };
      const onFailure = (err: unknown) => {
        cleanUp();
        reject(
          new StrataError('HTTP_BAD_REQUEST', { detail: 'failed to read the request body' }, { cause: err }),
        );
      };
      const onClose = () => {
        if (!req.complete) onFailure(new Error('connection closed before the request body ended'));
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onFailure);
      req.on('close', onClose);
    });
  }
}

class ResponseRecordStream implements RecordStream {
  readonly signal: AbortSignal;
  readonly done: Promise<StreamCloseReason>;
  private readonly closedSignal = new AbortController();
  private settle!: (reason: StreamCloseReason) => void;
  private closeReason: StreamCloseReason | undefined;
  private ending: StreamCloseReason | undefined;

  constructor(private readonly res: ServerResponse) {
    this.signal = this.closedSignal.signal;
    this.done = new Promise((resolve) => {
      this.settle = resolve;
    });
    res.once('close', () => {
      if (this.ending === 'aborted') this.finish('aborted');
      else this.finish(res.writableFinished ? (this.ending ?? 'ended') : 'disconnected');
    });
    // Errors after a disconnect (EPIPE, ECONNRESET) are expected; 'close' reports them.
    res.on('error', () => {});
  }

  get closed(): boolean {
    return this.closeReason !== undefined || this.ending !== undefined;
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  write(record: Uint8Array | string): boolean {
    if (this.closed || this.res.destroyed) return false;
    const framed = typeof record === 'string' ? encodeRecordString(record) : encodeRecord(record);
    this.res.write(framed);
    return true;
  }

  end(): void {
    this.endBecause('ended');
  }

  abort(): void {
    if (this.closeReason !== undefined || this.ending === 'aborted') return;
    this.ending = 'aborted';
    this.res.destroy();
  }

  endBecause(reason: StreamCloseReason): void {
    if (this.closed) return;
    this.ending = reason;
    if (reason === 'server-closed') {
      // The connection was kept alive for more requests; a closing server wants it gone.
      this.res.once('finish', () => this.res.socket?.end());
    }
    this.res.end();
  }

  private finish(reason: StreamCloseReason): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    this.closedSignal.abort();
    this.settle(reason);
  }
}

function applyHeaders(res: ServerResponse, headers: OutgoingHeaders | undefined): void {
  if (!headers) return;
  for (const [name, value] of Object.entries(headers)) {
    res.setHeader(name, typeof value === 'number' ? String(value) : (value as string | string[]));
  }
}

/** The body as the pieces to send, never empty (one empty piece for no body). */
function toPieces(body: BodyResponse['body']): readonly Uint8Array[] {
  if (body === undefined) return [new Uint8Array(0)];
  if (typeof body === 'string') return [Buffer.from(body, 'utf8')];
  if (body instanceof Uint8Array) return [body];
  return body.length === 0 ? [new Uint8Array(0)] : body;
}

function byteLength(pieces: readonly Uint8Array[]): number {
  let total = 0;
  for (const piece of pieces) total += piece.byteLength;
  return total;
}

/** Gzips a body given in pieces on zlib's thread pool, without joining them first. */
async function gzipPieces(pieces: readonly Uint8Array[]): Promise<Buffer[]> {
  const compressor = createGzip();
  const out: Buffer[] = [];
  compressor.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = once(compressor, 'end');
  for (const piece of pieces) compressor.write(piece);
  compressor.end();
  await ended;
  return out;
}
