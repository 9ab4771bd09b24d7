/**
 * The agent's total resources: `--resources` as given, plus whatever it does not name detected from
 * the machine (mesos-internals.md section 4.1: an explicit `cpus:0` means none, not "detect").
 *
 * Detection is cgroup-aware, because agents often run inside containers whose limits are far below
 * what /proc reports: a quota on CPU time caps `cpus`, a memory limit caps `mem`. The arithmetic is
 * pure (`detectedAmounts`); reading the machine is `probeMachine`.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseResourceInputs, parseResources, type Resources } from '../resources/index.js';

const MB = 1024 * 1024;
const GB = 1024 * MB;

/** What the machine offers before headroom; undefined where unknown or unlimited. */
export interface MachineFacts {
  /** Online CPUs (os.availableParallelism). */
  cpuCount: number;
  /** CPU quota / period of our cgroup, e.g. 1.5. */
  cgroupCpuLimit: number | undefined;
  memTotalBytes: number;
  /** Memory limit of our cgroup in bytes. */
  cgroupMemLimitBytes: number | undefined;
  /** Free bytes of the filesystem holding --work_dir. */
  diskFreeBytes: number | undefined;
}

export interface DetectedAmounts {
  cpus: number;
  /** Megabytes. */
  mem: number;
  /** Megabytes. */
  disk: number;
}

/** Megabytes left after Mesos' headroom: total − `reserve` when total ≥ 2·reserve, else half. */
function withHeadroom(totalBytes: number, reserveBytes: number): number {
  const usable = totalBytes >= 2 * reserveBytes ? totalBytes - reserveBytes : totalBytes / 2;
  return Math.max(0, Math.floor(usable / MB));
}

/**
 * cpus: the cgroup quota when it is below the CPU count (kept to Mesos' three decimals), else the
 * count (at least 1). mem: the smaller of physical memory and the cgroup limit, less 1 GB when that
 * leaves at least 1 GB, else half. disk: free space of the work dir, less 5 GB when it is at least
 * 10 GB, else half; 10 GB when unknown (Mesos' fallback).
 */
export function detectedAmounts(facts: MachineFacts): DetectedAmounts {
  const count = Math.max(1, facts.cpuCount);
  const quota = facts.cgroupCpuLimit;
  const cpus =
    quota !== undefined && quota > 0 && quota < count
      ? Math.max(0.001, Math.floor(quota * 1000) / 1000)
      : count;

  const limit = facts.cgroupMemLimitBytes;
  const memBytes =
    limit !== undefined && limit > 0 && limit < facts.memTotalBytes ? limit : facts.memTotalBytes;
  const mem = withHeadroom(memBytes, GB);

  const disk = facts.diskFreeBytes === undefined ? 10 * 1024 : withHeadroom(facts.diskFreeBytes, 5 * GB);
  return { cpus, mem, disk };
}

export const DEFAULT_PORTS = '[31000-32000]';
const DETECTED_NAMES = ['cpus', 'mem', 'disk', 'ports'] as const;

/**
 * `--resources` (flag syntax or JSON, unqualified role = `defaultRole`) plus detected amounts for
 * each of cpus, mem, disk and ports it does not name.
 */
export function agentTotalResources(
  flag: string | undefined,
  defaultRole: string,
  detect: () => DetectedAmounts,
): Resources {
  const given = flag === undefined || flag.trim() === '' ? undefined : parseResources(flag, { defaultRole });
  // Names as written, so an explicit `cpus:0` (which parses to nothing) still means "none".
  const named = new Set(given ? parseResourceInputs(flag!, defaultRole).map((input) => input.name) : []);
  const missing = DETECTED_NAMES.filter((name) => !named.has(name));
  if (missing.length === 0 && given) return given;
  const amounts = missing.some((name) => name !== 'ports') ? detect() : { cpus: 0, mem: 0, disk: 0 };
  const text = missing
    .map((name) => (name === 'ports' ? `ports:${DEFAULT_PORTS}` : `${name}:${amounts[name]}`))
    .join(';');
  const detected = parseResources(text, { defaultRole });
  return given ? given.add(detected) : detected;
}

// ------------------------------------------------------------------ reading the machine

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `/proc/self/cgroup` lines: `hierarchy-id:controllers:path`. */
export function parseProcCgroup(text: string): { v2Path: string | undefined; v1: Map<string, string> } {
  let v2Path: string | undefined;
  const v1 = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.slice(0, first) === '0' && controllers === '') v2Path = path;
    else for (const controller of controllers.split(',')) v1.set(controller, path);
  }
  return { v2Path, v1 };
}

/** `cpu.max` (`max 100000` or `150000 100000`): the limit in CPUs, undefined when unlimited. */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return undefined;
  const q = Number(quota);
  const p = Number(period ?? '100000');
  return q > 0 && p > 0 ? q / p : undefined;
}

/** A memory limit file (`max`, or bytes; v1's "unlimited" is a huge number). */
export function parseMemoryLimit(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'max') return undefined;
  const bytes = Number(trimmed);
  return Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 60 ? bytes : undefined;
}

/** The directories from our cgroup up to the mount root: limits of ancestors apply too. */
function cgroupChain(mount: string, path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '..');
  const chain: string[] = [];
  for (let i = parts.length; i >= 0; i--) chain.push(join(mount, ...parts.slice(0, i)));
  return chain;
}

function smallest(values: (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}

function cgroupLimits(root = '/sys/fs/cgroup'): { cpu: number | undefined; mem: number | undefined } {
  const self = parseProcCgroup(readText('/proc/self/cgroup') ?? '');
  if (self.v2Path !== undefined && readText(join(root, 'cgroup.controllers')) !== undefined) {
    const chain = cgroupChain(root, self.v2Path);
    return {
      cpu: smallest(chain.map((dir) => parseCpuMax(readText(join(dir, 'cpu.max')) ?? 'max'))),
      mem: smallest(chain.map((dir) => parseMemoryLimit(readText(join(dir, 'memory.max')) ?? 'max'))),
    };
  }
  const cpuPath = self.v1.get('cpu') ?? '/';
  const cpuMount = [join(root, 'cpu,cpuacct'), join(root, 'cpu')].find(
    (dir) => readText(join(dir, 'cpu.cfs_period_us')) !== undefined,
  );
  const cpu = cpuMount
    ? smallest(
        cgroupChain(cpuMount, cpuPath).map((dir) => {
          const quota = Number(readText(join(dir, 'cpu.cfs_quota_us')) ?? '-1');
          const period = Number(readText(join(dir, 'cpu.cfs_period_us')) ?? '0');
          return quota > 0 && period > 0 ? quota / period : undefined;
        }),
      )
    : undefined;
  const memPath = self.v1.get('memory') ?? '/';
  const memMount = join(root, 'memory');
  const mem = smallest(
    cgroupChain(memMount, memPath).map((dir) =>
      parseMemoryLimit(readText(join(dir, 'memory.limit_in_bytes')) ?? ''),
    ),
  );
  return { cpu, mem };
}

/** Reads the machine facts detection needs; never throws (unknowns stay undefined). */
export function probeMachine(workDir: string): MachineFacts {
  const limits = cgroupLimits();
  let diskFreeBytes: number | undefined;
  try {
    const stats = statfsSync(workDir);
    diskFreeBytes = stats.bavail * stats.bsize;
  } catch {
    diskFreeBytes = undefined;
  }
  return {
    cpuCount: availableParallelism(),
    cgroupCpuLimit: limits.cpu,
    memTotalBytes: totalmem(),
    cgroupMemLimitBytes: limits.mem,
    diskFreeBytes,
  };
}
