/**
 * `POST /slave(1)/api/v1/executor` (and `/api/v1/executor`): the transport checks of the
 * executor row of the status-code matrix (reference section 1.7), in its order, then the call
 * goes to the Agent. SUBSCRIBE opens a 200 RecordIO stream; UPDATE and MESSAGE are 202. While the
 * agent recovers after a restart only HEARTBEAT and the SUBSCRIBE of an executor it waits for get
 * through; the rest are 503 (E15).
 */
import { StrataError } from '../common/errors.js';
import { requestMessageType, requireMethod, responseMessageType } from '../http/media.js';
import { AGENT_RECOVERING, accepted, type HttpResponse, serviceUnavailable } from '../http/responses.js';
import type { HttpRequest } from '../http/server.js';
import { Call_Type } from '../wire/gen/mesos/v1/executor/executor_pb.js';
import type { Agent } from './agent.js';
import { decodeExecutorCall, validateExecutorCall } from './executor-calls.js';

function fail(code: 'HTTP_BAD_REQUEST' | 'HTTP_FORBIDDEN' | 'HTTP_NOT_IMPLEMENTED', text: string): never {
  throw new StrataError(code, { detail: text });
}

/** Told about UPDATE calls the agent turns away (`slave/invalid_status_updates`). */
export interface ExecutorApiCounters {
  invalidStatusUpdate(): void;
}

export function executorApiHandler(
  agent: Agent,
  counters?: ExecutorApiCounters,
): (request: HttpRequest) => Promise<HttpResponse> {
  return async (request) => {
    requireMethod(request.method, ['POST']);
    const contentType = requestMessageType(request.headers);
    const call = decodeExecutorCall(await request.body(), contentType);
    validateExecutorCall(call);

    const responseType = call.type === Call_Type.SUBSCRIBE ? responseMessageType(request.headers) : undefined;
    if (call.type === Call_Type.HEARTBEAT) return accepted();
    // A restarting agent lets its old executors re-subscribe, and nothing else, until recovery ends.
    if (agent.isRecovering && call.type !== Call_Type.SUBSCRIBE) serviceUnavailable(AGENT_RECOVERING);

    const found = agent.lookupExecutor(call.frameworkId?.value ?? '', call.executorId?.value ?? '');
    // Only an executor the agent is waiting for may subscribe while it recovers (E15).
    if (agent.isRecovering && (found.kind !== 'found' || !found.executor.awaitingReregistration)) {
      serviceUnavailable(AGENT_RECOVERING);
    }
    if (found.kind !== 'found' && call.type === Call_Type.UPDATE) counters?.invalidStatusUpdate();
    if (found.kind === 'no-framework') fail('HTTP_BAD_REQUEST', 'Framework cannot be found');
    if (found.kind === 'no-executor') fail('HTTP_BAD_REQUEST', 'Executor cannot be found');
    const { framework, executor } = found;
    if (executor.phase === 'registering' && call.type !== Call_Type.SUBSCRIBE) {
      fail('HTTP_FORBIDDEN', 'Executor is not subscribed');
    }

    switch (call.type) {
      case Call_Type.SUBSCRIBE: {
        const mediaType = responseType!;
        const subscribe = call.subscribe!;
        return {
          status: 200,
          headers: { 'Content-Type': mediaType },
          open: (stream) => agent.subscribe(framework, executor, subscribe, stream, mediaType),
        };
      }
      case Call_Type.UPDATE:
        agent.executorUpdate(framework, executor, call.update!.status!);
        return accepted();
      case Call_Type.MESSAGE:
        agent.executorMessage(framework, executor, call.message!.data);
        return accepted();
      default:
        fail('HTTP_NOT_IMPLEMENTED', '');
    }
  };
}
