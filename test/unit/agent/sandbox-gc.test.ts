/**
 * Sandbox garbage collection: Mesos' age formula, the schedule (due, prune window), and the
 * collector on a ManualClock with fake disk usage, mtimes and deletion.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { ExecutorRecord, FrameworkRecord } from '../../../src/agent/agent.js';
import { GcSchedule, maxAllowedAgeMs, SandboxGc } from '../../../src/agent/sandbox-gc.js';
import { ManualClock } from '../../../src/common/clock.js';

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
const silent = pino({ level: 'silent' });

/** Lets queued promise continuations (scheduling, collection) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('GC policy', () => {
  it('scales the allowed age by the free disk above the headroom', () => {
    assert.equal(maxAllowedAgeMs(WEEK, 0.1, 0), 0.9 * WEEK);
    assert.equal(maxAllowedAgeMs(WEEK, 0.1, 0.5), WEEK * 0.4);
    assert.equal(maxAllowedAgeMs(WEEK, 0.1, 0.9), 0);
    assert.equal(maxAllowedAgeMs(WEEK, 0.1, 0.97), 0);
    assert.equal(maxAllowedAgeMs(WEEK, 0, 0), WEEK);
    assert.equal(maxAllowedAgeMs(1000, 1, 0), 0);
  });

  it('finds what is due and what falls within a prune window, deepest first', () => {
    const schedule = new GcSchedule();
    schedule.schedule('/w/a', 100);
    schedule.schedule('/w/a/runs/r1', 100);
    schedule.schedule('/w/b', 500);
    assert.deepEqual(schedule.due(99), []);
    assert.deepEqual(schedule.due(100), ['/w/a/runs/r1', '/w/a']);
    assert.deepEqual(schedule.within(0, 499), ['/w/a/runs/r1', '/w/a']);
    assert.deepEqual(schedule.within(0, 500), ['/w/a/runs/r1', '/w/a', '/w/b']);
    assert.equal(schedule.next(), 100);
    schedule.schedule('/w/a', 50);
    assert.equal(schedule.next(), 50);
    assert.ok(schedule.unschedule('/w/a'));
    assert.ok(!schedule.unschedule('/w/a'));
    assert.equal(schedule.size, 2);
  });
});

interface Harness {
  clock: ManualClock;
  gc: SandboxGc;
  removed: string[];
  live: string[];
  usage: { value: number };
  mtimes: Map<string, number>;
}

function harness(options: { gcDelayMs?: number; headroom?: number } = {}): Harness {
  const clock = new ManualClock(1_700_000_000_000);
  const removed: string[] = [];
  const live: string[] = [];
  const usage = { value: 0.2 };
  const mtimes = new Map<string, number>();
  const gc = new SandboxGc({
    clock,
    log: silent,
    workDir: '/w',
    gcDelayMs: options.gcDelayMs ?? WEEK,
    headroom: options.headroom ?? 0.1,
    diskWatchIntervalMs: 60_000,
    liveSandboxes: () => live,
    diskUsage: async () => usage.value,
    remove: async (path) => {
      removed.push(path);
    },
    mtimeMs: async (path) => mtimes.get(path),
  });
  return { clock, gc, removed, live, usage, mtimes };
}

const RUN = '/w/slaves/S0/frameworks/F/executors/E/runs/C1';

function records(
  runDirectory = RUN,
  liveExecutors = 0,
): { framework: FrameworkRecord; executor: ExecutorRecord } {
  const executor = { id: 'E', frameworkId: 'F', directory: runDirectory } as ExecutorRecord;
  const executors = new Map<string, ExecutorRecord>();
  for (let i = 0; i < liveExecutors; i++) executors.set(`other-${i}`, executor);
  const framework = { id: 'F', executors } as FrameworkRecord;
  return { framework, executor };
}

describe('SandboxGc', () => {
  it('deletes a completed run gc_delay after its last modification, with its meta twin', async () => {
    const h = harness();
    h.mtimes.set(RUN, h.clock.now() - HOUR);
    await h.gc.scheduleDirectory(RUN);
    assert.equal(h.gc.schedule.removeAt(RUN), h.clock.now() - HOUR + WEEK);
    assert.ok(h.gc.schedule.has('/w/meta/slaves/S0/frameworks/F/executors/E/runs/C1'));
    h.clock.advance(WEEK - HOUR - 1000);
    await settle();
    assert.equal(h.removed.length, 0);
    h.clock.advance(1000);
    await settle();
    assert.deepEqual(h.removed.sort(), [RUN, '/w/meta/slaves/S0/frameworks/F/executors/E/runs/C1'].sort());
    assert.equal(h.gc.schedule.size, 0);
  });

  it('schedules the executor and framework directories once nothing of theirs is left', async () => {
    const h = harness();
    const { framework, executor } = records();
    h.gc.executorRemoved(framework, executor);
    await settle();
    for (const path of [
      RUN,
      '/w/slaves/S0/frameworks/F/executors/E',
      '/w/slaves/S0/frameworks/F',
      '/w/meta/slaves/S0/frameworks/F',
    ]) {
      assert.ok(h.gc.schedule.has(path), path);
    }
    const busy = harness();
    const other = records(RUN, 1);
    busy.gc.executorRemoved(other.framework, other.executor);
    await settle();
    assert.ok(busy.gc.schedule.has(RUN));
    assert.ok(!busy.gc.schedule.has('/w/slaves/S0/frameworks/F'));
  });

  it('prunes early when the disk fills: everything older than the allowed age goes', async () => {
    const h = harness();
    const old = '/w/slaves/S0/frameworks/F/executors/E/runs/OLD';
    const fresh = '/w/slaves/S0/frameworks/F/executors/E/runs/NEW';
    h.mtimes.set(old, h.clock.now() - 3 * 24 * HOUR);
    h.mtimes.set(fresh, h.clock.now() - HOUR);
    await h.gc.scheduleDirectory(old);
    await h.gc.scheduleDirectory(fresh);

    // 20% used: allowed age 0.7 weeks (4.9 days); neither is that old. Starting checks at once.
    h.gc.start();
    await settle();
    assert.equal(h.gc.maxAllowedAgeMs, WEEK * 0.7);
    assert.equal(h.removed.length, 0);

    // 60% used: allowed age 0.3 weeks (about 2.1 days): the 3-day-old run goes.
    h.usage.value = 0.6;
    h.clock.advance(60_000);
    await settle();
    assert.ok(Math.abs(h.gc.maxAllowedAgeMs - WEEK * 0.3) < 1e-6);
    assert.ok(h.removed.includes(old));
    assert.ok(!h.removed.includes(fresh));

    // Full disk: the allowed age is zero and everything scheduled goes.
    h.usage.value = 0.95;
    h.clock.advance(60_000);
    await settle();
    assert.equal(h.gc.maxAllowedAgeMs, 0);
    assert.ok(h.removed.includes(fresh));
    h.gc.stop();
  });

  it('leaves a directory alone when a live sandbox is inside it again (reuse)', async () => {
    const h = harness();
    const executorDir = '/w/slaves/S0/frameworks/F/executors/E';
    h.mtimes.set(executorDir, h.clock.now());
    await h.gc.scheduleDirectory(executorDir);
    h.live.push(`${executorDir}/runs/C2`);
    h.clock.advance(WEEK);
    await settle();
    assert.ok(!h.removed.includes(executorDir));
    assert.ok(!h.gc.schedule.has(executorDir));
    // A sibling whose name merely starts the same way is not "inside".
    const sibling = '/w/slaves/S0/frameworks/F/executors/E2';
    h.mtimes.set(sibling, h.clock.now());
    await h.gc.scheduleDirectory(sibling);
    h.clock.advance(WEEK);
    await settle();
    assert.ok(h.removed.includes(sibling));
  });

  it('never schedules anything outside <work_dir>/slaves, nor runs of ids that are no path component', async () => {
    const h = harness();
    for (const path of ['/etc', '/w', '/w/slaves', '/w/slaves/../etc', '/w/slavesX/a', '/w/meta/slaves/x']) {
      await h.gc.scheduleDirectory(path);
      assert.ok(!h.gc.schedule.has(path), path);
    }
    assert.equal(h.gc.schedule.size, 0);
    const bad = records('/w/slaves/S0/frameworks/F/executors/../../../../../etc/runs/C1');
    bad.executor.id = '../../..';
    h.gc.executorRemoved(bad.framework, bad.executor);
    await settle();
    assert.equal(h.gc.schedule.size, 0);
  });

  it('keeps going when a deletion fails', async () => {
    const clock = new ManualClock();
    const attempts: string[] = [];
    const gc = new SandboxGc({
      clock,
      log: silent,
      workDir: '/w',
      gcDelayMs: 1000,
      headroom: 0.1,
      diskWatchIntervalMs: 60_000,
      liveSandboxes: () => [],
      diskUsage: async () => 0,
      remove: async (path) => {
        attempts.push(path);
        if (path === '/w/slaves/a') throw new Error('EBUSY');
      },
      mtimeMs: async () => clock.now(),
    });
    await gc.scheduleDirectory('/w/slaves/a');
    await gc.scheduleDirectory('/w/slaves/b');
    clock.advance(1000);
    await settle();
    assert.deepEqual(attempts.sort(), ['/w/meta/slaves/a', '/w/meta/slaves/b', '/w/slaves/a', '/w/slaves/b']);
    assert.equal(gc.schedule.size, 0);
  });

  it('uses now as the age origin when the directory cannot be stat-ed, and tolerates disk errors', async () => {
    const h = harness({ gcDelayMs: 5000 });
    await h.gc.scheduleDirectory('/w/slaves/gone');
    assert.equal(h.gc.schedule.removeAt('/w/slaves/gone'), h.clock.now() + 5000);
    const broken = new SandboxGc({
      clock: h.clock,
      log: silent,
      workDir: '/w',
      gcDelayMs: 5000,
      headroom: 0.1,
      diskWatchIntervalMs: 1000,
      liveSandboxes: () => [],
      diskUsage: async () => {
        throw new Error('statfs failed');
      },
    });
    await broken.checkDiskUsage();
    assert.equal(broken.maxAllowedAgeMs, 5000);
  });
});
