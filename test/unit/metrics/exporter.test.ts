/**
 * PrometheusExporter (src/metrics/exporter.ts): the exposition is derived from the snapshot it is
 * given and from the timers' histograms, and is checked with a parser (test/support/prometheus.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PrometheusExporter } from '../../../src/metrics/exporter.js';
import { LATENCY_BUCKETS, Timer } from '../../../src/metrics/timer.js';
import { Exposition } from '../../support/prometheus.js';

function timer(key: string): Timer {
  return new Timer({ key, help: `help of ${key}`, buckets: LATENCY_BUCKETS });
}

describe('PrometheusExporter', () => {
  it('exposes every snapshot key with its kind, HELP and value', async () => {
    const snapshot: Record<string, number> = {
      'master/tasks_running': 3,
      'master/tasks_finished': 7,
      'master/uptime_secs': 12.5,
      'master/cpus_percent': 0.25,
      'master/brand_new_metric': 1,
    };
    const exporter = new PrometheusExporter({ snapshot: () => snapshot, timers: [], processMetrics: false });
    assert.equal(exporter.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    const exposition = new Exposition(await exporter.render());
    assert.deepEqual([...exposition.families.keys()].sort(), [
      'mesos_master_brand_new_metric',
      'mesos_master_cpus_percent',
      'mesos_master_tasks_finished_total',
      'mesos_master_tasks_running',
      'mesos_master_uptime_seconds',
    ]);
    assert.equal(exposition.family('mesos_master_tasks_finished_total').kind, 'counter');
    assert.equal(exposition.family('mesos_master_tasks_running').kind, 'gauge');
    assert.equal(exposition.family('mesos_master_tasks_running').help, 'Tasks in TASK_RUNNING now');
    assert.equal(exposition.value('mesos_master_tasks_running'), 3);
    assert.equal(exposition.value('mesos_master_tasks_finished_total'), 7);
    assert.equal(exposition.value('mesos_master_uptime_seconds'), 12.5);
    assert.equal(exposition.value('mesos_master_cpus_percent'), 0.25);
  });

  it('follows the snapshot from scrape to scrape: counters move, gauges go down, vanished keys go', async () => {
    let snapshot: Record<string, number> = {
      'master/tasks_running': 3,
      'master/tasks_finished': 7,
      'master/outstanding_offers': 1,
    };
    const exporter = new PrometheusExporter({
      snapshot: async () => snapshot,
      timers: [],
      processMetrics: false,
    });
    await exporter.render();
    snapshot = { 'master/tasks_running': 1, 'master/tasks_finished': 9 };
    const exposition = new Exposition(await exporter.render());
    assert.equal(exposition.value('mesos_master_tasks_running'), 1);
    assert.equal(exposition.value('mesos_master_tasks_finished_total'), 9);
    assert.ok(!exposition.families.has('mesos_master_outstanding_offers'));
    snapshot = { 'master/outstanding_offers': 4 };
    assert.equal(new Exposition(await exporter.render()).value('mesos_master_outstanding_offers'), 4);
  });

  it('shows timers as histograms, not as their snapshot keys', async () => {
    const run = timer('allocator/mesos/allocation_run_ms');
    for (const ms of [0.5, 3, 40, 40, 2000]) run.observe(ms);
    const snapshot: Record<string, number> = { 'allocator/mesos/allocation_runs': run.count };
    run.snapshotInto(snapshot);
    assert.ok('allocator/mesos/allocation_run_ms/p99' in snapshot);
    const exporter = new PrometheusExporter({
      snapshot: () => snapshot,
      timers: [run],
      processMetrics: false,
    });
    const exposition = new Exposition(await exporter.render());
    assert.deepEqual([...exposition.families.keys()].sort(), [
      'mesos_allocator_mesos_allocation_run_seconds',
      'mesos_allocator_mesos_allocation_runs_total',
    ]);
    const histogram = exposition.histogram('mesos_allocator_mesos_allocation_run_seconds');
    assert.equal(histogram.count, 5);
    assert.equal(histogram.count, snapshot['allocator/mesos/allocation_run_ms/count']);
    assert.equal(exposition.value('mesos_allocator_mesos_allocation_runs_total'), 5);
    assert.ok(Math.abs(histogram.sum - 2.0835) < 1e-9);
    const at = (bound: number) => histogram.buckets.find(([le]) => le === bound)?.[1];
    assert.equal(at(0.001), 1);
    assert.equal(at(0.005), 2);
    assert.equal(at(0.05), 4);
    assert.equal(at(2.5), 5);
  });

  it('never gives two keys one name, nor a key the name of a histogram sample', async () => {
    const run = timer('x/run_ms');
    const snapshot = { 'x/a-b': 1, 'x/a_b': 2, 'x/run_seconds_count': 5 };
    const exporter = new PrometheusExporter({
      snapshot: () => snapshot,
      timers: [run],
      processMetrics: false,
    });
    const exposition = new Exposition(await exporter.render());
    assert.equal(exposition.value('mesos_x_a_b'), 1, 'the first key in sorted order keeps the name');
    assert.equal(exposition.histogram('mesos_x_run_seconds').count, 0);
  });

  it('renders concurrent scrapes one after another, each from its own snapshot', async () => {
    let calls = 0;
    const exporter = new PrometheusExporter({
      snapshot: async () => {
        const n = ++calls;
        await new Promise((resolve) => setTimeout(resolve, n === 1 ? 30 : 0));
        return { 'master/tasks_running': n };
      },
      timers: [],
      processMetrics: false,
    });
    const [first, second] = await Promise.all([exporter.render(), exporter.render()]);
    assert.equal(new Exposition(first).value('mesos_master_tasks_running'), 1);
    assert.equal(new Exposition(second).value('mesos_master_tasks_running'), 2);
  });

  it('appends the process metrics (process_*, nodejs_*) and stays parseable', async () => {
    const exporter = new PrometheusExporter({ snapshot: () => ({ 'master/elected': 1 }), timers: [] });
    const exposition = new Exposition(await exporter.render());
    assert.equal(exposition.value('mesos_master_elected'), 1);
    assert.equal(exposition.family('process_cpu_seconds_total').kind, 'counter');
    assert.ok(exposition.value('process_resident_memory_bytes') > 0);
    assert.equal(exposition.family('nodejs_eventloop_lag_seconds').kind, 'gauge');
  });

  it('the strict reader refuses what a scraper would refuse', () => {
    assert.throws(() => new Exposition('# TYPE a counter\nb 1\n'), /inside family a/);
    assert.throws(() => new Exposition('a 1\n'), /before any # TYPE/);
    assert.throws(() => new Exposition('# TYPE a gauge\na one\n'));
    assert.throws(() => new Exposition('# TYPE a gauge\n# TYPE a gauge\na 1\n'), /declared twice/);
    const broken = [
      '# TYPE h histogram',
      'h_bucket{le="0.1"} 3',
      'h_bucket{le="1"} 2',
      'h_bucket{le="+Inf"} 3',
      'h_sum 1',
      'h_count 3',
      '',
    ].join('\n');
    assert.throws(() => new Exposition(broken).histogram('h'), /cumulative/);
    const short = [
      '# TYPE h histogram',
      'h_bucket{le="1"} 2',
      'h_bucket{le="+Inf"} 2',
      'h_sum 1',
      'h_count 3',
      '',
    ];
    assert.throws(() => new Exposition(short.join('\n')).histogram('h'), /equals _count/);
  });
});
