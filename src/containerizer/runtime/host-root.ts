/**
 * The host's root as a container root. pivot_root cannot pivot onto `/` itself, so containers
 * without an image (filesystem/posix, or filesystem/linux without a rootfs) get a recursive bind
 * of `/` made once per host at /run/strata/hostroot (slave: host mounts still appear in it, its
 * own never leak back). It lives in /run, so a reboot clears it; every agent on the host shares it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

export const HOST_ROOT = '/run/strata/hostroot';

export function isMountPoint(path: string): boolean {
  const info = readFileSync('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => line.split(' ')[4] === path);
}

export function ensureHostRoot(path = HOST_ROOT): string {
  if (isMountPoint(path)) return path;
  mkdirSync(path, { recursive: true });
  execFileSync('mount', ['--rbind', '/', path]);
  execFileSync('mount', ['--make-rslave', path]);
  return path;
}

/** Unmounts it (tests; an agent leaves it for the others). */
export function removeHostRoot(path = HOST_ROOT): void {
  if (isMountPoint(path)) execFileSync('umount', ['-R', path]);
}
