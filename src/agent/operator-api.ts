/**
 * The agent operator API, `POST /slave(1)/api/v1` (and `/api/v1`): the transport checks of
 * reference sections 1.3 and 1.7 in the agent's order (405; Content-Type and Message-Content-Type
 * 400/415; Accept and Message-Accept 406; body 400; `Failed to validate agent::Call: ...` 400;
 * the per-call streaming rules 415/406), then the call (section 4.3).
 *
 * Served now: GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, LIST_FILES and READ_FILE (the
 * `/files` tree: 404 for an unknown path, 400 for a directory or an escape), and the container calls the default executor
 * needs (LAUNCH/WAIT/KILL/REMOVE_NESTED_CONTAINER and their LAUNCH/WAIT/KILL/REMOVE_CONTAINER
 * forms for nested containers). UNKNOWN is a bare 501, as in Mesos; every other call type is a 501
 * whose text names it.
 */
import { create, isFieldSet, type MessageInitShape } from '@bufbuild/protobuf';
import { StrataError } from '../common/errors.js';
import { versionInfoMessageInit } from '../common/version.js';
import {
  type AgentApiMediaTypes,
  APPLICATION_RECORDIO,
  agentRequestMessageType,
  checkAgentCallStreaming,
  type MessageMediaType,
  negotiateAgentApiMedia,
  requireMethod,
} from '../http/media.js';
import {
  AGENT_RECOVERING,
  type HttpResponse,
  messageResponse,
  serviceUnavailable,
  textResponse,
} from '../http/responses.js';
import type { HttpRequest } from '../http/server.js';
import { codec } from '../wire/codec.js';
import {
  type Call,
  Call_KillContainerSchema,
  Call_KillNestedContainerSchema,
  Call_ReadFileSchema,
  Call_Type,
  Response_Type,
  ResponseSchema,
} from '../wire/gen/mesos/v1/agent/agent_pb.js';
import type { CommandInfo, ContainerID, ContainerInfo } from '../wire/gen/mesos/v1/mesos_pb.js';
import { RecordIODecoder } from '../wire/recordio.js';
import type { Agent } from './agent.js';
import { containerIdText, decodeAgentCall, validateAgentCall } from './agent-calls.js';
import type { Files } from './files.js';
import { operatorListFiles, operatorReadFile } from './files-endpoints.js';
import { ContainerLaunchError, ContainerRemoveError, signalName } from './nested-containers.js';

export interface AgentApiContext {
  agent: Agent;
  /** The agent's flags as `/flags` shows them. */
  flags: Record<string, string>;
  /** The tree `/files` serves (LIST_FILES, READ_FILE); without it those calls are 501. */
  files?: Files;
  /** The `/metrics/snapshot` values (GET_METRICS); without it that call is 501. */
  metrics?: () => Promise<Record<string, number>>;
}

/** SIGKILL: what KILL_NESTED_CONTAINER / KILL_CONTAINER send when the call names no signal. */
const DEFAULT_KILL_SIGNAL = 9;

function badRequest(text: string): never {
  throw new StrataError('HTTP_BAD_REQUEST', { detail: text });
}

/** The Call of a non-streaming body, or the first record of a RecordIO one. */
async function readCall(request: HttpRequest, media: AgentApiMediaTypes): Promise<Call> {
  const messageType = agentRequestMessageType(media);
  if (media.content !== APPLICATION_RECORDIO) return decodeAgentCall(await request.body(), messageType);
  // A streamed body may stay open for as long as the client likes: only its first record is read.
  const decoder = new RecordIODecoder();
  try {
    for await (const chunk of request.bodyStream()) {
      const [first] = decoder.push(chunk);
      if (first) return decodeAgentCall(first, messageType);
    }
    decoder.end();
  } catch (err) {
    if (err instanceof StrataError && err.code === 'HTTP_BAD_REQUEST') throw err;
    badRequest(`Failed to decode the request body: ${(err as Error).message}`);
  }
  return badRequest('Received EOF while reading request body');
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

  return async (request) => {
    // First of all, as Mesos: nothing is served until restart recovery is over (section 1.6).
    if (agent.isRecovering) serviceUnavailable(AGENT_RECOVERING);
    requireMethod(request.method, ['POST']);
    const media = negotiateAgentApiMedia(request.headers);
    const call = await readCall(request, media);
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
