/**
 * Images for tests and benchmarks: a throwaway Debian docker-registry on a free loopback port, and
 * busybox images built with umoci (from busybox-static) and pushed to it with skopeo.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { freePort } from './processes.js';

export const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts `docker-registry serve` on 127.0.0.1:<free port> with its data below `dir`. */
export async function startRegistry(dir: string): Promise<{ host: string; proc: ChildProcess }> {
  const port = await freePort();
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: ${data}}\nhttp: {addr: "127.0.0.1:${port}"}\n`,
  );
  const log = openSync(join(dir, 'registry.log'), 'w');
  const proc = spawn('docker-registry', ['serve', config], { stdio: ['ignore', log, log] });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) return { host: `127.0.0.1:${port}`, proc };
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  proc.kill('SIGKILL');
  throw new Error(`registry did not start: ${readFileSync(join(dir, 'registry.log'), 'utf8')}`);
}

/**
 * An OCI layout with `busybox` (busybox-static and its applets, /srv, /tmp) and `cfg` (the same
 * layer with Entrypoint ["/bin/sh","-c"], Cmd [a script], Env, WorkingDir /srv), pushed to `host`.
 */
export function buildAndPushImages(dir: string, host: string): void {
  const r = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'srv', 'dev', 'proc', 'sys'])
    mkdirSync(join(r, d), { recursive: true });
  copyFileSync(busybox as string, join(r, 'bin/busybox'));
  chmodSync(join(r, 'bin/busybox'), 0o755);
  chmodSync(join(r, 'tmp'), 0o1777);
  for (const a of ['sh', 'test', 'echo', 'true', 'cat', 'pwd', 'ls', 'env', 'sleep', 'id'])
    symlinkSync('/bin/busybox', join(r, 'bin', a));
  writeFileSync(join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  const layout = join(dir, 'oci');
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:busybox`]);
  sh('umoci', ['insert', '--image', `${layout}:busybox`, r, '/']);
  sh('umoci', ['new', '--image', `${layout}:cfg`]);
  sh('umoci', ['insert', '--image', `${layout}:cfg`, r, '/']);
  sh('umoci', [
    'config',
    '--image',
    `${layout}:cfg`,
    '--config.entrypoint',
    '/bin/sh',
    '--config.entrypoint',
    '-c',
    '--config.cmd',
    'echo "$FOO $(pwd) $MESOS_SANDBOX" > "$MESOS_SANDBOX/cfg-out"',
    '--config.env',
    'FOO=from-image',
    '--config.env',
    'PATH=/bin',
    '--config.workingdir',
    '/srv',
  ]);
  sh('umoci', ['gc', '--layout', layout]);
  for (const tag of ['busybox', 'cfg'])
    sh('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${layout}:${tag}`,
      `docker://${host}/${tag}:latest`,
    ]);
}
