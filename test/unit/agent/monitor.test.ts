/**
 * `/monitor/statistics` building blocks: /proc/<pid>/stat parsing (names with spaces and
 * parentheses), which processes make up a container, and how their usage adds up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cgroupStatistics,
  containerMembers,
  type ProcStat,
  parseProcStat,
  sumUsage,
} from '../../../src/agent/monitor.js';

function stat(pid: number, ppid: number, session: number, extra: Partial<ProcStat> = {}): ProcStat {
  return { pid, ppid, session, utime: 0, stime: 0, cutime: 0, cstime: 0, threads: 1, rss: 0, ...extra };
}

describe('monitor', () => {
  it('parses /proc/<pid>/stat after the last parenthesis', () => {
    const line =
      '4242 (my (odd) name) S 4200 4242 4242 0 -1 4194560 500 0 0 0 150 30 7 3 20 0 3 0 123456 10000000 2560 ' +
      '18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 2 0 0 0 0 0';
    assert.deepEqual(parseProcStat(line), {
      pid: 4242,
      ppid: 4200,
      session: 4242,
      utime: 150,
      stime: 30,
      cutime: 7,
      cstime: 3,
      threads: 3,
      rss: 2560,
    });
    assert.equal(parseProcStat('garbage'), undefined);
  });

  it('takes the tree below the roots and everything in their sessions', () => {
    const table = new Map(
      [
        stat(1, 0, 1),
        stat(100, 1, 100), // the executor, its own session
        stat(101, 100, 100), // its child
        stat(102, 101, 102), // a grandchild that started its own session
        stat(103, 1, 100), // reparented to init, still in the executor's session
        stat(200, 1, 200), // a nested container, its own session
        stat(201, 200, 200),
        stat(300, 1, 300), // someone else
      ].map((p) => [p.pid, p]),
    );
    assert.deepEqual(
      [...containerMembers([100], table)].sort((a, b) => a - b),
      [100, 101, 102, 103],
    );
    assert.deepEqual(
      [...containerMembers([100, 200], table)].sort((a, b) => a - b),
      [100, 101, 102, 103, 200, 201],
    );
    assert.deepEqual([...containerMembers([999], table)], []);
  });

  it('adds CPU time (reaped children included) and RSS over the members', () => {
    const table = new Map(
      [
        stat(100, 1, 100, { utime: 100, stime: 50, cutime: 20, cstime: 10, threads: 2, rss: 10 }),
        stat(101, 100, 100, { utime: 300, stime: 0, threads: 5, rss: 30 }),
      ].map((p) => [p.pid, p]),
    );
    assert.deepEqual(sumUsage([100, 101, 555], table, 100, 4096), {
      processes: 2,
      threads: 7,
      cpusUserTimeSecs: 4.2,
      cpusSystemTimeSecs: 0.6,
      memRssBytes: 40 * 4096,
    });
  });

  it('cgroup usage becomes ResourceStatistics fields; what the cgroups do not tell is left out', () => {
    assert.deepEqual(
      cgroupStatistics({
        processes: 3,
        cpusUserTimeSecs: 1.5,
        cpusNrPeriods: 10,
        cpusThrottledTimeSecs: 0.25,
        memRssBytes: 41943040,
        memLimitBytes: 301989888,
        memCacheBytes: Number.NaN,
      }),
      {
        processes: 3,
        cpusUserTimeSecs: 1.5,
        cpusNrPeriods: 10,
        cpusThrottledTimeSecs: 0.25,
        memRssBytes: 41943040n,
        memLimitBytes: 301989888n,
      },
    );
  });
});
