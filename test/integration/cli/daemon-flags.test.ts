/**
 * The daemons' fixed surface (issue 3): `--flag=value` and `--flag value`, `STRATA_<FLAG>` from
 * the environment, non-zero exit naming the flag for unknown or malformed flags, `/health` and
 * `/flags`.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freePort, StrataProcess, tempDir } from '../../support/processes.js';

describe('strata master / agent flags', { timeout: 60_000 }, () => {
  const running: StrataProcess[] = [];
  after(async () => {
    for (const p of running) await p.stop();
  });

  for (const [daemon, flag] of [
    ['master', '--offer_timeout=soon'],
    ['agent', '--port=99999'],
  ] as const) {
    it(`${daemon}: an unknown or malformed flag exits non-zero naming it`, async () => {
      const masterFlag = daemon === 'agent' ? ['--master=127.0.0.1:1'] : [];
      const unknown = new StrataProcess(daemon, [daemon, '--work_dri=/tmp/x', ...masterFlag]);
      assert.equal(await unknown.waitForExit(), 2);
      assert.match(unknown.output, /unknown flag '--work_dri' \(did you mean '--work_dir'\?\)/);
      const malformed = new StrataProcess(daemon, [daemon, flag, ...masterFlag]);
      assert.equal(await malformed.waitForExit(), 2);
      assert.match(malformed.output, new RegExp(`flag '--${flag.slice(2, flag.indexOf('='))}'`));
    });
  }

  it('master: takes `--flag value`, STRATA_ environment variables, and serves /health and /flags', async () => {
    const port = await freePort();
    const master = new StrataProcess(
      'master',
      ['master', '--ip', '127.0.0.1', '--port', String(port), `--work_dir=${tempDir('flags')}`],
      { STRATA_OFFER_TIMEOUT: '30secs', STRATA_LOGGING_LEVEL: 'warn' },
    );
    running.push(master);
    await master.waitForHealth(`http://127.0.0.1:${port}/health`);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(health.status, 200);
    const flags = (await (await fetch(`http://127.0.0.1:${port}/master/flags`)).json()) as {
      flags: Record<string, string>;
    };
    assert.equal(flags.flags.offer_timeout, '30secs');
    assert.equal(flags.flags.port, String(port));
    assert.equal(flags.flags.ip, '127.0.0.1');
  });

  it('--help lists the Mesos flags and exits 0', async () => {
    const help = new StrataProcess('master', ['master', '--help']);
    assert.equal(await help.waitForExit(), 0);
    for (const name of [
      '--work_dir',
      '--offer_timeout',
      '--agent_ping_timeout',
      '--max_agent_ping_timeouts',
    ]) {
      assert.ok(help.output.includes(name), name);
    }
  });
});
