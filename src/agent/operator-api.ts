/**
 * The agent operator API, `POST /slave(1)/api/v1` (and `/api/v1`): the transport checks of
 * reference sections 1.3 and 1.7 in the agent's order (405; Content-Type and Message-Content-Type
 * 400/415; Accept and Message-Accept 406; body 400; `Failed to validate agent::Call: ...` 400;
 * the per-call streaming rules 415/406), then the call (section 4.3).
 *
 * Served now: GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET/SET_LOGGING_LEVEL, LIST_FILES
 * and READ_FILE (the `/files` tree: 404 for an unknown path, 400 for a directory or an escape),
 * GET_STATE, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_AGENT, GET_CONTAINERS and
 * GET_RESOURCE_PROVIDERS (operator-state.ts), PRUNE_IMAGES, the container calls
 * (LAUNCH/WAIT/KILL/REMOVE_NESTED_CONTAINER and their LAUNCH/WAIT/KILL/REMOVE_CONTAINER forms for
 * nested containers), and exec: LAUNCH_NESTED_CONTAINER_SESSION, ATTACH_CONTAINER_INPUT and
 * ATTACH_CONTAINER_OUTPUT through the IO switchboard (io-switchboard.ts). UNKNOWN is a bare 501,
 * as in Mesos; every other call type is a 501 whose text names it.
 *
 * Exec, as Mesos' `Http::launchNestedContainerSession` / `attachContainer*` do it:
 * - SESSION launches a nested container (working in its parent's sandbox, with its parent's
 *   environment) whose stdio the switchboard holds, and answers 200 with the container's output
 *   as a RecordIO stream of ProcessIO (DATA STDOUT/STDERR, CONTROL HEARTBEAT every 30 s). The
 *   stream ends when the output does; when the client goes away first the container is killed.
 *   An id already running answers 202 (Mesos' ALREADY_LAUNCHED), a refused launch 400.
 * - ATTACH_CONTAINER_INPUT: a streamed body of Calls; the first one names the container
 *   (type CONTAINER_ID, else 400), then PROCESS_IO records: STDIN data (empty = end of file
 *   without a TTY), TTY_INFO window sizes, heartbeats. 200 once the body or the container ends;
 *   409 while another input connection is attached.
 * - ATTACH_CONTAINER_OUTPUT: the same output stream as a session's, for any number of clients.
 * - An id whose root is no live executor container is 404 `Container <id> cannot be found`, as
 *   in Mesos; so is an unknown or ended nested container. A container whose stdio goes to sandbox
 *   files (executors, plain nested containers) has no switchboard: 500 saying so.
 */
import { readFileSync } from 'node:fs';
import { create, isFieldSet, type MessageInitShape } from '@bufbuild/protobuf';
import { type Clock, systemClock } from '../common/clock.js';
import { StrataError } from '../common/errors.js';
import type { LogLevelControl } from '../common/log.js';
import { versionInfoMessageInit } from '../common/version.js';
import {
  type AgentApiMediaTypes,
  APPLICATION_RECORDIO,
  agentRequestMessageType,
  agentResponseMessageType,
  checkAgentCallStreaming,
  MESSAGE_CONTENT_TYPE,
  type MessageMediaType,
  negotiateAgentApiMedia,
  requireMethod,
} from '../http/media.js';
import {
  AGENT_RECOVERING,
  type HttpResponse,
  messageResponse,
  type StreamResponse,
  serviceUnavailable,
  textResponse,
} from '../http/responses.js';
import type { HttpRequest } from '../http/server.js';
import { codec } from '../wire/codec.js';
import {
  type Call,
  Call_AttachContainerInput_Type,
  Call_KillContainerSchema,
  Call_KillNestedContainerSchema,
  Call_ReadFileSchema,
  Call_Type,
  ProcessIO_Control_Type,
  ProcessIO_Data_Type,
  ProcessIO_Type,
  ProcessIOSchema,
  Response_Type,
  ResponseSchema,
} from '../wire/gen/mesos/v1/agent/agent_pb.js';
import type { CommandInfo, ContainerID, ContainerInfo } from '../wire/gen/mesos/v1/mesos_pb.js';
import { decodeRecords } from '../wire/recordio.js';
import type { Agent, ExecutorRecord } from './agent.js';
import { containerIdText, decodeAgentCall, validateAgentCall } from './agent-calls.js';
import type { Files } from './files.js';
import { operatorListFiles, operatorReadFile } from './files-endpoints.js';
import { ContainerIO } from './io-switchboard.js';
import { ContainerLaunchError, ContainerRemoveError, signalName } from './nested-containers.js';
import {
  getAgentResponse,
  getContainersResponse,
  getExecutors,
  getFrameworks,
  getStateResponse,
  getTasks,
} from './operator-state.js';

export interface AgentApiContext {
  agent: Agent;
  /** The agent's flags as `/flags` shows them. */
  flags: Record<string, string>;
  /** The tree `/files` serves (LIST_FILES, READ_FILE); without it those calls are 501. */
  files?: Files;
  /** The `/metrics/snapshot` values (GET_METRICS); without it that call is 501. */
  metrics?: () => Promise<Record<string, number>>;
  /** GET/SET_LOGGING_LEVEL; without it SET_LOGGING_LEVEL is 501 and the level reads 0. */
  logging?: LogLevelControl;
  /** Timestamps of GET_CONTAINERS statistics (default: the system clock). */
  clock?: Clock;
  /** HEARTBEAT records on attach output streams (default 30 s, as Mesos' switchboard). */
  attachHeartbeatMs?: number;
}

/** Mesos' IO switchboard heartbeat interval on output connections. */
export const ATTACH_HEARTBEAT_MS = 30_000;

/** How long a session whose output has ended may take to exit before it is killed. */
const SESSION_EXIT_GRACE_MS = 1000;

/** SIGKILL: what KILL_NESTED_CONTAINER / KILL_CONTAINER send when the call names no signal. */
const DEFAULT_KILL_SIGNAL = 9;

function badRequest(text: string): never {
  throw new StrataError('HTTP_BAD_REQUEST', { detail: text });
}

interface ReadCall {
  call: Call;
  /** A streamed body: the records after the first, still to be read. */
  rest?: AsyncIterator<Uint8Array>;
}

/** The Call of a non-streaming body, or the first record of a RecordIO one (and the rest). */
async function readCall(request: HttpRequest, media: AgentApiMediaTypes): Promise<ReadCall> {
  const messageType = agentRequestMessageType(media);
  if (media.content !== APPLICATION_RECORDIO) {
    return { call: decodeAgentCall(await request.body(), messageType) };
  }
  // A streamed body may stay open for as long as the client likes: the first record is read now,
  // the rest only by ATTACH_CONTAINER_INPUT.
  const records = decodeRecords(request.bodyStream())[Symbol.asyncIterator]();
  let first: IteratorResult<Uint8Array>;
  try {
    first = await records.next();
  } catch (err) {
    if (err instanceof StrataError && err.code === 'HTTP_BAD_REQUEST') throw err;
    badRequest(`Failed to decode the request body: ${(err as Error).message}`);
  }
  if (first.done) badRequest('Received EOF while reading request body');
  return { call: decodeAgentCall(first.value, messageType), rest: records };
}

/** `/proc/<pid>/environ`: what a process was started with; undefined when it cannot be read. */
function processEnvironment(pid: number): Record<string, string> | undefined {
  try {
    const env: Record<string, string> = {};
    for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const equals = entry.indexOf('=');
      if (equals > 0) env[entry.slice(0, equals)] = entry.slice(equals + 1);
    }
    return env;
  } catch {
    return undefined;
  }
}

function respond(media: MessageMediaType, init: MessageInitShape<typeof ResponseSchema>): HttpResponse {
  return messageResponse(codec.encode(ResponseSchema, create(ResponseSchema, init), media), media);
}

function notFound(id: ContainerID): HttpResponse {
  return textResponse(404, `Container ${containerIdText(id)} cannot be found`);
}

function notSupported(what: string): never {
  throw new StrataError('HTTP_NOT_IMPLEMENTED', { detail: `${what} is not supported by this agent yet` });
}

export function agentApiHandler(context: AgentApiContext): (request: HttpRequest) => Promise<HttpResponse> {
  const { agent } = context;

  async function launch(
    id: ContainerID,
    command: CommandInfo | undefined,
    container: ContainerInfo | undefined,
  ): Promise<HttpResponse> {
    try {
      const outcome = await agent.launchNestedContainer(id, command, container);
      // 202 for an id that is already running, as Mesos' ALREADY_LAUNCHED.
      return { status: outcome === 'launched' ? 200 : 202 };
    } catch (err) {
      if (err instanceof ContainerLaunchError) return textResponse(400, err.message);
      throw err;
    }
  }

  async function wait(
    id: ContainerID,
    media: MessageMediaType,
    type: Response_Type.WAIT_NESTED_CONTAINER | Response_Type.WAIT_CONTAINER,
  ): Promise<HttpResponse> {
    const termination = await agent.waitContainer(id);
    if (!termination) return notFound(id);
    const payload = {
      ...(termination.status === undefined ? {} : { exitStatus: termination.status }),
      ...(termination.message === undefined ? {} : { message: termination.message }),
    };
    return type === Response_Type.WAIT_CONTAINER
      ? respond(media, { type, waitContainer: payload })
      : respond(media, { type, waitNestedContainer: payload });
  }

  function kill(id: ContainerID, signal: number | undefined): HttpResponse {
    const number = signal ?? DEFAULT_KILL_SIGNAL;
    const name = number === 0 ? 0 : signalName(number);
    // Mesos passes the number to kill(2), which fails with EINVAL for a number that is no signal.
    if (name === undefined) return textResponse(500, 'Unable to send signal to container: Invalid argument');
    return agent.killContainer(id, name) ? { status: 200 } : notFound(id);
  }

  function remove(id: ContainerID): HttpResponse {
    try {
      agent.containers.remove(id);
      return { status: 200 };
    } catch (err) {
      if (err instanceof ContainerRemoveError) return textResponse(500, err.message);
      throw err;
    }
  }

  /** The live executor container at the root of `id`'s tree. */
  function rootExecutor(id: ContainerID): ExecutorRecord | undefined {
    let root = id;
    while (root.parent) root = root.parent;
    for (const framework of agent.frameworks.values()) {
      for (const executor of framework.executors.values()) {
        if (executor.containerId === root.value && executor.phase !== 'terminated') return executor;
      }
    }
    return undefined;
  }

  /** The switchboard of `id`, or the error response ATTACH answers with. */
  function attachTarget(id: ContainerID): ContainerIO | HttpResponse {
    if (!rootExecutor(id)) return notFound(id);
    if (!id.parent) {
      return textResponse(
        500,
        `Container ${containerIdText(id)} has no IO switchboard: its output goes to its sandbox`,
      );
    }
    const target = agent.containers.attachTarget(id);
    if (target.kind === 'unknown') return notFound(id);
    if (target.kind === 'no-switchboard') {
      return textResponse(
        500,
        `Container ${containerIdText(id)} has no IO switchboard: only containers launched with ` +
          'LAUNCH_NESTED_CONTAINER_SESSION or with a TTY can be attached to',
      );
    }
    return target.io;
  }

  /**
   * The container's output as a RecordIO stream of ProcessIO: `Content-Type` is the message type,
   * or `application/recordio` with `Message-Content-Type` when the client asked for that.
   */
  function outputStream(
    io: ContainerIO,
    media: AgentApiMediaTypes,
    closed?: (reason: 'ended' | 'gone') => void,
  ): StreamResponse {
    const messageType = agentResponseMessageType(media);
    const headers: Record<string, string> =
      media.accept === APPLICATION_RECORDIO
        ? { 'Content-Type': APPLICATION_RECORDIO, [MESSAGE_CONTENT_TYPE]: messageType }
        : { 'Content-Type': messageType };
    const heartbeatMs = context.attachHeartbeatMs ?? ATTACH_HEARTBEAT_MS;
    const encode = (init: MessageInitShape<typeof ProcessIOSchema>) =>
      codec.encode(ProcessIOSchema, create(ProcessIOSchema, init), messageType);
    return {
      status: 200,
      headers,
      open: (stream) => {
        const detach = io.attachOutput({
          data: (chunk) =>
            stream.write(
              encode({
                type: ProcessIO_Type.DATA,
                data: {
                  type: chunk.stream === 'stdout' ? ProcessIO_Data_Type.STDOUT : ProcessIO_Data_Type.STDERR,
                  data: chunk.data,
                },
              }),
            ),
          end: () => stream.end(),
        });
        const heartbeat = setInterval(() => {
          stream.write(
            encode({
              type: ProcessIO_Type.CONTROL,
              control: {
                type: ProcessIO_Control_Type.HEARTBEAT,
                heartbeat: { interval: { nanoseconds: BigInt(heartbeatMs) * 1_000_000n } },
              },
            }),
          );
        }, heartbeatMs);
        heartbeat.unref();
        void stream.done.then((reason) => {
          clearInterval(heartbeat);
          detach();
          closed?.(reason === 'ended' ? 'ended' : 'gone');
        });
      },
    };
  }

  async function launchSession(call: Call, media: AgentApiMediaTypes): Promise<HttpResponse> {
    const payload = call.launchNestedContainerSession!;
    const id = payload.containerId!;
    const parent = id.parent!;
    const parentPid = parent.parent ? agent.containers.pidOf(parent) : rootExecutor(parent)?.process?.pid;
    const inherited = parentPid === undefined ? undefined : processEnvironment(parentPid);
    let outcome: 'launched' | 'already-launched';
    try {
      outcome = await agent.containers.launch(id, payload.command, payload.container, {
        session: true,
        ...(inherited ? { inheritedEnvironment: inherited } : {}),
      });
    } catch (err) {
      if (err instanceof ContainerLaunchError) return textResponse(400, err.message);
      throw err;
    }
    // As Mesos: a launch that did not answer 200 is answered as is (202 for a running id).
    if (outcome !== 'launched') return { status: 202 };
    const target = attachTarget(id);
    if (!(target instanceof ContainerIO)) {
      agent.containers.kill(id, 'SIGKILL');
      return target;
    }
    return outputStream(target, media, (reason) => {
      // The session ends with its connection: a client that went away takes the container with
      // it; one whose output ended gets a moment to exit on its own first.
      if (reason === 'gone') {
        agent.containers.kill(id, 'SIGKILL');
        return;
      }
      const timer = setTimeout(() => agent.containers.kill(id, 'SIGKILL'), SESSION_EXIT_GRACE_MS);
      timer.unref();
      void agent.containers.wait(id).then(() => clearTimeout(timer));
    });
  }

  async function attachInput(
    call: Call,
    rest: AsyncIterator<Uint8Array>,
    media: AgentApiMediaTypes,
  ): Promise<HttpResponse> {
    const first = call.attachContainerInput!;
    if (first.type !== Call_AttachContainerInput_Type.CONTAINER_ID) {
      badRequest("Expecting 'attach_container_input.type' to be CONTAINER_ID");
    }
    const id = first.containerId!;
    const target = attachTarget(id);
    if (!(target instanceof ContainerIO)) return target;
    const io = target;
    if (!io.claimInput()) return textResponse(409, 'Multiple input connections are not allowed');
    const messageType = agentRequestMessageType(media);
    try {
      const ended = io.outputEnded.then(() => 'ended' as const);
      for (;;) {
        const next = await Promise.race([rest.next(), ended]);
        // The container is gone: whatever the client still sends has nowhere to go.
        if (next === 'ended' || next.done) break;
        const record = decodeAgentCall(next.value, messageType);
        const input = record.attachContainerInput;
        if (
          record.type !== Call_Type.ATTACH_CONTAINER_INPUT ||
          input?.type !== Call_AttachContainerInput_Type.PROCESS_IO ||
          !input.processIo
        ) {
          badRequest("Expecting 'attach_container_input.process_io' to be present");
        }
        const processIo = input.processIo;
        if (processIo.type === ProcessIO_Type.DATA && processIo.data?.type === ProcessIO_Data_Type.STDIN) {
          io.writeStdin(processIo.data.data);
        } else if (
          processIo.type === ProcessIO_Type.CONTROL &&
          processIo.control?.type === ProcessIO_Control_Type.TTY_INFO &&
          processIo.control.ttyInfo?.windowSize
        ) {
          io.resize(processIo.control.ttyInfo.windowSize);
        }
        // HEARTBEAT controls only keep the connection alive.
      }
    } catch (err) {
      if (err instanceof StrataError) throw err;
      badRequest(`Failed to decode the request body: ${(err as Error).message}`);
    } finally {
      io.releaseInput();
    }
    return { status: 200 };
  }

  return async (request) => {
    // First of all, as Mesos: nothing is served until restart recovery is over (section 1.6).
    if (agent.isRecovering) serviceUnavailable(AGENT_RECOVERING);
    requireMethod(request.method, ['POST']);
    const media = negotiateAgentApiMedia(request.headers);
    const { call, rest } = await readCall(request, media);
    validateAgentCall(call);
    const typeName = Call_Type[call.type] ?? String(call.type);
    checkAgentCallStreaming(media, typeName);
    // Only ATTACH_CONTAINER_OUTPUT and sessions answer with a stream, so this is a message type.
    const accept = media.accept as MessageMediaType;

    switch (call.type) {
      case Call_Type.UNKNOWN:
        throw new StrataError('HTTP_NOT_IMPLEMENTED', { detail: '' });
      case Call_Type.GET_HEALTH:
        return respond(accept, { type: Response_Type.GET_HEALTH, getHealth: { healthy: true } });
      case Call_Type.GET_FLAGS:
        return respond(accept, {
          type: Response_Type.GET_FLAGS,
          getFlags: { flags: Object.entries(context.flags).map(([name, value]) => ({ name, value })) },
        });
      case Call_Type.GET_VERSION:
        return respond(accept, {
          type: Response_Type.GET_VERSION,
          getVersion: { versionInfo: versionInfoMessageInit() },
        });

      case Call_Type.GET_METRICS: {
        if (!context.metrics) return notSupported(`Call type ${typeName}`);
        const metrics = await context.metrics();
        return respond(accept, {
          type: Response_Type.GET_METRICS,
          getMetrics: {
            metrics: Object.keys(metrics)
              .sort()
              .map((name) => ({ name, value: metrics[name]! })),
          },
        });
      }
      case Call_Type.GET_LOGGING_LEVEL:
        return respond(accept, {
          type: Response_Type.GET_LOGGING_LEVEL,
          getLoggingLevel: { level: context.logging?.verbosity ?? 0 },
        });
      case Call_Type.SET_LOGGING_LEVEL: {
        if (!context.logging) return notSupported(`Call type ${typeName}`);
        const payload = call.setLoggingLevel!;
        const durationMs = Number(payload.duration?.nanoseconds ?? 0n) / 1e6;
        context.logging.set(payload.level, durationMs);
        // 200, not the 202 the documentation shows (reference section 9, DOC≠CODE).
        return { status: 200 };
      }

      case Call_Type.GET_STATE:
        return respond(accept, getStateResponse(agent));
      case Call_Type.GET_FRAMEWORKS:
        return respond(accept, { type: Response_Type.GET_FRAMEWORKS, getFrameworks: getFrameworks(agent) });
      case Call_Type.GET_EXECUTORS:
        return respond(accept, { type: Response_Type.GET_EXECUTORS, getExecutors: getExecutors(agent) });
      case Call_Type.GET_TASKS:
        return respond(accept, { type: Response_Type.GET_TASKS, getTasks: getTasks(agent) });
      case Call_Type.GET_AGENT:
        return respond(accept, getAgentResponse(agent));
      case Call_Type.GET_CONTAINERS:
        return respond(
          accept,
          await getContainersResponse(agent, context.clock ?? systemClock, {
            showNested: call.getContainers?.showNested ?? false,
            showStandalone: call.getContainers?.showStandalone ?? false,
          }),
        );
      case Call_Type.GET_RESOURCE_PROVIDERS:
        // No resource providers exist on this agent (no local or CSI providers yet): an honest
        // empty list, as Mesos answers on an agent without any.
        return respond(accept, { type: Response_Type.GET_RESOURCE_PROVIDERS, getResourceProviders: {} });
      case Call_Type.PRUNE_IMAGES:
        // There is no image store yet (no provisioner caches images), so there is nothing to
        // prune: 200 as Mesos answers once its containerizer has pruned. The containerizer issue
        // that adds image stores fills this in, honouring `excluded_images`.
        return { status: 200 };

      case Call_Type.LAUNCH_NESTED_CONTAINER_SESSION:
        return launchSession(call, media);
      case Call_Type.ATTACH_CONTAINER_INPUT:
        return attachInput(call, rest!, media);
      case Call_Type.ATTACH_CONTAINER_OUTPUT: {
        const target = attachTarget(call.attachContainerOutput!.containerId!);
        return target instanceof ContainerIO ? outputStream(target, media) : target;
      }

      case Call_Type.LIST_FILES:
        if (!context.files) return notSupported(`Call type ${typeName}`);
        return operatorListFiles(context.files, call.listFiles!.path, (listFiles) =>
          respond(accept, { type: Response_Type.LIST_FILES, listFiles }),
        );
      case Call_Type.READ_FILE: {
        if (!context.files) return notSupported(`Call type ${typeName}`);
        const read = call.readFile!;
        const lengthSet = isFieldSet(read, Call_ReadFileSchema.field.length);
        return operatorReadFile(
          context.files,
          { path: read.path, offset: read.offset, length: lengthSet ? read.length : undefined },
          (readFile) => respond(accept, { type: Response_Type.READ_FILE, readFile }),
        );
      }

      case Call_Type.LAUNCH_NESTED_CONTAINER: {
        const payload = call.launchNestedContainer!;
        return launch(payload.containerId!, payload.command, payload.container);
      }
      case Call_Type.LAUNCH_CONTAINER: {
        const payload = call.launchContainer!;
        if (!payload.containerId!.parent)
          notSupported('LAUNCH_CONTAINER of a standalone container (no parent)');
        return launch(payload.containerId!, payload.command, payload.container);
      }
      case Call_Type.WAIT_NESTED_CONTAINER:
        return wait(call.waitNestedContainer!.containerId!, accept, Response_Type.WAIT_NESTED_CONTAINER);
      case Call_Type.WAIT_CONTAINER:
        return wait(call.waitContainer!.containerId!, accept, Response_Type.WAIT_CONTAINER);
      case Call_Type.KILL_NESTED_CONTAINER: {
        const payload = call.killNestedContainer!;
        const signalSet = isFieldSet(payload, Call_KillNestedContainerSchema.field.signal);
        return kill(payload.containerId!, signalSet ? payload.signal : undefined);
      }
      case Call_Type.KILL_CONTAINER: {
        const payload = call.killContainer!;
        const signalSet = isFieldSet(payload, Call_KillContainerSchema.field.signal);
        return kill(payload.containerId!, signalSet ? payload.signal : undefined);
      }
      case Call_Type.REMOVE_NESTED_CONTAINER:
        return remove(call.removeNestedContainer!.containerId!);
      case Call_Type.REMOVE_CONTAINER: {
        const id = call.removeContainer!.containerId!;
        if (!id.parent) notSupported('REMOVE_CONTAINER of a standalone container (no parent)');
        return remove(id);
      }
      default:
        return notSupported(`Call type ${typeName}`);
    }
  };
}
