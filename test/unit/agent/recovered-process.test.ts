/**
 * recovered-process.ts `processBelongsTo`: a restarted agent adopts a recorded pid only when it
 * is the process it started: its MESOS_SANDBOX (as the process sees it) or its working directory
 * is the very sandbox directory (path, or device and inode), never a stranger with a lookalike.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { processBelongsTo } from '../../../src/agent/recovered-process.js';

const linux = process.platform === 'linux';

describe('processBelongsTo', { skip: linux ? false : 'needs /proc' }, () => {
  const base = mkdtempSync(join(tmpdir(), 'belongs-'));
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  });

  function sleeper(cwd: string, env: Record<string, string>): number {
    const child = spawn('sleep', ['100'], {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    });
    children.push(child);
    return child.pid!;
  }

  const sandbox = join(base, 'a', 'containers', 'same');
  const other = join(base, 'b', 'containers', 'same');
  mkdirSync(sandbox, { recursive: true });
  mkdirSync(other, { recursive: true });

  it('matches the sandbox named by MESOS_SANDBOX, or the working directory', () => {
    assert.equal(processBelongsTo(sleeper('/', { MESOS_SANDBOX: sandbox }), { directory: sandbox }), true);
    assert.equal(processBelongsTo(sleeper(sandbox, {}), { directory: sandbox }), true);
  });

  it('matches the same directory reached by another path (device and inode)', () => {
    const link = join(base, 'link');
    symlinkSync(sandbox, link);
    assert.equal(processBelongsTo(sleeper('/', { MESOS_SANDBOX: link }), { directory: sandbox }), true);
    assert.equal(processBelongsTo(sleeper(link, {}), { directory: sandbox }), true);
  });

  it('refuses a process whose sandbox only has the same name, or whose ids differ', () => {
    assert.equal(processBelongsTo(sleeper('/', { MESOS_SANDBOX: other }), { directory: sandbox }), false);
    assert.equal(processBelongsTo(sleeper(other, {}), { directory: sandbox }), false);
    assert.equal(
      processBelongsTo(sleeper('/', { MESOS_SANDBOX: sandbox, MESOS_FRAMEWORK_ID: 'f2' }), {
        directory: sandbox,
        frameworkId: 'f1',
      }),
      false,
    );
    assert.equal(
      processBelongsTo(sleeper('/', { MESOS_SANDBOX: 'containers/same' }), { directory: sandbox }),
      false,
    );
  });

  it('refuses a pid that is not alive', () => {
    assert.equal(processBelongsTo(2 ** 22 + 7, { directory: sandbox }), false);
  });
});
