/**
 * The helper binaries the provisioner runs for what Node cannot do (mount, mknod, xattrs, GNU tar,
 * cp -a, zstd). One module, so tests and other hosts can see every external call in one place.
 */
import { type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { spawner } from '../../common/spawner.js';

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

export class HelperError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(
      `${command} exited ${code ?? 'by signal'}: ${stderr.trim().split('\n').slice(-3).join('; ') || '(no output)'}`,
    );
  }
}

/** Runs a helper to completion; rejects with its stderr when it fails. */
export function run(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.on('error', (e) => reject(new HelperError(command, null, e.message)));
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new HelperError(`${command} ${args.slice(0, 3).join(' ')}`, code, stderr));
    });
  });
}

const found = new Map<string, boolean>();

/** Pretends a binary is (not) installed, e.g. to test the pure-JS zstd fallback. */
export function overrideBinary(command: string, available: boolean | undefined): void {
  if (available === undefined) found.delete(command);
  else found.set(command, available);
}

/** Whether `command` can be run (cached). */
export function haveBinary(command: string): boolean {
  let ok = found.get(command);
  if (ok === undefined) {
    ok = spawnSync(command, ['--version'], { stdio: 'ignore' }).error === undefined;
    found.set(command, ok);
  }
  return ok;
}

/** GNU tar flags that keep everything a layer carries (host-setup.md §9.2). */
export const TAR_EXTRACT_FLAGS = [
  '-x',
  '-f',
  '-',
  '--numeric-owner',
  '--same-owner',
  '--same-permissions',
  '--xattrs',
  '--xattrs-include=*',
  '--no-acls',
  '--warning=no-unknown-keyword',
  '--warning=no-timestamp',
];

/**
 * Runs a short helper through the spawner (src/common/spawner.ts): mount and umount run for every
 * container, and a fork of the agent costs more than the helper itself.
 */
async function runQuick(command: string, args: readonly string[], cwd?: string): Promise<void> {
  const result = await spawner.run(command, args, cwd);
  if (result.code !== 0)
    throw new HelperError(`${command} ${args.slice(0, 3).join(' ')}`, result.code, result.stderr);
}

/**
 * busybox's mount and umount when the host has it (busybox-static, which setup-host.sh installs):
 * a static binary starts in a fraction of util-linux's time (no libmount, libblkid, libselinux to
 * load), and every container costs one mount and one umount. The arguments are the same: `-t`,
 * `-o` and paths; the options go to mount(2) as they are.
 */
function mountProgram(applet: 'mount' | 'umount'): { command: string; prefix: string[] } {
  return haveBinary('busybox') ? { command: 'busybox', prefix: [applet] } : { command: applet, prefix: [] };
}

export async function mount(args: readonly string[], cwd?: string): Promise<void> {
  const { command, prefix } = mountProgram('mount');
  await runQuick(command, [...prefix, ...args], cwd);
}

/** Unmounts `target`; retries, then falls back to a lazy detach (Mesos does the same, MESOS-9196). */
export async function unmount(target: string): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 3; i++) {
    try {
      const { command, prefix } = mountProgram('umount');
      await runQuick(command, [...prefix, target]);
      return;
    } catch (e) {
      last = e;
      if (!(await isMountPoint(target))) return;
      await new Promise((r) => setTimeout(r, 50 * (i + 1)));
    }
  }
  try {
    await run('umount', ['-l', target]);
  } catch {
    if (await isMountPoint(target)) throw last;
  }
}

export async function isMountPoint(path: string): Promise<boolean> {
  // A mount of another filesystem (an overlay rootfs) has a device of its own: two stat calls.
  // Reading /proc/self/mountinfo waits for every mount and umount under way on the host, and holds
  // one of the few thread-pool threads meanwhile; it is left for what the devices cannot tell.
  try {
    if (statSync(path).dev !== statSync(dirname(path)).dev) return true;
  } catch {
    return false;
  }
  const { readFile } = await import('node:fs/promises');
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return text.split('\n').some((line) => line.split(' ')[4] === escaped);
}

/** Creates overlay whiteouts (0/0 character devices), all in one process. */
export async function mknodWhiteouts(paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  await run('sh', ['-c', 'for p do mknod -m 000 -- "$p" c 0 0 || exit 1; done', 'sh', ...paths]);
}

export async function setXattr(name: string, value: string, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  await run('setfattr', ['-h', '-n', name, '-v', value, '--', ...paths]);
}

export async function removeXattr(name: string, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  await run('setfattr', ['-h', '-x', name, '--', ...paths]);
}
