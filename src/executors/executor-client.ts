/**
 * The executor side of the v1 executor API (reference §3.1-§3.3), shared by Strata's built-in
 * executors: it subscribes, reads the RecordIO event stream, posts calls, keeps every status update
 * until the agent acknowledges it, and re-subscribes after a broken connection the way Mesos'
 * executor library does.
 *
 * Connections. SUBSCRIBE holds one HTTP connection open for the event stream; every other call is
 * a POST on a connection of its own, one at a time so the agent sees updates in the order they
 * were made (Mesos pipelines them on one connection for the same reason). Fresh connections rather
 * than keep-alive: a reused socket the agent is just closing fails with ECONNRESET, which would
 * read as a lost agent (and, without checkpointing, end the task). A network
 * failure on either connection, a stream that ends, an event that does not decode or a SUBSCRIBE
 * answered with anything but 200 all count as "disconnected".
 *
 * Reconnection. Disconnected after having subscribed without framework checkpointing: the agent
 * will not take us back, so the client gives up at once (`connectionLost`); Mesos' library injects
 * a SHUTDOWN in that case, and the executor above does the equivalent. Otherwise (checkpointing, or
 * never subscribed yet) it retries SUBSCRIBE with jittered exponential backoff capped at
 * MESOS_SUBSCRIPTION_BACKOFF_MAX, until MESOS_RECOVERY_TIMEOUT has passed without a SUBSCRIBED.
 *
 * Reliability. Each SUBSCRIBE carries every update not yet acknowledged and every task whose
 * updates have not been acknowledged at all (a task counts as acknowledged once any of its updates
 * is), so an agent that restarted learns what it missed. An update made while a SUBSCRIBE is in
 * flight is posted as soon as SUBSCRIBED arrives. The client never retries an UPDATE on its own
 * otherwise: the agent acknowledges what it received, and what it lost comes back with the next
 * SUBSCRIBE.
 */
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { type Clock, systemClock, type TimerHandle } from '../common/clock.js';
import { StrataError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { codec, MEDIA_TYPE_JSON, type WireMediaType } from '../wire/codec.js';
import {
  type Call,
  Call_Type,
  type Call_Update,
  Call_UpdateSchema,
  CallSchema,
  type Event,
  type Event_Subscribed,
  Event_Type,
  EventSchema,
} from '../wire/gen/mesos/v1/executor/executor_pb.js';
import type {
  KillPolicy,
  TaskGroupInfo,
  TaskID,
  TaskInfo,
  TaskStatus,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { decodeRecords } from '../wire/recordio.js';
import type { ExecutorEnvironment } from './environment.js';
import { STATUS_UUID_BYTES } from './status.js';

/** First backoff ceiling after a disconnection; it doubles per failed attempt up to the max. */
export const INITIAL_SUBSCRIBE_BACKOFF_MS = 250;
/** How long a single non-streaming call may take before the connection is declared broken. */
export const CALL_TIMEOUT_MS = 30_000;
/** How much of an error response body to keep for the log. */
const ERROR_BODY_LIMIT = 4096;

export interface ExecutorEventHandlers {
  /** SUBSCRIBED: sent again after every successful re-subscription. */
  subscribed(event: Event_Subscribed): void;
  launch(task: TaskInfo): void;
  launchGroup(group: TaskGroupInfo): void;
  kill(taskId: TaskID, killPolicy: KillPolicy | undefined): void;
  /** After the client dropped the update from its retry list. */
  acknowledged(taskId: TaskID, uuid: Uint8Array): void;
  message(data: Uint8Array): void;
  shutdown(): void;
  error(message: string): void;
  /** The stream broke; the client is already retrying (only when it will retry). */
  disconnected(reason: string): void;
  /** The agent is gone for good (no checkpointing, or the recovery timeout passed); the client is closed. */
  connectionLost(reason: string): void;
}

export type ExecutorClientEnvironment = Pick<
  ExecutorEnvironment,
  | 'frameworkId'
  | 'executorId'
  | 'agentUrl'
  | 'checkpoint'
  | 'subscriptionBackoffMaxMs'
  | 'recoveryTimeoutMs'
  | 'authenticationToken'
>;

export interface ExecutorClientOptions {
  environment: ExecutorClientEnvironment;
  handlers: Partial<ExecutorEventHandlers>;
  logger: Logger;
  clock?: Clock;
  /** Media type of calls and events; JSON unless told otherwise. */
  mediaType?: WireMediaType;
  /** [0, 1) source for backoff jitter; Math.random unless a test fixes it. */
  random?: () => number;
}

export type ExecutorConnectionState = 'idle' | 'connecting' | 'subscribed' | 'waiting' | 'closed';

interface PendingUpdate {
  update: Call_Update;
  /** The connection whose SUBSCRIBE or UPDATE last carried it to the agent; 0 for none. */
  sentOn: number;
}

/**
 * The random delay before SUBSCRIBE attempt `attempt` (0 for the first retry): full jitter under a
 * ceiling that doubles from INITIAL_SUBSCRIBE_BACKOFF_MS and stops at `maxMs`.
 */
export function subscribeBackoffMs(attempt: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, INITIAL_SUBSCRIBE_BACKOFF_MS * 2 ** Math.min(attempt, 30));
  return Math.floor(ceiling * random());
}

/** What a link keeps track of itself, done before the executor's handler sees the event. */
export interface EventBookkeeping {
  subscribed?(): void;
  launched?(tasks: readonly TaskInfo[]): void;
  acknowledged?(taskId: TaskID, uuid: Uint8Array): void;
}

/**
 * Hands one event from the agent to the executor's handlers, after the link's bookkeeping (shared
 * by the HTTP client and the in-process link of hosted executors). A malformed event throws.
 */
export function dispatchExecutorEvent(
  event: Event,
  handlers: Partial<ExecutorEventHandlers>,
  bookkeeping: EventBookkeeping,
  logger: Logger,
): void {
  switch (event.type) {
    case Event_Type.SUBSCRIBED: {
      if (event.subscribed === undefined)
        throw new StrataError('INTERNAL', { detail: 'SUBSCRIBED without payload' });
      bookkeeping.subscribed?.();
      handlers.subscribed?.(event.subscribed);
      return;
    }
    case Event_Type.LAUNCH: {
      const task = event.launch?.task;
      if (task === undefined) throw new StrataError('INTERNAL', { detail: 'LAUNCH without a task' });
      bookkeeping.launched?.([task]);
      handlers.launch?.(task);
      return;
    }
    case Event_Type.LAUNCH_GROUP: {
      const group = event.launchGroup?.taskGroup;
      if (group === undefined) throw new StrataError('INTERNAL', { detail: 'LAUNCH_GROUP without a group' });
      bookkeeping.launched?.(group.tasks);
      handlers.launchGroup?.(group);
      return;
    }
    case Event_Type.KILL: {
      const taskId = event.kill?.taskId;
      if (taskId === undefined) throw new StrataError('INTERNAL', { detail: 'KILL without a task id' });
      handlers.kill?.(taskId, event.kill?.killPolicy);
      return;
    }
    case Event_Type.ACKNOWLEDGED: {
      const acknowledged = event.acknowledged;
      if (acknowledged?.taskId === undefined)
        throw new StrataError('INTERNAL', { detail: 'ACKNOWLEDGED without a task id' });
      bookkeeping.acknowledged?.(acknowledged.taskId, acknowledged.uuid);
      handlers.acknowledged?.(acknowledged.taskId, acknowledged.uuid);
      return;
    }
    case Event_Type.MESSAGE:
      handlers.message?.(event.message?.data ?? new Uint8Array(0));
      return;
    case Event_Type.SHUTDOWN:
      handlers.shutdown?.();
      return;
    case Event_Type.ERROR:
      handlers.error?.(event.error?.message ?? '');
      return;
    case Event_Type.HEARTBEAT:
      return;
    default:
      logger.warn({ type: event.type }, 'executor: ignoring an event of unknown type');
  }
}

export function uuidKey(uuid: Uint8Array): string {
  return Buffer.from(uuid.buffer, uuid.byteOffset, uuid.byteLength).toString('hex');
}

export class ExecutorClient {
  private readonly environment: ExecutorClientEnvironment;
  private readonly handlers: Partial<ExecutorEventHandlers>;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly mediaType: WireMediaType;
  private readonly random: () => number;

  private connectionState: ExecutorConnectionState = 'idle';
  /** Increments per SUBSCRIBE attempt; events and failures of older attempts are ignored. */
  private connection = 0;
  private subscribeRequest: ClientRequest | undefined;
  private everSubscribed = false;
  private failedAttempts = 0;
  private retryTimer: TimerHandle | undefined;
  private recoveryTimer: TimerHandle | undefined;
  private callChain: Promise<void> = Promise.resolve();

  private readonly pendingUpdates = new Map<string, PendingUpdate>();
  private readonly pendingTasks = new Map<string, TaskInfo>();

  constructor(options: ExecutorClientOptions) {
    this.environment = options.environment;
    this.handlers = options.handlers;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.mediaType = options.mediaType ?? MEDIA_TYPE_JSON;
    this.random = options.random ?? Math.random;
  }

  get state(): ExecutorConnectionState {
    return this.connectionState;
  }

  /** Updates the agent has not acknowledged yet, oldest first. */
  get unacknowledgedUpdates(): Call_Update[] {
    return [...this.pendingUpdates.values()].map((pending) => pending.update);
  }

  /** Launched tasks none of whose updates the agent has acknowledged yet. */
  get unacknowledgedTasks(): TaskInfo[] {
    return [...this.pendingTasks.values()];
  }

  /** Opens the subscription. */
  start(): void {
    if (this.connectionState !== 'idle') return;
    this.subscribe();
  }

  /**
   * Sends a status update and keeps it until ACKNOWLEDGED. The status must already carry its
   * 16-byte uuid and SOURCE_EXECUTOR (see status.ts); while disconnected it waits for the next
   * SUBSCRIBE.
   */
  sendUpdate(status: TaskStatus): void {
    if (status.uuid.byteLength !== STATUS_UUID_BYTES) {
      throw new StrataError('INTERNAL', {
        detail: `status uuid has ${status.uuid.byteLength} bytes, not 16`,
      });
    }
    if (this.connectionState === 'closed') {
      this.logger.warn(
        { taskId: status.taskId?.value },
        'executor: dropping an update made after the client closed',
      );
      return;
    }
    const update = create(Call_UpdateSchema, { status });
    const pending: PendingUpdate = { update, sentOn: 0 };
    this.pendingUpdates.set(uuidKey(status.uuid), pending);
    if (this.connectionState === 'subscribed') this.postUpdate(pending);
  }

  /** Sends framework bytes to the scheduler; dropped while not subscribed, as Mesos' library does. */
  sendMessage(data: Uint8Array): void {
    if (this.connectionState !== 'subscribed') {
      this.logger.warn('executor: not subscribed; dropping a MESSAGE call');
      return;
    }
    this.post(this.envelope(Call_Type.MESSAGE, { message: { data } }), 'MESSAGE', this.connection);
  }

  /** Resolves once every call posted so far has been answered (or failed). */
  settled(): Promise<void> {
    return this.callChain;
  }

  /** Stops everything: the stream, retries and timers. Idempotent. */
  close(): void {
    if (this.connectionState === 'closed') return;
    this.connectionState = 'closed';
    this.connection += 1;
    this.retryTimer?.cancel();
    this.recoveryTimer?.cancel();
    this.subscribeRequest?.destroy();
    this.subscribeRequest = undefined;
  }

  // --- subscription ---------------------------------------------------------------------------

  private subscribe(): void {
    this.connection += 1;
    const connection = this.connection;
    this.connectionState = 'connecting';
    for (const pending of this.pendingUpdates.values()) pending.sentOn = connection;
    const call = this.envelope(Call_Type.SUBSCRIBE, {
      subscribe: {
        unacknowledgedTasks: this.unacknowledgedTasks,
        unacknowledgedUpdates: this.unacknowledgedUpdates,
      },
    });
    const body = codec.encode(CallSchema, call, this.mediaType);
    this.logger.info(
      {
        url: this.environment.agentUrl,
        unacknowledgedTasks: this.pendingTasks.size,
        unacknowledgedUpdates: this.pendingUpdates.size,
      },
      'executor: subscribing',
    );
    // agent: false gives the stream a connection of its own that no call ever queues behind.
    const request = httpRequest(this.environment.agentUrl, {
      method: 'POST',
      agent: false,
      headers: this.headers(body.byteLength),
    });
    this.subscribeRequest = request;
    request.on('response', (response) => {
      void this.readSubscription(connection, response);
    });
    request.on('error', (err) => this.disconnect(connection, `SUBSCRIBE failed: ${err.message}`));
    request.end(body);
  }

  private async readSubscription(connection: number, response: IncomingMessage): Promise<void> {
    if (connection !== this.connection) {
      response.destroy();
      return;
    }
    if (response.statusCode !== 200) {
      const text = await readBounded(response);
      const error = new StrataError('EXECUTOR_AGENT_REJECTED', {
        call: 'SUBSCRIBE',
        httpStatus: `${response.statusCode ?? 0} ${response.statusMessage ?? ''}`.trim(),
        detail: text || '(no body)',
      });
      this.disconnect(connection, error.message);
      return;
    }
    response.socket?.setKeepAlive(true, 10_000);
    let reason = 'the agent closed the event stream';
    try {
      for await (const record of decodeRecords(response)) {
        if (connection !== this.connection) return;
        const event = codec.decode(EventSchema, record, this.mediaType);
        try {
          this.dispatch(event, connection);
        } catch (err) {
          // A failing handler is the executor's bug, not the stream's: reconnecting would only
          // replay the event into the same failure.
          this.logger.error({ err, type: Event_Type[event.type] }, 'executor: event handler failed');
        }
      }
    } catch (err) {
      reason = `event stream broke: ${err instanceof Error ? err.message : String(err)}`;
    }
    this.disconnect(connection, reason);
  }

  private dispatch(event: Event, connection: number): void {
    dispatchExecutorEvent(
      event,
      this.handlers,
      {
        subscribed: () => this.onSubscribed(connection),
        launched: (tasks) => {
          for (const task of tasks) this.pendingTasks.set(task.taskId?.value ?? '', task);
        },
        acknowledged: (taskId, uuid) => {
          this.pendingUpdates.delete(uuidKey(uuid));
          this.pendingTasks.delete(taskId.value);
        },
      },
      this.logger,
    );
  }

  private onSubscribed(connection: number): void {
    this.connectionState = 'subscribed';
    this.everSubscribed = true;
    this.failedAttempts = 0;
    this.recoveryTimer?.cancel();
    this.recoveryTimer = undefined;
    this.logger.info('executor: subscribed');
    // Updates made after the SUBSCRIBE call was built are not in it; send them now.
    for (const pending of this.pendingUpdates.values()) {
      if (pending.sentOn !== connection) this.postUpdate(pending);
    }
  }

  private disconnect(connection: number, reason: string): void {
    if (connection !== this.connection || this.connectionState === 'closed') return;
    this.connection += 1;
    this.subscribeRequest?.destroy();
    this.subscribeRequest = undefined;

    if (this.everSubscribed && !this.environment.checkpoint) {
      this.logger.warn({ reason }, 'executor: disconnected from the agent without checkpointing; giving up');
      this.giveUp(`disconnected from the agent (${reason}) and the framework does not checkpoint`);
      return;
    }
    this.connectionState = 'waiting';
    if (this.recoveryTimer === undefined) {
      const timeout = this.environment.recoveryTimeoutMs;
      this.recoveryTimer = this.clock.setTimeout(() => {
        this.recoveryTimer = undefined;
        this.giveUp(`could not subscribe to the agent within the recovery timeout of ${timeout}ms`);
      }, timeout);
    }
    const delay = subscribeBackoffMs(
      this.failedAttempts,
      this.environment.subscriptionBackoffMaxMs,
      this.random,
    );
    this.failedAttempts += 1;
    this.logger.warn({ reason, retryInMs: delay }, 'executor: disconnected from the agent; re-subscribing');
    this.retryTimer?.cancel();
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.connectionState === 'waiting') this.subscribe();
    }, delay);
    this.handlers.disconnected?.(reason);
  }

  private giveUp(reason: string): void {
    this.close();
    this.handlers.connectionLost?.(reason);
  }

  // --- calls ----------------------------------------------------------------------------------

  private postUpdate(pending: PendingUpdate): void {
    pending.sentOn = this.connection;
    this.post(this.envelope(Call_Type.UPDATE, { update: pending.update }), 'UPDATE', this.connection);
  }

  private post(call: Call, name: string, connection: number): void {
    const body = codec.encode(CallSchema, call, this.mediaType);
    this.callChain = this.callChain.then(() => this.postNow(body, name, connection));
  }

  /** Never rejects: the chain must survive one failed call. */
  private postNow(body: Uint8Array, name: string, connection: number): Promise<void> {
    if (connection !== this.connection || this.connectionState === 'closed') return Promise.resolve();
    return new Promise((resolve) => {
      const request = httpRequest(this.environment.agentUrl, {
        method: 'POST',
        agent: false,
        headers: this.headers(body.byteLength),
        timeout: CALL_TIMEOUT_MS,
      });
      request.on('timeout', () => request.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS}ms`)));
      request.on('error', (err) => {
        // A call that cannot reach the agent means the connection is broken, as for the stream.
        this.disconnect(connection, `${name} failed: ${err.message}`);
        resolve();
      });
      request.on('response', (response) => {
        void readBounded(response).then((text) => {
          if (response.statusCode !== 202) {
            const error = new StrataError('EXECUTOR_AGENT_REJECTED', {
              call: name,
              httpStatus: `${response.statusCode ?? 0} ${response.statusMessage ?? ''}`.trim(),
              detail: text || '(no body)',
            });
            this.logger.error({ code: error.code }, `executor: ${error.message}`);
          }
          resolve();
        });
      });
      request.end(body);
    });
  }

  private envelope(
    type: Call_Type,
    payload: Pick<MessageInitShape<typeof CallSchema>, 'subscribe' | 'update' | 'message'>,
  ): Call {
    return create(CallSchema, {
      executorId: { value: this.environment.executorId },
      frameworkId: { value: this.environment.frameworkId },
      type,
      ...payload,
    });
  }

  private headers(contentLength: number): Record<string, string | number> {
    const headers: Record<string, string | number> = {
      'Content-Type': this.mediaType,
      Accept: this.mediaType,
      'Content-Length': contentLength,
    };
    if (this.environment.authenticationToken !== undefined) {
      headers['Authorization'] = `Bearer ${this.environment.authenticationToken}`;
    }
    return headers;
  }
}

/** Reads at most ERROR_BODY_LIMIT characters of a (small, non-streaming) response; never rejects. */
async function readBounded(response: IncomingMessage): Promise<string> {
  let text = '';
  try {
    for await (const chunk of response) {
      if (text.length < ERROR_BODY_LIMIT) text += String(chunk);
    }
  } catch {
    // A body cut short still tells us what arrived.
  }
  return text.slice(0, ERROR_BODY_LIMIT);
}
