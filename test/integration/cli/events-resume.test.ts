/**
 * `strata events` resumes after a dropped connection without losing or repeating an event. The
 * master runs with `--max_operator_event_stream_subscribers=1`, so another subscriber makes it
 * close the CLI's stream (O31); while the CLI is away a framework subscribes, and the resumed
 * stream must replay exactly that (the Strata resume extension, docs/operator-api.md).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { eventually } from '../../support/eventually.js';
import { OperatorStream } from '../../support/operator-client.js';
import { REPO_ROOT, STRATA_BIN, startMasterProcess } from '../../support/processes.js';
import { TestScheduler } from '../../support/scheduler-client.js';

interface JsonEvent {
  type: string;
  strata_offset?: number;
  framework_added?: { framework?: { framework_info?: { name?: string } } };
}

describe('strata events across a dropped connection', { timeout: 60_000 }, () => {
  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('resumes after the last offset it saw: the missed event arrives once, offsets never repeat', async () => {
    const master = await startMasterProcess([
      '--max_operator_event_stream_subscribers=1',
      '--logging_level=warn',
    ]);
    cleanups.push(() => master.process.stop());

    let stdout = '';
    let stderr = '';
    const child = spawn(process.execPath, [STRATA_BIN, 'events', '--json', '--master', master.url], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => child.kill('SIGKILL'));
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const events = () =>
      stdout
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as JsonEvent);
    await eventually('SUBSCRIBED from strata events', () =>
      events().some((e) => e.type === 'SUBSCRIBED') ? true : undefined,
    );
    const before = new TestScheduler(master.url);
    await before.subscribe({ user: 'root', name: 'seen-live' });
    cleanups.push(() => before.close());
    await eventually('the live FRAMEWORK_ADDED', () =>
      events().some((e) => e.type === 'FRAMEWORK_ADDED') ? true : undefined,
    );

    // Another subscriber pushes the CLI's stream out; a framework comes while it is away.
    const intruder = await new OperatorStream(master.url).open();
    cleanups.push(() => intruder.close());
    await eventually(
      'the CLI to notice',
      () => (/event stream lost/.test(stderr) ? true : undefined),
      10_000,
    );
    const missed = new TestScheduler(master.url);
    await missed.subscribe({ user: 'root', name: 'missed-while-away' });
    cleanups.push(() => missed.close());

    await eventually(
      'the missed FRAMEWORK_ADDED after the resume',
      () =>
        events().some(
          (e) =>
            e.type === 'FRAMEWORK_ADDED' &&
            e.framework_added?.framework?.framework_info?.name === 'missed-while-away',
        )
          ? true
          : undefined,
      20_000,
    );
    assert.match(stderr, /event stream lost .*resuming/);
    assert.doesNotMatch(stderr, /could not resume/, 'resumed, not resynced from a new snapshot');
    const offsets = events()
      .filter((e) => e.type !== 'HEARTBEAT' && e.type !== 'SUBSCRIBED')
      .map((e) => Number(e.strata_offset));
    assert.deepEqual(
      offsets,
      [...new Set(offsets)].sort((a, b) => a - b),
      `offsets in order, none repeated: ${offsets}`,
    );
    for (let i = 1; i < offsets.length; i++)
      assert.equal(offsets[i], offsets[i - 1]! + 1, 'no event skipped');
    assert.equal(events().filter((e) => e.type === 'FRAMEWORK_ADDED').length, 2);
  });
});
