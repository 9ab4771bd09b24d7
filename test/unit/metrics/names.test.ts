/** The Mesos key → Prometheus name rule (src/metrics/names.ts) and the kind/HELP catalogue. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describe as describeKey, describeKnown } from '../../../src/metrics/catalog.js';
import { PROMETHEUS_NAME, prometheusName } from '../../../src/metrics/names.js';

describe('prometheusName', () => {
  it('gauges: mesos_ prefix, slashes become underscores, nothing appended', () => {
    assert.equal(prometheusName('master/tasks_running', 'gauge'), 'mesos_master_tasks_running');
    assert.equal(prometheusName('slave/cpus_used', 'gauge'), 'mesos_slave_cpus_used');
    assert.equal(prometheusName('system/load_1min', 'gauge'), 'mesos_system_load_1min');
  });

  it('counters end in _total', () => {
    assert.equal(prometheusName('master/tasks_finished', 'counter'), 'mesos_master_tasks_finished_total');
    assert.equal(
      prometheusName('master/messages_launch_tasks', 'counter'),
      'mesos_master_messages_launch_tasks_total',
    );
    assert.equal(
      prometheusName('allocator/mesos/allocation_runs', 'counter'),
      'mesos_allocator_mesos_allocation_runs_total',
    );
    // Never twice.
    assert.equal(prometheusName('x/events_total', 'counter'), 'mesos_x_events_total');
  });

  it('gauges keep a Mesos _total (capacity), so the key stays recognisable', () => {
    assert.equal(prometheusName('master/cpus_total', 'gauge'), 'mesos_master_cpus_total');
    assert.equal(prometheusName('system/mem_total_bytes', 'gauge'), 'mesos_system_mem_total_bytes');
  });

  it('units become base units: _secs → _seconds, a timer’s _ms → _seconds', () => {
    assert.equal(prometheusName('master/uptime_secs', 'gauge'), 'mesos_master_uptime_seconds');
    assert.equal(
      prometheusName('slave/executor_directory_max_allowed_age_secs', 'gauge'),
      'mesos_slave_executor_directory_max_allowed_age_seconds',
    );
    assert.equal(
      prometheusName('allocator/mesos/allocation_run_ms', 'histogram'),
      'mesos_allocator_mesos_allocation_run_seconds',
    );
    // `_ms` is only rewritten for timers, whose values are converted; a gauge keeps its unit.
    assert.equal(prometheusName('x/latency_ms', 'gauge'), 'mesos_x_latency_ms');
  });

  it('any character Prometheus does not allow becomes _', () => {
    const name = prometheusName('slave(1)/weird-key.name', 'gauge');
    assert.equal(name, 'mesos_slave_1__weird_key_name');
    assert.match(name, PROMETHEUS_NAME);
  });
});

describe('metric catalogue', () => {
  const counters = [
    'master/tasks_finished',
    'master/tasks_failed',
    'master/tasks_killed',
    'master/tasks_lost',
    'master/tasks_error',
    'master/tasks_dropped',
    'master/tasks_gone',
    'master/tasks_gone_by_operator',
    'slave/tasks_finished',
    'master/valid_status_updates',
    'slave/invalid_status_updates',
    'master/slave_registrations',
    'master/slave_reregistrations',
    'master/slave_unreachable_completed',
    'master/messages_status_update_acknowledgement',
    'slave/executors_terminated',
    'slave/executors_preempted',
    'slave/container_launch_errors',
    'allocator/mesos/allocation_runs',
  ];
  const gauges = [
    'master/elected',
    'master/uptime_secs',
    'slave/uptime_secs',
    'slave/registered',
    'master/tasks_running',
    'master/tasks_staging',
    'master/tasks_starting',
    'master/tasks_killing',
    'master/tasks_unreachable',
    'slave/tasks_running',
    'master/slaves_active',
    'master/slaves_unreachable',
    'master/frameworks_disconnected',
    'slave/frameworks_active',
    'master/outstanding_offers',
    'master/cpus_total',
    'master/mem_revocable_used',
    'slave/disk_percent',
    'slave/gpus_revocable_percent',
    'master/operator_event_stream_subscribers',
    'slave/executors_running',
    'slave/executor_directory_max_allowed_age_secs',
    'system/cpus_total',
    'system/load_15min',
    'system/mem_free_bytes',
  ];

  it('tells counters (only grow) from gauges (go up and down)', () => {
    for (const key of counters) assert.equal(describeKnown(key)?.kind, 'counter', key);
    for (const key of gauges) assert.equal(describeKnown(key)?.kind, 'gauge', key);
  });

  it('gives every known key a HELP line of its own', () => {
    for (const key of [...counters, ...gauges]) {
      const help = describeKnown(key)?.help ?? '';
      assert.ok(help.length > 10 && !help.includes('undefined') && !help.includes('\n'), `${key}: ${help}`);
    }
    assert.equal(describeKnown('master/tasks_running')?.help, 'Tasks in TASK_RUNNING now');
    assert.equal(describeKnown('slave/mem_total')?.help, 'Total memory (MB) on this agent');
    assert.equal(
      describeKnown('master/cpus_revocable_percent')?.help,
      'Allocated share of the revocable CPUs in the cluster, from 0 to 1',
    );
  });

  it('exports an unknown key as a gauge rather than dropping it', () => {
    assert.equal(describeKnown('master/something_new'), undefined);
    assert.deepEqual(describeKey('master/something_new'), {
      kind: 'gauge',
      help: 'Mesos metric master/something_new',
    });
  });
});
