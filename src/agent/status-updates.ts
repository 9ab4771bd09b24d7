/**
 * The status update manager (mesos-internals.md section 4.6): reliable, ordered delivery of task
 * status updates to the master.
 *
 * One stream per (framework, task). An update joins its stream's pending queue; only the head is
 * in flight. The head is resent after `retryMinMs`, then twice that, and so on up to `retryMaxMs`,
 * until the master forwards the scheduler's acknowledgement for exactly that uuid; then the next
 * update goes out. A terminal update's acknowledgement closes the stream. While the agent has no
 * master the manager is paused; `resume` resends every head at once.
 *
 * Pure apart from the injected clock and callbacks. `checkpoint` sees every new update and every
 * valid acknowledgement before the manager acts on it, so a checkpointing agent appends it to the
 * task's `task.updates` log first (an update is "received" only once it is durable); a restarted
 * agent hands the replayed logs back through `recover`.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import type { TaskState, TaskStatus } from '../wire/gen/mesos/v1/mesos_pb.js';
import { isTerminalState, uuidText } from './task-states.js';

/** Mesos' STATUS_UPDATE_RETRY_INTERVAL_MIN / _MAX. */
export const STATUS_UPDATE_RETRY_MIN_MS = 10_000;
export const STATUS_UPDATE_RETRY_MAX_MS = 10 * 60_000;

export interface StatusUpdate {
  frameworkId: string;
  /** Unset for updates of tasks that never had an executor (none today; kept for the wire shape). */
  executorId: string | undefined;
  /** Carries `task_id` and a 16-byte `uuid`. */
  status: TaskStatus;
}

/** What the checkpoint must record before the manager goes on. */
export type StreamEvent =
  | { type: 'update'; update: StatusUpdate }
  | { type: 'ack'; update: StatusUpdate; uuid: Uint8Array };

/** A stream as a restarted agent found it in its checkpoint. */
export interface RecoveredStream {
  frameworkId: string;
  taskId: string;
  /** Unacknowledged updates, head first. */
  pending: readonly StatusUpdate[];
  /** Canonical uuid text of every update already acknowledged. */
  acknowledged: readonly string[];
}

export interface StatusUpdateManagerOptions {
  clock: Clock;
  /** Makes the event durable; throwing leaves the manager unchanged (the update is not taken). */
  checkpoint?(event: StreamEvent): void;
  /** Sends one update to the master; `latestState` is the newest state the agent knows. */
  forward(update: StatusUpdate, latestState: TaskState): void;
  /** The task's current state on the agent, for `latest_state`; the update's own when unknown. */
  latestState?(frameworkId: string, taskId: string): TaskState | undefined;
  retryMinMs?: number;
  retryMaxMs?: number;
}

export type ReceiveResult = 'queued' | 'duplicate';

export type AcknowledgeResult =
  | { kind: 'acknowledged'; update: StatusUpdate; terminal: boolean; next: StatusUpdate | undefined }
  | { kind: 'unexpected'; reason: string };

interface StreamRecord {
  frameworkId: string;
  taskId: string;
  pending: StatusUpdate[];
  received: Set<string>;
  acknowledged: Set<string>;
  retry: TimerHandle | undefined;
  /** Delay before the next resend of the head. */
  backoffMs: number;
}

const streamKey = (frameworkId: string, taskId: string): string => `${frameworkId}\u0000${taskId}`;

export class StatusUpdateManager {
  private readonly streams = new Map<string, StreamRecord>();
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private paused = true;

  constructor(private readonly options: StatusUpdateManagerOptions) {
    this.retryMinMs = options.retryMinMs ?? STATUS_UPDATE_RETRY_MIN_MS;
    this.retryMaxMs = Math.max(this.retryMinMs, options.retryMaxMs ?? STATUS_UPDATE_RETRY_MAX_MS);
  }

  /** Takes custody of `update`. Duplicates (same uuid, pending or already acknowledged) are dropped. */
  receive(update: StatusUpdate): ReceiveResult {
    const taskId = update.status.taskId?.value ?? '';
    const key = streamKey(update.frameworkId, taskId);
    let stream = this.streams.get(key);
    const uuid = uuidText(update.status.uuid);
    if (stream && (stream.received.has(uuid) || stream.acknowledged.has(uuid))) return 'duplicate';
    this.options.checkpoint?.({ type: 'update', update });
    if (!stream) {
      stream = {
        frameworkId: update.frameworkId,
        taskId,
        pending: [],
        received: new Set(),
        acknowledged: new Set(),
        retry: undefined,
        backoffMs: this.retryMinMs,
      };
      this.streams.set(key, stream);
    }
    stream.received.add(uuid);
    stream.pending.push(update);
    if (stream.pending.length === 1) this.sendHead(stream);
    return 'queued';
  }

  /** The master relayed an acknowledgement: it must match the head of the task's stream. */
  acknowledge(frameworkId: string, taskId: string, uuid: Uint8Array): AcknowledgeResult {
    const stream = this.streams.get(streamKey(frameworkId, taskId));
    if (!stream) return { kind: 'unexpected', reason: 'no status update stream for this task' };
    const head = stream.pending[0];
    const text = uuidText(uuid);
    if (!head) return { kind: 'unexpected', reason: 'no update is waiting for an acknowledgement' };
    if (uuidText(head.status.uuid) !== text) {
      const seen = stream.acknowledged.has(text) ? 'a duplicate acknowledgement' : 'an unexpected uuid';
      return { kind: 'unexpected', reason: `${seen}; waiting for ${uuidText(head.status.uuid)}` };
    }
    this.options.checkpoint?.({ type: 'ack', update: head, uuid });
    stream.retry?.cancel();
    stream.retry = undefined;
    stream.pending.shift();
    stream.received.delete(text);
    stream.acknowledged.add(text);
    const terminal = isTerminalState(head.status.state);
    if (terminal) {
      // Updates queued behind a terminal one can never be delivered meaningfully: the task is over.
      for (const left of stream.pending) stream.received.delete(uuidText(left.status.uuid));
      stream.pending = [];
      this.streams.delete(streamKey(frameworkId, taskId));
      return { kind: 'acknowledged', update: head, terminal, next: undefined };
    }
    stream.backoffMs = this.retryMinMs;
    const next = stream.pending[0];
    if (next) this.sendHead(stream);
    return { kind: 'acknowledged', update: head, terminal, next };
  }

  /** Whether `uuid` is already in custody (pending or acknowledged) on the task's stream. */
  isDuplicate(frameworkId: string, taskId: string, uuid: Uint8Array): boolean {
    const stream = this.streams.get(streamKey(frameworkId, taskId));
    const text = uuidText(uuid);
    return stream !== undefined && (stream.received.has(text) || stream.acknowledged.has(text));
  }

  /**
   * Re-creates a stream from the checkpoint (nothing is written back). Pending updates go out on
   * the next `resume`, as after any disconnection.
   */
  recover(recovered: RecoveredStream): void {
    const stream: StreamRecord = {
      frameworkId: recovered.frameworkId,
      taskId: recovered.taskId,
      pending: [...recovered.pending],
      received: new Set(recovered.pending.map((u) => uuidText(u.status.uuid))),
      acknowledged: new Set(recovered.acknowledged),
      retry: undefined,
      backoffMs: this.retryMinMs,
    };
    this.streams.get(streamKey(stream.frameworkId, stream.taskId))?.retry?.cancel();
    this.streams.set(streamKey(stream.frameworkId, stream.taskId), stream);
    if (!this.paused && stream.pending.length > 0) this.sendHead(stream);
  }

  /** No master: stop sending (updates stay queued). */
  pause(): void {
    this.paused = true;
    for (const stream of this.streams.values()) {
      stream.retry?.cancel();
      stream.retry = undefined;
    }
  }

  /** A master (again): every head goes out now, with the retry interval starting over. */
  resume(): void {
    this.paused = false;
    for (const stream of this.streams.values()) {
      stream.backoffMs = this.retryMinMs;
      if (stream.pending.length > 0) this.sendHead(stream);
    }
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Drops every stream of a framework that is gone (its updates can no longer be delivered). */
  removeFramework(frameworkId: string): void {
    for (const [key, stream] of this.streams) {
      if (stream.frameworkId !== frameworkId) continue;
      stream.retry?.cancel();
      this.streams.delete(key);
    }
  }

  /** The update in flight for a task (the head), if any. */
  head(frameworkId: string, taskId: string): StatusUpdate | undefined {
    return this.streams.get(streamKey(frameworkId, taskId))?.pending[0];
  }

  /** Updates not yet acknowledged for a task, head first. */
  pending(frameworkId: string, taskId: string): readonly StatusUpdate[] {
    return this.streams.get(streamKey(frameworkId, taskId))?.pending ?? [];
  }

  /** Whether a task still has a stream (not yet closed by an acknowledged terminal update). */
  hasStream(frameworkId: string, taskId: string): boolean {
    return this.streams.has(streamKey(frameworkId, taskId));
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Cancels every timer; used when the agent stops. */
  stop(): void {
    this.pause();
  }

  private sendHead(stream: StreamRecord): void {
    const head = stream.pending[0];
    if (!head || this.paused) return;
    const latest = this.options.latestState?.(stream.frameworkId, stream.taskId) ?? head.status.state;
    this.options.forward(head, latest);
    stream.retry?.cancel();
    const delay = stream.backoffMs;
    stream.retry = this.options.clock.setTimeout(() => {
      stream.retry = undefined;
      stream.backoffMs = Math.min(delay * 2, this.retryMaxMs);
      this.sendHead(stream);
    }, delay);
  }
}
