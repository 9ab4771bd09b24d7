/**
 * `POST /api/v1/scheduler` (and `/master/api/v1/scheduler`): transport checks in the order of the
 * reference's status-code matrix (section 1.7), then the call goes to the Master. SUBSCRIBE opens
 * a 200 RecordIO stream; every other valid call is 202 (UPDATE_FRAMEWORK: 200), and its effects
 * arrive as events.
 */
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { StrataError } from '../common/errors.js';
import { decodeCallBody, typeFieldPresent } from '../http/call-body.js';
import {
  type MessageMediaType,
  requestMessageType,
  requireMethod,
  responseMessageType,
} from '../http/media.js';
import { accepted, type HttpResponse, textResponse } from '../http/responses.js';
import type { HttpRequest } from '../http/server.js';
import { FrameworkInfoSchema } from '../wire/gen/mesos/v1/mesos_pb.js';
import { type Call, Call_Type, CallSchema } from '../wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import type { FrameworkRecord, Master } from './master.js';
import { SchedulerStream } from './scheduler-stream.js';

const STREAM_ID_HEADER = 'Mesos-Stream-Id';
const VALIDATION_PREFIX = 'Failed to validate scheduler::Call: ';

function badRequest(text: string): never {
  throw new StrataError('HTTP_BAD_REQUEST', { detail: text });
}

/** Decodes the body, with Mesos' texts for the three ways it can fail. */
export function decodeCall(body: Uint8Array, mediaType: MessageMediaType): Call {
  return decodeCallBody(CallSchema, body, mediaType);
}

/** Which payload field each call type needs (reference section 1.7). */
const REQUIRED_PAYLOAD: Partial<Record<Call_Type, keyof Call>> = {
  [Call_Type.SUBSCRIBE]: 'subscribe',
  [Call_Type.ACCEPT]: 'accept',
  [Call_Type.DECLINE]: 'decline',
  [Call_Type.ACCEPT_INVERSE_OFFERS]: 'acceptInverseOffers',
  [Call_Type.DECLINE_INVERSE_OFFERS]: 'declineInverseOffers',
  [Call_Type.KILL]: 'kill',
  [Call_Type.SHUTDOWN]: 'shutdown',
  [Call_Type.ACKNOWLEDGE]: 'acknowledge',
  [Call_Type.ACKNOWLEDGE_OPERATION_STATUS]: 'acknowledgeOperationStatus',
  [Call_Type.RECONCILE]: 'reconcile',
  [Call_Type.RECONCILE_OPERATIONS]: 'reconcileOperations',
  [Call_Type.MESSAGE]: 'message',
  [Call_Type.REQUEST]: 'request',
  [Call_Type.UPDATE_FRAMEWORK]: 'updateFramework',
};

const PROTO_FIELD_NAME: Partial<Record<keyof Call, string>> = {
  acceptInverseOffers: 'accept_inverse_offers',
  declineInverseOffers: 'decline_inverse_offers',
  acknowledgeOperationStatus: 'acknowledge_operation_status',
  reconcileOperations: 'reconcile_operations',
  updateFramework: 'update_framework',
};

/** `validation::scheduler::call::validate`: the structural checks, as 400s. */
export function validateCall(call: Call, hasTypeField: boolean): void {
  if (!hasTypeField) badRequest(`${VALIDATION_PREFIX}Expecting 'type' to be present`);
  const payload = REQUIRED_PAYLOAD[call.type];
  if (payload !== undefined && call[payload] === undefined) {
    badRequest(`${VALIDATION_PREFIX}Expecting '${PROTO_FIELD_NAME[payload] ?? payload}' to be present`);
  }
  if (call.type === Call_Type.SUBSCRIBE) {
    const infoId = call.subscribe?.frameworkInfo?.id?.value;
    const callId = call.frameworkId?.value;
    if (infoId !== callId)
      badRequest(`${VALIDATION_PREFIX}'framework_id' differs from 'subscribe.framework_info.id'`);
    return;
  }
  if (call.frameworkId === undefined)
    badRequest(`${VALIDATION_PREFIX}Expecting 'framework_id' to be present`);
  if (call.type === Call_Type.ACKNOWLEDGE && call.acknowledge?.uuid.length !== 16) {
    badRequest(`${VALIDATION_PREFIX}Not a valid UUID`);
  }
  if (call.type === Call_Type.ACKNOWLEDGE_OPERATION_STATUS) {
    if (call.acknowledgeOperationStatus?.uuid.length !== 16)
      badRequest(`${VALIDATION_PREFIX}Not a valid UUID`);
    if (!call.acknowledgeOperationStatus?.agentId) {
      badRequest(`${VALIDATION_PREFIX}Expecting 'agent_id' to be present`);
    }
  }
  if (call.type === Call_Type.UPDATE_FRAMEWORK) {
    const infoId = call.updateFramework?.frameworkInfo?.id?.value;
    if (infoId !== call.frameworkId.value) {
      badRequest(`${VALIDATION_PREFIX}'framework_id' differs from 'update_framework.framework_info.id'`);
    }
  }
}

export function schedulerApiHandler(master: Master) {
  return async (request: HttpRequest): Promise<HttpResponse> => {
    requireMethod(request.method, ['POST']);
    const contentType = requestMessageType(request.headers);
    const call = decodeCall(await request.body(), contentType);
    validateCall(call, typeFieldPresent(call));
    master.counters.schedulerCalls.set(
      Call_Type[call.type] ?? 'UNKNOWN',
      (master.counters.schedulerCalls.get(Call_Type[call.type] ?? 'UNKNOWN') ?? 0) + 1,
    );

    if (call.type === Call_Type.SUBSCRIBE) {
      const accept = responseMessageType(request.headers);
      if (request.header(STREAM_ID_HEADER) !== undefined) {
        badRequest("Subscribe calls should not include the 'Mesos-Stream-Id' header");
      }
      const subscribe = call.subscribe!;
      const info = create(FrameworkInfoSchema, subscribe.frameworkInfo);
      const suppressed = [...subscribe.suppressedRoles];
      const streamId = randomUUID();
      return {
        status: 200,
        headers: { 'Content-Type': accept, [STREAM_ID_HEADER]: streamId },
        open: (stream) => master.subscribe(info, suppressed, new SchedulerStream(stream, accept, streamId)),
      };
    }

    if (call.type === Call_Type.RECONCILE_OPERATIONS) responseMessageType(request.headers);

    const frameworkId = call.frameworkId!.value;
    const framework = master.framework(frameworkId);
    if (!framework) badRequest('Framework cannot be found');
    if (!framework.stream) throw new StrataError('HTTP_FORBIDDEN', { detail: 'Framework is not subscribed' });
    const streamId = request.header(STREAM_ID_HEADER);
    if (streamId === undefined)
      badRequest("All non-subscribe calls should include the 'Mesos-Stream-Id' header");
    if (streamId !== framework.stream.streamId) {
      badRequest(
        `The stream ID '${streamId}' included in this request didn't match the stream ID currently associated with framework ID ${frameworkId}`,
      );
    }
    return dispatch(master, framework, call);
  };
}

function dispatch(master: Master, framework: FrameworkRecord, call: Call): HttpResponse {
  switch (call.type) {
    case Call_Type.TEARDOWN:
      master.removeFramework(framework);
      return accepted();
    case Call_Type.ACCEPT:
      master.accept(framework, call.accept!);
      return accepted();
    case Call_Type.DECLINE: {
      const decline = call.decline!;
      master.decline(
        framework,
        decline.offerIds.map((o) => o.value),
        refuseSeconds(decline.filters?.refuseSeconds),
      );
      return accepted();
    }
    case Call_Type.REVIVE:
      master.revive(framework, call.revive?.roles ?? []);
      return accepted();
    case Call_Type.SUPPRESS:
      master.suppress(framework, call.suppress?.roles ?? []);
      return accepted();
    case Call_Type.KILL: {
      const kill = call.kill!;
      master.kill(framework, kill.taskId?.value ?? '', kill.agentId?.value, kill.killPolicy);
      return accepted();
    }
    case Call_Type.SHUTDOWN: {
      const shutdown = call.shutdown!;
      master.shutdownExecutor(framework, shutdown.agentId?.value ?? '', shutdown.executorId?.value ?? '');
      return accepted();
    }
    case Call_Type.ACKNOWLEDGE: {
      const ack = call.acknowledge!;
      master.acknowledge(framework, ack.agentId?.value ?? '', ack.taskId?.value ?? '', ack.uuid);
      return accepted();
    }
    case Call_Type.RECONCILE:
      master.reconcile(framework, call.reconcile!.tasks);
      return accepted();
    case Call_Type.MESSAGE: {
      const message = call.message!;
      master.message(framework, message.agentId?.value ?? '', message.executorId?.value ?? '', message.data);
      return accepted();
    }
    case Call_Type.RECONCILE_OPERATIONS:
      master.reconcileOperations(framework, call.reconcileOperations!.operations);
      return accepted();
    case Call_Type.ACCEPT_INVERSE_OFFERS:
    case Call_Type.DECLINE_INVERSE_OFFERS: {
      // Advisory: the answer shows in the maintenance status (maintenance.ts).
      const accept = call.type === Call_Type.ACCEPT_INVERSE_OFFERS;
      const answer = accept ? call.acceptInverseOffers! : call.declineInverseOffers!;
      master.maintenance.answerInverseOffers(
        framework,
        answer.inverseOfferIds.map((o) => o.value),
        accept,
        refuseSeconds(answer.filters?.refuseSeconds),
      );
      return accepted();
    }
    case Call_Type.REQUEST:
    case Call_Type.ACKNOWLEDGE_OPERATION_STATUS:
      // The built-in allocator ignores requests; operation feedback is not tracked yet, so there
      // is nothing to record or answer.
      return accepted();
    case Call_Type.UPDATE_FRAMEWORK: {
      const update = call.updateFramework!;
      const info = create(FrameworkInfoSchema, update.frameworkInfo);
      const problem = master.updateFramework(framework, info, [...update.suppressedRoles]);
      return problem === undefined ? { status: 200 } : textResponse(400, problem);
    }
    default:
      return textResponse(501, `Unknown call type ${call.type}`);
  }
}

/** Mesos' rules for `Filters.refuse_seconds`: capped at 365 days; negative or NaN means 5 s. */
export function refuseSeconds(value: number | undefined): number {
  if (value === undefined) return 5;
  if (!Number.isFinite(value) || value < 0) return Number.isNaN(value) || value < 0 ? 5 : 365 * 86400;
  return Math.min(value, 365 * 86400);
}
