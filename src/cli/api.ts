/**
 * The public APIs the operator commands use, and nothing else: the master's operator API
 * (`/api/v1`, JSON), the agents' operator API (`/api/v1` on each agent, JSON and RecordIO
 * streams) and the agents' files API (`/files/read`). Every failure becomes a `CliError`: one
 * line for the user, and the exit code.
 */
import { type IncomingMessage, request } from 'node:http';
import { create, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { codec } from '../wire/codec.js';
import {
  CallSchema as AgentCallSchema,
  type Response as AgentResponse,
  ResponseSchema as AgentResponseSchema,
} from '../wire/gen/mesos/v1/agent/agent_pb.js';
import {
  CallSchema as MasterCallSchema,
  Call_Type as MasterCallType,
  type Response as MasterResponse,
  ResponseSchema as MasterResponseSchema,
} from '../wire/gen/mesos/v1/master/master_pb.js';
import { RecordIODecoder } from '../wire/recordio.js';

const JSON_TYPE = 'application/json';
export const DEFAULT_MASTER = 'http://127.0.0.1:5050';

/** An error for the user: printed as `strata: <message>`, exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** `--master`, else `STRATA_MASTER`, else http://127.0.0.1:5050; `host:port` gets `http://`. */
export function masterUrl(option: string | undefined): string {
  const raw = (option ?? process.env.STRATA_MASTER ?? DEFAULT_MASTER).trim();
  if (raw === '') throw new CliError('the master address is empty (--master or STRATA_MASTER)', 2);
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(`'${raw}' is not a master address (expected host:port or http://host:port)`, 2);
  }
  if (url.protocol !== 'http:')
    throw new CliError(`unsupported scheme in '${raw}': only http:// is spoken`, 2);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

export interface RawAnswer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

function describeNetworkError(err: NodeJS.ErrnoException, what: string, url: string): string {
  const reason =
    err.code === 'ECONNREFUSED'
      ? 'connection refused'
      : err.code === 'ENOTFOUND'
        ? 'unknown host'
        : err.code === 'ECONNRESET'
          ? 'connection reset'
          : (err.code ?? err.message);
  const hint =
    what === 'master' ? "; is it running? ('strata local' starts one; --master or STRATA_MASTER)" : '';
  return `cannot reach the ${what} at ${url} (${reason})${hint}`;
}

/** One POST, whole answer. Network failures are CliErrors naming `what` ('master', 'agent'). */
export function postRaw(
  url: string,
  body: Uint8Array | string,
  headers: Record<string, string>,
  what: string,
  timeoutMs = 30_000,
): Promise<RawAnswer> {
  const origin = new URL(url).origin;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', (err) => reject(new CliError(describeNetworkError(err, what, origin))));
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error('timed out'), { code: 'timed out' })),
    );
    req.on('error', (err) => reject(new CliError(describeNetworkError(err, what, origin))));
    req.end(body);
  });
}

export function getRaw(url: string, what: string, timeoutMs = 30_000): Promise<RawAnswer> {
  const origin = new URL(url).origin;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', (err) => reject(new CliError(describeNetworkError(err, what, origin))));
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error('timed out'), { code: 'timed out' })),
    );
    req.on('error', (err) => reject(new CliError(describeNetworkError(err, what, origin))));
    req.end();
  });
}

/** The server's error text, on one line. */
export function answerText(answer: RawAnswer): string {
  const text = answer.body.toString('utf8').trim().replace(/\s+/g, ' ');
  return text === '' ? `HTTP ${answer.status}` : `${text} (HTTP ${answer.status})`;
}

async function typedCall<C extends DescMessage, R extends DescMessage>(
  url: string,
  callSchema: C,
  responseSchema: R,
  init: MessageInitShape<C>,
  what: string,
  describe: string,
): Promise<{ status: number; response: MessageShape<R> | undefined; answer: RawAnswer }> {
  const bytes = codec.encode(callSchema, create(callSchema, init), JSON_TYPE);
  const answer = await postRaw(url, bytes, { 'Content-Type': JSON_TYPE, Accept: JSON_TYPE }, what);
  if (answer.status === 307) {
    const location = String(answer.headers.location ?? '');
    throw new CliError(`${describe}: this master is not the leader; the leader is at ${location}`);
  }
  if (answer.status !== 200 && answer.status !== 202)
    throw new CliError(`${describe}: ${answerText(answer)}`, answer.status === 404 ? 3 : 1);
  const response = answer.body.length > 0 ? codec.decode(responseSchema, answer.body, JSON_TYPE) : undefined;
  return { status: answer.status, response, answer };
}

/** The master's operator API. */
export class MasterApi {
  constructor(readonly url: string) {}

  /** One call; a non-2xx answer is a CliError carrying the master's text. */
  async call(init: MessageInitShape<typeof MasterCallSchema>): Promise<MasterResponse | undefined> {
    const name = MasterCallType[init.type ?? 0] ?? String(init.type);
    const { response } = await typedCall(
      `${this.url}/api/v1`,
      MasterCallSchema,
      MasterResponseSchema,
      init,
      'master',
      `the master refused ${name}`,
    );
    return response;
  }

  /** A call whose answer must have a body. */
  async get(init: MessageInitShape<typeof MasterCallSchema>): Promise<MasterResponse> {
    const response = await this.call(init);
    if (!response) throw new CliError(`the master answered ${MasterCallType[init.type ?? 0]} without a body`);
    return response;
  }

  async state() {
    const state = (await this.get({ type: MasterCallType.GET_STATE })).getState;
    if (!state) throw new CliError('the master answered GET_STATE without a state');
    return state;
  }
}

/** One agent's operator API. */
export class AgentApi {
  constructor(readonly url: string) {}

  async call(
    init: MessageInitShape<typeof AgentCallSchema>,
    describe: string,
  ): Promise<AgentResponse | undefined> {
    const { response } = await typedCall(
      `${this.url}/api/v1`,
      AgentCallSchema,
      AgentResponseSchema,
      init,
      'agent',
      describe,
    );
    return response;
  }

  /** Opens a call whose answer streams RecordIO records (JSON); `onRecord` gets each decoded one. */
  stream<R extends DescMessage>(
    init: MessageInitShape<typeof AgentCallSchema>,
    recordSchema: R,
    onRecord: (record: MessageShape<R>) => void,
    describe: string,
  ): Promise<{ ended: Promise<void>; abort: () => void }> {
    const bytes = codec.encode(AgentCallSchema, create(AgentCallSchema, init), JSON_TYPE);
    const origin = new URL(this.url).origin;
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.url}/api/v1`,
        {
          method: 'POST',
          headers: {
            'Content-Type': JSON_TYPE,
            Accept: 'application/recordio',
            'Message-Accept': JSON_TYPE,
          },
        },
        (res) => {
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              reject(
                new CliError(
                  `${describe}: ${answerText({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })}`,
                ),
              ),
            );
            return;
          }
          const decoder = new RecordIODecoder();
          const ended = new Promise<void>((done, fail) => {
            res.on('data', (chunk: Buffer) => {
              try {
                for (const record of decoder.push(chunk))
                  onRecord(codec.decode(recordSchema, record, JSON_TYPE));
              } catch (err) {
                fail(err);
              }
            });
            res.on('end', () => done());
            res.on('close', () => done());
            res.on('error', () => done());
          });
          resolve({ ended, abort: () => req.destroy() });
        },
      );
      req.on('error', (err) => reject(new CliError(describeNetworkError(err, 'agent', origin))));
      req.end(bytes);
    });
  }
}

/** `slave(1)@10.0.0.1:5051` → `http://10.0.0.1:5051`. */
export function agentUrlFromPid(pid: string | undefined, hostname: string, port: number): string {
  const match = pid ? /@(.+):(\d+)$/.exec(pid) : null;
  if (match) return `http://${match[1]}:${match[2]}`;
  return `http://${hostname}:${port}`;
}

/** `JSON.stringify` that writes bigints as numbers (int64 fields) and keeps the output on one line per value. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? Number(v) : v), 2);
}
