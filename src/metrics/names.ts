/**
 * Mesos metric keys → Prometheus metric names. One mechanical rule, so that anyone who knows a
 * `/metrics/snapshot` key can write down its Prometheus name without a table:
 *
 * 1. prefix `mesos_` (the family the Mesos Prometheus exporters use; the keys are Mesos' own);
 * 2. `/` and every other character outside `[a-zA-Z0-9_]` become `_`;
 * 3. units in the name become base units: `_secs` → `_seconds`; a timer's `_ms` → `_seconds`
 *    (its histogram observes seconds);
 * 4. counters end in `_total` (Prometheus convention).
 *
 * `master/tasks_running` → `mesos_master_tasks_running` (gauge), `master/tasks_finished` →
 * `mesos_master_tasks_finished_total` (counter), `master/uptime_secs` →
 * `mesos_master_uptime_seconds`, `allocator/mesos/allocation_run_ms` →
 * `mesos_allocator_mesos_allocation_run_seconds` (histogram). Gauges keep Mesos' `_total` where
 * the key has it (`mesos_master_cpus_total` is the cluster's CPU capacity), so the key stays
 * recognisable; `promtool check metrics` warns about those names, knowingly.
 */

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export const PROMETHEUS_PREFIX = 'mesos_';

/** What Prometheus accepts as a metric name. */
export const PROMETHEUS_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export function prometheusName(key: string, kind: MetricKind): string {
  let name = PROMETHEUS_PREFIX + key.replace(/[^a-zA-Z0-9_]/g, '_');
  if (kind === 'histogram') {
    if (name.endsWith('_ms')) name = `${name.slice(0, -3)}_seconds`;
  } else if (name.endsWith('_secs')) {
    name = `${name.slice(0, -5)}_seconds`;
  }
  if (kind === 'counter' && !name.endsWith('_total')) name += '_total';
  return name;
}
