/**
 * The kill policy of Mesos' built-in executors (mesos-internals §4.7) as a small state machine that
 * knows nothing about processes: it decides when to signal and tells its `signals` to do it, on a
 * Clock, so tests drive it with a ManualClock.
 *
 * - The first kill sends SIGTERM at once and arms an escalation to SIGKILL after the grace period.
 * - A later kill may only bring the SIGKILL forward (`now + grace` earlier than the armed
 *   deadline), never push it back: schedulers retry kills, and a retry must not buy the task time.
 * - The first kill's cause sticks (a task killed for overrunning `max_completion_time` stays a
 *   FAILED even if the framework also asks to kill it).
 * - Once the process has ended nothing more is signalled.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import type { DurationInfo, KillPolicy } from '../wire/gen/mesos/v1/mesos_pb.js';
import type { KillCause } from './status.js';

/** Mesos' command executor default when neither the KILL nor the task carry a kill policy. */
export const DEFAULT_KILL_GRACE_PERIOD_MS = 3_000;

/**
 * Room the executor leaves itself inside the agent's shutdown grace period: Mesos subtracts 1 s
 * plus libprocess' 1 s maximum reap interval so TASK_KILLED reaches the agent before the agent
 * destroys the container.
 */
export const SHUTDOWN_GRACE_MARGIN_MS = 2_000;

export interface KillSignals {
  /** Ask the task to stop (SIGTERM to its process tree). */
  terminate(): void;
  /** Force it (SIGKILL to its process tree). */
  forceKill(): void;
}

export type KillRequestResult =
  /** SIGTERM sent, SIGKILL armed. */
  | 'started'
  /** Already killing; the SIGKILL moved earlier. */
  | 'shortened'
  /** Already killing; the armed SIGKILL is at least as early. */
  | 'unchanged'
  /** The process already ended. */
  | 'ended';

export class KillStateMachine {
  private causeOfKill: KillCause | undefined;
  private escalationDueMs: number | undefined;
  private escalationTimer: TimerHandle | undefined;
  private escalated = false;
  private processEnded = false;

  constructor(
    private readonly clock: Clock,
    private readonly signals: KillSignals,
  ) {}

  /** Why the task is being killed, or undefined while nobody asked. */
  get cause(): KillCause | undefined {
    return this.causeOfKill;
  }

  get killing(): boolean {
    return this.causeOfKill !== undefined;
  }

  /** Whether SIGKILL has been sent. */
  get forced(): boolean {
    return this.escalated;
  }

  /** Milliseconds since the epoch at which SIGKILL is (or was) due, if a kill is under way. */
  get escalationDue(): number | undefined {
    return this.escalationDueMs;
  }

  request(gracePeriodMs: number, cause: KillCause): KillRequestResult {
    if (this.processEnded) return 'ended';
    const grace = Math.max(0, gracePeriodMs);
    const due = this.clock.now() + grace;
    if (this.causeOfKill === undefined) {
      this.causeOfKill = cause;
      this.signals.terminate();
      this.arm(due);
      return 'started';
    }
    if (this.escalated || this.escalationDueMs === undefined || due >= this.escalationDueMs)
      return 'unchanged';
    this.arm(due);
    return 'shortened';
  }

  /** The task's process ended: stop any escalation. */
  processExited(): void {
    this.processEnded = true;
    this.escalationTimer?.cancel();
    this.escalationTimer = undefined;
  }

  private arm(dueMs: number): void {
    this.escalationTimer?.cancel();
    this.escalationDueMs = dueMs;
    this.escalationTimer = this.clock.setTimeout(
      () => {
        this.escalationTimer = undefined;
        if (this.processEnded || this.escalated) return;
        this.escalated = true;
        this.signals.forceKill();
      },
      Math.max(0, dueMs - this.clock.now()),
    );
  }
}

/** A `DurationInfo` (int64 nanoseconds) in milliseconds. */
export function durationInfoToMs(duration: DurationInfo): number {
  return Number(duration.nanoseconds) / 1e6;
}

/**
 * The grace period for a KILL, in Mesos' order: the KILL event's own kill policy, else the task's,
 * else the 3 s default.
 */
export function killGracePeriodMs(
  eventPolicy: KillPolicy | undefined,
  taskPolicy: KillPolicy | undefined,
): number {
  const fromEvent = eventPolicy?.gracePeriod;
  if (fromEvent !== undefined) return Math.max(0, durationInfoToMs(fromEvent));
  const fromTask = taskPolicy?.gracePeriod;
  if (fromTask !== undefined) return Math.max(0, durationInfoToMs(fromTask));
  return DEFAULT_KILL_GRACE_PERIOD_MS;
}

/** The grace period for a SHUTDOWN: the agent's shutdown grace less the margin, at least 0. */
export function shutdownKillGracePeriodMs(shutdownGracePeriodMs: number): number {
  return Math.max(0, shutdownGracePeriodMs - SHUTDOWN_GRACE_MARGIN_MS);
}
