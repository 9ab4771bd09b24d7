/**
 * posix/cpu, posix/mem and disk/du: isolators that need no root. They measure from /proc (the
 * container's process tree: its init and every descendant) and `du`; posix/mem enforces the
 * memory request by killing a container whose resident memory stays above it (the limitation
 * carries REASON_CONTAINER_LIMITATION_MEMORY, as cgroups/mem's OOM does); posix/cpu measures
 * only (CPU time cannot be "exceeded" at an instant); disk/du measures the sandbox every
 * interval (Mesos' --container_disk_watch_interval, 15 s) and reports disk_used_bytes.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { memoryLimitBytes } from './cgroups.js';
import type { ContainerConfig, ContainerResources, Isolator, Limitation, UsageStats } from './isolator.js';

const PAGE = 4096;
const TICKS = 100;

interface Proc {
  pid: number;
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  threads: number;
  rss: number;
}

function readProc(pid: number): Proc | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(f[i - 3]);
    return {
      pid,
      ppid: n(4),
      utime: n(14),
      stime: n(15),
      cutime: n(16),
      cstime: n(17),
      threads: n(20),
      rss: n(24),
    };
  } catch {
    return undefined;
  }
}

/** The process tree below (and including) `root`, from /proc. */
export function processTree(root: number): Proc[] {
  const all = new Map<number, Proc>();
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = readProc(Number(entry));
    if (!p) continue;
    all.set(p.pid, p);
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const out: Proc[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const p = all.get(pid);
    if (p) out.push(p);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

export function treeUsage(root: number): UsageStats {
  const tree = processTree(root);
  let user = 0;
  let system = 0;
  let rss = 0;
  let threads = 0;
  for (const p of tree) {
    user += p.utime + p.cutime;
    system += p.stime + p.cstime;
    rss += p.rss * PAGE;
    threads += p.threads;
  }
  return {
    processes: tree.length,
    threads,
    cpusUserTimeSecs: user / TICKS,
    cpusSystemTimeSecs: system / TICKS,
    memRssBytes: rss,
  };
}

/** Shared by posix/cpu and posix/mem: which pid is each container's root. */
abstract class PosixIsolator implements Isolator {
  abstract readonly name: string;
  protected readonly pids = new Map<string, number>();
  protected readonly resources = new Map<string, ContainerResources>();
  async recover(recovered: readonly ContainerConfig[]): Promise<void> {
    for (const c of recovered) this.resources.set(c.containerId, c.resources);
  }
  async prepare(config: ContainerConfig) {
    this.resources.set(config.containerId, config.resources);
    return undefined;
  }
  async isolate(containerId: string, pid: number): Promise<void> {
    this.pids.set(containerId, pid);
  }
  async update(containerId: string, resources: ContainerResources): Promise<void> {
    this.resources.set(containerId, resources);
  }
  async cleanup(containerId: string): Promise<void> {
    this.pids.delete(containerId);
    this.resources.delete(containerId);
  }
}

export class PosixCpuIsolator extends PosixIsolator {
  readonly name = 'posix/cpu';
  async usage(containerId: string): Promise<UsageStats> {
    const pid = this.pids.get(containerId);
    if (pid === undefined) return {};
    const u = treeUsage(pid);
    return {
      cpusUserTimeSecs: u.cpusUserTimeSecs,
      cpusSystemTimeSecs: u.cpusSystemTimeSecs,
      processes: u.processes,
      threads: u.threads,
    };
  }
}

export class PosixMemIsolator extends PosixIsolator {
  readonly name = 'posix/mem';
  private readonly hit = new Map<string, Limitation>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  constructor(private readonly pollMs = 200) {
    super();
  }
  async usage(containerId: string): Promise<UsageStats> {
    const pid = this.pids.get(containerId);
    if (pid === undefined) return {};
    return { memRssBytes: treeUsage(pid).memRssBytes ?? 0 };
  }
  limited(containerId: string): Limitation | undefined {
    return this.hit.get(containerId);
  }
  watch(containerId: string): Promise<Limitation> {
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        const pid = this.pids.get(containerId);
        const mem = this.resources.get(containerId)?.memMb;
        if (pid === undefined || mem === undefined) return;
        const rss = treeUsage(pid).memRssBytes ?? 0;
        const limit = memoryLimitBytes(mem);
        if (rss <= limit) return;
        clearInterval(timer);
        const limitation: Limitation = {
          reason: 'REASON_CONTAINER_LIMITATION_MEMORY',
          resource: 'mem',
          message: `Memory limit exceeded: Requested: ${Math.round(limit / 1048576)}MB Used: ${Math.round(rss / 1048576)}MB`,
        };
        this.hit.set(containerId, limitation);
        resolve(limitation);
      }, this.pollMs);
      timer.unref();
      this.timers.set(containerId, timer);
    });
  }
  override async cleanup(containerId: string): Promise<void> {
    const t = this.timers.get(containerId);
    if (t) clearInterval(t);
    this.timers.delete(containerId);
    this.hit.delete(containerId);
    await super.cleanup(containerId);
  }
}

/** `du -k -s <path>` → bytes. */
export function du(path: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('du', ['-k', '-s', path], (err, stdout) => {
      if (err && !stdout) return resolve(undefined);
      const kb = Number(stdout.trim().split(/\s+/)[0]);
      resolve(Number.isFinite(kb) ? kb * 1024 : undefined);
    });
  });
}

export class DiskDuIsolator implements Isolator {
  readonly name = 'disk/du';
  private readonly sandboxes = new Map<
    string,
    { path: string; diskMb?: number | undefined; used?: number }
  >();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  constructor(private readonly intervalMs = 15_000) {}
  async recover(recovered: readonly ContainerConfig[]): Promise<void> {
    for (const c of recovered) this.track(c);
  }
  private track(config: ContainerConfig): void {
    const entry: { path: string; diskMb?: number | undefined; used?: number } = {
      path: config.sandbox,
      diskMb: config.resources.diskMb,
    };
    this.sandboxes.set(config.containerId, entry);
    let running = false;
    const timer = setInterval(() => {
      if (running) return; // one du at a time per path
      running = true;
      void du(entry.path).then((bytes) => {
        running = false;
        if (bytes !== undefined) entry.used = bytes;
      });
    }, this.intervalMs);
    timer.unref();
    this.timers.set(config.containerId, timer);
  }
  async prepare(config: ContainerConfig) {
    this.track(config);
    return undefined;
  }
  async update(containerId: string, resources: ContainerResources): Promise<void> {
    const entry = this.sandboxes.get(containerId);
    if (entry) entry.diskMb = resources.diskMb;
  }
  async usage(containerId: string): Promise<UsageStats> {
    const entry = this.sandboxes.get(containerId);
    if (!entry) return {};
    if (entry.used === undefined) entry.used = (await du(entry.path)) ?? 0;
    return {
      diskUsedBytes: entry.used,
      ...(entry.diskMb === undefined ? {} : { diskLimitBytes: Math.round(entry.diskMb * 1048576) }),
    };
  }
  async cleanup(containerId: string): Promise<void> {
    const t = this.timers.get(containerId);
    if (t) clearInterval(t);
    this.timers.delete(containerId);
    this.sandboxes.delete(containerId);
  }
}
