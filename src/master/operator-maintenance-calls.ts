/**
 * The maintenance and agent-control operator calls (reference section 4.1), as a handler table for
 * operator-api.ts: GET_MAINTENANCE_STATUS, GET_MAINTENANCE_SCHEDULE, UPDATE_MAINTENANCE_SCHEDULE,
 * START_MAINTENANCE, STOP_MAINTENANCE, DRAIN_AGENT, DEACTIVATE_AGENT and REACTIVATE_AGENT; and the
 * legacy endpoints that do the same (`/maintenance/schedule`, `/maintenance/status`,
 * `/machine/down`, `/machine/up`, reference section 1.2). The rules are in maintenance.ts; here
 * are only the transports. A refused call changes nothing (400 with the reason; 409 for an agent
 * marked gone).
 */
import { fail } from '../common/errors.js';
import { requireMethod } from '../http/media.js';
import { jsonResponse, textResponse } from '../http/responses.js';
import type { HttpRequest, HttpServer } from '../http/server.js';
import { codec } from '../wire/codec.js';
import { ClusterStatusSchema, ScheduleSchema } from '../wire/gen/mesos/v1/maintenance/maintenance_pb.js';
import { Call_Type, Response_Type } from '../wire/gen/mesos/v1/master/master_pb.js';
import { type MachineID, MachineIDSchema } from '../wire/gen/mesos/v1/mesos_pb.js';
import type { ControlResult } from './maintenance.js';
import type { Master } from './master.js';
import { type OperatorCallTable, operatorResponse } from './operator-api.js';

const NANOS_PER_SECOND = 1_000_000_000n;

function answer(result: ControlResult) {
  return result.ok ? { status: 200 } : textResponse(result.status, result.message);
}

export function maintenanceOperatorCalls(master: Master): OperatorCallTable {
  const { maintenance } = master;
  return {
    [Call_Type.GET_MAINTENANCE_STATUS]: ({ accept }) =>
      operatorResponse(accept, {
        type: Response_Type.GET_MAINTENANCE_STATUS,
        getMaintenanceStatus: { status: maintenance.status() },
      }),

    [Call_Type.GET_MAINTENANCE_SCHEDULE]: ({ accept }) =>
      operatorResponse(accept, {
        type: Response_Type.GET_MAINTENANCE_SCHEDULE,
        getMaintenanceSchedule: { schedule: maintenance.schedule() },
      }),

    [Call_Type.UPDATE_MAINTENANCE_SCHEDULE]: async ({ call }) => {
      const schedule = call.updateMaintenanceSchedule!.schedule;
      if (!schedule)
        return textResponse(400, "Expecting 'update_maintenance_schedule.schedule' to be present");
      return answer(await maintenance.updateSchedule(schedule));
    },

    [Call_Type.START_MAINTENANCE]: async ({ call }) =>
      answer(await maintenance.startMaintenance(call.startMaintenance!.machines)),

    [Call_Type.STOP_MAINTENANCE]: async ({ call }) =>
      answer(await maintenance.stopMaintenance(call.stopMaintenance!.machines)),

    [Call_Type.DRAIN_AGENT]: async ({ call }) => {
      const { agentId, maxGracePeriod, markGone } = call.drainAgent!;
      // A google.protobuf.Duration here, unlike the DurationInfo used elsewhere.
      const grace =
        maxGracePeriod === undefined
          ? undefined
          : maxGracePeriod.seconds * NANOS_PER_SECOND + BigInt(maxGracePeriod.nanos);
      return answer(await maintenance.drainAgent(agentId?.value ?? '', grace, markGone));
    },

    [Call_Type.DEACTIVATE_AGENT]: async ({ call }) =>
      answer(await maintenance.deactivateAgent(call.deactivateAgent!.agentId?.value ?? '')),

    [Call_Type.REACTIVATE_AGENT]: async ({ call }) =>
      answer(await maintenance.reactivateAgent(call.reactivateAgent!.agentId?.value ?? '')),
  };
}

function bodyProblem(what: string, err: unknown): never {
  return fail('HTTP_BAD_REQUEST', { detail: `Failed to parse ${what}: ${(err as Error).message}` });
}

/** A JSON array of MachineID, the body of `/machine/down` and `/machine/up`. */
async function machineList(request: HttpRequest): Promise<MachineID[]> {
  const text = Buffer.from(await request.body()).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return bodyProblem('the list of machines', err);
  }
  if (!Array.isArray(parsed)) fail('HTTP_BAD_REQUEST', { detail: 'Expecting a JSON array of machines' });
  return parsed.map((item) => {
    try {
      return codec.decode(MachineIDSchema, Buffer.from(JSON.stringify(item)), 'application/json');
    } catch (err) {
      return bodyProblem('a machine', err);
    }
  });
}

/** `/maintenance/schedule` (GET, POST), `/maintenance/status` (GET), `/machine/down|up` (POST). */
export function registerMaintenanceEndpoints(http: HttpServer, master: Master): void {
  const { maintenance } = master;
  const json = (request: HttpRequest, bytes: Uint8Array) => jsonResponse(request.query, bytes);
  http.route('master', '/maintenance/schedule', async (request) => {
    requireMethod(request.method, ['GET', 'POST']);
    if (request.method === 'GET')
      return json(request, codec.encode(ScheduleSchema, maintenance.schedule(), 'application/json'));
    let schedule: ReturnType<typeof maintenance.schedule>;
    try {
      schedule = codec.decode(ScheduleSchema, await request.body(), 'application/json');
    } catch (err) {
      return bodyProblem('the maintenance schedule', err);
    }
    return answer(await maintenance.updateSchedule(schedule));
  });
  http.route('master', '/maintenance/status', (request) => {
    requireMethod(request.method, ['GET']);
    return json(request, codec.encode(ClusterStatusSchema, maintenance.status(), 'application/json'));
  });
  http.route('master', '/machine/down', async (request) => {
    requireMethod(request.method, ['POST']);
    return answer(await maintenance.startMaintenance(await machineList(request)));
  });
  http.route('master', '/machine/up', async (request) => {
    requireMethod(request.method, ['POST']);
    return answer(await maintenance.stopMaintenance(await machineList(request)));
  });
}
