/**
 * Decoding and structural validation of agent operator `Call`s (`mesos.v1.agent.Call`, reference
 * sections 1.7 and 4.3) with Mesos' texts: the agent answers 400 with
 * `Failed to validate agent::Call: <why>`, and executors (the default executor) and tools compare
 * those bodies. Pure: whether a container exists is decided later, by the agent.
 */
import { isFieldSet } from '@bufbuild/protobuf';
import { StrataError } from '../common/errors.js';
import { decodeCallBody } from '../http/call-body.js';
import type { MessageMediaType } from '../http/media.js';
import {
  type Call,
  Call_AttachContainerInput_Type,
  Call_Type,
  CallSchema,
} from '../wire/gen/mesos/v1/agent/agent_pb.js';
import {
  type CommandInfo,
  type ContainerID,
  Environment_Variable_Type,
  Environment_VariableSchema,
  type Secret,
  Secret_Type,
} from '../wire/gen/mesos/v1/mesos_pb.js';

export const AGENT_VALIDATION_PREFIX = 'Failed to validate agent::Call: ';

/** NAME_MAX: container ids become directory names (sandboxes, runtime dirs). */
const MAX_ID_CHARACTERS = 255;

function badRequest(text: string): never {
  throw new StrataError('HTTP_BAD_REQUEST', { detail: text });
}

/** The body (or the first record of a streamed body) as a Call, with the agent's texts for each failure. */
export function decodeAgentCall(body: Uint8Array, mediaType: MessageMediaType): Call {
  return decodeCallBody(CallSchema, body, mediaType);
}

/**
 * A ContainerID as Mesos prints it: ancestors first, joined with `.` (`<executor uuid>.<child>`).
 * Ids may not contain `.`, so the text names exactly one container.
 */
export function containerIdText(id: ContainerID): string {
  return id.parent ? `${containerIdText(id.parent)}.${id.value}` : id.value;
}

/** `common::validation::validateID`. */
function idProblem(id: string): string | undefined {
  if (id.length === 0) return 'ID must not be empty';
  if (id.length > MAX_ID_CHARACTERS) return `ID must not be greater than ${MAX_ID_CHARACTERS} characters`;
  if (id === '.' || id === '..') return `'${id}' is disallowed`;
  // Control characters and path separators: the id becomes a directory name.
  if (/[\u0000-\u001f\u007f/\\]/.test(id)) return `'${id}' contains invalid characters`;
  return undefined;
}

/** `validation::container::validateContainerId`: the id and every ancestor. */
export function containerIdProblem(id: ContainerID): string | undefined {
  const problem = idProblem(id.value);
  if (problem !== undefined) return problem;
  // `.` joins the levels of the printed form and a space makes paths awkward on terminals.
  if (/[. ]/.test(id.value)) return `'ContainerID.value' '${id.value}' contains invalid characters`;
  if (id.parent) {
    const parentProblem = containerIdProblem(id.parent);
    if (parentProblem !== undefined) return `'ContainerID.parent' is invalid: ${parentProblem}`;
  }
  return undefined;
}

/** `common::validation::validateSecret`. */
function secretProblem(secret: Secret): string | undefined {
  switch (secret.type) {
    case Secret_Type.REFERENCE:
      if (!secret.reference) return "Secret of type REFERENCE must have the 'reference' field set";
      if (secret.value) {
        return `Secret '${secret.reference.name}' of type REFERENCE must not have the 'value' field set`;
      }
      return undefined;
    case Secret_Type.VALUE:
      if (!secret.value) return "Secret of type VALUE must have the 'value' field set";
      if (secret.reference) return "Secret of type VALUE must not have the 'reference' field set";
      return undefined;
    default:
      return undefined;
  }
}

/** `common::validation::validateCommandInfo` (its environment). */
export function commandInfoProblem(command: CommandInfo): string | undefined {
  for (const variable of command.environment?.variables ?? []) {
    // An unset type reads as the declared default, VALUE.
    const type = isFieldSet(variable, Environment_VariableSchema.field.type)
      ? variable.type
      : Environment_Variable_Type.VALUE;
    const hasValue = isFieldSet(variable, Environment_VariableSchema.field.value);
    switch (type) {
      case Environment_Variable_Type.SECRET: {
        if (!variable.secret) {
          return `Environment variable '${variable.name}' of type 'SECRET' must have a secret set`;
        }
        if (hasValue) {
          return `Environment variable '${variable.name}' of type 'SECRET' must not have a value set`;
        }
        const problem = secretProblem(variable.secret);
        if (problem !== undefined) {
          return `Environment variable '${variable.name}' specifies an invalid secret: ${problem}`;
        }
        if (variable.secret.value?.data.includes(0)) {
          return (
            `Environment variable '${variable.name}' specifies a secret containing null bytes, ` +
            'which is not allowed in the environment'
          );
        }
        break;
      }
      case Environment_Variable_Type.VALUE:
        if (!hasValue) return `Environment variable '${variable.name}' of type 'VALUE' must have a value set`;
        if (variable.secret) {
          return `Environment variable '${variable.name}' of type 'VALUE' must not have a secret set`;
        }
        break;
      default:
        return "Environment variable of type 'UNKNOWN' is not allowed";
    }
  }
  return undefined;
}

/** The checks shared by the calls that name an existing nested container. */
function nestedIdProblem(field: string, id: ContainerID | undefined): string | undefined {
  if (!id) return `Expecting '${field}' to be present`;
  const problem = containerIdProblem(id);
  if (problem !== undefined) return `'${field}.container_id' is invalid: ${problem}`;
  // Nested containers always have at least one parent.
  if (!id.parent) return `Expecting '${field}.container_id.parent' to be present`;
  return undefined;
}

function containerIdFieldProblem(field: string, id: ContainerID): string | undefined {
  const problem = containerIdProblem(id);
  return problem === undefined ? undefined : `'${field}.container_id' is invalid: ${problem}`;
}

function commandFieldProblem(field: string, command: CommandInfo | undefined): string | undefined {
  if (!command) return undefined;
  const problem = commandInfoProblem(command);
  return problem === undefined ? undefined : `'${field}.command' is invalid: ${problem}`;
}

/**
 * `validation::agent::call::validate`: why the call is malformed (without the prefix), or
 * undefined. Required fields (`container_id` of the container calls) were already insisted on by
 * decoding, so a present payload has them.
 */
export function agentCallProblem(call: Call): string | undefined {
  if (!isFieldSet(call, CallSchema.field.type)) return "Expecting 'type' to be present";
  switch (call.type) {
    case Call_Type.GET_METRICS:
      return call.getMetrics ? undefined : "Expecting 'get_metrics' to be present";
    case Call_Type.SET_LOGGING_LEVEL:
      return call.setLoggingLevel ? undefined : "Expecting 'set_logging_level' to be present";
    case Call_Type.LIST_FILES:
      return call.listFiles ? undefined : "Expecting 'list_files' to be present";
    case Call_Type.READ_FILE:
      return call.readFile ? undefined : "Expecting 'read_file' to be present";

    case Call_Type.LAUNCH_NESTED_CONTAINER: {
      const launch = call.launchNestedContainer;
      const field = 'launch_nested_container';
      return nestedIdProblem(field, launch?.containerId) ?? commandFieldProblem(field, launch?.command);
    }
    case Call_Type.WAIT_NESTED_CONTAINER:
      return nestedIdProblem('wait_nested_container', call.waitNestedContainer?.containerId);
    case Call_Type.KILL_NESTED_CONTAINER:
      return nestedIdProblem('kill_nested_container', call.killNestedContainer?.containerId);
    case Call_Type.REMOVE_NESTED_CONTAINER:
      return nestedIdProblem('remove_nested_container', call.removeNestedContainer?.containerId);
    case Call_Type.LAUNCH_NESTED_CONTAINER_SESSION: {
      const session = call.launchNestedContainerSession;
      const field = 'launch_nested_container_session';
      return nestedIdProblem(field, session?.containerId) ?? commandFieldProblem(field, session?.command);
    }

    case Call_Type.ATTACH_CONTAINER_INPUT:
      return attachInputProblem(call);
    case Call_Type.ATTACH_CONTAINER_OUTPUT: {
      const output = call.attachContainerOutput;
      if (!output?.containerId) return "Expecting 'attach_container_output' to be present";
      return containerIdFieldProblem('attach_container_output', output.containerId);
    }

    case Call_Type.LAUNCH_CONTAINER: {
      const launch = call.launchContainer;
      if (!launch?.containerId) return "Expecting 'launch_container' to be present";
      const idProblemText = containerIdFieldProblem('launch_container', launch.containerId);
      if (idProblemText !== undefined) return idProblemText;
      const commandProblem = commandFieldProblem('launch_container', launch.command);
      if (commandProblem !== undefined) return commandProblem;
      // Nested containers share their parent's resources; standalone ones need their own.
      if (launch.containerId.parent && launch.resources.length > 0) {
        return "Resources may not be specified when using 'launch_container' to launch nested containers";
      }
      if (!launch.containerId.parent && launch.resources.length === 0) {
        return "Resources must be specified when using 'launch_container' to launch standalone containers";
      }
      return undefined;
    }
    case Call_Type.WAIT_CONTAINER: {
      const id = call.waitContainer?.containerId;
      if (!id) return "Expecting 'wait_container' to be present";
      return containerIdFieldProblem('wait_container', id);
    }
    case Call_Type.KILL_CONTAINER: {
      const id = call.killContainer?.containerId;
      if (!id) return "Expecting 'kill_container' to be present";
      return containerIdFieldProblem('kill_container', id);
    }
    case Call_Type.REMOVE_CONTAINER: {
      const id = call.removeContainer?.containerId;
      if (!id) return "Expecting 'remove_container' to be present";
      return containerIdFieldProblem('remove_container', id);
    }

    case Call_Type.ADD_RESOURCE_PROVIDER_CONFIG:
      return call.addResourceProviderConfig
        ? undefined
        : "Expecting 'add_resource_provider_config' to be present";
    case Call_Type.UPDATE_RESOURCE_PROVIDER_CONFIG:
      return call.updateResourceProviderConfig
        ? undefined
        : "Expecting 'update_resource_provider_config' to be present";
    case Call_Type.REMOVE_RESOURCE_PROVIDER_CONFIG:
      return call.removeResourceProviderConfig
        ? undefined
        : "Expecting 'remove_resource_provider_config' to be present";
    case Call_Type.MARK_RESOURCE_PROVIDER_GONE:
      return call.markResourceProviderGone
        ? undefined
        : "Expecting 'mark_resource_provider_gone' to be present";
    default:
      return undefined;
  }
}

/** ATTACH_CONTAINER_INPUT: the first record names the container, later ones carry the I/O. */
function attachInputProblem(call: Call): string | undefined {
  const input = call.attachContainerInput;
  if (!input) return "Expecting 'attach_container_input' to be present";
  switch (input.type) {
    case Call_AttachContainerInput_Type.CONTAINER_ID:
      if (!input.containerId) return "Expecting 'attach_container_input.container_id' to be present";
      return containerIdFieldProblem('attach_container_input', input.containerId);
    case Call_AttachContainerInput_Type.PROCESS_IO:
      return input.processIo ? undefined : "Expecting 'attach_container_input.process_io' to be present";
    default:
      return "Expecting 'attach_container_input.type' to be present";
  }
}

/** Throws the 400 for a structurally invalid call. */
export function validateAgentCall(call: Call): void {
  const problem = agentCallProblem(call);
  if (problem !== undefined) badRequest(AGENT_VALIDATION_PREFIX + problem);
}
