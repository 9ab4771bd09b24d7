/**
 * The default executor's client for the agent operator API (`POST /<agent process>/api/v1`,
 * reference §4.3): launching, waiting for and signalling the nested containers its tasks run in.
 *
 * Only the calls the default executor needs (LAUNCH_NESTED_CONTAINER, WAIT_NESTED_CONTAINER,
 * KILL_NESTED_CONTAINER, and REMOVE_NESTED_CONTAINER for the containers of command checks), in
 * JSON, each on a fresh connection: WAIT is a long poll that can stay open for the whole life of
 * a task, and a kept-alive socket the agent is just closing would turn a later call into a
 * spurious ECONNRESET (the executor client avoids keep-alive for the same reason).
 *
 * Nothing here throws for what the agent or the network does: every call settles with an
 * `AgentCallOutcome` saying whether the agent answered as hoped, answered with another status, or
 * could not be reached, so the executor decides what each case means for a task.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { create, isFieldSet, type MessageInitShape } from '@bufbuild/protobuf';
import type { Logger } from '../common/log.js';
import { codec, MEDIA_TYPE_JSON } from '../wire/codec.js';
import {
  Call_Type,
  CallSchema,
  type Response_WaitNestedContainer,
  Response_WaitNestedContainerSchema,
  ResponseSchema,
} from '../wire/gen/mesos/v1/agent/agent_pb.js';
import type { CommandInfo, ContainerID, ContainerInfo } from '../wire/gen/mesos/v1/mesos_pb.js';
import type { NestedContainerTermination } from './status.js';

/** How long LAUNCH_NESTED_CONTAINER may take: provisioning an image for it can take minutes. */
export const LAUNCH_CALL_TIMEOUT_MS = 10 * 60_000;
/** How long KILL_NESTED_CONTAINER may take before the agent counts as unreachable. */
export const KILL_CALL_TIMEOUT_MS = 30_000;
/** The most of a response body kept: a WAIT answer is small, an error text is for the log. */
const RESPONSE_BODY_LIMIT = 1024 * 1024;

export type AgentCallOutcome<T> =
  /** The agent did what was asked. */
  | { kind: 'ok'; value: T }
  /** The agent answered with another status (404 for an unknown container, 400, 403, 5xx, ...). */
  | { kind: 'rejected'; httpStatus: number; detail: string }
  /** No answer: connection refused or broken, timeout, or an answer that does not decode. */
  | { kind: 'unreachable'; detail: string };

export interface LaunchNestedContainerRequest {
  containerId: ContainerID;
  command?: CommandInfo | undefined;
  container?: ContainerInfo | undefined;
}

/** The part of the operator API the default executor uses; a fake stands in for it in unit tests. */
export interface NestedContainerApi {
  /** `ok` with true when launched now (200), false when the agent already had it (202). */
  launch(request: LaunchNestedContainerRequest): Promise<AgentCallOutcome<boolean>>;
  /** Long poll: settles once the container has ended (or the call failed). */
  wait(containerId: ContainerID): Promise<AgentCallOutcome<NestedContainerTermination>>;
  /** Sends `signal` (a number, e.g. 15 for SIGTERM) to the container's processes. */
  kill(containerId: ContainerID, signal: number): Promise<AgentCallOutcome<void>>;
  /**
   * Forgets an ended container and its sandbox (REMOVE_NESTED_CONTAINER). Only the containers of
   * command checks are removed, one per probe, as Mesos' default executor does; optional so that
   * fakes without checks need not have it.
   */
  remove?(containerId: ContainerID): Promise<AgentCallOutcome<void>>;
}

export interface AgentApiClientOptions {
  /** `http://<host:port>/<agent process id>/api/v1`. */
  url: string;
  /** Sent as `Authorization: Bearer …` when the agent requires executor authentication. */
  authenticationToken?: string | undefined;
  logger: Logger;
}

/**
 * The operator API URL of the agent whose executor API is `executorUrl`: Mesos serves both under
 * the same process (`/slave(1)/api/v1/executor` and `/slave(1)/api/v1`).
 */
export function agentOperatorUrl(executorUrl: string): string {
  return executorUrl.replace(/\/executor$/, '');
}

export class AgentApiClient implements NestedContainerApi {
  constructor(private readonly options: AgentApiClientOptions) {}

  async launch(request: LaunchNestedContainerRequest): Promise<AgentCallOutcome<boolean>> {
    const payload: MessageInitShape<typeof CallSchema>['launchNestedContainer'] = {
      containerId: request.containerId,
    };
    if (request.command !== undefined) payload.command = request.command;
    if (request.container !== undefined) payload.container = request.container;
    const answer = await this.call(
      { type: Call_Type.LAUNCH_NESTED_CONTAINER, launchNestedContainer: payload },
      LAUNCH_CALL_TIMEOUT_MS,
    );
    if (answer.kind !== 'answered') return answer;
    // 202: the agent already has a container with this id (a launch we retried); it runs.
    if (answer.status === 200 || answer.status === 202) return { kind: 'ok', value: answer.status === 200 };
    return rejected(answer);
  }

  async wait(containerId: ContainerID): Promise<AgentCallOutcome<NestedContainerTermination>> {
    // No timeout: the answer comes when the task ends, however long that takes. TCP keep-alive on
    // the socket notices an agent host that vanished.
    const answer = await this.call(
      { type: Call_Type.WAIT_NESTED_CONTAINER, waitNestedContainer: { containerId } },
      undefined,
    );
    if (answer.kind !== 'answered') return answer;
    if (answer.status !== 200) return rejected(answer);
    try {
      const response = codec.decode(ResponseSchema, answer.body, MEDIA_TYPE_JSON);
      if (response.waitNestedContainer === undefined) {
        return { kind: 'unreachable', detail: 'WAIT_NESTED_CONTAINER answer without wait_nested_container' };
      }
      return { kind: 'ok', value: nestedContainerTermination(response.waitNestedContainer) };
    } catch (err) {
      return {
        kind: 'unreachable',
        detail: `WAIT_NESTED_CONTAINER answer does not decode: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
  }

  async kill(containerId: ContainerID, signal: number): Promise<AgentCallOutcome<void>> {
    const answer = await this.call(
      { type: Call_Type.KILL_NESTED_CONTAINER, killNestedContainer: { containerId, signal } },
      KILL_CALL_TIMEOUT_MS,
    );
    if (answer.kind !== 'answered') return answer;
    if (answer.status === 200 || answer.status === 202) return { kind: 'ok', value: undefined };
    return rejected(answer);
  }

  async remove(containerId: ContainerID): Promise<AgentCallOutcome<void>> {
    const answer = await this.call(
      { type: Call_Type.REMOVE_NESTED_CONTAINER, removeNestedContainer: { containerId } },
      KILL_CALL_TIMEOUT_MS,
    );
    if (answer.kind !== 'answered') return answer;
    if (answer.status === 200) return { kind: 'ok', value: undefined };
    return rejected(answer);
  }

  private call(
    init: MessageInitShape<typeof CallSchema>,
    timeoutMs: number | undefined,
  ): Promise<Answer | { kind: 'unreachable'; detail: string }> {
    const name = Call_Type[init.type ?? Call_Type.UNKNOWN] ?? 'UNKNOWN';
    let body: Uint8Array;
    try {
      body = codec.encode(CallSchema, create(CallSchema, init), MEDIA_TYPE_JSON);
    } catch (err) {
      // A call that cannot be encoded (a task without a valid command, say) never reaches the
      // agent; the executor reports it like any other failed call rather than crash.
      const detail = err instanceof Error ? err.message : String(err);
      return Promise.resolve({ kind: 'unreachable', detail: `${name} not sent: ${detail}` });
    }
    const headers: Record<string, string | number> = {
      'Content-Type': MEDIA_TYPE_JSON,
      Accept: MEDIA_TYPE_JSON,
      'Content-Length': body.byteLength,
    };
    if (this.options.authenticationToken !== undefined) {
      headers['Authorization'] = `Bearer ${this.options.authenticationToken}`;
    }
    return new Promise((resolve) => {
      let settled = false;
      const settle = (outcome: Answer | { kind: 'unreachable'; detail: string }) => {
        if (settled) return;
        settled = true;
        resolve(outcome);
      };
      const request = httpRequest(this.options.url, {
        method: 'POST',
        agent: false,
        headers,
        ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
      });
      request.on('socket', (socket) => socket.setKeepAlive(true, 10_000));
      request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs}ms`)));
      request.on('error', (err) => {
        this.options.logger.warn({ call: name, err: err.message }, 'executor: operator API call failed');
        settle({ kind: 'unreachable', detail: `${name} failed: ${err.message}` });
      });
      request.on('response', (response) => {
        void readBody(response).then(
          (bytes) => settle({ kind: 'answered', status: response.statusCode ?? 0, body: bytes }),
          (err: unknown) =>
            settle({
              kind: 'unreachable',
              detail: `${name} answer broke off: ${err instanceof Error ? err.message : String(err)}`,
            }),
        );
      });
      request.end(body);
    });
  }
}

/** The fields of a WAIT_NESTED_CONTAINER answer that are present (proto2 presence, not defaults). */
export function nestedContainerTermination(wait: Response_WaitNestedContainer): NestedContainerTermination {
  const field = Response_WaitNestedContainerSchema.field;
  const termination: NestedContainerTermination = {};
  if (isFieldSet(wait, field.exitStatus)) termination.exitStatus = wait.exitStatus;
  if (isFieldSet(wait, field.state)) termination.state = wait.state;
  if (isFieldSet(wait, field.reason)) termination.reason = wait.reason;
  if (isFieldSet(wait, field.message)) termination.message = wait.message;
  return termination;
}

interface Answer {
  kind: 'answered';
  status: number;
  body: Uint8Array;
}

function rejected(answer: Answer): { kind: 'rejected'; httpStatus: number; detail: string } {
  const text = Buffer.from(answer.body).toString('utf8').slice(0, 4096).trim();
  return { kind: 'rejected', httpStatus: answer.status, detail: text || '(no body)' };
}

/** Reads the whole (bounded) body; rejects when the connection breaks before its end. */
async function readBody(response: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    if (size + buffer.byteLength > RESPONSE_BODY_LIMIT) {
      response.destroy();
      throw new Error(`answer larger than ${RESPONSE_BODY_LIMIT} bytes`);
    }
    chunks.push(buffer);
    size += buffer.byteLength;
  }
  return new Uint8Array(Buffer.concat(chunks, size));
}
