import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  containerPath,
  execWaitStatus,
  prepareExec,
  readExecTarget,
} from '../../../src/containerizer/runtime/oci-exec.js';
import { OciRuntime } from '../../../src/containerizer/runtime/oci-runtime.js';

describe('oci-exec', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-oci-exec-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const runtime = new OciRuntime({ name: 'crun', path: '/usr/bin/crun', version: '1.8' }, '/run/state');

  function bundle(root: string, mounts: unknown[]): string {
    const b = mkdtempSync(join(dir, 'b-'));
    writeFileSync(
      join(b, 'config.json'),
      JSON.stringify({
        process: {
          user: { uid: 0, gid: 0 },
          args: ['x'],
          env: ['A=1'],
          cwd: '/',
          capabilities: { bounding: ['CAP_KILL'] },
        },
        root: { path: root },
        mounts,
      }),
    );
    return b;
  }

  it('maps host paths through the sandbox bind mount; the host root sees host paths', () => {
    const image = readExecTarget(
      runtime,
      'c1',
      bundle('/var/rootfs/c1', [
        { destination: '/proc', type: 'proc', source: 'proc' },
        {
          destination: '/mnt/mesos/sandbox',
          type: 'bind',
          source: '/work/runs/r1',
          options: ['rbind', 'rw'],
        },
      ]),
      '/run/strata/hostroot',
    )!;
    assert.equal(containerPath(image, '/work/runs/r1'), '/mnt/mesos/sandbox');
    assert.equal(containerPath(image, '/work/runs/r1/containers/n1'), '/mnt/mesos/sandbox/containers/n1');
    assert.equal(containerPath(image, '/work/runs/r10'), undefined);
    assert.equal(containerPath(image, '/etc'), undefined);

    const host = readExecTarget(runtime, 'c2', bundle('/run/strata/hostroot', []), '/run/strata/hostroot')!;
    assert.equal(containerPath(host, '/work/runs/r2/containers/n1'), '/work/runs/r2/containers/n1');
    assert.equal(readExecTarget(runtime, 'c3', join(dir, 'none'), undefined), undefined);
  });

  it("writes the container's process with the nested args, env, cwd and terminal", () => {
    const target = readExecTarget(runtime, 'c4', bundle('/r', []), undefined)!;
    const prepared = prepareExec(target, {
      args: ['/bin/sh', '-c', 'echo hi'],
      env: { B: '2' },
      cwd: '/s',
      tty: true,
      name: 'c4.n1',
    });
    assert.deepEqual(prepared.args, [
      '--root',
      '/run/state',
      'exec',
      '--tty',
      '--process',
      join(prepared.dir, 'process.json'),
      '--pid-file',
      prepared.pidFile,
      'c4',
    ]);
    const spec = JSON.parse(readFileSync(join(prepared.dir, 'process.json'), 'utf8'));
    assert.deepEqual(spec, {
      user: { uid: 0, gid: 0 },
      args: ['/bin/sh', '-c', 'echo hi'],
      env: ['B=2'],
      cwd: '/s',
      terminal: true,
      capabilities: { bounding: ['CAP_KILL'] },
    });
  });

  it("turns the runtime's 128 + n into signal n and keeps other statuses", () => {
    assert.equal(execWaitStatus(143 << 8), 15);
    assert.equal(execWaitStatus(137 << 8), 9);
    assert.equal(execWaitStatus(3 << 8), 3 << 8);
    assert.equal(execWaitStatus(9), 9);
  });
});
