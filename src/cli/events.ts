/**
 * `strata events`: follows the master's operator event stream (SUBSCRIBE), one line per event
 * (or one JSON object per line with `--json`). After a disconnect it re-subscribes naming the last
 * `strata_offset` it saw and the master id (the Strata resume extension, docs/operator-api.md), so
 * nothing is lost; a 410 means the master no longer holds those events (or restarted), and it
 * starts again from a fresh snapshot, saying so.
 */
import { request } from 'node:http';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { Command } from 'commander';
import { codec } from '../wire/codec.js';
import {
  type Event,
  Event_Type,
  EventSchema,
  CallSchema as MasterCallSchema,
} from '../wire/gen/mesos/v1/master/master_pb.js';
import { TaskState } from '../wire/gen/mesos/v1/mesos_pb.js';
import { toMesosJsonText } from '../wire/mesos-json.js';
import { RecordIODecoder } from '../wire/recordio.js';
import { CliError, masterUrl } from './api.js';
import { type CommonOptions, examples, withMaster } from './options.js';

const JSON_TYPE = 'application/json';

export interface StreamHandlers {
  onEvent: (event: Event) => void;
  /** A connection ended or failed; the follower waits `retryMs` and resumes. */
  onDisconnect?: (reason: string) => void;
  /** The master refused to resume (410): the next SUBSCRIBED is a full snapshot again. */
  onResync?: (reason: string) => void;
}

/**
 * Follows the event stream until `stop()`; reconnects forever (every `retryMs`), resuming after
 * the last offset. The first connection failing is an error (no master to follow).
 */
export function followEvents(
  url: string,
  handlers: StreamHandlers,
  options: { retryMs?: number; heartbeats?: boolean } = {},
): { stop: () => void; done: Promise<void> } {
  let lastOffset: bigint | undefined;
  let masterId: string | undefined;
  let stopped = false;
  let current: (() => void) | undefined;
  let connectedOnce = false;
  let resolveDone: () => void = () => {};
  let rejectDone: (err: Error) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  const connect = () => {
    if (stopped) return resolveDone();
    const call: MessageInitShape<typeof MasterCallSchema> = {
      type: 18, // SUBSCRIBE
      ...(lastOffset !== undefined
        ? { strataSubscribe: { resumeAfter: lastOffset, ...(masterId ? { masterId } : {}) } }
        : {}),
    };
    const body = codec.encode(MasterCallSchema, create(MasterCallSchema, call), JSON_TYPE);
    const req = request(
      `${url}/api/v1`,
      { method: 'POST', headers: { 'Content-Type': JSON_TYPE, Accept: JSON_TYPE } },
      (res) => {
        if (res.statusCode === 410) {
          res.resume();
          handlers.onResync?.(
            `the master could not resume after offset ${lastOffset}; starting from a new snapshot`,
          );
          lastOffset = undefined;
          masterId = undefined;
          return void setTimeout(connect, 0);
        }
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8').trim();
            if (!connectedOnce)
              rejectDone(new CliError(`the master refused SUBSCRIBE: ${text} (HTTP ${res.statusCode})`));
            else retry(`HTTP ${res.statusCode} ${text}`);
          });
          return;
        }
        connectedOnce = true;
        masterId = String(res.headers['strata-master-id'] ?? '') || masterId;
        const decoder = new RecordIODecoder();
        res.on('data', (chunk: Buffer) => {
          for (const record of decoder.push(chunk)) {
            const event = codec.decode(EventSchema, record, JSON_TYPE);
            if (event.strataOffset !== undefined && event.strataOffset > 0n) lastOffset = event.strataOffset;
            if (
              event.type === Event_Type.SUBSCRIBED &&
              event.subscribed?.getState === undefined &&
              lastOffset !== undefined
            )
              continue; // a resumed stream's SUBSCRIBED carries no snapshot
            handlers.onEvent(event);
          }
        });
        res.on('close', () => retry('the stream ended'));
      },
    );
    current = () => req.destroy();
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!connectedOnce)
        return rejectDone(
          new CliError(
            `cannot reach the master at ${new URL(url).origin} (${err.code === 'ECONNREFUSED' ? 'connection refused' : (err.code ?? err.message)}); is it running? ('strata local' starts one; --master or STRATA_MASTER)`,
          ),
        );
      retry(err.code ?? err.message);
    });
    req.end(body);
  };
  let retrying = false;
  const retry = (reason: string) => {
    if (stopped || retrying) return;
    retrying = true;
    handlers.onDisconnect?.(reason);
    setTimeout(() => {
      retrying = false;
      connect();
    }, options.retryMs ?? 1000);
  };
  connect();
  return {
    stop: () => {
      stopped = true;
      current?.();
      resolveDone();
    },
    done,
  };
}

/** One line for a human. */
export function describeEvent(event: Event): string {
  const offset = event.strataOffset ? `#${event.strataOffset} ` : '';
  switch (event.type) {
    case Event_Type.SUBSCRIBED: {
      const s = event.subscribed?.getState;
      return `${offset}SUBSCRIBED ${s?.getAgents?.agents.length ?? 0} agents, ${s?.getFrameworks?.frameworks.length ?? 0} frameworks, ${s?.getTasks?.tasks.length ?? 0} tasks`;
    }
    case Event_Type.TASK_ADDED: {
      const t = event.taskAdded?.task;
      return `${offset}TASK_ADDED ${t?.taskId?.value} (${t?.name}) framework ${t?.frameworkId?.value} agent ${t?.agentId?.value}`;
    }
    case Event_Type.TASK_UPDATED: {
      const u = event.taskUpdated;
      const msg = u?.status?.message ? `: ${u.status.message}` : '';
      return `${offset}TASK_UPDATED ${u?.status?.taskId?.value} ${TaskState[u?.state ?? 0]}${msg}`;
    }
    case Event_Type.AGENT_ADDED: {
      const a = event.agentAdded?.agent?.agentInfo;
      return `${offset}AGENT_ADDED ${a?.id?.value} ${a?.hostname}:${a?.port}`;
    }
    case Event_Type.AGENT_REMOVED:
      return `${offset}AGENT_REMOVED ${event.agentRemoved?.agentId?.value}`;
    case Event_Type.FRAMEWORK_ADDED:
    case Event_Type.FRAMEWORK_UPDATED: {
      const f = (event.frameworkAdded ?? event.frameworkUpdated)?.framework?.frameworkInfo;
      return `${offset}${Event_Type[event.type]} ${f?.id?.value} (${f?.name})`;
    }
    case Event_Type.FRAMEWORK_REMOVED: {
      const f = event.frameworkRemoved?.frameworkInfo;
      return `${offset}FRAMEWORK_REMOVED ${f?.id?.value} (${f?.name})`;
    }
    default:
      return `${offset}${Event_Type[event.type] ?? event.type}`;
  }
}

export function registerEvents(program: Command): void {
  const cmd = program
    .command('events')
    .description('follow the master event stream (tasks, agents, frameworks), resuming after disconnects')
    .option('--json', 'one Mesos JSON event per line')
    .option('--heartbeats', 'also print HEARTBEAT events')
    .option('--count <n>', 'exit after this many events (SUBSCRIBED counts)', (v) => Number(v));
  withMaster(cmd);
  examples(cmd, [
    'strata events',
    'strata events --json | jq -c .type',
    'strata events --count 1 --json   # one snapshot',
  ]);
  cmd.action(async (opts: CommonOptions & { heartbeats?: boolean; count?: number }) => {
    const url = masterUrl(opts.master);
    let seen = 0;
    const follower = followEvents(url, {
      onEvent: (event) => {
        if (event.type === Event_Type.HEARTBEAT && !opts.heartbeats) return;
        console.log(opts.json ? toMesosJsonText(EventSchema, event) : describeEvent(event));
        seen++;
        if (opts.count !== undefined && seen >= opts.count) follower.stop();
      },
      onDisconnect: (reason) => process.stderr.write(`strata: event stream lost (${reason}); resuming...\n`),
      onResync: (reason) => process.stderr.write(`strata: ${reason}\n`),
    });
    process.once('SIGINT', () => follower.stop());
    await follower.done;
  });
}
