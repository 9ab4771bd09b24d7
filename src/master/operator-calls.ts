/**
 * The master's own operator calls (reference section 4.1), as a handler table for
 * operator-api.ts: health, flags, version, metrics, logging level, files, the state getters,
 * TEARDOWN, MARK_AGENT_GONE and SUBSCRIBE. Reservations, volumes, roles, weights and quota live in
 * operator-allocation-calls.ts; maintenance and drain calls are not here yet (501).
 */
import { isFieldSet } from '@bufbuild/protobuf';
import type { Files } from '../agent/files.js';
import { operatorListFiles, operatorReadFile } from '../agent/files-endpoints.js';
import type { Clock } from '../common/clock.js';
import type { LogLevelControl } from '../common/log.js';
import { versionInfoMessageInit } from '../common/version.js';
import { textResponse } from '../http/responses.js';
import { Call_ReadFileSchema, Call_Type, Response_Type } from '../wire/gen/mesos/v1/master/master_pb.js';
import type { Master } from './master.js';
import { metricsSnapshot } from './metrics.js';
import { type OperatorCallTable, operatorResponse } from './operator-api.js';

export interface MasterOperatorContext {
  master: Master;
  /** The flags as `/flags` shows them. */
  flags: Record<string, string>;
  clock: Clock;
  logLevel: LogLevelControl;
  /** The master's file tree (LIST_FILES, READ_FILE). */
  files: Files;
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

    [Call_Type.READ_FILE]: ({ call, accept }) => {
      const read = call.readFile!;
      const length = isFieldSet(read, Call_ReadFileSchema.field.length) ? read.length : undefined;
      return operatorReadFile(context.files, { path: read.path, offset: read.offset, length }, (readFile) =>
        operatorResponse(accept, { type: Response_Type.READ_FILE, readFile }),
      );
    },
  };
}
