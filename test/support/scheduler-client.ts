/**
 * A scheduler written from the v1 spec, for tests: SUBSCRIBE opens the RecordIO event stream (in
 * JSON or protobuf), events are queued and awaited by predicate, and calls go out on their own
 * POSTs with the stream id. It uses only the public API, like any Mesos framework would.
 */
import { request } from 'node:http';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { codec, type WireMediaType } from '../../src/wire/codec.js';
import { FrameworkIDSchema, FrameworkInfoSchema, type Offer } from '../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  type Call,
  Call_Type,
  CallSchema,
  type Event,
  Event_Type,
  EventSchema,
} from '../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { RecordIODecoder } from '../../src/wire/recordio.js';

export interface PostResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** POSTs raw bytes; resolves with the whole (non-stream) response. */
export function post(
  url: string,
  body: Uint8Array | string,
  headers: Record<string, string>,
  method = 'POST',
): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export class TestScheduler {
  frameworkId = '';
  streamId = '';
  status = 0;
  contentType = '';
  readonly events: Event[] = [];
  private readonly waiters: Array<{
    match: (e: Event) => boolean;
    resolve: (e: Event) => void;
    reject: (error: Error) => void;
  }> = [];
  private closeRequest: (() => void) | undefined;
  closed = false;
  private readonly closedWaiters: Array<() => void> = [];
  errorBody = '';

  constructor(
    readonly masterUrl: string,
    readonly mediaType: WireMediaType = 'application/json',
  ) {}

  /** Opens the subscription; resolves once the response headers arrived. */
  subscribe(
    frameworkInfo: MessageInitShape<typeof FrameworkInfoSchema>,
    extra: { frameworkId?: string; headers?: Record<string, string>; accept?: string | null } = {},
  ): Promise<this> {
    const call = create(CallSchema, {
      type: Call_Type.SUBSCRIBE,
      ...(extra.frameworkId ? { frameworkId: { value: extra.frameworkId } } : {}),
      subscribe: { frameworkInfo: create(FrameworkInfoSchema, frameworkInfo) },
    });
    const body = codec.encode(CallSchema, call, this.mediaType);
    const headers: Record<string, string> = { 'Content-Type': this.mediaType, ...extra.headers };
    if (extra.accept !== null) headers.Accept = extra.accept ?? this.mediaType;
    return new Promise((resolve, reject) => {
      const req = request(`${this.masterUrl}/api/v1/scheduler`, { method: 'POST', headers }, (res) => {
        this.status = res.statusCode ?? 0;
        this.streamId = String(res.headers['mesos-stream-id'] ?? '');
        this.contentType = String(res.headers['content-type'] ?? '');
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
        const eventType =
          this.contentType === 'application/x-protobuf' ? 'application/x-protobuf' : 'application/json';
        const decoder = new RecordIODecoder();
        res.on('data', (chunk: Buffer) => {
          for (const record of decoder.push(chunk)) {
            const event = codec.decode(EventSchema, record, eventType);
            if (event.type === Event_Type.SUBSCRIBED)
              this.frameworkId = event.subscribed?.frameworkId?.value ?? '';
            this.deliver(event);
          }
        });
        res.on('end', () => this.markClosed());
        res.on('close', () => this.markClosed());
        resolve(this);
      });
      this.closeRequest = () => req.destroy();
      req.on('error', (err) => {
        if (this.status === 0) reject(err);
        this.markClosed();
      });
      req.end(body);
    });
  }

  private deliver(event: Event): void {
    this.events.push(event);
    const index = this.waiters.findIndex((w) => w.match(event));
    if (index >= 0) {
      const [waiter] = this.waiters.splice(index, 1);
      waiter!.resolve(event);
    }
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const resolve of this.closedWaiters.splice(0)) resolve();
  }

  /** Resolves when the server closes the stream. */
  untilClosed(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve) => this.closedWaiters.push(resolve)),
      timeoutMs,
      'stream close',
    );
  }

  /**
   * The first event (received or yet to come, not consumed before) matching `match`.
   * Each event is handed out once, so repeated waits see successive matches.
   */
  next(match: (e: Event) => boolean, timeoutMs = 10_000, what = 'event'): Promise<Event> {
    const index = this.events.findIndex((e) => match(e) && !this.consumed.has(e));
    if (index >= 0) {
      const event = this.events[index]!;
      this.consumed.add(event);
      return Promise.resolve(event);
    }
    const promise = new Promise<Event>((resolve, reject) =>
      this.waiters.push({
        match: (e) => match(e) && !this.consumed.has(e),
        resolve: (e) => {
          this.consumed.add(e);
          resolve(e);
        },
        reject,
      }),
    );
    return withTimeout(promise, timeoutMs, what);
  }

  private readonly consumed = new Set<Event>();

  nextOfType(type: Event_Type, timeoutMs = 10_000): Promise<Event> {
    return this.next((e) => e.type === type, timeoutMs, Event_Type[type] ?? String(type));
  }

  /**
   * The next offer holding at least `needs` (scalar names → amounts). Offers that fall short, and
   * the rest of the event holding the match, are declined with no filter, so resources freed in
   * pieces (one task's end yields its own small offer) come back merged in a later round.
   */
  async nextFittingOffer(needs: Record<string, number>, timeoutMs = 20_000): Promise<Offer> {
    const deadline = Date.now() + timeoutMs;
    const fits = (offer: Offer) =>
      Object.entries(needs).every(
        ([name, amount]) =>
          offer.resources
            .filter((r) => r.name === name)
            .reduce((sum, r) => sum + (r.scalar?.value ?? 0), 0) >=
          amount - 1e-9,
      );
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no offer holding ${JSON.stringify(needs)} within ${timeoutMs} ms`);
      const event = await this.nextOfType(Event_Type.OFFERS, remaining);
      // Offers of an older event may have been rescinded since (an agent that went away).
      const rescinded = new Set(
        this.events.flatMap((e) => (e.type === Event_Type.RESCIND ? [e.rescind?.offerId?.value ?? ''] : [])),
      );
      const offers = (event.offers?.offers ?? []).filter((o) => !rescinded.has(o.id?.value ?? ''));
      const chosen = offers.find(fits);
      const rest = offers.filter((o) => o !== chosen);
      if (rest.length > 0)
        await this.call({
          type: Call_Type.DECLINE,
          decline: { offerIds: rest.map((o) => o.id!), filters: { refuseSeconds: 0 } },
        });
      if (chosen) return chosen;
    }
  }

  /** Sends a call with the framework id and stream id filled in. */
  call(
    init: MessageInitShape<typeof CallSchema>,
    options: { streamId?: string | null } = {},
  ): Promise<PostResult> {
    const call: Call = create(CallSchema, init);
    call.frameworkId ??= create(FrameworkIDSchema, { value: this.frameworkId });
    const headers: Record<string, string> = { 'Content-Type': this.mediaType, Accept: this.mediaType };
    const streamId = options.streamId === undefined ? this.streamId : options.streamId;
    if (streamId !== null) headers['Mesos-Stream-Id'] = streamId;
    return post(
      `${this.masterUrl}/api/v1/scheduler`,
      codec.encode(CallSchema, call, this.mediaType),
      headers,
    );
  }

  /** Ends the stream; waits still pending fail at once rather than hold the process open. */
  close(): void {
    this.closeRequest?.();
    this.markClosed();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('scheduler closed'));
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
