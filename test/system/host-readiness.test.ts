/**
 * The host set-up (scripts/setup-host.sh) leaves a machine that can run containers the way the
 * containerizer will: crun starts a busybox rootfs on an overlay mount in fresh namespaces.
 * Root only; skipped with a printed reason otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bestIsolation, findExecutable, probeHost } from '../../src/common/host.js';

const isRoot = process.getuid?.() === 0;
const crun = findExecutable('crun');
const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const skip = !isRoot
  ? 'needs root (run as root, as CI does)'
  : !crun
    ? 'crun is not installed (scripts/setup-host.sh installs it)'
    : !busybox
      ? 'busybox-static is not installed (scripts/setup-host.sh installs it)'
      : false;

function bundle(root: string, args: string[]): string {
  const dir = join(root, 'bundle');
  const lower = join(root, 'lower');
  mkdirSync(join(lower, 'bin'), { recursive: true });
  copyFileSync(busybox!, join(lower, 'bin', 'busybox'));
  for (const dirName of ['upper', 'work', 'bundle/rootfs'])
    mkdirSync(join(root, dirName), { recursive: true });
  execFileSync('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lower},upperdir=${join(root, 'upper')},workdir=${join(root, 'work')}`,
    join(dir, 'rootfs'),
  ]);
  execFileSync(crun!, ['spec'], { cwd: dir });
  const configPath = join(dir, 'config.json');
  const config = JSON.parse(execFileSync('cat', [configPath], { encoding: 'utf8' })) as {
    process: { terminal: boolean; args: string[] };
    root: { readonly: boolean };
  };
  config.process.terminal = false;
  config.process.args = args;
  config.root.readonly = false;
  writeFileSync(configPath, JSON.stringify(config));
  return dir;
}

describe('host readiness for containers', { skip }, () => {
  it('has no cgroup v2 controller left that would make crun refuse the host', () => {
    const report = probeHost();
    assert.deepEqual(report.hybridV2Controllers, [], 'scripts/setup-host.sh moves them to v1 hierarchies');
    assert.notEqual(report.cgroups, 'none');
    assert.ok(report.overlayfs, 'overlayfs is available');
    assert.match(bestIsolation(report).isolation, /cgroups/);
  });

  it('runs busybox with crun on an overlay rootfs, in its own pid namespace', () => {
    const root = mkdtempSync(join(tmpdir(), 'strata-system-'));
    const id = `strata-readiness-${process.pid}`;
    try {
      const dir = bundle(root, ['/bin/busybox', 'sh', '-c', 'echo pid=$$; /bin/busybox touch /written']);
      const run = spawnSync(crun!, ['run', '-b', dir, id], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(run.status, 0, `crun failed: ${run.stderr}`);
      assert.equal(run.stdout.trim(), 'pid=1');
      assert.ok(existsSync(join(root, 'upper', 'written')), 'writes land in the overlay upper dir');
      assert.ok(!existsSync(join(root, 'lower', 'written')), 'the lower layer stays untouched');
    } finally {
      spawnSync(crun!, ['delete', '-f', id]);
      spawnSync('umount', [join(root, 'bundle', 'rootfs')]);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
