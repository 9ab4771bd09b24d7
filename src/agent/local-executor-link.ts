/**
 * The executor API without the network, for an executor that runs inside the agent process (the
 * hosted command executor, src/containerizer/hosted-executor.ts). It drives the same Agent entry
 * points as `/api/v1/executor` (subscribe, executorUpdate) and reads the same encoded events from
 * a stream of its own, so the agent treats the executor like any other; what goes is a loopback
 * connection, an HTTP request and response per call, and their parsing.
 *
 * Events are handed to the executor a microtask after the agent wrote them, in order, so that the
 * executor never runs inside one of the agent's own calls (an ACKNOWLEDGED written while the
 * agent takes an update in would otherwise let the executor finish mid-call).
 */
import { create } from '@bufbuild/protobuf';
import type { Logger } from '../common/log.js';
import type { ExecutorLink } from '../executors/command-executor.js';
import type { ExecutorConnectionState, ExecutorEventHandlers } from '../executors/executor-client.js';
import { dispatchExecutorEvent, uuidKey } from '../executors/executor-client.js';
import type { RecordStream, StreamCloseReason } from '../http/responses.js';
import { codec } from '../wire/codec.js';
import { Call_SubscribeSchema, EventSchema } from '../wire/gen/mesos/v1/executor/executor_pb.js';
import type { TaskStatus } from '../wire/gen/mesos/v1/mesos_pb.js';
import type { Agent } from './agent.js';

const MEDIA_TYPE = 'application/x-protobuf';

/** A RecordStream whose records go to a function instead of a socket. */
class LocalRecordStream implements RecordStream {
  closed = false;
  readonly bufferedBytes = 0;
  private readonly controller = new AbortController();
  readonly done: Promise<StreamCloseReason>;
  private settle!: (reason: StreamCloseReason) => void;

  constructor(private readonly deliver: (record: Uint8Array) => void) {
    this.done = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  write(record: Uint8Array | string): boolean {
    if (this.closed) return false;
    const bytes = typeof record === 'string' ? new TextEncoder().encode(record) : record;
    queueMicrotask(() => {
      if (!this.closed) this.deliver(bytes);
    });
    return true;
  }

  end(): void {
    if (this.closed) return;
    // Records already written still arrive (they are queued ahead of this).
    queueMicrotask(() => this.close('ended'));
  }

  abort(): void {
    this.close('aborted');
  }

  private close(reason: StreamCloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.abort();
    this.settle(reason);
  }
}

export class LocalExecutorLink implements ExecutorLink {
  private connectionState: ExecutorConnectionState = 'idle';
  private readonly pending = new Map<string, TaskStatus>();
  private stream: LocalRecordStream | undefined;

  constructor(
    private readonly agent: Agent,
    private readonly frameworkId: string,
    private readonly executorId: string,
    private readonly handlers: Partial<ExecutorEventHandlers>,
    private readonly log: Logger,
  ) {}

  get state(): ExecutorConnectionState {
    return this.connectionState;
  }

  get unacknowledgedUpdates(): readonly TaskStatus[] {
    return [...this.pending.values()];
  }

  start(): void {
    if (this.connectionState !== 'idle') return;
    this.connectionState = 'connecting';
    // As a SUBSCRIBE over the network would: after the agent has finished what it is doing (a
    // recovery sets up the executor it waits for right after re-attaching to it).
    setImmediate(() => this.subscribe());
  }

  private subscribe(): void {
    if (this.connectionState !== 'connecting') return;
    const found = this.agent.lookupExecutor(this.frameworkId, this.executorId);
    if (found.kind !== 'found') {
      this.connectionState = 'closed';
      this.handlers.connectionLost?.('the agent does not know this executor');
      return;
    }
    const stream = new LocalRecordStream((record) => this.onEvent(record));
    this.stream = stream;
    void stream.done.then(() => {
      if (this.stream !== stream || this.connectionState === 'closed') return;
      this.connectionState = 'closed';
      // The agent closed the stream (it ends the executor): as a process executor without
      // checkpointing, nothing is left to reconnect to.
      this.handlers.connectionLost?.('the agent closed the executor stream');
    });
    this.agent.subscribe(
      found.framework,
      found.executor,
      create(Call_SubscribeSchema, { unacknowledgedUpdates: [], unacknowledgedTasks: [] }),
      stream,
      MEDIA_TYPE,
    );
  }

  sendUpdate(status: TaskStatus): void {
    if (this.connectionState === 'closed') return;
    this.pending.set(uuidKey(status.uuid), status);
    // After the executor's current turn, as a POST would be: a TASK_STARTING does not go out
    // (and set the master and scheduler working) ahead of the container start that follows it.
    setImmediate(() => {
      const found = this.agent.lookupExecutor(this.frameworkId, this.executorId);
      if (found.kind !== 'found') {
        this.log.warn({ taskId: status.taskId?.value }, 'executor: update for an executor the agent forgot');
        return;
      }
      this.agent.executorUpdate(found.framework, found.executor, status);
    });
  }

  close(): void {
    this.connectionState = 'closed';
    this.stream?.end();
  }

  private onEvent(record: Uint8Array): void {
    try {
      dispatchExecutorEvent(
        codec.decode(EventSchema, record, MEDIA_TYPE),
        this.handlers,
        {
          subscribed: () => {
            this.connectionState = 'subscribed';
          },
          acknowledged: (_taskId, uuid) => this.pending.delete(uuidKey(uuid)),
        },
        this.log,
      );
    } catch (err) {
      this.log.error({ err }, 'executor: an event from the agent is malformed; ignored');
    }
  }
}
