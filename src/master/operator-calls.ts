/**
 * The master's own operator calls (reference section 4.1), as a handler table for
 * operator-api.ts: health, flags, version, metrics, logging level, files, the state getters,
 * TEARDOWN, MARK_AGENT_GONE and SUBSCRIBE. Reservations, volumes, roles, weights and quota live in
 * operator-allocation-calls.ts; maintenance and agent control in operator-maintenance-calls.ts.
 */
import { isFieldSet } from '@bufbuild/protobuf';
import type { Files } from '../agent/files.js';
import { operatorListFiles, operatorReadFile } from '../agent/files-endpoints.js';
import type { Clock } from '../common/clock.js';
import { StrataError } from '../common/errors.js';
import type { LogLevelControl } from '../common/log.js';
import { versionInfoMessageInit } from '../common/version.js';
import { textResponse } from '../http/responses.js';
import {
  type Call,
  Call_ReadFileSchema,
  Call_StrataSubscribeSchema,
  Call_Type,
  Response_Type,
} from '../wire/gen/mesos/v1/master/master_pb.js';
import type { Master } from './master.js';
import { metricsSnapshot } from './metrics.js';
import { type OperatorCallTable, operatorResponse } from './operator-api.js';
import {
  MASTER_ID_HEADER,
  type OperatorEventHub,
  RESUME_AFTER_HEADER,
  type ResumePoint,
} from './operator-events.js';
import { getAgents, getExecutors, getFrameworks, getMaster, getState, getTasks } from './operator-state.js';

export interface MasterOperatorContext {
  master: Master;
  /** The flags as `/flags` shows them. */
  flags: Record<string, string>;
  clock: Clock;
  logLevel: LogLevelControl;
  /** The master's file tree (LIST_FILES, READ_FILE). */
  files: Files;
  /** The operator event stream (SUBSCRIBE). */
  events: OperatorEventHub;
}

function badRequest(text: string): never {
  throw new StrataError('HTTP_BAD_REQUEST', { detail: text });
}

/**
 * Where a SUBSCRIBE resumes (Strata extension): `strata_subscribe` in the body, or the
 * `Strata-Resume-After` / `Strata-Master-Id` headers; undefined for a plain Mesos SUBSCRIBE.
 */
export function resumePoint(
  call: Call,
  header: (name: string) => string | undefined,
): ResumePoint | undefined {
  const fromBody = call.strataSubscribe;
  const bodyAfter =
    fromBody && isFieldSet(fromBody, Call_StrataSubscribeSchema.field.resumeAfter)
      ? fromBody.resumeAfter
      : undefined;
  const bodyMaster =
    fromBody && isFieldSet(fromBody, Call_StrataSubscribeSchema.field.masterId)
      ? fromBody.masterId
      : undefined;
  const afterText = header(RESUME_AFTER_HEADER);
  let headerAfter: bigint | undefined;
  if (afterText !== undefined) {
    if (!/^\d{1,20}$/.test(afterText.trim())) badRequest(`'${RESUME_AFTER_HEADER}' must be an event offset`);
    headerAfter = BigInt(afterText.trim());
  }
  const headerMaster = header(MASTER_ID_HEADER);
  if (bodyAfter !== undefined && headerAfter !== undefined && bodyAfter !== headerAfter) {
    badRequest(`'strata_subscribe.resume_after' and '${RESUME_AFTER_HEADER}' differ`);
  }
  if (bodyMaster !== undefined && headerMaster !== undefined && bodyMaster !== headerMaster) {
    badRequest(`'strata_subscribe.master_id' and '${MASTER_ID_HEADER}' differ`);
  }
  const after = bodyAfter ?? headerAfter;
  if (after === undefined) return undefined;
  return { after, masterId: bodyMaster ?? headerMaster };
}

const NANOS_PER_MS = 1_000_000n;

export function masterOperatorCalls(context: MasterOperatorContext): OperatorCallTable {
  const { master, clock } = context;
  return {
    [Call_Type.GET_HEALTH]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_HEALTH, getHealth: { healthy: true } }),

    [Call_Type.GET_FLAGS]: ({ accept }) =>
      operatorResponse(accept, {
        type: Response_Type.GET_FLAGS,
        getFlags: { flags: Object.entries(context.flags).map(([name, value]) => ({ name, value })) },
      }),

    [Call_Type.GET_VERSION]: ({ accept }) =>
      operatorResponse(accept, {
        type: Response_Type.GET_VERSION,
        getVersion: { versionInfo: versionInfoMessageInit() },
      }),

    [Call_Type.GET_METRICS]: async ({ accept }) => {
      const metrics = await metricsSnapshot(master, clock);
      return operatorResponse(accept, {
        type: Response_Type.GET_METRICS,
        getMetrics: {
          metrics: Object.keys(metrics)
            .sort()
            .map((name) => ({ name, value: metrics[name]! })),
        },
      });
    },

    [Call_Type.GET_LOGGING_LEVEL]: ({ accept }) =>
      operatorResponse(accept, {
        type: Response_Type.GET_LOGGING_LEVEL,
        getLoggingLevel: { level: context.logLevel.verbosity },
      }),

    [Call_Type.SET_LOGGING_LEVEL]: ({ call }) => {
      const { level, duration } = call.setLoggingLevel!;
      const nanos = duration?.nanoseconds ?? 0n;
      if (nanos < 0n) return textResponse(400, 'Duration must be non-negative');
      // 200, not the 202 the documentation shows (reference section 9, item 9).
      context.logLevel.set(level, Number(nanos / NANOS_PER_MS));
      return { status: 200 };
    },

    [Call_Type.LIST_FILES]: ({ call, accept }) =>
      operatorListFiles(context.files, call.listFiles!.path, (listFiles) =>
        operatorResponse(accept, { type: Response_Type.LIST_FILES, listFiles }),
      ),

    [Call_Type.GET_STATE]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_STATE, getState: getState(master) }),

    [Call_Type.GET_AGENTS]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_AGENTS, getAgents: getAgents(master) }),

    [Call_Type.GET_FRAMEWORKS]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_FRAMEWORKS, getFrameworks: getFrameworks(master) }),

    [Call_Type.GET_EXECUTORS]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_EXECUTORS, getExecutors: getExecutors(master) }),

    [Call_Type.GET_TASKS]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_TASKS, getTasks: getTasks(master) }),

    [Call_Type.GET_MASTER]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_MASTER, getMaster: getMaster(master) }),

    // Offer operations with feedback are not tracked by this master: the list is honestly empty.
    [Call_Type.GET_OPERATIONS]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_OPERATIONS, getOperations: {} }),

    [Call_Type.TEARDOWN]: ({ call }) => {
      const framework = master.framework(call.teardown!.frameworkId?.value ?? '');
      if (!framework) return textResponse(400, 'No framework found with specified ID');
      master.removeFramework(framework);
      return { status: 200 };
    },

    [Call_Type.MARK_AGENT_GONE]: ({ call }) => {
      const agentId = call.markAgentGone!.agentId?.value ?? '';
      const outcome = master.markAgentGone(agentId);
      if (outcome === 'unknown') return textResponse(404, `Agent '${agentId}' not found`);
      return { status: 200 };
    },

    [Call_Type.SUBSCRIBE]: ({ call, accept, request }) =>
      context.events.subscribe(
        accept,
        resumePoint(call, (name) => request.header(name)),
      ),

    [Call_Type.READ_FILE]: ({ call, accept }) => {
      const read = call.readFile!;
      const length = isFieldSet(read, Call_ReadFileSchema.field.length) ? read.length : undefined;
      return operatorReadFile(context.files, { path: read.path, offset: read.offset, length }, (readFile) =>
        operatorResponse(accept, { type: Response_Type.READ_FILE, readFile }),
      );
    },
  };
}
