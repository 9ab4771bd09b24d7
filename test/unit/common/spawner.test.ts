import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Spawner, shellQuote } from '../../../src/common/spawner.js';

describe('Spawner: helpers started by a long-lived shell', () => {
  const spawner = new Spawner();
  after(() => spawner.close());

  it('reports exit codes and stderr, runs in cwd', async () => {
    assert.deepEqual(await spawner.run('true', []), { code: 0, stderr: '' });
    assert.equal((await spawner.run('false', [])).code, 1);
    const failed = await spawner.run('sh', ['-c', 'echo oops >&2; exit 3']);
    assert.deepEqual(failed, { code: 3, stderr: 'oops\n' });
    const inDir = await spawner.run('sh', ['-c', 'pwd >&2'], '/usr');
    assert.equal(inDir.stderr, '/usr\n');
    assert.equal((await spawner.run('/no/such/program', [])).code, 127);
  });

  it('passes every argument through verbatim: quotes, $, spaces, globs; a newline goes the slow way', async () => {
    const words = ["it's", '$HOME', 'a b', '*', '"q"', '`id`', ';', '\\n', 'line\nbreak'];
    const echoed = await spawner.run('sh', ['-c', 'for w do printf "[%s]" "$w" >&2; done', 'sh', ...words]);
    assert.equal(echoed.code, 0);
    assert.equal(echoed.stderr, words.map((w) => `[${w}]`).join(''));
  });

  it('runs jobs at once and matches each answer to its job', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => spawner.run('sh', ['-c', `sleep 0.0${i % 5}; exit ${i % 7}`])),
    );
    assert.deepEqual(
      results.map((r) => r.code),
      Array.from({ length: 40 }, (_, i) => i % 7),
    );
  });

  it('startSupervised: the waiting subshell records the exit status in a file, then reports it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-spawner-'));
    try {
      const out = { stdout: join(dir, 'out'), stderr: join(dir, 'err') };
      const job = await spawner.startSupervised(
        'sh',
        ['-c', 'echo hello; echo oops >&2; sleep 0.2; exit 7'],
        out,
        join(dir, 'exit'),
      )!;
      assert.notEqual(job.waiterPid, job.pid, 'the waiter is a process of its own');
      assert.doesNotThrow(() => process.kill(job.waiterPid, 0), 'the waiter runs while the command does');
      assert.ok(!existsSync(join(dir, 'exit')));
      assert.equal(await job.exited, 7);
      assert.equal(readFileSync(join(dir, 'exit'), 'utf8'), '7\n');
      assert.equal(readFileSync(out.stdout, 'utf8'), 'hello\n');
      assert.equal(readFileSync(out.stderr, 'utf8'), 'oops\n');
      const killed = await spawner.startSupervised('sleep', ['5'], out, join(dir, 'exit2'))!;
      process.kill(killed.pid, 'SIGKILL');
      assert.equal(await killed.exited, 137);
      assert.equal(readFileSync(join(dir, 'exit2'), 'utf8'), '137\n');
      assert.equal(
        spawner.startSupervised('true', ['a\nb'], out, join(dir, 'exit3')),
        undefined,
        'a newline cannot travel',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reaps finished jobs: no zombies pile up under the shell', async () => {
    for (let i = 0; i < 60; i++) await spawner.run('true', []);
    const out = join(tmpdir(), `strata-spawner-reap-${process.pid}`);
    for (let i = 0; i < 20; i++) await (await spawner.start('true', [], { stdout: out, stderr: out })).exited;
    rmSync(out, { force: true });
    const shells = execFileSync('ps', ['--ppid', String(process.pid), '-o', 'pid=,comm='], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter((l) => l.trim().endsWith(' sh'))
      .map((l) => l.trim().split(/\s+/)[0]!);
    assert.ok(shells.length > 0, 'the spawner shell is a child of this process');
    for (const shell of shells) {
      const zombies = execFileSync('sh', ['-c', `ps --ppid ${shell} -o stat= | grep -c Z || true`], {
        encoding: 'utf8',
      }).trim();
      assert.ok(Number(zombies) <= 2, `${zombies} zombies under the spawner shell ${shell}`);
    }
  });

  it('shellQuote survives the shell', () => {
    assert.equal(shellQuote("a'b"), `'a'\\''b'`);
  });
});
