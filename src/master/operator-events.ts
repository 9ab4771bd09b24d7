/**
 * The operator event stream (`SUBSCRIBE` on the master's `/api/v1`, reference section 4.2) and its
 * Strata extension, resumption (docs/operator-api.md).
 *
 * `OperatorEventHub` listens to the Master's typed events (events.ts), turns each into a
 * `master.Event`, numbers it with the next offset (1, 2, 3, ... for this master run), keeps the
 * last `replayCapacity` in a `ReplayBuffer` and writes it to every open stream. A new stream starts
 * with SUBSCRIBED (the full GET_STATE snapshot, `strata_offset` = the last event it includes) and
 * HEARTBEAT, then one HEARTBEAT per interval timed from its own SUBSCRIBED. A resuming stream
 * starts with SUBSCRIBED without a snapshot (`strata_offset` = the offset it resumes after) and
 * HEARTBEAT, then exactly the events it missed, then live ones. At most `maxSubscribers` streams
 * are open: a new one closes the oldest (Mesos' `--max_operator_event_stream_subscribers`).
 *
 * Everything runs synchronously inside Master's `emit`, so the snapshot and the numbering agree:
 * an event is either in a SUBSCRIBED snapshot or delivered after it, never both or neither.
 */
import { clone, create, isFieldSet } from '@bufbuild/protobuf';
import type { Clock, TimerHandle } from '../common/clock.js';
import { StrataError } from '../common/errors.js';
import type { MessageMediaType } from '../http/media.js';
import type { HttpResponse, RecordStream } from '../http/responses.js';
import { codec } from '../wire/codec.js';
import { type Event, Event_Type, EventSchema } from '../wire/gen/mesos/v1/master/master_pb.js';
import {
  FrameworkInfoSchema,
  type Task,
  TaskSchema,
  type TaskState,
  type TaskStatus,
  TaskStatusSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import type { MasterEvent } from './events.js';
import type { Master } from './master.js';
import { agentMessage, frameworkMessage, getState } from './operator-state.js';

/** Above this many unsent bytes a subscriber is not reading: its stream is closed. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/** Response header naming the master whose offsets a stream carries (Strata extension). */
export const MASTER_ID_HEADER = 'Strata-Master-Id';
/** Request header alternative to `strata_subscribe.resume_after` (Strata extension). */
export const RESUME_AFTER_HEADER = 'Strata-Resume-After';

// ------------------------------------------------------------------------------ pure parts

/**
 * Reference section 9.14: TASK_UPDATED is published when the task's recorded state changes, and
 * for every update carrying health or check results; an agent's retransmission of the update it
 * already sent (same uuid as the one pending acknowledgement) never is.
 */
export function isPublishedTaskUpdate(update: {
  previousState: TaskState;
  latestState: TaskState;
  status: TaskStatus;
  /** The uuid of the update the master was waiting to see acknowledged before this one. */
  pendingUuid: Uint8Array;
}): boolean {
  const { status, pendingUuid } = update;
  if (status.uuid.length > 0 && Buffer.from(status.uuid).equals(Buffer.from(pendingUuid))) return false;
  if (isFieldSet(status, TaskStatusSchema.field.healthy) || status.checkStatus !== undefined) return true;
  return update.latestState !== update.previousState;
}

export type ReplayAnswer<T> =
  | { kind: 'events'; events: T[] }
  /** Events after the offset were evicted: the client must take a fresh snapshot. */
  | { kind: 'too-old'; oldest: bigint }
  /** The offset was never handed out (another master, or a client bug). */
  | { kind: 'unknown'; head: bigint };

/** The last `capacity` items, numbered 1, 2, 3, ... as they are pushed. */
export class ReplayBuffer<T> {
  private readonly items: T[] = [];
  private start = 0;
  private headOffset = 0n;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`invalid capacity ${capacity}`);
  }

  /** The offset of the newest item; 0 before the first. */
  get head(): bigint {
    return this.headOffset;
  }

  get size(): number {
    return this.items.length;
  }

  /** The offset of the oldest item kept (head + 1 when none is kept). */
  get oldest(): bigint {
    return this.headOffset - BigInt(this.items.length) + 1n;
  }

  /** Stores `item` and returns its offset. */
  push(item: T): bigint {
    this.headOffset++;
    if (this.capacity === 0) return this.headOffset;
    if (this.items.length < this.capacity) this.items.push(item);
    else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
    return this.headOffset;
  }

  /** The items after `offset`, oldest first. */
  after(offset: bigint): ReplayAnswer<T> {
    if (offset < 0n || offset > this.headOffset) return { kind: 'unknown', head: this.headOffset };
    if (offset + 1n < this.oldest) return { kind: 'too-old', oldest: this.oldest };
    const count = Number(this.headOffset - offset);
    const events: T[] = [];
    for (let i = this.items.length - count; i < this.items.length; i++) {
      events.push(this.items[(this.start + i) % this.items.length]!);
    }
    return { kind: 'events', events };
  }
}

// ------------------------------------------------------------------------------ the hub

/** One numbered event with its encodings, made once per media type on first use. */
class StoredEvent {
  private json: Uint8Array | undefined;
  private protobuf: Uint8Array | undefined;

  constructor(readonly event: Event) {}

  encoded(media: MessageMediaType): Uint8Array {
    if (media === 'application/json') {
      this.json ??= codec.encode(EventSchema, this.event, media);
      return this.json;
    }
    this.protobuf ??= codec.encode(EventSchema, this.event, media);
    return this.protobuf;
  }
}

interface Subscriber {
  stream: RecordStream;
  media: MessageMediaType;
  heartbeat: TimerHandle | undefined;
}

export interface OperatorEventHubOptions {
  /** Open streams allowed; the oldest is closed for a new one beyond this. */
  maxSubscribers: number;
  /** Events kept for resumption. */
  replayCapacity: number;
  heartbeatIntervalMs: number;
  clock: Clock;
}

/** Where a resuming SUBSCRIBE wants to start. */
export interface ResumePoint {
  after: bigint;
  masterId?: string | undefined;
}

export class OperatorEventHub {
  /** Open streams, oldest first. */
  private readonly subscribers: Subscriber[] = [];
  private readonly buffer: ReplayBuffer<StoredEvent>;
  private readonly stopListening: () => void;
  private readonly heartbeatBytes = new Map<MessageMediaType, Uint8Array>();

  constructor(
    private readonly master: Master,
    private readonly options: OperatorEventHubOptions,
  ) {
    this.buffer = new ReplayBuffer(options.replayCapacity);
    this.stopListening = master.events.on((event) => this.onMasterEvent(event));
  }

  /** The offset of the newest event. */
  get head(): bigint {
    return this.buffer.head;
  }

  get subscriberCount(): number {
    return this.subscribers.length;
  }

  /**
   * The answer to SUBSCRIBE: a 200 stream, or (resuming) 410 when the events after `resume.after`
   * are no longer kept or were never this master's.
   */
  subscribe(media: MessageMediaType, resume?: ResumePoint): HttpResponse {
    if (resume) this.replay(resume);
    return {
      status: 200,
      headers: { 'Content-Type': media, [MASTER_ID_HEADER]: this.master.masterInfo.id },
      open: (stream) => this.open(stream, media, resume),
    };
  }

  /** The missed events, or the 410 that tells the client to resync. */
  private replay(resume: ResumePoint): StoredEvent[] {
    const masterId = this.master.masterInfo.id;
    if (resume.masterId !== undefined && resume.masterId !== masterId) {
      throw new StrataError('OPERATOR_STREAM_RESYNC', {
        offset: resume.after,
        why: `the offsets are those of master '${resume.masterId}', this is master '${masterId}'`,
      });
    }
    const answer = this.buffer.after(resume.after);
    if (answer.kind === 'too-old') {
      throw new StrataError('OPERATOR_STREAM_RESYNC', {
        offset: resume.after,
        why: `the oldest event still kept is ${answer.oldest}`,
      });
    }
    if (answer.kind === 'unknown') {
      throw new StrataError('OPERATOR_STREAM_RESYNC', {
        offset: resume.after,
        why: `the newest event of master '${masterId}' is ${answer.head}`,
      });
    }
    return answer.events;
  }

  private open(stream: RecordStream, media: MessageMediaType, resume: ResumePoint | undefined): void {
    let missed: StoredEvent[] = [];
    if (resume) {
      try {
        missed = this.replay(resume);
      } catch {
        // Evicted between the answer's headers and now: the client's next SUBSCRIBE gets the 410.
        stream.end();
        return;
      }
    }
    while (this.subscribers.length >= this.options.maxSubscribers && this.subscribers.length > 0) {
      this.subscribers[0]!.stream.end();
      this.remove(this.subscribers[0]!);
    }
    const subscriber: Subscriber = { stream, media, heartbeat: undefined };
    const subscribed = create(EventSchema, {
      type: Event_Type.SUBSCRIBED,
      subscribed: {
        ...(resume ? {} : { getState: getState(this.master) }),
        heartbeatIntervalSeconds: this.options.heartbeatIntervalMs / 1000,
      },
      strataOffset: resume ? resume.after : this.buffer.head,
    });
    stream.write(codec.encode(EventSchema, subscribed, media));
    this.heartbeat(subscriber);
    for (const event of missed) this.write(subscriber, event);
    subscriber.heartbeat = this.options.clock.setInterval(
      () => this.heartbeat(subscriber),
      this.options.heartbeatIntervalMs,
    );
    this.subscribers.push(subscriber);
    this.master.events.operatorSubscribers = this.subscribers.length;
    void stream.done.then(() => this.remove(subscriber));
  }

  private remove(subscriber: Subscriber): void {
    subscriber.heartbeat?.cancel();
    subscriber.heartbeat = undefined;
    const index = this.subscribers.indexOf(subscriber);
    if (index >= 0) this.subscribers.splice(index, 1);
    this.master.events.operatorSubscribers = this.subscribers.length;
  }

  private heartbeat(subscriber: Subscriber): void {
    let bytes = this.heartbeatBytes.get(subscriber.media);
    if (bytes === undefined) {
      bytes = codec.encode(
        EventSchema,
        create(EventSchema, { type: Event_Type.HEARTBEAT }),
        subscriber.media,
      );
      this.heartbeatBytes.set(subscriber.media, bytes);
    }
    this.send(subscriber, bytes);
  }

  private write(subscriber: Subscriber, event: StoredEvent): void {
    this.send(subscriber, event.encoded(subscriber.media));
  }

  private send(subscriber: Subscriber, bytes: Uint8Array): void {
    if (subscriber.stream.bufferedBytes > MAX_BUFFERED_BYTES) {
      subscriber.stream.abort();
      this.remove(subscriber);
      return;
    }
    subscriber.stream.write(bytes);
  }

  private onMasterEvent(change: MasterEvent): void {
    const event = this.toEvent(change);
    if (event === undefined) return;
    const stored = new StoredEvent(event);
    event.strataOffset = this.buffer.push(stored);
    for (const subscriber of [...this.subscribers]) this.write(subscriber, stored);
  }

  /** The operator event for a master change, or undefined when it is not published. */
  private toEvent(change: MasterEvent): Event | undefined {
    switch (change.kind) {
      case 'task-added':
        return create(EventSchema, {
          type: Event_Type.TASK_ADDED,
          taskAdded: { task: snapshotTask(change.task) },
        });
      case 'task-updated': {
        const { task, status, previousState } = change;
        const published = isPublishedTaskUpdate({
          previousState,
          latestState: task.state,
          status,
          pendingUuid: task.statusUpdateUuid,
        });
        if (!published) return undefined;
        return create(EventSchema, {
          type: Event_Type.TASK_UPDATED,
          taskUpdated: {
            frameworkId: task.frameworkId,
            status: clone(TaskStatusSchema, status),
            state: task.state,
          },
        });
      }
      case 'agent-added':
        return create(EventSchema, {
          type: Event_Type.AGENT_ADDED,
          agentAdded: { agent: agentMessage(this.master, change.agent) },
        });
      case 'agent-removed':
        return create(EventSchema, {
          type: Event_Type.AGENT_REMOVED,
          agentRemoved: { agentId: { value: change.agentId } },
        });
      case 'framework-added':
        return create(EventSchema, {
          type: Event_Type.FRAMEWORK_ADDED,
          frameworkAdded: { framework: frameworkMessage(this.master, change.framework) },
        });
      case 'framework-updated':
        return create(EventSchema, {
          type: Event_Type.FRAMEWORK_UPDATED,
          frameworkUpdated: { framework: frameworkMessage(this.master, change.framework) },
        });
      case 'framework-removed':
        return create(EventSchema, {
          type: Event_Type.FRAMEWORK_REMOVED,
          frameworkRemoved: { frameworkInfo: clone(FrameworkInfoSchema, change.framework.info) },
        });
    }
  }

  /** Master shutdown: heartbeats stop, streams end. */
  close(): void {
    this.stopListening();
    for (const subscriber of [...this.subscribers]) {
      subscriber.stream.end();
      this.remove(subscriber);
    }
  }
}

/** The task as it is now: the record goes on changing after the event is stored. */
function snapshotTask(task: Task): Task {
  return clone(TaskSchema, task);
}
