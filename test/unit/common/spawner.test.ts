import assert from 'node:assert/strict';
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

  it('shellQuote survives the shell', () => {
    assert.equal(shellQuote("a'b"), `'a'\\''b'`);
  });
});
