/**
 * What the root system tests of the containerizer share: why a test file skips on this host, and
 * what a run may leave behind (mounts, cgroups below its own `--cgroups_root`) and its cleanup.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout } from '../../src/containerizer/isolators/cgroups.js';
import { busybox } from './images.js';

export const isRoot = process.getuid?.() === 0;

/** Whether a program is on PATH. */
export function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/**
 * Why a root system test with images cannot run here (false when it can): not root, a missing
 * tool (the registry and image builders by default), no busybox-static, no OCI runtime.
 */
export function imageTestSkipReason(
  tools: readonly string[] = ['docker-registry', 'skopeo', 'umoci'],
): string | false {
  if (!isRoot) return 'needs root (mounts, cgroups, an OCI runtime); run as root, as CI does';
  const missing = tools.filter((t) => !has(t));
  if (missing.length > 0) return `missing ${missing.join(', ')} (scripts/setup-host.sh installs them)`;
  if (!busybox) return 'busybox-static is not installed';
  if (!(has('crun') || has('runc'))) return 'no crun/runc';
  return false;
}

/** Mount points at or below `dir`, as /proc/self/mountinfo lists them. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(dir));
}

/** Every cgroup directory below `cgroupsRoot` (a test's `--cgroups_root`), at any depth. */
export function cgroupLeftovers(cgroupsRoot: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      found.push(join(dir, entry.name));
      walk(join(dir, entry.name));
    }
  };
  for (const mount of new Set(detectCgroupLayout().controllers.values())) {
    const dir = join(mount, cgroupsRoot);
    if (existsSync(dir)) walk(dir);
  }
  return found;
}

/** End of a test file: unmounts what is left below `dir` (deepest first). */
export function unmountUnder(dir: string): void {
  for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
}

/** End of a test file: removes the (empty) `cgroupsRoot` directory from every hierarchy. */
export function removeCgroupsRoot(cgroupsRoot: string): void {
  const layout = detectCgroupLayout();
  for (const mount of new Set([
    ...layout.controllers.values(),
    '/sys/fs/cgroup/systemd',
    '/sys/fs/cgroup/unified',
  ])) {
    try {
      rmdirSync(join(mount, cgroupsRoot));
    } catch {
      // none, or not empty: nothing of ours to remove
    }
  }
}
