/**
 * Structured logs through pino (fast, JSON lines, child loggers per component). Logs go to
 * stderr so that stdout stays free for command output (`--json` and the like).
 */
import { type Logger, pino } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(component: string, level: LogLevel | 'silent' = 'info'): Logger {
  return pino(
    { name: component, level, base: { pid: process.pid } },
    pino.destination({ fd: 2, sync: false }),
  );
}
