/**
 * One task's health check and check, as Mesos' built-in executors wire them (mesos-internals
 * §4.10), shared by the command and the default executor. The executor gives it a way to build
 * probes, to send a TASK_RUNNING, and to kill the task; this decides what the updates carry:
 *
 * - A health report is a TASK_RUNNING with `healthy` and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
 *   a check result is a TASK_RUNNING with `check_status` and REASON_TASK_CHECK_STATUS_UPDATED.
 *   Each copies what the previous one said about the other (Mesos builds them from the last
 *   status), so a check update never hides the health and the other way round.
 * - Every update of a task that has a check carries `check_status` (the empty one of its type
 *   until a result comes): `checkStatus` is for the executor to attach.
 * - A report with `kill_task` is sent first, then the task is killed; the terminal update of that
 *   task carries `healthy: false` (`unhealthy`). Mesos gives no special reason: TASK_KILLED.
 * - While the task is being killed (the executor pauses the checks) or the agent is disconnected,
 *   results are dropped, as Mesos drops them.
 *
 * A health check or check that cannot be run (the agent did not validate it) is logged and left
 * out, as Mesos' executors do when they fail to create a checker; the task runs without it.
 */
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import { type CheckStatusInfo, type TaskInfo, TaskStatus_Reason } from '../../wire/gen/mesos/v1/mesos_pb.js';
import type { StatusDetails } from '../status.js';
import { Checker, emptyCheckStatus, HealthChecker, type HealthReport, type Probe } from './checker.js';
import { type ProbeSpec, parseCheck, parseHealthCheck } from './config.js';

export interface TaskChecksOptions {
  task: TaskInfo;
  clock: Clock;
  logger: Logger;
  /** Builds the probe for a health check's or a check's spec. */
  probeFor: (probe: ProbeSpec, purpose: 'health check' | 'check') => Probe;
  /** Whether the executor is subscribed: results found while it is not are dropped. */
  connected: () => boolean;
  /** Sends a TASK_RUNNING with these details. */
  sendRunning: (details: StatusDetails) => void;
  /** The health check failed `consecutive_failures` times: kill the task (by its kill policy). */
  kill: () => void;
}

export class TaskChecks {
  private readonly healthChecker: HealthChecker | undefined;
  private readonly checker: Checker | undefined;
  private lastHealthy: boolean | undefined;
  private lastCheckStatus: CheckStatusInfo | undefined;
  private killedUnhealthy = false;
  private active = false;

  constructor(private readonly options: TaskChecksOptions) {
    const { task, logger } = options;
    const taskId = task.taskId?.value ?? '';
    if (task.healthCheck !== undefined) {
      const parsed = parseHealthCheck(task.healthCheck);
      if (parsed.ok) {
        this.healthChecker = new HealthChecker(parsed.spec, {
          clock: options.clock,
          probe: options.probeFor(parsed.spec.probe, 'health check'),
          onReport: (report) => this.onHealthReport(report),
          logger,
          taskId,
        });
      } else {
        logger.error(
          { taskId, problem: parsed.message },
          'executor: cannot run the health check; ignoring it',
        );
      }
    }
    if (task.check !== undefined) {
      const parsed = parseCheck(task.check);
      if (parsed.ok) {
        this.lastCheckStatus = emptyCheckStatus(parsed.spec.type);
        this.checker = new Checker(parsed.spec, {
          clock: options.clock,
          probe: options.probeFor(parsed.spec.probe, 'check'),
          onStatus: (status) => this.onCheckStatus(status),
          logger,
          taskId,
        });
      } else {
        logger.error({ taskId, problem: parsed.message }, 'executor: cannot run the check; ignoring it');
      }
    }
  }

  /** Whether there is anything to run. */
  get any(): boolean {
    return this.healthChecker !== undefined || this.checker !== undefined;
  }

  /** The `check_status` every update of the task carries; undefined when it has no check. */
  get checkStatus(): CheckStatusInfo | undefined {
    return this.lastCheckStatus;
  }

  /** Whether the health check had the task killed: its terminal update says `healthy: false`. */
  get unhealthy(): boolean {
    return this.killedUnhealthy;
  }

  /** Once the task runs (after its TASK_RUNNING). */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.healthChecker?.start();
    this.checker?.start();
  }

  /** While the task is being killed or the agent is away. */
  pause(): void {
    this.active = false;
    this.healthChecker?.pause();
    this.checker?.pause();
  }

  resume(): void {
    this.active = true;
    this.healthChecker?.resume();
    this.checker?.resume();
  }

  stop(): void {
    this.active = false;
    this.healthChecker?.stop();
    this.checker?.stop();
  }

  private onHealthReport(report: HealthReport): void {
    const taskId = this.options.task.taskId?.value;
    if (!this.active) return;
    if (!this.options.connected()) {
      this.options.logger.info(
        { taskId, healthy: report.healthy },
        'executor: dropping a health result: not connected to the agent',
      );
      return;
    }
    this.lastHealthy = report.healthy;
    this.options.sendRunning(this.runningDetails(TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED));
    if (report.killTask) {
      this.options.logger.warn(
        { taskId, consecutiveFailures: report.consecutiveFailures, why: report.message },
        'executor: health check failed too many times in a row; killing the task',
      );
      this.killedUnhealthy = true;
      this.options.kill();
    }
  }

  private onCheckStatus(status: CheckStatusInfo): void {
    if (!this.active) return;
    if (!this.options.connected()) {
      this.options.logger.info(
        { taskId: this.options.task.taskId?.value },
        'executor: dropping a check result: not connected to the agent',
      );
      return;
    }
    this.lastCheckStatus = status;
    this.options.sendRunning(this.runningDetails(TaskStatus_Reason.TASK_CHECK_STATUS_UPDATED));
  }

  private runningDetails(reason: TaskStatus_Reason): StatusDetails {
    const details: StatusDetails = { reason };
    if (this.lastHealthy !== undefined) details.healthy = this.lastHealthy;
    if (this.lastCheckStatus !== undefined) details.checkStatus = this.lastCheckStatus;
    return details;
  }
}
