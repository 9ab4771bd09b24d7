/** Timer (src/metrics/timer.ts): libprocess' snapshot keys and the Prometheus histogram, from one observe(). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { COMPUTE_BUCKETS, percentile, TIMER_STATISTICS, Timer } from '../../../src/metrics/timer.js';
import { Exposition } from '../../support/prometheus.js';

function stopwatch(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let current = start;
  return { now: () => current, advance: (ms) => (current += ms) };
}

describe('percentile (stout Statistics::percentile)', () => {
  it('interpolates linearly between the closest ranks', () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(sorted, 0.5), 5.5);
    assert.equal(percentile(sorted, 0.9), 9.1);
    assert.ok(Math.abs(percentile(sorted, 0.99) - 9.91) < 1e-9);
    assert.equal(percentile([7], 0.5), 7);
    assert.equal(percentile([1, 3], 0.5), 2);
  });
});

describe('Timer', () => {
  it('writes nothing before the first value, the latest value after it, statistics from two values on', () => {
    const clock = stopwatch();
    const timer = new Timer({ key: 'x/run_ms', help: 'h', buckets: COMPUTE_BUCKETS, now: clock.now });
    const out: Record<string, number> = {};
    timer.snapshotInto(out);
    assert.deepEqual(out, {});

    timer.observe(4);
    timer.snapshotInto(out);
    assert.deepEqual(out, { 'x/run_ms': 4 });

    timer.observe(2);
    timer.observe(9);
    const full: Record<string, number> = {};
    timer.snapshotInto(full);
    assert.deepEqual(
      Object.keys(full).sort(),
      ['x/run_ms', ...TIMER_STATISTICS.map((s) => `x/run_ms/${s}`)].sort(),
    );
    assert.equal(full['x/run_ms'], 9, 'the value is the latest, as a libprocess Timer');
    assert.equal(full['x/run_ms/count'], 3);
    assert.equal(full['x/run_ms/min'], 2);
    assert.equal(full['x/run_ms/max'], 9);
    assert.equal(full['x/run_ms/p50'], 4);
    assert.equal(timer.count, 3);
  });

  it('measures with its stopwatch, not the wall clock', () => {
    const clock = stopwatch();
    const timer = new Timer({ key: 'x/run_ms', help: 'h', buckets: COMPUTE_BUCKETS, now: clock.now });
    const start = timer.now();
    clock.advance(12.5);
    timer.observeSince(start);
    const out: Record<string, number> = {};
    timer.snapshotInto(out);
    assert.equal(out['x/run_ms'], 12.5);
  });

  it('keeps statistics over its window and capacity, the histogram over the whole run', async () => {
    const clock = stopwatch();
    const timer = new Timer({
      key: 'x/run_ms',
      help: 'h',
      buckets: [0.001, 0.01],
      now: clock.now,
      windowMs: 1000,
      capacity: 3,
    });
    for (const ms of [100, 100, 100]) timer.observe(ms);
    clock.advance(2000); // the three go out of the window
    timer.observe(1);
    timer.observe(2);
    const out: Record<string, number> = {};
    timer.snapshotInto(out);
    assert.equal(out['x/run_ms/count'], 2);
    assert.equal(out['x/run_ms/max'], 2);
    for (const ms of [3, 4, 5]) timer.observe(ms); // capacity 3: 1 and 2 are overwritten
    const later: Record<string, number> = {};
    timer.snapshotInto(later);
    assert.equal(later['x/run_ms/count'], 3);
    assert.equal(later['x/run_ms/min'], 3);

    const registry = new Registry();
    registry.registerMetric(timer.histogram);
    const exposition = new Exposition(await registry.metrics());
    const histogram = exposition.histogram('mesos_x_run_seconds');
    assert.equal(histogram.count, 8, 'every observation since the start');
    assert.equal(timer.count, 8);
    assert.deepEqual(histogram.buckets, [
      [0.001, 1], // 1 ms
      [0.01, 5], // 1..5 ms
      [Infinity, 8], // and the three 100 ms
    ]);
    assert.ok(Math.abs(histogram.sum - 0.315) < 1e-9, 'the sum is in seconds');
  });

  it('knows its own snapshot keys and refuses a key without a unit', () => {
    const timer = new Timer({ key: 'a/b_ms', help: 'h', buckets: COMPUTE_BUCKETS });
    assert.ok(timer.owns('a/b_ms'));
    assert.ok(timer.owns('a/b_ms/p99'));
    assert.ok(!timer.owns('a/b_ms_other'));
    assert.ok(!timer.owns('a/b'));
    assert.throws(() => new Timer({ key: 'a/b', help: 'h', buckets: COMPUTE_BUCKETS }), RangeError);
  });
});
