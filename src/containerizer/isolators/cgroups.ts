/**
 * cgroups/cpu, cgroups/mem, cgroups/pids, cgroups/devices (and the freezer for a clean kill), on
 * cgroups v1 (legacy or hybrid, as this host) and v2 (detected from /proc/self/mountinfo). The
 * OCI runtime creates the cgroups from `linux.cgroupsPath` = `/<cgroups_root>/<id>` and the
 * `linux.resources` these isolators compose; the isolators read usage and OOM events from the
 * cgroup files, write updates, and remove what is left at cleanup.
 *
 * Values (mesos-internals.md 1.10): cpu.shares = max(1024 × cpus, 2); with --cgroups_enable_cfs
 * period 100 ms and quota max(period × cpus, 1 ms); memory hard and soft limit = max(mem, 32 MB);
 * devices: deny all, then Mesos' default allow-list.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OciDeviceRule } from '../runtime/oci-spec.js';
import {
  type ContainerConfig,
  type ContainerResources,
  type Isolator,
  type Limitation,
  labelValue,
  PIDS_LIMIT_LABEL,
  type UsageStats,
} from './isolator.js';

export const CPU_SHARES_PER_CPU = 1024;
export const MIN_CPU_SHARES = 2;
export const CFS_PERIOD_US = 100_000;
export const MIN_CFS_QUOTA_US = 1000;
export const MIN_MEMORY_BYTES = 32 * 1024 * 1024;

export interface CgroupLayout {
  version: 1 | 2;
  /** v1: controller → mount point; v2: every controller → the unified mount. */
  controllers: Map<string, string>;
  unified?: string;
}

/** Parses /proc/self/mountinfo text into the cgroup layout (pure). */
export function parseCgroupLayout(mountinfo: string): CgroupLayout {
  const controllers = new Map<string, string>();
  let unified: string | undefined;
  let rootIsV2 = false;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = left[4] ?? '';
    const fstype = right[0];
    if (fstype === 'cgroup2') {
      unified = mountPoint;
      if (mountPoint === '/sys/fs/cgroup') rootIsV2 = true;
    } else if (fstype === 'cgroup') {
      for (const opt of (right[2] ?? '').split(',')) {
        if (['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec'].includes(opt)) continue;
        if (opt.startsWith('name=') || opt.includes('=')) continue;
        if (!controllers.has(opt)) controllers.set(opt, mountPoint);
      }
    }
  }
  if (rootIsV2 || (controllers.size === 0 && unified !== undefined)) {
    const all = new Map<string, string>();
    let available = ['cpu', 'memory', 'pids', 'io'];
    try {
      available = readFileSync(join(unified!, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    } catch {
      // keep the usual set
    }
    for (const c of [...available, 'cpuacct', 'freezer', 'devices']) all.set(c, unified!);
    return { version: 2, controllers: all, unified: unified! };
  }
  return { version: 1, controllers, ...(unified ? { unified } : {}) };
}

export function detectCgroupLayout(): CgroupLayout {
  return parseCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** The container's cgroup directory for `controller`, or undefined when it is not mounted. */
export function cgroupDir(
  layout: CgroupLayout,
  controller: string,
  root: string,
  id: string,
): string | undefined {
  const mount = layout.controllers.get(controller);
  return mount === undefined ? undefined : join(mount, root, id);
}

export function cpuShares(cpus: number): number {
  return Math.max(Math.round(CPU_SHARES_PER_CPU * cpus), MIN_CPU_SHARES);
}

export function cfsQuota(cpus: number): number {
  return Math.max(Math.round(CFS_PERIOD_US * cpus), MIN_CFS_QUOTA_US);
}

export function memoryLimitBytes(memMb: number): number {
  return Math.max(Math.round(memMb * 1024 * 1024), MIN_MEMORY_BYTES);
}

/** Mesos' default device allow-list (cgroups/devices), after a deny of everything. */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 4, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 4, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
];

async function readText(path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readTextSync(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `key value` lines (memory.stat, cpu.stat, memory.oom_control, memory.events) → map. */
export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && value !== '' && !Number.isNaN(Number(value)))
      out.set(key, Number(value));
  }
  return out;
}

export interface CgroupsOptions {
  layout: CgroupLayout;
  /** `--cgroups_root` (relative, no leading slash). */
  root: string;
  enableCfs: boolean;
  /** Which of cpu, mem, pids, devices were asked for. */
  subsystems: ReadonlySet<'cpu' | 'mem' | 'pids' | 'devices'>;
  /** How often the OOM counter is polled (v1 has no eventfd in Node). */
  oomPollMs?: number;
}

/**
 * One isolator for every `cgroups/*` name given (Mesos creates a single cgroups isolator that
 * loads the listed subsystems). The freezer is always used for the kill.
 */
export class CgroupsIsolator implements Isolator {
  readonly name = 'cgroups';
  private readonly watchers = new Map<string, NodeJS.Timeout>();
  private readonly limits = new Map<string, Limitation>();
  private readonly memLimit = new Map<string, number>();

  constructor(private readonly options: CgroupsOptions) {}

  /** The runtime's cgroupsPath for a container. */
  cgroupsPath(containerId: string): string {
    return `/${this.options.root}/${containerId}`;
  }

  dir(controller: string, containerId: string): string | undefined {
    return cgroupDir(this.options.layout, controller, this.options.root, containerId);
  }

  async prepare(config: ContainerConfig) {
    const { subsystems, enableCfs } = this.options;
    const cpus = config.resources.cpus;
    const mem = config.resources.memMb;
    const resources: import('../runtime/oci-spec.js').OciResources = {};
    if (subsystems.has('cpu') && cpus !== undefined) {
      resources.cpu = { shares: cpuShares(cpus) };
      if (enableCfs) Object.assign(resources.cpu, { period: CFS_PERIOD_US, quota: cfsQuota(cpus) });
    }
    if (subsystems.has('mem') && mem !== undefined) {
      const limit = memoryLimitBytes(mem);
      // cgroups v1: a container at its limit is paused rather than OOM-killed, so the agent sees
      // the limitation (under_oom) and kills it, as Mesos' mem isolator does. Left to the kernel,
      // the killed task's container ends at once and the runtime removes the cgroup, and with it
      // the only record of the OOM kill, before anybody reads it.
      resources.memory = {
        limit,
        reservation: limit,
        ...(this.options.layout.version === 1 ? { disableOOMKiller: true } : {}),
      };
      this.memLimit.set(config.containerId, limit);
    }
    if (subsystems.has('pids')) {
      const text = labelValue(config.labels, PIDS_LIMIT_LABEL);
      const limit = text === undefined ? Number.NaN : Number(text);
      if (Number.isInteger(limit) && limit > 0) resources.pids = { limit };
    }
    if (subsystems.has('devices')) resources.devices = DEFAULT_DEVICE_RULES.map((r) => ({ ...r }));
    return { resources };
  }

  /** The number of OOM kills in the container's memory cgroup so far (v1 oom_control / v2 memory.events). */
  oomKills(containerId: string): number {
    const dir = this.dir('memory', containerId);
    if (dir === undefined) return 0;
    const file = this.options.layout.version === 1 ? 'memory.oom_control' : 'memory.events';
    const text = readTextSync(join(dir, file));
    if (text === undefined) return 0;
    const values = parseKeyValues(text);
    // v1 with the OOM killer disabled: a container at its limit waits under_oom for the agent.
    return (values.get('oom_kill') ?? 0) + (values.get('under_oom') ?? 0);
  }

  limited(containerId: string): Limitation | undefined {
    const known = this.limits.get(containerId);
    if (known) return known;
    if (!this.options.subsystems.has('mem') || this.oomKills(containerId) === 0) return undefined;
    const limit = this.memLimit.get(containerId);
    const limitation: Limitation = {
      reason: 'REASON_CONTAINER_LIMITATION_MEMORY',
      resource: 'mem',
      message:
        `Memory limit exceeded: Requested: ${limit === undefined ? 'unknown' : `${Math.round(limit / 1048576)}MB`}` +
        `; the kernel OOM killer ended a process of the container`,
    };
    this.limits.set(containerId, limitation);
    return limitation;
  }

  watch(containerId: string): Promise<Limitation> {
    return new Promise((resolve) => {
      if (!this.options.subsystems.has('mem')) return;
      const timer = setInterval(() => {
        const limitation = this.limited(containerId);
        if (!limitation) return;
        clearInterval(timer);
        this.watchers.delete(containerId);
        resolve(limitation);
      }, this.options.oomPollMs ?? 50);
      timer.unref();
      this.watchers.set(containerId, timer);
    });
  }

  async update(containerId: string, resources: ContainerResources): Promise<void> {
    const v1 = this.options.layout.version === 1;
    if (this.options.subsystems.has('cpu') && resources.cpus !== undefined) {
      const dir = this.dir('cpu', containerId);
      if (dir) {
        if (v1) await writeFile(join(dir, 'cpu.shares'), String(cpuShares(resources.cpus)));
        else
          await writeFile(
            join(dir, 'cpu.weight'),
            String(Math.max(1, Math.round((cpuShares(resources.cpus) * 100) / 1024))),
          );
        if (this.options.enableCfs) {
          if (v1) await writeFile(join(dir, 'cpu.cfs_quota_us'), String(cfsQuota(resources.cpus)));
          else await writeFile(join(dir, 'cpu.max'), `${cfsQuota(resources.cpus)} ${CFS_PERIOD_US}`);
        }
      }
    }
    if (this.options.subsystems.has('mem') && resources.memMb !== undefined) {
      const dir = this.dir('memory', containerId);
      const limit = memoryLimitBytes(resources.memMb);
      // Only ever raised: lowering under the usage would OOM-kill the task (as Mesos).
      if (dir && limit > (this.memLimit.get(containerId) ?? 0)) {
        await writeFile(join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max'), String(limit));
        this.memLimit.set(containerId, limit);
      }
    }
  }

  async usage(containerId: string): Promise<UsageStats> {
    const v1 = this.options.layout.version === 1;
    const out: UsageStats = {};
    const ticks = 100;
    if (v1) {
      const acct = await readText(
        this.dir('cpuacct', containerId) && join(this.dir('cpuacct', containerId)!, 'cpuacct.stat'),
      );
      if (acct) {
        const kv = parseKeyValues(acct);
        out.cpusUserTimeSecs = (kv.get('user') ?? 0) / ticks;
        out.cpusSystemTimeSecs = (kv.get('system') ?? 0) / ticks;
      }
      const cpuStat = await readText(
        this.dir('cpu', containerId) && join(this.dir('cpu', containerId)!, 'cpu.stat'),
      );
      if (cpuStat) {
        const kv = parseKeyValues(cpuStat);
        out.cpusNrPeriods = kv.get('nr_periods') ?? 0;
        out.cpusNrThrottled = kv.get('nr_throttled') ?? 0;
        out.cpusThrottledTimeSecs = (kv.get('throttled_time') ?? 0) / 1e9;
      }
      const memDir = this.dir('memory', containerId);
      if (memDir) {
        const usage = await readText(join(memDir, 'memory.usage_in_bytes'));
        const stat = await readText(join(memDir, 'memory.stat'));
        const limit = await readText(join(memDir, 'memory.limit_in_bytes'));
        const soft = await readText(join(memDir, 'memory.soft_limit_in_bytes'));
        if (usage) out.memTotalBytes = Number(usage.trim());
        if (stat) {
          const kv = parseKeyValues(stat);
          out.memRssBytes = kv.get('total_rss') ?? kv.get('rss') ?? 0;
          out.memCacheBytes = kv.get('total_cache') ?? kv.get('cache') ?? 0;
          const swap = kv.get('total_swap') ?? kv.get('swap');
          if (swap !== undefined) out.memSwapBytes = swap;
          // usage_in_bytes is a fuzzy per-cpu-batched figure (the kernel's memory.txt says so) and
          // can read below the rss of the same moment; rss + cache from memory.stat is exact.
          out.memTotalBytes = Math.max(out.memTotalBytes ?? 0, out.memRssBytes + out.memCacheBytes);
        }
        // Without cgroups/mem the runtime's memory cgroup has no limit of ours (the huge default).
        if (limit && this.options.subsystems.has('mem')) out.memLimitBytes = Number(limit.trim());
        if (soft && this.options.subsystems.has('mem')) out.memSoftLimitBytes = Number(soft.trim());
      }
    } else {
      const dir = this.dir('cpu', containerId);
      if (dir) {
        const cpuStat = await readText(join(dir, 'cpu.stat'));
        if (cpuStat) {
          const kv = parseKeyValues(cpuStat);
          out.cpusUserTimeSecs = (kv.get('user_usec') ?? 0) / 1e6;
          out.cpusSystemTimeSecs = (kv.get('system_usec') ?? 0) / 1e6;
          out.cpusNrPeriods = kv.get('nr_periods') ?? 0;
          out.cpusNrThrottled = kv.get('nr_throttled') ?? 0;
          out.cpusThrottledTimeSecs = (kv.get('throttled_usec') ?? 0) / 1e6;
        }
        const current = await readText(join(dir, 'memory.current'));
        if (current) out.memTotalBytes = Number(current.trim());
        const stat = await readText(join(dir, 'memory.stat'));
        if (stat) {
          const kv = parseKeyValues(stat);
          out.memRssBytes = kv.get('anon') ?? 0;
          out.memCacheBytes = kv.get('file') ?? 0;
        }
        const swap = await readText(join(dir, 'memory.swap.current'));
        if (swap) out.memSwapBytes = Number(swap.trim());
        const max = await readText(join(dir, 'memory.max'));
        if (max && max.trim() !== 'max' && this.options.subsystems.has('mem'))
          out.memLimitBytes = Number(max.trim());
      }
    }
    // Processes and threads of the container: any of its cgroups lists them (pids first).
    const countDir = ['pids', 'memory', 'cpuacct', 'cpu']
      .map((c) => this.dir(c, containerId))
      .find((d) => d !== undefined);
    if (countDir) {
      const lines = (text: string | undefined) =>
        text === undefined ? undefined : text.split('\n').filter((l) => l !== '').length;
      const procs = lines(await readText(join(countDir, 'cgroup.procs')));
      const threads = lines(await readText(join(countDir, v1 ? 'tasks' : 'cgroup.threads')));
      if (procs !== undefined) out.processes = procs;
      if (threads !== undefined) out.threads = threads;
    }
    return out;
  }

  async status(containerId: string): Promise<Record<string, unknown>> {
    return { cgroupsPath: this.cgroupsPath(containerId) };
  }

  /** Every pid in the container's cgroup (freezer, else pids, else memory). */
  async pids(containerId: string): Promise<number[]> {
    for (const c of ['freezer', 'pids', 'memory', 'cpu']) {
      const text = await readText(
        this.dir(c, containerId) && join(this.dir(c, containerId)!, 'cgroup.procs'),
      );
      if (text !== undefined)
        return text
          .split('\n')
          .filter((l) => l !== '')
          .map(Number);
    }
    return [];
  }

  /**
   * Kills every process of the container without a race against forks: freeze, SIGKILL each,
   * thaw (v1 freezer.state / v2 cgroup.kill).
   */
  async killAll(containerId: string): Promise<void> {
    // The freezer's cgroup when v1 has one (a kill without a race against forks), else the first
    // hierarchy that has the container.
    const version = this.options.layout.version;
    for (const controller of version === 2 ? ['cpu'] : ['freezer', 'pids', 'memory', 'cpu']) {
      const dir = this.dir(controller, containerId);
      if (dir && existsSync(join(dir, 'cgroup.procs'))) return killCgroupDir(dir, version);
    }
  }

  async cleanup(containerId: string): Promise<void> {
    const timer = this.watchers.get(containerId);
    if (timer) clearInterval(timer);
    this.watchers.delete(containerId);
    this.limits.delete(containerId);
    this.memLimit.delete(containerId);
    // The runtime removes its leaves on delete; remove what is left (a runtime killed mid-way).
    const dirs = new Set<string>();
    for (const mount of this.options.layout.controllers.values())
      dirs.add(join(mount, this.options.root, containerId));
    for (const extra of ['systemd', 'unified'])
      dirs.add(join('/sys/fs/cgroup', extra, this.options.root, containerId));
    for (const dir of dirs) {
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || attempt === 19) break;
          await this.killAll(containerId);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    }
  }
}

/**
 * Kills the processes of one cgroup directory (a container's, or a sub-cgroup below it: the exec'd
 * nested containers of agent/nested-exec.ts) without a race against forks: v2 cgroup.kill; v1
 * freeze, SIGKILL each, thaw; without a freezer, cgroup.procs is read again until it is empty.
 */
export async function killCgroupDir(dir: string, version: 1 | 2): Promise<void> {
  if (version === 2) {
    try {
      await writeFile(join(dir, 'cgroup.kill'), '1');
      return;
    } catch {
      // older kernels: kill them one by one
    }
  }
  const freezable = version === 1 && (await readText(join(dir, 'freezer.state'))) !== undefined;
  if (freezable) {
    await writeFile(join(dir, 'freezer.state'), 'FROZEN').catch(() => undefined);
    for (let i = 0; i < 100; i++) {
      if ((await readText(join(dir, 'freezer.state')))?.trim() === 'FROZEN') break;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  // Without a freezer a fork may add a process meanwhile: read again until none is left.
  for (let round = 0; round < (freezable ? 1 : 20); round++) {
    const text = await readText(join(dir, 'cgroup.procs'));
    const pids = (text ?? '').split('\n').filter((l) => l !== '');
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (pids.length === 0) break;
  }
  if (freezable) await writeFile(join(dir, 'freezer.state'), 'THAWED').catch(() => undefined);
}

/** Kills what is left in a sub-cgroup and removes it (retrying while the kernel still counts the dead). */
export async function removeCgroupDir(dir: string, version: 1 | 2): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt === 49) throw err;
      await killCgroupDir(dir, version);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
