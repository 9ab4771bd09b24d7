/**
 * The newcomer's path with images, as root: `strata local --docker_registry=...` against a real
 * docker-registry holding a busybox image, then `strata execute --docker_image` runs a command in
 * the image (not on the host), and Ctrl-C stops everything. Root only (mounts, cgroups, an OCI
 * runtime); skipped with a printed reason otherwise.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { probeHost } from '../../src/common/host.js';
import { eventually } from '../support/eventually.js';
import { buildAndPushImages, busybox, startRegistry } from '../support/images.js';
import { freePort, REPO_ROOT, STRATA_BIN, tempDir } from '../support/processes.js';

const host = probeHost();
const skip = !host.root
  ? 'needs root (mounts, cgroups, an OCI runtime); run as root, as CI does'
  : !(host.runtimes.crun ?? host.runtimes.runc)
    ? 'needs crun or runc'
    : !busybox
      ? 'needs busybox-static'
      : !host.tools.umoci || !host.tools.skopeo || !host.tools.dockerRegistry
        ? 'needs umoci, skopeo and docker-registry'
        : false;
if (skip) console.log(`# skipping strata local with images: ${skip}`);

describe('strata local with docker images', { skip, timeout: 120_000 }, () => {
  const dir = tempDir('local-images');
  let registry: { host: string; proc: ChildProcess } | undefined;
  let local: ChildProcess | undefined;
  let out = '';
  let port = 0;

  before(async () => {
    registry = await startRegistry(dir);
    buildAndPushImages(dir, registry.host);
    port = await freePort();
    local = spawn(
      process.execPath,
      [
        STRATA_BIN,
        'local',
        `--port=${port}`,
        `--work_dir=${dir}/state`,
        `--docker_registry=http://${registry.host}`,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    local.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    local.stderr!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    await eventually('strata local to come up', () => (out.includes('Ctrl-C') ? true : undefined), 60_000);
  });
  after(async () => {
    if (local?.exitCode === null) {
      local.kill('SIGINT');
      await new Promise((r) => local!.once('exit', r));
    }
    registry?.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('on a terminal, strata execute shows the image pull and a progress bar', async () => {
    // python3's pty module plays the operator's terminal.
    const relay = 'import os, pty, sys\nsys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))';
    const shown = execFileSync(
      'python3',
      [
        '-c',
        relay,
        process.execPath,
        STRATA_BIN,
        'execute',
        '--master',
        `127.0.0.1:${port}`,
        '--name',
        'first-pull',
        `--docker_image=${registry!.host}/busybox:latest`,
        '--command',
        'true',
      ],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    assert.match(shown, /Pulling image 127\.0\.0\.1:\d+\/busybox:latest: [\d.]+\/[\d.]+ MB/, shown);
    assert.match(shown, /tasks \[/, 'the progress bar is drawn on a terminal');
    assert.match(shown, /TASK_FINISHED/);
  });

  it('runs a command inside the image through strata execute, then Ctrl-C stops it all', async () => {
    assert.match(out, /docker images/, out);
    const run = execFileSync(
      process.execPath,
      [
        STRATA_BIN,
        'execute',
        '--master',
        `127.0.0.1:${port}`,
        '--name',
        'in-image',
        `--docker_image=${registry!.host}/busybox:latest`,
        '--command',
        'test -x /bin/busybox && test ! -e /etc/debian_version && echo inside-the-image',
        '--follow',
      ],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    assert.match(run, /inside-the-image/);

    local!.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => local!.once('exit', resolve));
    assert.equal(code, 0, out);
  });
});
