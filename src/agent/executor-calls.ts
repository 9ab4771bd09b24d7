/**
 * Decoding and structural validation of executor `Call`s (reference section 3.1), with Mesos'
 * texts: the agent answers 400 with `Failed to validate Executor::Call: <why>` and executors and
 * tests compare those bodies. Pure: no agent state is consulted here.
 */
import { isFieldSet } from '@bufbuild/protobuf';
import { StrataError } from '../common/errors.js';
import { decodeCallBody } from '../http/call-body.js';
import type { MessageMediaType } from '../http/media.js';
import { type Call, Call_Type, CallSchema } from '../wire/gen/mesos/v1/executor/executor_pb.js';
import {
  CheckInfo_Type,
  type CheckStatusInfo,
  CheckStatusInfoSchema,
  TaskState,
  TaskStatus_Source,
  TaskStatusSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';

export const EXECUTOR_VALIDATION_PREFIX = 'Failed to validate Executor::Call: ';

function badRequest(text: string): never {
  throw new StrataError('HTTP_BAD_REQUEST', { detail: text });
}

/** The body as a Call, failing with the agent's texts for each way it can be malformed. */
export function decodeExecutorCall(body: Uint8Array, mediaType: MessageMediaType): Call {
  return decodeCallBody(CallSchema, body, mediaType);
}

/** `checks::validation::checkStatusInfo`. */
function checkStatusProblem(check: CheckStatusInfo): string | undefined {
  if (!isFieldSet(check, CheckStatusInfoSchema.field.type)) return "CheckStatusInfo must specify 'type'";
  switch (check.type) {
    case CheckInfo_Type.COMMAND:
      return check.command ? undefined : "Expecting 'command' to be set for COMMAND check's status";
    case CheckInfo_Type.HTTP:
      return check.http ? undefined : "Expecting 'http' to be set for HTTP check's status";
    case CheckInfo_Type.TCP:
      return check.tcp ? undefined : "Expecting 'tcp' to be set for TCP check's status";
    default:
      return `'${CheckInfo_Type[check.type] ?? check.type}' is not a valid check's status type`;
  }
}

/**
 * `validation::executor::call::validate`: why the call is malformed (without the prefix), or
 * undefined. The ids are required fields, so decoding has already insisted on them.
 */
export function executorCallProblem(call: Call): string | undefined {
  if (!isFieldSet(call, CallSchema.field.type)) return "Expecting 'type' to be present";
  if (!call.executorId) return "Expecting 'executor_id' to be present";
  if (!call.frameworkId) return "Expecting 'framework_id' to be present";
  const executorId = call.executorId.value;
  const frameworkId = call.frameworkId.value;
  switch (call.type) {
    case Call_Type.SUBSCRIBE:
      return call.subscribe ? undefined : "Expecting 'subscribe' to be present";
    case Call_Type.UPDATE: {
      if (!call.update) return "Expecting 'update' to be present";
      const status = call.update.status;
      if (!status || !isFieldSet(status, TaskStatusSchema.field.uuid))
        return "Expecting 'uuid' to be present";
      if (status.uuid.length !== 16) return 'Not a valid UUID';
      if (status.executorId && status.executorId.value !== executorId) {
        return (
          `ExecutorID in Call: ${executorId} does not match ExecutorID in TaskStatus: ` +
          status.executorId.value
        );
      }
      if (status.source !== TaskStatus_Source.EXECUTOR) {
        return (
          `Received Call from executor ${executorId} of framework ${frameworkId} ` +
          "with invalid source, expecting 'SOURCE_EXECUTOR'"
        );
      }
      if (status.state === TaskState.TASK_STAGING) {
        return `Received TASK_STAGING from executor ${executorId} of framework ${frameworkId} which is not allowed`;
      }
      return status.checkStatus ? checkStatusProblem(status.checkStatus) : undefined;
    }
    case Call_Type.MESSAGE:
      return call.message ? undefined : "Expecting 'message' to be present";
    default:
      return undefined;
  }
}

/** Throws the 400 for a structurally invalid call. */
export function validateExecutorCall(call: Call): void {
  const problem = executorCallProblem(call);
  if (problem !== undefined) badRequest(EXECUTOR_VALIDATION_PREFIX + problem);
}
