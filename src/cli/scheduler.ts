/**
 * A minimal v1 scheduler for `strata execute`: SUBSCRIBE on `/api/v1/scheduler` (JSON RecordIO
 * events handed to a callback), and calls on their own POSTs with `Mesos-Stream-Id`.
 */
import { request } from 'node:http';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { codec } from '../wire/codec.js';
import type { FrameworkInfoSchema } from '../wire/gen/mesos/v1/mesos_pb.js';
import {
  Call_Type,
  CallSchema,
  type Event,
  Event_Type,
  EventSchema,
} from '../wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { RecordIODecoder } from '../wire/recordio.js';
import { answerText, CliError, postRaw } from './api.js';

const JSON_TYPE = 'application/json';

export class SchedulerClient {
  frameworkId = '';
  private streamId = '';
  private abort: (() => void) | undefined;
  /** Settles when the event stream ends (the master closed it, or `close()`). */
  ended: Promise<void> = Promise.resolve();

  constructor(readonly masterUrl: string) {}

  /** Opens the subscription; resolves with the SUBSCRIBED event's framework id. */
  subscribe(
    frameworkInfo: MessageInitShape<typeof FrameworkInfoSchema>,
    onEvent: (event: Event) => void,
  ): Promise<string> {
    const body = codec.encode(
      CallSchema,
      create(CallSchema, { type: Call_Type.SUBSCRIBE, subscribe: { frameworkInfo } }),
      JSON_TYPE,
    );
    const origin = new URL(this.masterUrl).origin;
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.masterUrl}/api/v1/scheduler`,
        { method: 'POST', headers: { 'Content-Type': JSON_TYPE, Accept: JSON_TYPE } },
        (res) => {
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              reject(
                new CliError(
                  `the master refused the subscription: ${answerText({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })}`,
                ),
              ),
            );
            return;
          }
          this.streamId = String(res.headers['mesos-stream-id'] ?? '');
          const decoder = new RecordIODecoder();
          this.ended = new Promise<void>((done) => {
            res.on('data', (chunk: Buffer) => {
              for (const record of decoder.push(chunk)) {
                const event = codec.decode(EventSchema, record, JSON_TYPE);
                if (event.type === Event_Type.SUBSCRIBED) {
                  this.frameworkId = event.subscribed?.frameworkId?.value ?? '';
                  resolve(this.frameworkId);
                } else if (event.type === Event_Type.ERROR && !this.frameworkId) {
                  reject(new CliError(`the master refused the subscription: ${event.error?.message ?? ''}`));
                }
                onEvent(event);
              }
            });
            res.on('end', () => done());
            res.on('close', () => done());
            res.on('error', () => done());
          });
          void this.ended.then(() => {
            if (!this.frameworkId)
              reject(new CliError('the master closed the subscription before SUBSCRIBED'));
          });
        },
      );
      this.abort = () => req.destroy();
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(
          new CliError(
            `cannot reach the master at ${origin} (${err.code === 'ECONNREFUSED' ? 'connection refused' : (err.code ?? err.message)}); is it running? ('strata local' starts one; --master or STRATA_MASTER)`,
          ),
        ),
      );
      req.end(body);
    });
  }

  /** One call; anything but 202 is a CliError with the master's text. */
  async call(init: MessageInitShape<typeof CallSchema>): Promise<void> {
    const body = codec.encode(
      CallSchema,
      create(CallSchema, {
        ...(init as object),
        frameworkId: { value: this.frameworkId },
      } as MessageInitShape<typeof CallSchema>),
      JSON_TYPE,
    );
    const answer = await postRaw(
      `${this.masterUrl}/api/v1/scheduler`,
      body,
      { 'Content-Type': JSON_TYPE, 'Mesos-Stream-Id': this.streamId },
      'master',
    );
    if (answer.status !== 202 && answer.status !== 200)
      throw new CliError(`the master refused ${Call_Type[init.type ?? 0]}: ${answerText(answer)}`);
  }

  close(): void {
    this.abort?.();
  }
}
