/**
 * An operator client for tests, written from the v1 spec: calls to the master's `/api/v1` in JSON
 * or protobuf, and the SUBSCRIBE event stream (RecordIO of `master.Event`), optionally resumed
 * after an offset (the Strata extension, docs/operator-api.md).
 */
import { request } from 'node:http';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { codec, type WireMediaType } from '../../src/wire/codec.js';
import {
  CallSchema,
  type Event,
  Event_Type,
  EventSchema,
  type Response,
  ResponseSchema,
} from '../../src/wire/gen/mesos/v1/master/master_pb.js';
import { RecordIODecoder } from '../../src/wire/recordio.js';
import { post, withTimeout } from './scheduler-client.js';

export interface OperatorResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as text (error texts). */
  body: string;
  /** The decoded Response of a 200 with a body. */
  response: Response | undefined;
}

/** One operator call; the body is encoded in `media`, which is also the Accept unless given. */
export async function operatorCall(
  url: string,
  init: MessageInitShape<typeof CallSchema>,
  media: WireMediaType = 'application/json',
  headers: Record<string, string> = {},
): Promise<OperatorResult> {
  const bytes = codec.encode(CallSchema, create(CallSchema, init), media);
  const result = await postBytes(`${url}/api/v1`, bytes, {
    'Content-Type': media,
    Accept: media,
    ...headers,
  });
  const type = String(result.headers['content-type'] ?? '');
  const decodable =
    result.status === 200 && result.raw.length > 0 && (type === media || type === 'application/json');
  return {
    status: result.status,
    headers: result.headers,
    body: result.raw.toString('utf8'),
    response: decodable ? codec.decode(ResponseSchema, result.raw, type as WireMediaType) : undefined,
  };
}

function postBytes(
  url: string,
  body: Uint8Array,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, raw: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export { post };

export class OperatorStream {
  status = 0;
  headers: Record<string, string | string[] | undefined> = {};
  errorBody = '';
  readonly events: Event[] = [];
  closed = false;
  private readonly consumed = new Set<Event>();
  private readonly waiters: Array<{ match: (e: Event) => boolean; resolve: (e: Event) => void }> = [];
  private readonly closedWaiters: Array<() => void> = [];
  private destroy: (() => void) | undefined;

  constructor(
    readonly url: string,
    readonly media: WireMediaType = 'application/json',
  ) {}

  /** Opens the stream; resolves once the response headers arrived. */
  open(
    options: { resumeAfter?: bigint; masterId?: string; headers?: Record<string, string> } = {},
  ): Promise<this> {
    const call = create(CallSchema, {
      type: 18 /* SUBSCRIBE */,
      ...(options.resumeAfter !== undefined || options.masterId !== undefined
        ? {
            strataSubscribe: {
              ...(options.resumeAfter !== undefined ? { resumeAfter: options.resumeAfter } : {}),
              ...(options.masterId !== undefined ? { masterId: options.masterId } : {}),
            },
          }
        : {}),
    });
    const headers = { 'Content-Type': this.media, Accept: this.media, ...options.headers };
    return new Promise((resolve, reject) => {
      const req = request(`${this.url}/api/v1`, { method: 'POST', headers }, (res) => {
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        if (this.status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            this.errorBody = Buffer.concat(chunks).toString('utf8');
            this.markClosed();
            resolve(this);
          });
          return;
        }
        const type = String(res.headers['content-type']) as WireMediaType;
        const decoder = new RecordIODecoder();
        res.on('data', (chunk: Buffer) => {
          for (const record of decoder.push(chunk)) this.deliver(codec.decode(EventSchema, record, type));
        });
        res.on('end', () => this.markClosed());
        res.on('close', () => this.markClosed());
        resolve(this);
      });
      this.destroy = () => req.destroy();
      req.on('error', (err) => {
        if (this.status === 0) reject(err);
        this.markClosed();
      });
      req.end(codec.encode(CallSchema, call, this.media));
    });
  }

  private deliver(event: Event): void {
    this.events.push(event);
    const index = this.waiters.findIndex((w) => w.match(event));
    if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(event);
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const resolve of this.closedWaiters.splice(0)) resolve();
  }

  /** The first event matching `match` not handed out before (received or yet to come). */
  next(match: (e: Event) => boolean, timeoutMs = 15_000, what = 'operator event'): Promise<Event> {
    const found = this.events.find((e) => match(e) && !this.consumed.has(e));
    if (found) {
      this.consumed.add(found);
      return Promise.resolve(found);
    }
    const promise = new Promise<Event>((resolve) =>
      this.waiters.push({
        match: (e) => match(e) && !this.consumed.has(e),
        resolve: (e) => {
          this.consumed.add(e);
          resolve(e);
        },
      }),
    );
    return withTimeout(promise, timeoutMs, what);
  }

  nextOfType(type: Event_Type, timeoutMs = 15_000): Promise<Event> {
    return this.next((e) => e.type === type, timeoutMs, Event_Type[type] ?? String(type));
  }

  /** Events other than HEARTBEAT, in arrival order. */
  changes(): Event[] {
    return this.events.filter((e) => e.type !== Event_Type.HEARTBEAT && e.type !== Event_Type.SUBSCRIBED);
  }

  untilClosed(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return withTimeout(new Promise<void>((r) => this.closedWaiters.push(r)), timeoutMs, 'stream close');
  }

  /** Drops the connection from the client's side. */
  close(): void {
    this.destroy?.();
    this.markClosed();
  }
}
