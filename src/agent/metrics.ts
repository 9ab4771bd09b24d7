/**
 * `/metrics/snapshot` on the agent and GET_METRICS (reference sections 5.3 and 4.3): the flat
 * `{"<key>": number}` object with Mesos' `slave/*` names. Gauges are read off the Agent's records
 * at snapshot time; counters (terminal task states, terminated executors, status updates, launch
 * errors) are kept here, fed by the AgentObserver hook and the executor API; so is the timer
 * `slave/status_update_round_trip_ms`. `/metrics` (Prometheus) is derived from this same snapshot
 * (src/metrics/exporter.ts).
 */
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import type { Clock } from '../common/clock.js';
import { jsonResponse } from '../http/responses.js';
import type { HttpServer } from '../http/server.js';
import { registerPrometheusEndpoint } from '../metrics/endpoint.js';
import { PrometheusExporter } from '../metrics/exporter.js';
import { LATENCY_BUCKETS, Timer } from '../metrics/timer.js';
import type { Resources } from '../resources/index.js';
import { Scalar } from '../resources/scalar.js';
import { TaskState, type TaskStatus, TaskStatus_Reason } from '../wire/gen/mesos/v1/mesos_pb.js';
import { formatDouble } from '../wire/json-text.js';
import type { Agent, ExecutorRecord } from './agent.js';
import { allocatedResources } from './endpoints.js';
import type { AgentObserver } from './observer.js';
import type { StatusUpdate } from './status-updates.js';

/** Gauges: tasks currently in the state. */
const CURRENT_STATES: ReadonlyArray<[TaskState, string]> = [
  [TaskState.TASK_STAGING, 'staging'],
  [TaskState.TASK_STARTING, 'starting'],
  [TaskState.TASK_RUNNING, 'running'],
  [TaskState.TASK_KILLING, 'killing'],
];

/** Counters: tasks that reached the (terminal) state on this agent since it started. */
const TERMINAL_STATES: ReadonlyArray<[TaskState, string]> = [
  [TaskState.TASK_FINISHED, 'finished'],
  [TaskState.TASK_FAILED, 'failed'],
  [TaskState.TASK_KILLED, 'killed'],
  [TaskState.TASK_LOST, 'lost'],
  [TaskState.TASK_GONE, 'gone'],
  [TaskState.TASK_GONE_BY_OPERATOR, 'gone_by_operator'],
];

/** The resources with `slave/<name>_total|_used|_percent` and `_revocable_` variants. */
const QUANTITIES = ['cpus', 'mem', 'disk', 'gpus'] as const;

/** Updates whose first forward time is kept, at most (the oldest go first; they are acked or lost). */
const MAX_UPDATES_IN_FLIGHT = 10_000;

export class AgentCounters implements AgentObserver {
  /** How many tasks reached each state (only the terminal ones are reported). */
  readonly tasksReached = new Map<TaskState, number>();
  validStatusUpdates = 0;
  invalidStatusUpdates = 0;
  executorsTerminated = 0;
  containerLaunchErrors = 0;
  /** From the first forward of a status update to the master's acknowledgement of it (Strata). */
  readonly statusUpdateRoundTrip = new Timer({
    key: 'slave/status_update_round_trip_ms',
    help: 'Time from the agent first forwarding a status update to the acknowledgement the master relays for it',
    buckets: LATENCY_BUCKETS,
  });
  /** uuid (hex) → stopwatch time of the first forward, for updates not yet acknowledged. */
  private readonly inFlight = new Map<string, number>();

  get timers(): readonly Timer[] {
    return [this.statusUpdateRoundTrip];
  }

  statusUpdateForwarded(update: StatusUpdate): void {
    const key = Buffer.from(update.status.uuid).toString('hex');
    if (this.inFlight.has(key)) return;
    if (this.inFlight.size >= MAX_UPDATES_IN_FLIGHT) {
      const oldest = this.inFlight.keys().next();
      if (!oldest.done) this.inFlight.delete(oldest.value);
    }
    this.inFlight.set(key, this.statusUpdateRoundTrip.now());
  }

  statusUpdateAcknowledged(update: StatusUpdate): void {
    const key = Buffer.from(update.status.uuid).toString('hex');
    const start = this.inFlight.get(key);
    if (start === undefined) return;
    this.inFlight.delete(key);
    this.statusUpdateRoundTrip.observeSince(start);
  }

  statusUpdate(status: TaskStatus, facts: { stateChanged: boolean; duplicate: boolean }): void {
    if (!facts.duplicate) this.validStatusUpdates++;
    if (facts.stateChanged)
      this.tasksReached.set(status.state, (this.tasksReached.get(status.state) ?? 0) + 1);
  }

  executorTerminated(executor: ExecutorRecord): void {
    this.executorsTerminated++;
    if (executor.pendingTermination?.reason === TaskStatus_Reason.CONTAINER_LAUNCH_FAILED) {
      this.containerLaunchErrors++;
    }
  }

  /** An executor's UPDATE the agent turned away (unknown framework or executor, malformed). */
  invalidStatusUpdate(): void {
    this.invalidStatusUpdates++;
  }
}

export interface MetricsContext {
  agent: Agent;
  counters: AgentCounters;
  clock: Clock;
  /** Whether the agent is registered with a master right now. */
  registered: () => boolean;
  /** The sandbox age the last disk check allowed (`--gc_delay` scaled by disk usage). */
  executorDirectoryMaxAllowedAgeMs: () => number;
}

interface Sums {
  /** name → thousandths */
  regular: Map<string, number>;
  revocable: Map<string, number>;
}

function sums(resources: Resources): Sums {
  const out: Sums = { regular: new Map(), revocable: new Map() };
  for (const item of resources) {
    if (!(item.value instanceof Scalar)) continue;
    const into = item.revocable ? out.revocable : out.regular;
    into.set(item.name, (into.get(item.name) ?? 0) + item.value.milli);
  }
  return out;
}

export function metricsSnapshot(context: MetricsContext): Record<string, number> {
  const { agent, counters } = context;
  const m: Record<string, number> = {};
  m['slave/uptime_secs'] = (context.clock.now() - agent.startTimeMs) / 1000;
  m['slave/registered'] = context.registered() ? 1 : 0;

  let frameworksActive = 0;
  const current: number[] = [];
  const executors = { registering: 0, running: 0, terminating: 0 };
  for (const framework of agent.frameworks.values()) {
    if (framework.phase === 'running') frameworksActive++;
    for (const executor of framework.executors.values()) {
      if (executor.phase !== 'terminated') executors[executor.phase]++;
      for (const entry of executor.tasks.values()) {
        if (entry.phase === 'terminated') continue;
        current[entry.task.state] = (current[entry.task.state] ?? 0) + 1;
      }
    }
  }
  m['slave/frameworks_active'] = frameworksActive;
  for (const [state, name] of CURRENT_STATES) m[`slave/tasks_${name}`] = current[state] ?? 0;
  for (const [state, name] of TERMINAL_STATES)
    m[`slave/tasks_${name}`] = counters.tasksReached.get(state) ?? 0;
  m['slave/executors_registering'] = executors.registering;
  m['slave/executors_running'] = executors.running;
  m['slave/executors_terminating'] = executors.terminating;
  m['slave/executors_terminated'] = counters.executorsTerminated;
  // Nothing preempts executors here: there is no QoS controller.
  m['slave/executors_preempted'] = 0;
  m['slave/valid_status_updates'] = counters.validStatusUpdates;
  m['slave/invalid_status_updates'] = counters.invalidStatusUpdates;
  m['slave/container_launch_errors'] = counters.containerLaunchErrors;
  m['slave/executor_directory_max_allowed_age_secs'] = context.executorDirectoryMaxAllowedAgeMs() / 1000;

  const total = sums(agent.totalResources);
  const used = sums(allocatedResources(agent));
  for (const name of QUANTITIES) {
    for (const [infix, totals, useds] of [
      ['', total.regular, used.regular],
      ['_revocable', total.revocable, used.revocable],
    ] as const) {
      const t = (totals.get(name) ?? 0) / 1000;
      const u = (useds.get(name) ?? 0) / 1000;
      m[`slave/${name}${infix}_total`] = t;
      m[`slave/${name}${infix}_used`] = u;
      m[`slave/${name}${infix}_percent`] = t > 0 ? u / t : 0;
    }
  }

  const load = loadavg();
  m['system/cpus_total'] = cpus().length;
  m['system/load_1min'] = load[0] ?? 0;
  m['system/load_5min'] = load[1] ?? 0;
  m['system/load_15min'] = load[2] ?? 0;
  m['system/mem_total_bytes'] = totalmem();
  m['system/mem_free_bytes'] = freemem();
  counters.statusUpdateRoundTrip.snapshotInto(m);
  return m;
}

/** The snapshot as Mesos writes it: keys sorted, every value a double (`1.0`). */
export function metricsText(metrics: Record<string, number>): string {
  const keys = Object.keys(metrics).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${formatDouble(metrics[key]!)}`).join(',')}}`;
}

/**
 * `/metrics/snapshot` (the libprocess `metrics` process; `?timeout=` is accepted and has nothing to
 * wait for) and `/metrics`, the same snapshot in the Prometheus text format with `timers` as histograms.
 */
export function registerMetricsEndpoint(
  http: HttpServer,
  snapshot: () => Record<string, number>,
  timers: readonly Timer[] = [],
): void {
  http.route('metrics', '/snapshot', (request) => jsonResponse(request.query, metricsText(snapshot())));
  registerPrometheusEndpoint(http, new PrometheusExporter({ snapshot, timers }));
}
