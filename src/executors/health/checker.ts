/**
 * When to probe and what to report, for health checks and generalized checks (mesos-internals
 * §4.10), knowing nothing about processes or sockets: a `Probe` does the I/O, a Clock keeps time,
 * so unit tests drive every rule with a ManualClock and scripted probe outcomes.
 *
 * `ProbeLoop` is Mesos' CheckerProcess schedule: the first probe `delay` after start, each next one
 * `interval` after the previous one ended (not started), a probe that outlives `timeout` is
 * aborted and counts as an error, and pause/resume/stop for an executor that is killing its task
 * or has lost its agent.
 *
 * `HealthChecker` is Mesos' HealthChecker on top of it:
 * - COMMAND exit 0, HTTP 200–399 (after redirects), TCP connected: healthy; anything else,
 *   errors and timeouts included: a failure.
 * - A failure before the first success, within `grace_period` of the start, is ignored; after the
 *   first success every failure counts, grace period or not.
 * - Every counted failure is reported (healthy=false, with the count); `kill_task` once the count
 *   reaches `consecutive_failures`. The report keeps coming on later failures: whether to kill is
 *   the executor's decision, and it stops the checker when it does.
 * - Success is reported on the first one and on the first after failures; the count resets.
 *
 * `Checker` is Mesos' (generalized) Checker: no interpretation, the raw result (exit code, HTTP
 * status, connected or not) as a CheckStatusInfo, reported whenever it differs from the last one;
 * an error or a timeout is the empty result of the check's type. It starts from that empty result,
 * which the executor already sends with every update of a task that has a check.
 */
import { create, equals } from '@bufbuild/protobuf';
import type { Clock, TimerHandle } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import {
  CheckInfo_Type,
  type CheckStatusInfo,
  CheckStatusInfoSchema,
} from '../../wire/gen/mesos/v1/mesos_pb.js';
import type { CheckSpec, HealthCheckSpec, ProbeTiming } from './config.js';

/** What one probe found. */
export type ProbeOutcome =
  | { kind: 'command'; exitCode: number }
  | { kind: 'http'; statusCode: number }
  | { kind: 'tcp'; succeeded: boolean }
  /** No result: the probe could not run, was killed by a signal, got no answer, or timed out. */
  | { kind: 'error'; message: string }
  /**
   * No result for a reason that says nothing about the task (the agent that runs command checks
   * of the default executor is unreachable): nothing is reported, as Mesos reports nothing.
   */
  | { kind: 'unavailable'; message: string };

/** Runs one probe; `signal` aborts it (a timeout or a pause), and it must then clean up after itself. */
export type Probe = (signal: AbortSignal) => Promise<ProbeOutcome>;

/** Mesos' duration wording (`20secs`, `500ms`), for messages. */
export function describeDuration(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}secs`;
}

export interface ProbeLoopOptions {
  clock: Clock;
  timing: ProbeTiming;
  probe: Probe;
  /** Every probe's outcome while the loop runs (not after a pause or stop). */
  onOutcome: (outcome: ProbeOutcome) => void;
  /** Names the probe in its timeout message (`COMMAND check timed out after 20secs`). */
  name: string;
}

type LoopState = 'idle' | 'running' | 'paused' | 'stopped';

export class ProbeLoop {
  private state: LoopState = 'idle';
  private timer: TimerHandle | undefined;
  private inFlight: { controller: AbortController; timeout: TimerHandle | undefined } | undefined;
  /** Bumped by pause and stop, so the outcome of a probe they interrupted is dropped. */
  private generation = 0;
  private probesStarted = 0;

  constructor(private readonly options: ProbeLoopOptions) {}

  get running(): boolean {
    return this.state === 'running';
  }

  /** How many probes have been started (for tests and logs). */
  get probes(): number {
    return this.probesStarted;
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.schedule(this.options.timing.delayMs);
  }

  /** Stops probing (aborting a probe under way) until `resume`. */
  pause(): void {
    if (this.state !== 'running') return;
    this.state = 'paused';
    this.cancel();
  }

  /** Probing again, an interval from now (Mesos' resume). */
  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'running';
    this.schedule(this.options.timing.intervalMs);
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.cancel();
  }

  private schedule(ms: number): void {
    this.timer?.cancel();
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, ms);
  }

  private run(): void {
    if (this.state !== 'running') return;
    const generation = this.generation;
    const controller = new AbortController();
    const { timeoutMs } = this.options.timing;
    let settled = false;
    const settle = (outcome: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      timeout?.cancel();
      if (generation !== this.generation || this.state !== 'running') return;
      this.inFlight = undefined;
      this.options.onOutcome(outcome);
      // The handler may have paused or stopped the loop (a kill on a failed health check).
      if (this.state === 'running' && generation === this.generation) {
        this.schedule(this.options.timing.intervalMs);
      }
    };
    const timeout =
      timeoutMs > 0
        ? this.options.clock.setTimeout(() => {
            controller.abort();
            settle({
              kind: 'error',
              message: `${this.options.name} timed out after ${describeDuration(timeoutMs)}`,
            });
          }, timeoutMs)
        : undefined;
    this.inFlight = { controller, timeout };
    this.probesStarted += 1;
    let pending: Promise<ProbeOutcome>;
    try {
      pending = this.options.probe(controller.signal);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(settle, (err: unknown) =>
      settle({ kind: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
  }

  private cancel(): void {
    this.generation += 1;
    this.timer?.cancel();
    this.timer = undefined;
    const inFlight = this.inFlight;
    this.inFlight = undefined;
    if (inFlight !== undefined) {
      inFlight.timeout?.cancel();
      inFlight.controller.abort();
    }
  }
}

// --- health checks ------------------------------------------------------------------------------

/** What a HealthChecker tells its executor (Mesos' TaskHealthStatus). */
export interface HealthReport {
  healthy: boolean;
  /** Failures in a row so far; 0 on a healthy report. */
  consecutiveFailures: number;
  /** The failures reached `consecutive_failures`: the executor should kill the task. */
  killTask: boolean;
  /** Why the last probe failed; empty on a healthy report. */
  message: string;
}

/** A probe outcome read as a health check reads it; undefined when there is nothing to read. */
export function healthVerdict(
  outcome: ProbeOutcome,
): { healthy: true } | { healthy: false; why: string } | undefined {
  switch (outcome.kind) {
    case 'command':
      return outcome.exitCode === 0
        ? { healthy: true }
        : { healthy: false, why: `Command returned: exited with status ${outcome.exitCode}` };
    case 'http':
      return outcome.statusCode >= 200 && outcome.statusCode <= 399
        ? { healthy: true }
        : { healthy: false, why: `Unexpected HTTP response code: ${outcome.statusCode}` };
    case 'tcp':
      return outcome.succeeded ? { healthy: true } : { healthy: false, why: 'TCP connection failed' };
    case 'error':
      return { healthy: false, why: outcome.message };
    case 'unavailable':
      return undefined;
  }
}

export interface HealthCheckerOptions {
  clock: Clock;
  probe: Probe;
  onReport: (report: HealthReport) => void;
  logger?: Logger;
  /** For log lines. */
  taskId?: string;
}

export class HealthChecker {
  private readonly loop: ProbeLoop;
  private readonly clock: Clock;
  private startedAt = 0;
  /** No success yet: the grace period still applies. */
  private initializing = true;
  private failures = 0;

  constructor(
    readonly spec: HealthCheckSpec,
    private readonly options: HealthCheckerOptions,
  ) {
    this.clock = options.clock;
    this.loop = new ProbeLoop({
      clock: options.clock,
      timing: spec,
      probe: options.probe,
      name: `${spec.probe.kind.toUpperCase()} health check`,
      onOutcome: (outcome) => this.onOutcome(outcome),
    });
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  get running(): boolean {
    return this.loop.running;
  }

  /** Starts the clock of the grace period too: it runs from here, delay included. */
  start(): void {
    this.startedAt = this.clock.now();
    this.loop.start();
  }

  pause(): void {
    this.loop.pause();
  }

  resume(): void {
    this.loop.resume();
  }

  stop(): void {
    this.loop.stop();
  }

  private onOutcome(outcome: ProbeOutcome): void {
    const verdict = healthVerdict(outcome);
    const log = this.options.logger;
    if (verdict === undefined) {
      log?.info({ taskId: this.options.taskId, outcome }, 'health check: no result this time');
      return;
    }
    if (verdict.healthy) {
      log?.debug({ taskId: this.options.taskId }, 'health check passed');
      // Reported on the first success, and on the first after failures.
      if (this.initializing || this.failures > 0) {
        this.initializing = false;
        this.failures = 0;
        this.options.onReport({ healthy: true, consecutiveFailures: 0, killTask: false, message: '' });
      }
      return;
    }
    const elapsed = this.clock.now() - this.startedAt;
    if (this.initializing && this.spec.gracePeriodMs > 0 && elapsed <= this.spec.gracePeriodMs) {
      log?.info(
        { taskId: this.options.taskId, why: verdict.why },
        'health check failed; ignored: still in the grace period',
      );
      return;
    }
    this.failures += 1;
    const killTask = this.failures >= this.spec.consecutiveFailures;
    log?.warn(
      { taskId: this.options.taskId, why: verdict.why, consecutiveFailures: this.failures, killTask },
      'health check failed',
    );
    this.options.onReport({
      healthy: false,
      consecutiveFailures: this.failures,
      killTask,
      message: verdict.why,
    });
  }
}

// --- generalized checks -------------------------------------------------------------------------

/** The check status before any result, or after an error or a timeout: the type, no value. */
export function emptyCheckStatus(type: CheckSpec['type']): CheckStatusInfo {
  switch (type) {
    case CheckInfo_Type.COMMAND:
      return create(CheckStatusInfoSchema, { type, command: {} });
    case CheckInfo_Type.HTTP:
      return create(CheckStatusInfoSchema, { type, http: {} });
    case CheckInfo_Type.TCP:
      return create(CheckStatusInfoSchema, { type, tcp: {} });
  }
}

/** A probe outcome as a check reports it; undefined when there is nothing to report. */
export function checkStatusFromOutcome(
  type: CheckSpec['type'],
  outcome: ProbeOutcome,
): CheckStatusInfo | undefined {
  switch (outcome.kind) {
    case 'unavailable':
      return undefined;
    case 'command':
      if (type === CheckInfo_Type.COMMAND) {
        return create(CheckStatusInfoSchema, { type, command: { exitCode: outcome.exitCode } });
      }
      break;
    case 'http':
      if (type === CheckInfo_Type.HTTP) {
        return create(CheckStatusInfoSchema, { type, http: { statusCode: outcome.statusCode } });
      }
      break;
    case 'tcp':
      if (type === CheckInfo_Type.TCP) {
        return create(CheckStatusInfoSchema, { type, tcp: { succeeded: outcome.succeeded } });
      }
      break;
    default:
      break;
  }
  return emptyCheckStatus(type);
}

export interface CheckerOptions {
  clock: Clock;
  probe: Probe;
  onStatus: (status: CheckStatusInfo) => void;
  logger?: Logger;
  taskId?: string;
}

export class Checker {
  private readonly loop: ProbeLoop;
  private last: CheckStatusInfo;

  constructor(
    readonly spec: CheckSpec,
    private readonly options: CheckerOptions,
  ) {
    this.last = emptyCheckStatus(spec.type);
    this.loop = new ProbeLoop({
      clock: options.clock,
      timing: spec,
      probe: options.probe,
      name: `${CheckInfo_Type[spec.type]} check`,
      onOutcome: (outcome) => this.onOutcome(outcome),
    });
  }

  /** The last status reported (the empty one before any result). */
  get status(): CheckStatusInfo {
    return this.last;
  }

  get running(): boolean {
    return this.loop.running;
  }

  start(): void {
    this.loop.start();
  }

  pause(): void {
    this.loop.pause();
  }

  resume(): void {
    this.loop.resume();
  }

  stop(): void {
    this.loop.stop();
  }

  private onOutcome(outcome: ProbeOutcome): void {
    if (outcome.kind === 'error' || outcome.kind === 'unavailable') {
      this.options.logger?.info(
        { taskId: this.options.taskId, message: outcome.message },
        outcome.kind === 'error' ? 'check: no result (error or timeout)' : 'check: result not available',
      );
    }
    const status = checkStatusFromOutcome(this.spec.type, outcome);
    if (status === undefined || equals(CheckStatusInfoSchema, status, this.last)) return;
    this.last = status;
    this.options.onStatus(status);
  }
}
