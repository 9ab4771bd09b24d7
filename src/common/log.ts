/**
 * Structured logs through pino (fast, JSON lines, child loggers per component). Logs go to
 * stderr so that stdout stays free for command output (`--json` and the like).
 *
 * The level can change at runtime (SET_LOGGING_LEVEL): pino copies the level into each child when
 * it is made, so every logger made from a root keeps a weak reference to its descendants and
 * `LogLevelControl` sets them all.
 */
import { type Logger, pino } from 'pino';
import { type Clock, systemClock, type TimerHandle } from './clock.js';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Live descendants of each root logger, weakly held so short-lived children can be collected. */
const descendants = new WeakMap<Logger, Set<WeakRef<Logger>>>();

export function createLogger(component: string, level: LogLevel | 'silent' = 'info'): Logger {
  const children = new Set<WeakRef<Logger>>();
  const root = pino(
    {
      name: component,
      level,
      base: { pid: process.pid },
      // Inherited by every child, so grandchildren are registered too.
      onChild: (child) => {
        children.add(new WeakRef(child));
        if (children.size > 4096) prune(children);
      },
    },
    pino.destination({ fd: 2, sync: false }),
  );
  descendants.set(root, children);
  return root;
}

function prune(children: Set<WeakRef<Logger>>): void {
  for (const ref of children) if (ref.deref() === undefined) children.delete(ref);
}

/** Sets the level of a root logger and of every live logger made from it. */
export function setLoggerLevel(root: Logger, level: LogLevel | 'silent'): void {
  root.level = level;
  const children = descendants.get(root);
  if (!children) return;
  for (const ref of children) {
    const child = ref.deref();
    if (child) child.level = level;
    else children.delete(ref);
  }
}

/**
 * GET_LOGGING_LEVEL / SET_LOGGING_LEVEL in Mesos' terms: the level is a glog verbosity (0 = the
 * process's configured level, 1 = debug, 2 and above = trace), and a change lasts `duration`,
 * then reverts to the configured level.
 */
export class LogLevelControl {
  private verbosityNow = 0;
  private revertTimer: TimerHandle | undefined;

  constructor(
    private readonly root: Logger,
    private readonly configured: LogLevel | 'silent',
    private readonly clock: Clock = systemClock,
  ) {}

  get verbosity(): number {
    return this.verbosityNow;
  }

  /** The pino level a verbosity stands for. */
  static levelFor(verbosity: number, configured: LogLevel | 'silent'): LogLevel | 'silent' {
    if (verbosity <= 0) return configured;
    return verbosity === 1 ? 'debug' : 'trace';
  }

  set(verbosity: number, durationMs: number): void {
    this.revertTimer?.cancel();
    this.apply(verbosity);
    this.revertTimer = this.clock.setTimeout(() => {
      this.revertTimer = undefined;
      this.apply(0);
    }, durationMs);
  }

  private apply(verbosity: number): void {
    this.verbosityNow = verbosity;
    setLoggerLevel(this.root, LogLevelControl.levelFor(verbosity, this.configured));
  }

  close(): void {
    this.revertTimer?.cancel();
    this.revertTimer = undefined;
  }
}
