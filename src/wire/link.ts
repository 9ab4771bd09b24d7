/**
 * `strata-link/1`: the master <-> agent transport. An agent opens one HTTP/1.1 connection to the
 * master and upgrades it; from then on both sides write RecordIO-framed protobuf envelopes
 * (`strata.internal.v1.AgentToMaster` one way, `MasterToAgent` the other) on the raw socket.
 *
 * One socket per agent and no HTTP request per message keeps tens of thousands of agents cheap,
 * and TCP close tells either side at once that the other is gone. Liveness beyond that (a peer
 * that is up but stuck) is the master's ping/pong, which lives with the master, not here.
 */
import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type DescMessage, fromBinary, type MessageShape, toBinary } from '@bufbuild/protobuf';
import { StrataError } from '../common/errors.js';
import { encodeRecord, RecordIODecoder } from './recordio.js';

export const LINK_PROTOCOL = 'strata-link/1';
/** Under the master's process id, like every other master endpoint. */
export const LINK_PATH = '/master/internal/link';
/** Envelopes are small; a whole re-registration with many tasks still fits well inside this. */
export const LINK_MAX_RECORD_BYTES = 256 * 1024 * 1024;

export interface LinkHandlers<In> {
  onMessage(message: In): void;
  onClose(reason: string): void;
}

/**
 * One end of a link. Messages are delivered in order; a record that does not decode closes the
 * link (the stream cannot be resynchronised), reporting why through `onClose`.
 */
export class LinkConnection<InSchema extends DescMessage, OutSchema extends DescMessage> {
  private readonly decoder = new RecordIODecoder({ maxRecordBytes: LINK_MAX_RECORD_BYTES });
  private handlers: LinkHandlers<MessageShape<InSchema>> | undefined;
  private readonly early: MessageShape<InSchema>[] = [];
  private closedReason: string | undefined;
  /** Settles when the connection is gone both ways (after `close()`: the peer has read it all). */
  readonly gone: Promise<void>;

  constructor(
    private readonly socket: Duplex,
    private readonly inSchema: InSchema,
    private readonly outSchema: OutSchema,
    readonly remoteAddress: string,
    head?: Buffer,
  ) {
    (socket as Partial<Socket>).setNoDelay?.(true);
    (socket as Partial<Socket>).setKeepAlive?.(true, 10_000);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.finish(`socket error: ${err.message}`));
    socket.on('close', () => this.finish('connection closed'));
    socket.on('end', () => socket.end());
    this.gone = new Promise((resolve) => socket.once('close', () => resolve()));
    if (head && head.length > 0) queueMicrotask(() => this.receive(head));
  }

  /** Starts delivery; messages that arrived before this are delivered first. */
  attach(handlers: LinkHandlers<MessageShape<InSchema>>): void {
    this.handlers = handlers;
    for (const message of this.early.splice(0)) handlers.onMessage(message);
    if (this.closedReason !== undefined) handlers.onClose(this.closedReason);
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Queues `message`; returns false when the link is closed (the message is dropped). */
  send(message: MessageShape<OutSchema>): boolean {
    if (this.closedReason !== undefined || this.socket.destroyed) return false;
    this.socket.write(encodeRecord(toBinary(this.outSchema, message)));
    return true;
  }

  close(reason = 'closed locally'): void {
    this.finish(reason);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private receive(chunk: Uint8Array): void {
    if (this.closedReason !== undefined) return;
    let records: Uint8Array[];
    try {
      records = this.decoder.push(chunk);
    } catch (err) {
      this.abort(`bad framing from peer: ${(err as Error).message}`);
      return;
    }
    for (const record of records) {
      let message: MessageShape<InSchema>;
      try {
        message = fromBinary(this.inSchema, record);
      } catch (err) {
        this.abort(`undecodable ${this.inSchema.typeName} from peer: ${(err as Error).message}`);
        return;
      }
      if (this.handlers) this.handlers.onMessage(message);
      else this.early.push(message);
      if (this.closedReason !== undefined) return;
    }
  }

  private abort(reason: string): void {
    this.finish(reason);
    this.socket.destroy();
  }

  private finish(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.handlers?.onClose(reason);
  }
}

/**
 * The handler for HTTP upgrade requests that accepts links at `LINK_PATH`. Other upgrade requests
 * are refused with 400 so a stray WebSocket client gets an answer instead of a hung socket.
 */
export function linkUpgradeHandler<InSchema extends DescMessage, OutSchema extends DescMessage>(
  inSchema: InSchema,
  outSchema: OutSchema,
  onLink: (link: LinkConnection<InSchema, OutSchema>, request: IncomingMessage) => void,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    const wanted = (req.headers.upgrade ?? '').toLowerCase() === LINK_PROTOCOL;
    if (path !== LINK_PATH || !wanted) {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n' +
          `Only '${LINK_PROTOCOL}' upgrades at ${LINK_PATH} are served here\n`,
      );
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${LINK_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`,
    );
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    onLink(new LinkConnection(socket, inSchema, outSchema, remote, head), req);
  };
}

/** Accepts links on a plain node:http `server` (see `linkUpgradeHandler`). */
export function acceptLinks<InSchema extends DescMessage, OutSchema extends DescMessage>(
  server: Server,
  inSchema: InSchema,
  outSchema: OutSchema,
  onLink: (link: LinkConnection<InSchema, OutSchema>, request: IncomingMessage) => void,
): void {
  server.on('upgrade', linkUpgradeHandler(inSchema, outSchema, onLink));
}

/** Opens a link to `host:port`; rejects with a catalogue error when the master refuses or is down. */
export function connectLink<InSchema extends DescMessage, OutSchema extends DescMessage>(
  host: string,
  port: number,
  inSchema: InSchema,
  outSchema: OutSchema,
  timeoutMs = 10_000,
): Promise<LinkConnection<InSchema, OutSchema>> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host,
      port,
      path: LINK_PATH,
      method: 'GET',
      headers: { Connection: 'Upgrade', Upgrade: LINK_PROTOCOL },
      timeout: timeoutMs,
    });
    req.on('upgrade', (_res, socket, head) => {
      resolve(new LinkConnection(socket, inSchema, outSchema, `${host}:${port}`, head));
    });
    req.on('response', (res) => {
      res.resume();
      reject(
        new StrataError('HTTP_SERVICE_UNAVAILABLE', {
          detail: `master at ${host}:${port} refused the ${LINK_PROTOCOL} upgrade with HTTP ${res.statusCode}`,
        }),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) =>
      reject(
        new StrataError('HTTP_SERVICE_UNAVAILABLE', {
          detail: `cannot reach master at ${host}:${port}: ${err.message}`,
        }),
      ),
    );
    req.end();
  });
}
