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
  /** The controllers containers can use: v1 hierarchies mounted, or those v2's root offers. */
  controllers: string[];
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

/** The cgroup controllers this host offers containers (`cpu`, `memory`, `pids`, ...). */
function detectControllers(mode: CgroupsMode): string[] {
  if (mode === 'none') return [];
  if (mode === 'v2') return readText('/sys/fs/cgroup/cgroup.controllers').split(/\s+/).filter(Boolean);
  // v1 (and hybrid): /proc/cgroups rows are `name hierarchy num_cgroups enabled`; a v1 hierarchy is > 0.
  return readText('/proc/cgroups')
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length >= 4 && Number(cols[1]) > 0 && cols[3] === '1')
    .map((cols) => cols[0] ?? '');
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
    controllers: [...new Set(detectControllers(cgroups.mode))].sort(),
    overlayfs: /\boverlay\b/.test(readText('/proc/filesystems')),
    runtimes,
    tools,
  };
}

/** The cgroup controllers the isolators of a local cluster need. */
export const LOCAL_CGROUP_CONTROLLERS = ['cpu', 'memory', 'pids'] as const;

/** Isolators of a local cluster on a host that allows containers (names of src/containerizer's catalogue). */
export const CONTAINER_ISOLATION = 'cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,filesystem/linux';

export interface IsolationChoice {
  /** `--isolation` for the agents; empty: plain processes (posix). */
  isolation: string;
  /** `--image_providers` for the agents, when images are possible; else empty. */
  imageProviders: string;
  /** Whether executors run in OCI containers (cgroups, namespaces, their own mounts). */
  containers: boolean;
  /** One line: what was chosen and why. */
  reason: string;
}

/**
 * The isolation a local cluster should ask for on this host, and why, in one line: as root with
 * crun or runc and the cgroup controllers it needs, cgroups, a pid namespace and filesystem/linux
 * (plus docker images when `images` says the agent can run them); otherwise posix (plain processes).
 */
export function bestIsolation(report: HostReport, options: { images?: boolean } = {}): IsolationChoice {
  const runtime = report.runtimes.crun ?? report.runtimes.runc;
  const missing = LOCAL_CGROUP_CONTROLLERS.filter((c) => !report.controllers.includes(c));
  if (
    report.root &&
    runtime &&
    report.cgroups !== 'none' &&
    report.hybridV2Controllers.length === 0 &&
    missing.length === 0
  ) {
    const name = runtime.split('/').pop() ?? runtime;
    return options.images
      ? {
          isolation: `${CONTAINER_ISOLATION},docker/runtime`,
          imageProviders: 'docker',
          containers: true,
          reason: `cgroups, namespaces and docker images (root with ${name}, cgroups ${report.cgroups})`,
        }
      : {
          isolation: CONTAINER_ISOLATION,
          imageProviders: '',
          containers: true,
          reason: `cgroups and namespaces (root with ${name}, cgroups ${report.cgroups})`,
        };
  }
  const why = !report.root
    ? 'not running as root'
    : !runtime
      ? 'no crun or runc on PATH'
      : report.cgroups === 'none'
        ? 'no cgroups mounted'
        : report.hybridV2Controllers.length > 0
          ? `cgroup v2 still owns ${report.hybridV2Controllers.join(',')} (run scripts/setup-host.sh)`
          : `no ${missing.join(', ')} cgroup controller`;
  return { isolation: '', imageProviders: '', containers: false, reason: `posix (plain processes): ${why}` };
}
