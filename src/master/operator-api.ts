/**
 * The master operator API, `POST /api/v1` (and `/master/api/v1`): transport checks in the order of
 * the reference's status-code matrix (section 1.7: 405; Content-Type 400/415; body 400;
 * `Failed to validate master::Call: ...` 400; Accept 406), then the call goes to the handler that
 * a handler table registered for its type (section 4.1). `UNKNOWN` is a bare 501, as in Mesos; a
 * valid call type that no table handles is a 501 whose text names it.
 *
 * HOW TO ADD CALLS. Handlers live in their own modules, grouped in tables keyed by `Call_Type`;
 * each module exports a function that takes what its handlers need and returns its table:
 *
 *     export function allocationCalls(master: Master): OperatorCallTable {
 *       return {
 *         [Call_Type.GET_ROLES]: ({ accept }) =>
 *           operatorResponse(accept, { type: Response_Type.GET_ROLES, getRoles: { roles: [] } }),
 *         [Call_Type.RESERVE_RESOURCES]: ({ call }) => {
 *           const payload = call.reserveResources!; // present: validated before dispatch
 *           ...
 *           return accepted();                       // 202, or textResponse(400, ...) / throw
 *         },
 *       };
 *     }
 *
 * and `process.ts` passes it in the list given to `operatorApiHandler`. Two tables may not claim
 * the same call type (startup fails). A handler gets the decoded Call with its payload field
 * already checked (REQUIRED_PAYLOAD below covers every call type), the negotiated response media
 * type and the request; it answers with an HttpResponse or throws a catalogue StrataError.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { StrataError } from '../common/errors.js';
import { decodeCallBody, typeFieldPresent } from '../http/call-body.js';
import {
  type MessageMediaType,
  requestMessageType,
  requireMethod,
  responseMessageType,
} from '../http/media.js';
import { type HttpResponse, messageResponse } from '../http/responses.js';
import type { HttpRequest } from '../http/server.js';
import { codec } from '../wire/codec.js';
import { type Call, Call_Type, CallSchema, ResponseSchema } from '../wire/gen/mesos/v1/master/master_pb.js';

export const MASTER_VALIDATION_PREFIX = 'Failed to validate master::Call: ';

/** What a handler is given. */
export interface OperatorCall {
  /** The decoded, validated Call: its payload field for the type is present. */
  call: Call;
  /** The response media type the client accepts (JSON whenever acceptable). */
  accept: MessageMediaType;
  request: HttpRequest;
}

export type OperatorCallHandler = (context: OperatorCall) => HttpResponse | Promise<HttpResponse>;

/** Handlers by call type: one module's share of the operator API. */
export type OperatorCallTable = Partial<Record<Call_Type, OperatorCallHandler>>;

/** A 200 with a `master.Response` in the negotiated type. */
export function operatorResponse(
  accept: MessageMediaType,
  init: MessageInitShape<typeof ResponseSchema>,
): HttpResponse {
  return messageResponse(codec.encode(ResponseSchema, create(ResponseSchema, init), accept), accept);
}

/**
 * The payload field (proto name) each call type requires: Mesos'
 * `validation::master::call::validate` answers a missing one with
 * `Failed to validate master::Call: Expecting '<field>' to be present`. GET_METRICS needs its
 * (possibly empty) object too (reference section 9, item 8).
 */
export const REQUIRED_PAYLOAD: Readonly<Partial<Record<Call_Type, string>>> = {
  [Call_Type.GET_METRICS]: 'get_metrics',
  [Call_Type.SET_LOGGING_LEVEL]: 'set_logging_level',
  [Call_Type.LIST_FILES]: 'list_files',
  [Call_Type.READ_FILE]: 'read_file',
  [Call_Type.UPDATE_WEIGHTS]: 'update_weights',
  [Call_Type.RESERVE_RESOURCES]: 'reserve_resources',
  [Call_Type.UNRESERVE_RESOURCES]: 'unreserve_resources',
  [Call_Type.CREATE_VOLUMES]: 'create_volumes',
  [Call_Type.DESTROY_VOLUMES]: 'destroy_volumes',
  [Call_Type.GROW_VOLUME]: 'grow_volume',
  [Call_Type.SHRINK_VOLUME]: 'shrink_volume',
  [Call_Type.UPDATE_MAINTENANCE_SCHEDULE]: 'update_maintenance_schedule',
  [Call_Type.START_MAINTENANCE]: 'start_maintenance',
  [Call_Type.STOP_MAINTENANCE]: 'stop_maintenance',
  [Call_Type.DRAIN_AGENT]: 'drain_agent',
  [Call_Type.DEACTIVATE_AGENT]: 'deactivate_agent',
  [Call_Type.REACTIVATE_AGENT]: 'reactivate_agent',
  [Call_Type.UPDATE_QUOTA]: 'update_quota',
  [Call_Type.SET_QUOTA]: 'set_quota',
  [Call_Type.REMOVE_QUOTA]: 'remove_quota',
  [Call_Type.TEARDOWN]: 'teardown',
  [Call_Type.MARK_AGENT_GONE]: 'mark_agent_gone',
  [Call_Type.STRATA_EXPLAIN_OFFERS]: 'strata_explain_offers',
};

function badRequest(text: string): never {
  throw new StrataError('HTTP_BAD_REQUEST', { detail: text });
}

/** The structural checks, as 400s with Mesos' texts. */
export function validateMasterCall(call: Call, hasTypeField: boolean): void {
  if (!hasTypeField) badRequest(`${MASTER_VALIDATION_PREFIX}Expecting 'type' to be present`);
  const payload = REQUIRED_PAYLOAD[call.type];
  if (payload === undefined) return;
  const field = CallSchema.fields.find((f) => f.name === payload);
  const value =
    field === undefined ? undefined : (call as unknown as Record<string, unknown>)[field.localName];
  if (value === undefined) badRequest(`${MASTER_VALIDATION_PREFIX}Expecting '${payload}' to be present`);
}

/** Merges the tables; a call type claimed twice is a wiring bug, caught at startup. */
export function mergeCallTables(tables: readonly OperatorCallTable[]): Map<Call_Type, OperatorCallHandler> {
  const handlers = new Map<Call_Type, OperatorCallHandler>();
  for (const table of tables) {
    for (const [key, handler] of Object.entries(table)) {
      const type = Number(key) as Call_Type;
      if (handler === undefined) continue;
      if (handlers.has(type)) {
        throw new StrataError('INTERNAL', {
          detail: `operator call ${Call_Type[type] ?? type} is registered by two handler tables`,
        });
      }
      handlers.set(type, handler);
    }
  }
  return handlers;
}

export function operatorApiHandler(
  tables: readonly OperatorCallTable[],
): (request: HttpRequest) => Promise<HttpResponse> {
  const handlers = mergeCallTables(tables);
  return async (request) => {
    requireMethod(request.method, ['POST']);
    const contentType = requestMessageType(request.headers);
    const call = decodeCallBody(CallSchema, await request.body(), contentType);
    validateMasterCall(call, typeFieldPresent(call));
    // Examined for every call, even those that answer with an empty 200 (reference section 1.3).
    const accept = responseMessageType(request.headers);
    if (call.type === Call_Type.UNKNOWN) throw new StrataError('HTTP_NOT_IMPLEMENTED', { detail: '' });
    const handler = handlers.get(call.type);
    if (handler === undefined) {
      throw new StrataError('HTTP_NOT_IMPLEMENTED', {
        detail: `Call type ${Call_Type[call.type] ?? call.type} is not supported by this master yet`,
      });
    }
    return handler({ call, accept, request });
  };
}
