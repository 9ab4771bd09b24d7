/**
 * The pre-v1 endpoints operators' scripts still use for resource sharing: `/weights` (GET, PUT),
 * `/quota` (GET, POST, DELETE `/quota/<role>`), `/reserve`, `/unreserve`, `/create-volumes` and
 * `/destroy-volumes` (POST forms). Each one is turned into the operator Call it stands for and
 * answered by the same handler as `/api/v1` (operator-allocation-calls.ts), so the two can never
 * disagree; only the request and response shapes differ.
 */
import { StrataError } from '../common/errors.js';
import { requireMethod } from '../http/media.js';
import { type HttpResponse, jsonResponse } from '../http/responses.js';
import type { HttpRequest, HttpServer } from '../http/server.js';
import { codec } from '../wire/codec.js';
import { type Call, Call_Type, CallSchema, ResponseSchema } from '../wire/gen/mesos/v1/master/master_pb.js';
import { type JsonValue, stringifyJson } from '../wire/json-text.js';
import { toMesosJson } from '../wire/mesos-json.js';
import type { Master } from './master.js';
import { allocationOperatorCalls } from './operator-allocation-calls.js';
import type { OperatorCallTable } from './operator-api.js';

function badRequest(detail: string): never {
  throw new StrataError('HTTP_BAD_REQUEST', { detail });
}

/** A JSON array from a form field or body, or a 400 naming what is wrong. */
function jsonArray(text: string | null, what: string): unknown[] {
  if (text === null) badRequest(`Missing '${what}'`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    badRequest(`Failed to parse '${what}': ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) badRequest(`'${what}' must be a JSON array`);
  return value;
}

/** Builds the Call through the Mesos JSON mapping, so field checks are those of `/api/v1`. */
function callFromJson(json: Record<string, unknown>): Call {
  try {
    return codec.decode(CallSchema, Buffer.from(JSON.stringify(json)), 'application/json');
  } catch (err) {
    return badRequest((err as Error).message);
  }
}

/** The operator answer as the legacy endpoint gives it: a JSON body for getters. */
async function answer(
  table: OperatorCallTable,
  call: Call,
  request: HttpRequest,
  pick?: (response: Record<string, JsonValue>) => JsonValue | undefined,
): Promise<HttpResponse> {
  const handler = table[call.type]!;
  const response = await handler({ call, accept: 'application/json', request });
  if (!pick || response.status !== 200 || !('body' in response) || response.body === undefined)
    return response;
  const body = response.body;
  const bytes =
    typeof body === 'string' ? Buffer.from(body) : Array.isArray(body) ? Buffer.concat(body) : body;
  const decoded = codec.decode(ResponseSchema, bytes as Uint8Array, 'application/json');
  return jsonResponse(
    request.query,
    stringifyJson(pick(toMesosJson(ResponseSchema, decoded) as Record<string, JsonValue>) ?? null),
  );
}

export function registerLegacyAllocationEndpoints(http: HttpServer, master: Master): void {
  const table = allocationOperatorCalls(master);
  const form = async (request: HttpRequest) => {
    requireMethod(request.method, ['POST']);
    return new URLSearchParams(Buffer.from(await request.body()).toString('utf8'));
  };
  const agentOperation =
    (type: Call_Type, field: string, listName: 'resources' | 'volumes', formName: string) =>
    async (request: HttpRequest) => {
      const params = await form(request);
      const agentId = params.get('slaveId');
      if (agentId === null) badRequest("Missing 'slaveId' query parameter");
      const list = jsonArray(params.get(formName), formName);
      return answer(
        table,
        callFromJson({ type: Call_Type[type], [field]: { agent_id: { value: agentId }, [listName]: list } }),
        request,
      );
    };
  http.route(
    'master',
    '/reserve',
    agentOperation(Call_Type.RESERVE_RESOURCES, 'reserve_resources', 'resources', 'resources'),
  );
  http.route(
    'master',
    '/unreserve',
    agentOperation(Call_Type.UNRESERVE_RESOURCES, 'unreserve_resources', 'resources', 'resources'),
  );
  http.route(
    'master',
    '/create-volumes',
    agentOperation(Call_Type.CREATE_VOLUMES, 'create_volumes', 'volumes', 'volumes'),
  );
  http.route(
    'master',
    '/destroy-volumes',
    agentOperation(Call_Type.DESTROY_VOLUMES, 'destroy_volumes', 'volumes', 'volumes'),
  );

  http.route('master', '/weights', async (request) => {
    requireMethod(request.method, ['GET', 'PUT']);
    if (request.method === 'GET') {
      return answer(table, callFromJson({ type: 'GET_WEIGHTS' }), request, (r) => {
        const weights = (r.get_weights as { weight_infos?: JsonValue } | undefined)?.weight_infos;
        return weights ?? [];
      });
    }
    const infos = jsonArray(Buffer.from(await request.body()).toString('utf8'), 'weights');
    return answer(
      table,
      callFromJson({ type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: infos } }),
      request,
    );
  });

  const quota = async (request: HttpRequest): Promise<HttpResponse> => {
    requireMethod(request.method, ['GET', 'POST', 'DELETE']);
    const role = request.subPath;
    if (request.method === 'GET') {
      return answer(
        table,
        callFromJson({ type: 'GET_QUOTA' }),
        request,
        (r) => (r.get_quota as { status?: JsonValue } | undefined)?.status,
      );
    }
    if (request.method === 'DELETE') {
      if (role === '') badRequest('DELETE /quota needs a role: /quota/<role>');
      return answer(
        table,
        callFromJson({ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role }] } }),
        request,
      );
    }
    // POST: the pre-1.9 QuotaRequest; its guarantee is both guarantee and limit, as in Mesos 1.9+.
    let body: { role?: unknown; guarantee?: unknown; force?: unknown };
    try {
      body = JSON.parse(Buffer.from(await request.body()).toString('utf8')) as typeof body;
    } catch (err) {
      return badRequest(`Failed to parse the quota request: ${(err as Error).message}`);
    }
    if (typeof body.role !== 'string') badRequest("The quota request needs a 'role'");
    const guarantee = Array.isArray(body.guarantee)
      ? body.guarantee
      : badRequest("The quota request needs a 'guarantee' array");
    const amounts: Record<string, { value: number }> = {};
    for (const resource of guarantee as Array<{ name?: unknown; scalar?: { value?: unknown } }>) {
      if (typeof resource?.name !== 'string' || typeof resource.scalar?.value !== 'number') {
        badRequest("Each 'guarantee' entry must be a scalar resource with 'name' and 'scalar.value'");
      }
      amounts[resource.name] = { value: (amounts[resource.name]?.value ?? 0) + resource.scalar.value };
    }
    return answer(
      table,
      callFromJson({
        type: 'UPDATE_QUOTA',
        update_quota: {
          force: body.force === true,
          quota_configs: [{ role: body.role, guarantees: amounts, limits: amounts }],
        },
      }),
      request,
    );
  };
  // `/quota/<role>` arrives here too, with the role as the sub-path.
  http.route('master', '/quota', quota);
}
