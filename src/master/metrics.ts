/**
 * `/metrics/snapshot` for the master: the flat `{"<key>": number}` object of reference section
 * 5.3, with the Mesos key names tools poll. Only what the master can honestly compute is listed:
 * there is no libprocess event queue or registrar metric family here; of the allocator's, only
 * `allocator/mesos/allocation_run_ms` (a timer) and `allocation_runs`. `/metrics` (Prometheus) is
 * derived from this same snapshot (src/metrics/exporter.ts).
 *
 * Cost: one pass over agents (scalar sums, no resource arithmetic) and one paced pass over active
 * tasks (reading each task's state); used resources come from the master's ledger.
 */
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import type { Clock } from '../common/clock.js';
import type { Resources } from '../resources/resources.js';
import { Scalar } from '../resources/scalar.js';
import { TaskState } from '../wire/gen/mesos/v1/mesos_pb.js';
import { AgentToMaster_Type } from '../wire/gen/strata/internal/v1/link_pb.js';
import { Pacer } from './legacy-json.js';
import type { Master } from './master.js';

/** The resources with `master/<name>_total|_used|_percent` (and `_revocable_` variants). */
const QUANTITIES = ['cpus', 'mem', 'disk', 'gpus'] as const;

/** Gauges: tasks currently in the state. */
const CURRENT_STATES: ReadonlyArray<[TaskState, string]> = [
  [TaskState.TASK_STAGING, 'staging'],
  [TaskState.TASK_STARTING, 'starting'],
  [TaskState.TASK_RUNNING, 'running'],
  [TaskState.TASK_KILLING, 'killing'],
  [TaskState.TASK_UNREACHABLE, 'unreachable'],
];

/** Counters: tasks that have reached the (terminal) state since the master started. */
const TERMINAL_STATES: ReadonlyArray<[TaskState, string]> = [
  [TaskState.TASK_FINISHED, 'finished'],
  [TaskState.TASK_FAILED, 'failed'],
  [TaskState.TASK_KILLED, 'killed'],
  [TaskState.TASK_LOST, 'lost'],
  [TaskState.TASK_ERROR, 'error'],
  [TaskState.TASK_DROPPED, 'dropped'],
  [TaskState.TASK_GONE, 'gone'],
  [TaskState.TASK_GONE_BY_OPERATOR, 'gone_by_operator'],
];

/** Scheduler call type (as counted by scheduler-api.ts) → the Mesos message counter it feeds. */
const SCHEDULER_MESSAGES: Readonly<Record<string, string>> = {
  SUBSCRIBE: 'register_framework',
  TEARDOWN: 'unregister_framework',
  ACCEPT: 'launch_tasks',
  DECLINE: 'decline_offers',
  REVIVE: 'revive_offers',
  SUPPRESS: 'suppress_offers',
  KILL: 'kill_task',
  ACKNOWLEDGE: 'status_update_acknowledgement',
  ACKNOWLEDGE_OPERATION_STATUS: 'operation_status_update_acknowledgement',
  RECONCILE: 'reconcile_tasks',
  MESSAGE: 'framework_to_executor',
  REQUEST: 'resource_request',
};

/** Agent link message type → the Mesos message counter it feeds. */
const AGENT_MESSAGES: ReadonlyArray<[AgentToMaster_Type, string]> = [
  [AgentToMaster_Type.REGISTER, 'register_slave'],
  [AgentToMaster_Type.REREGISTER, 'reregister_slave'],
  [AgentToMaster_Type.UNREGISTER, 'unregister_slave'],
  [AgentToMaster_Type.STATUS_UPDATE, 'status_update'],
  [AgentToMaster_Type.EXECUTOR_EXITED, 'exited_executor'],
  [AgentToMaster_Type.EXECUTOR_TO_FRAMEWORK, 'executor_to_framework'],
];

interface QuantitySums {
  /** name → thousandths, non-revocable */
  regular: Map<string, number>;
  revocable: Map<string, number>;
}

function emptySums(): QuantitySums {
  return { regular: new Map(), revocable: new Map() };
}

function addScalars(sums: QuantitySums, resources: Resources): void {
  for (const item of resources) {
    if (!(item.value instanceof Scalar)) continue;
    const into = item.revocable ? sums.revocable : sums.regular;
    into.set(item.name, (into.get(item.name) ?? 0) + item.value.milli);
  }
}

/**
 * The snapshot. The walk over active tasks is paced (`pacer.breathe()`), so with 500,000 tasks it
 * shares the event loop instead of holding it for tens of milliseconds.
 */
export async function metricsSnapshot(
  master: Master,
  clock: Clock,
  pacer: Pacer = new Pacer(),
): Promise<Record<string, number>> {
  const metrics: Record<string, number> = {};
  metrics['master/elected'] = 1;
  metrics['master/uptime_secs'] = (clock.now() - master.startTime) / 1000;

  let agentsActive = 0;
  let agentsConnected = 0;
  let agentsRegistered = 0;
  let agentsUnreachable = 0;
  const total = emptySums();
  // Summed per agent: the cluster-wide sum of the ledger may need recomputing after a release.
  const used = emptySums();
  for (const agent of master.agents.values()) {
    if (agent.state === 'unreachable') {
      agentsUnreachable++;
      continue;
    }
    agentsRegistered++;
    if (agent.link) {
      agentsConnected++;
      agentsActive++;
    }
    addScalars(total, agent.total);
    addScalars(used, master.ledger.agentUsed(agent.id));
  }
  metrics['master/slaves_active'] = agentsActive;
  metrics['master/slaves_inactive'] = agentsRegistered - agentsActive;
  metrics['master/slaves_connected'] = agentsConnected;
  metrics['master/slaves_disconnected'] = agentsRegistered - agentsConnected;
  metrics['master/slaves_unreachable'] = agentsUnreachable;

  let frameworksActive = 0;
  let frameworksConnected = 0;
  // Indexed by TaskState (small integers): with 500,000 tasks this loop is the snapshot's cost.
  const current: number[] = [];
  for (const framework of master.frameworks.values()) {
    if (framework.active) frameworksActive++;
    if (framework.stream) frameworksConnected++;
    for (const record of framework.tasks.values()) {
      const state = record.task.state;
      current[state] = (current[state] ?? 0) + 1;
      const pause = pacer.breathe();
      if (pause) await pause;
    }
    for (const task of framework.unreachableTasks.values())
      current[task.state] = (current[task.state] ?? 0) + 1;
  }
  const frameworks = master.frameworks.size;
  metrics['master/frameworks_active'] = frameworksActive;
  metrics['master/frameworks_inactive'] = frameworks - frameworksActive;
  metrics['master/frameworks_connected'] = frameworksConnected;
  metrics['master/frameworks_disconnected'] = frameworks - frameworksConnected;

  for (const [state, name] of CURRENT_STATES) metrics[`master/tasks_${name}`] = current[state] ?? 0;
  for (const [state, name] of TERMINAL_STATES)
    metrics[`master/tasks_${name}`] = master.counters.tasksByState.get(state) ?? 0;

  metrics['master/outstanding_offers'] = master.offers.size;

  for (const name of QUANTITIES) {
    for (const [infix, totals, useds] of [
      ['', total.regular, used.regular],
      ['_revocable', total.revocable, used.revocable],
    ] as const) {
      const t = (totals.get(name) ?? 0) / 1000;
      const u = (useds.get(name) ?? 0) / 1000;
      metrics[`master/${name}${infix}_total`] = t;
      metrics[`master/${name}${infix}_used`] = u;
      metrics[`master/${name}${infix}_percent`] = t > 0 ? u / t : 0;
    }
  }

  const counters = master.counters;
  metrics['master/valid_status_updates'] = counters.validStatusUpdates;
  metrics['master/invalid_status_updates'] = counters.invalidStatusUpdates;
  metrics['master/slave_registrations'] = counters.agentsRegistered;
  metrics['master/slave_reregistrations'] = counters.agentsReregistered;
  metrics['master/slave_unreachable_completed'] = counters.agentsUnreachable;
  for (const name of Object.values(SCHEDULER_MESSAGES)) metrics[`master/messages_${name}`] = 0;
  for (const [call, count] of counters.schedulerCalls) {
    const name = SCHEDULER_MESSAGES[call];
    if (name !== undefined) metrics[`master/messages_${name}`] = count;
  }
  for (const [type, name] of AGENT_MESSAGES)
    metrics[`master/messages_${name}`] = counters.agentMessagesByType.get(type) ?? 0;
  metrics['master/operator_event_stream_subscribers'] = master.events.operatorSubscribers;

  const load = loadavg();
  metrics['system/cpus_total'] = cpus().length;
  metrics['system/load_1min'] = load[0] ?? 0;
  metrics['system/load_5min'] = load[1] ?? 0;
  metrics['system/load_15min'] = load[2] ?? 0;
  metrics['system/mem_total_bytes'] = totalmem();
  metrics['system/mem_free_bytes'] = freemem();
  // Timers (allocation cycle, offer to launch, status-update round trip): timers.ts.
  master.timers.snapshotInto(metrics);
  return metrics;
}
