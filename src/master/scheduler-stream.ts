/**
 * One scheduler subscription: the open RecordIO stream of a SUBSCRIBE call, in the media type the
 * scheduler accepts, with its `Mesos-Stream-Id`.
 */
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import type { MessageMediaType } from '../http/media.js';
import type { RecordStream } from '../http/responses.js';
import { codec } from '../wire/codec.js';
import { type Event, Event_Type, EventSchema } from '../wire/gen/mesos/v1/scheduler/scheduler_pb.js';

/** Above this many unsent bytes a scheduler is not reading its stream: drop it, Mesos-style. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export class SchedulerStream {
  constructor(
    private readonly stream: RecordStream,
    readonly mediaType: MessageMediaType,
    /** The `Mesos-Stream-Id` sent in the SUBSCRIBE response headers: a fresh UUID each time. */
    readonly streamId: string = randomUUID(),
  ) {}

  get closed(): boolean {
    return this.stream.closed;
  }

  get done(): Promise<unknown> {
    return this.stream.done;
  }

  send(event: Event): boolean {
    if (this.stream.closed) return false;
    if (this.stream.bufferedBytes > MAX_BUFFERED_BYTES) {
      this.stream.end();
      return false;
    }
    return this.stream.write(codec.encode(EventSchema, event, this.mediaType));
  }

  /** Sends one ERROR event and closes the stream: how a subscription is refused or ended. */
  fail(message: string): void {
    this.send(create(EventSchema, { type: Event_Type.ERROR, error: { message } }));
    this.close();
  }

  close(): void {
    this.stream.end();
  }
}
