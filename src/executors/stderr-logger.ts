/**
 * The command executor's logger: pino's JSON lines (level numbers, time, pid, name, msg, `err`
 * serialized with type/message/stack), written synchronously to stderr, without loading pino.
 * The executor starts once per task inside its container, so its module graph is on the launch
 * path (src/containerizer/README.md, "Launch latency"): pino and its dependencies were ≈ 20 ms of it.
 */
import { writeSync } from 'node:fs';
import type { Logger } from '../common/log.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type Level = keyof typeof LEVELS;

function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  return { type: err.constructor.name, message: err.message, stack: err.stack };
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  return value instanceof Error ? serializeError(value) : value;
}

/** The level named by `text` (STRATA_EXECUTOR_LOG_LEVEL), `warn` when unset or unknown. */
export function executorLogLevel(text: string | undefined): Level {
  return text !== undefined && Object.hasOwn(LEVELS, text) ? (text as Level) : 'warn';
}

/** A logger with pino's `info(obj?, msg?)` shape for the levels the executors use. */
export function stderrLogger(name: string, minLevel: Level = 'info', fd = 2): Logger {
  const base = { pid: process.pid, name };
  const threshold = LEVELS[minLevel];
  const write = (level: Level) =>
    function log(first?: unknown, message?: unknown): void {
      if (LEVELS[level] < threshold) return;
      let fields: Record<string, unknown> = {};
      let msg = message;
      if (typeof first === 'string') msg = first;
      else if (first instanceof Error) fields = { err: first };
      else if (first !== null && typeof first === 'object') fields = first as Record<string, unknown>;
      const line = {
        level: LEVELS[level],
        time: Date.now(),
        ...base,
        ...fields,
        ...(msg === undefined ? {} : { msg }),
      };
      let text: string;
      try {
        text = JSON.stringify(line, replacer);
      } catch {
        text = JSON.stringify({ level: LEVELS[level], time: line.time, ...base, msg: String(msg) });
      }
      try {
        writeSync(fd, `${text}\n`);
      } catch {
        // stderr gone: nothing to report to
      }
    };
  const logger = {
    level: minLevel,
    trace: write('trace'),
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    fatal: write('fatal'),
    silent: () => undefined,
    child: () => logger,
  };
  return logger as unknown as Logger;
}
