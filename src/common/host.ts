/**
 * What this machine can do for containers: root, cgroups layout, overlayfs, OCI runtimes.
 * `strata doctor` prints it, and `strata local` picks the best isolation it allows.
 */
import { accessSync, constants, existsSync, readFileSync, statfsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const CGROUP2_SUPER_MAGIC = 0x63677270;

export type CgroupsMode = 'v1' | 'v2' | 'hybrid' | 'none';

export interface HostReport {
  root: boolean;
  cgroups: CgroupsMode;
  /** cgroup v2 controllers still owned by the unified hierarchy on a hybrid host (crun refuses those). */
  hybridV2Controllers: string[];
  overlayfs: boolean;
  runtimes: { crun?: string; runc?: string };
  tools: { umoci?: string; skopeo?: string; zookeeper?: string; dockerRegistry?: string };
}

export function findExecutable(name: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', ...extraDirs];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

function detectCgroups(): { mode: CgroupsMode; hybridV2Controllers: string[] } {
  try {
    if (statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC)
      return { mode: 'v2', hybridV2Controllers: [] };
  } catch {
    return { mode: 'none', hybridV2Controllers: [] };
  }
  if (existsSync('/sys/fs/cgroup/unified')) {
    const controllers = readText('/sys/fs/cgroup/unified/cgroup.controllers').split(/\s+/).filter(Boolean);
    const stillOwned = controllers.filter((c) => !isMountedV1(c));
    return { mode: 'hybrid', hybridV2Controllers: stillOwned };
  }
  return existsSync('/sys/fs/cgroup/memory')
    ? { mode: 'v1', hybridV2Controllers: [] }
    : { mode: 'none', hybridV2Controllers: [] };
}

function isMountedV1(controller: string): boolean {
  return readText('/proc/self/mountinfo')
    .split('\n')
    .some((line) => line.includes(' - cgroup ') && line.split(' ')[4] === `/sys/fs/cgroup/${controller}`);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function probeHost(): HostReport {
  const cgroups = detectCgroups();
  const runtimes: HostReport['runtimes'] = {};
  const crun = findExecutable('crun');
  const runc = findExecutable('runc');
  if (crun) runtimes.crun = crun;
  if (runc) runtimes.runc = runc;
  const tools: HostReport['tools'] = {};
  const umoci = findExecutable('umoci');
  const skopeo = findExecutable('skopeo');
  const registry = findExecutable('docker-registry');
  if (umoci) tools.umoci = umoci;
  if (skopeo) tools.skopeo = skopeo;
  if (registry) tools.dockerRegistry = registry;
  if (existsSync('/usr/share/zookeeper')) tools.zookeeper = '/usr/share/zookeeper';
  return {
    root: process.getuid?.() === 0,
    cgroups: cgroups.mode,
    hybridV2Controllers: cgroups.hybridV2Controllers,
    overlayfs: /\boverlay\b/.test(readText('/proc/filesystems')),
    runtimes,
    tools,
  };
}

/** The isolation a local cluster should ask for on this host, and why, in one line. */
export function bestIsolation(report: HostReport): { isolation: string; reason: string } {
  const runtime = report.runtimes.crun ?? report.runtimes.runc;
  if (report.root && runtime && report.cgroups !== 'none' && report.hybridV2Controllers.length === 0) {
    return {
      isolation: 'cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,filesystem/linux,docker/runtime',
      reason: `root with ${runtime} and cgroups ${report.cgroups}: cgroups, namespaces and images`,
    };
  }
  const why = !report.root
    ? 'not running as root'
    : !runtime
      ? 'no crun or runc on PATH'
      : report.hybridV2Controllers.length > 0
        ? `cgroup v2 still owns ${report.hybridV2Controllers.join(',')} (run scripts/setup-host.sh)`
        : 'no cgroups mounted';
  return { isolation: 'posix/cpu,posix/mem', reason: `posix isolation only: ${why}` };
}
