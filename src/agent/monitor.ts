/**
 * `/monitor/statistics` (reference section 1.2): per-executor resource usage, read from /proc the
 * way Mesos' posix isolators read it (`os::pstree` of the container's process): CPU times summed
 * over the container's processes and RSS summed likewise, plus the limits the executor was given
 * (its resources and its tasks'). Only Linux has /proc; elsewhere the list is empty.
 *
 * A container's processes: the executor, every descendant of it, everything in its session (a
 * task the executor started in its own process group stays in the session), and the nested
 * containers launched below it (each in a session of its own, with its working directory inside
 * the executor's sandbox) with their descendants.
 *
 * CPU time counts each process' own time plus the time of the children it has already waited for
 * (cutime/cstime), so work done by short-lived children is not lost between two samples.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { create } from '@bufbuild/protobuf';
import type { Clock } from '../common/clock.js';
import type { UsageStats } from '../containerizer/isolators/isolator.js';
import { requireMethod } from '../http/media.js';
import { jsonResponse } from '../http/responses.js';
import type { HttpServer } from '../http/server.js';
import { type ResourceStatistics, ResourceStatisticsSchema } from '../wire/gen/mesos/v1/mesos_pb.js';
import { type JsonObject, stringifyJson } from '../wire/json-text.js';
import { toMesosJson } from '../wire/mesos-json.js';
import type { Agent, ExecutorRecord } from './agent.js';
import { executorAllocated } from './endpoints.js';
import { isInside } from './files.js';

/** One process as /proc/<pid>/stat tells it. */
export interface ProcStat {
  pid: number;
  ppid: number;
  session: number;
  /** Clock ticks. */
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  threads: number;
  /** Resident pages. */
  rss: number;
}

/** Parses /proc/<pid>/stat; the command name may hold spaces and parentheses, so fields are read after the last `)`. */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // Field 3 (state) is at index 0 here, so field N is at index N - 3.
  const f = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const field = (n: number) => Number(f[n - 3]);
  const stat: ProcStat = {
    pid,
    ppid: field(4),
    session: field(6),
    utime: field(14),
    stime: field(15),
    cutime: field(16),
    cstime: field(17),
    threads: field(20),
    rss: field(24),
  };
  return Object.values(stat).every(Number.isFinite) ? stat : undefined;
}

/** The pids of `roots`, their descendants and every process in a session one of them leads. */
export function containerMembers(
  roots: readonly number[],
  table: ReadonlyMap<number, ProcStat>,
): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of table.values()) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const members = new Set<number>();
  const sessions = new Set(roots);
  const stack = roots.filter((pid) => table.has(pid));
  for (const p of table.values()) if (sessions.has(p.session)) stack.push(p.pid);
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (members.has(pid)) continue;
    members.add(pid);
    for (const child of children.get(pid) ?? []) stack.push(child);
  }
  return members;
}

export interface Usage {
  processes: number;
  threads: number;
  cpusUserTimeSecs: number;
  cpusSystemTimeSecs: number;
  memRssBytes: number;
}

export function sumUsage(
  members: Iterable<number>,
  table: ReadonlyMap<number, ProcStat>,
  ticksPerSecond: number,
  pageSize: number,
): Usage {
  const usage: Usage = {
    processes: 0,
    threads: 0,
    cpusUserTimeSecs: 0,
    cpusSystemTimeSecs: 0,
    memRssBytes: 0,
  };
  for (const pid of members) {
    const p = table.get(pid);
    if (!p) continue;
    usage.processes++;
    usage.threads += p.threads;
    usage.cpusUserTimeSecs += (p.utime + p.cutime) / ticksPerSecond;
    usage.cpusSystemTimeSecs += (p.stime + p.cstime) / ticksPerSecond;
    usage.memRssBytes += p.rss * pageSize;
  }
  return usage;
}

/** `getconf NAME` once, with the usual Linux value when it cannot be asked. */
function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 2000 }).trim());
    return Number.isInteger(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

let systemConstants: { ticksPerSecond: number; pageSize: number } | undefined;
/** Clock ticks per second and the page size, asked once. */
export function procConstants(): { ticksPerSecond: number; pageSize: number } {
  systemConstants ??= { ticksPerSecond: getconf('CLK_TCK', 100), pageSize: getconf('PAGESIZE', 4096) };
  return systemConstants;
}

/** Every process now, from /proc. */
export async function readProcessTable(proc = '/proc'): Promise<Map<number, ProcStat>> {
  const table = new Map<number, ProcStat>();
  let entries: string[];
  try {
    entries = await readdir(proc);
  } catch {
    return table;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (entry) => {
        try {
          const stat = parseProcStat(await readFile(`${proc}/${entry}/stat`, 'utf8'));
          if (stat) table.set(stat.pid, stat);
        } catch {
          // exited meanwhile
        }
      }),
  );
  return table;
}

/**
 * The working directory of every session leader but this agent, read once per request: nested
 * containers are session leaders whose working directory is inside their executor's sandbox.
 */
async function sessionLeaderDirectories(table: ReadonlyMap<number, ProcStat>): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  await Promise.all(
    [...table.values()]
      .filter((p) => p.pid === p.session && p.pid !== process.pid)
      .map(async (p) => {
        const cwd = await readlink(`/proc/${p.pid}/cwd`).catch(() => undefined);
        if (cwd !== undefined) out.set(p.pid, cwd);
      }),
  );
  return out;
}

export interface ExecutorUsage {
  executor: ExecutorRecord;
  statistics: ResourceStatistics;
}

/** Usage of every executor whose process runs, with its limits, stamped with the clock's time. */
export async function executorUsages(agent: Agent, clock: Clock): Promise<ExecutorUsage[]> {
  const live: ExecutorRecord[] = [];
  for (const framework of agent.frameworks.values()) {
    for (const executor of framework.executors.values()) {
      if (executor.phase !== 'terminated' && executor.process && !executor.process.hasExited)
        live.push(executor);
    }
  }
  if (live.length === 0) return [];
  const table = await readProcessTable();
  const leaders = await sessionLeaderDirectories(table);
  const { ticksPerSecond, pageSize } = procConstants();
  const out: ExecutorUsage[] = [];
  for (const executor of live) {
    const pid = executor.process!.pid;
    const roots = [pid];
    for (const [leader, cwd] of leaders) if (isInside(cwd, executor.directory)) roots.push(leader);
    const usage = sumUsage(containerMembers(roots, table), table, ticksPerSecond, pageSize);
    const allocated = executorAllocated(executor);
    const cpus = allocated.scalar('cpus');
    const mem = allocated.scalar('mem');
    const cgroups = await agent.containerUsage(executor.containerId);
    out.push({
      executor,
      statistics: create(ResourceStatisticsSchema, {
        timestamp: clock.now() / 1000,
        processes: usage.processes,
        threads: usage.threads,
        cpusUserTimeSecs: usage.cpusUserTimeSecs,
        cpusSystemTimeSecs: usage.cpusSystemTimeSecs,
        ...(cpus === undefined ? {} : { cpusLimit: cpus }),
        memRssBytes: BigInt(usage.memRssBytes),
        ...(mem === undefined ? {} : { memLimitBytes: BigInt(Math.round(mem * 1024 * 1024)) }),
        ...(cgroups ? cgroupStatistics(cgroups) : {}),
      }),
    });
  }
  return out;
}

type StatisticsFields = Omit<Partial<ResourceStatistics>, '$typeName' | '$unknown'>;

/**
 * ResourceStatistics fields from a container's cgroups (the containerizer's `usage`, isolators
 * merged); they replace the /proc figures, whatever the cgroups do not tell stays from /proc.
 */
export function cgroupStatistics(u: UsageStats): StatisticsFields {
  const out: StatisticsFields = {};
  const num = (v: number | undefined) => v !== undefined && Number.isFinite(v);
  const bytes = (v: number) => BigInt(Math.round(v));
  if (num(u.processes)) out.processes = u.processes!;
  if (num(u.threads)) out.threads = u.threads!;
  if (num(u.cpusUserTimeSecs)) out.cpusUserTimeSecs = u.cpusUserTimeSecs!;
  if (num(u.cpusSystemTimeSecs)) out.cpusSystemTimeSecs = u.cpusSystemTimeSecs!;
  if (num(u.cpusNrPeriods)) out.cpusNrPeriods = u.cpusNrPeriods!;
  if (num(u.cpusNrThrottled)) out.cpusNrThrottled = u.cpusNrThrottled!;
  if (num(u.cpusThrottledTimeSecs)) out.cpusThrottledTimeSecs = u.cpusThrottledTimeSecs!;
  if (num(u.memRssBytes)) out.memRssBytes = bytes(u.memRssBytes!);
  if (num(u.memTotalBytes)) out.memTotalBytes = bytes(u.memTotalBytes!);
  if (num(u.memCacheBytes)) out.memCacheBytes = bytes(u.memCacheBytes!);
  if (num(u.memSwapBytes)) out.memSwapBytes = bytes(u.memSwapBytes!);
  if (num(u.memLimitBytes)) out.memLimitBytes = bytes(u.memLimitBytes!);
  if (num(u.memSoftLimitBytes)) out.memSoftLimitBytes = bytes(u.memSoftLimitBytes!);
  if (num(u.diskUsedBytes)) out.diskUsedBytes = bytes(u.diskUsedBytes!);
  if (num(u.diskLimitBytes)) out.diskLimitBytes = bytes(u.diskLimitBytes!);
  return out;
}

/** One element of `/monitor/statistics`, as Mesos writes it. */
export function usageJson(usage: ExecutorUsage): JsonObject {
  const info = usage.executor.info;
  return {
    executor_id: usage.executor.id,
    executor_name: info.name,
    framework_id: usage.executor.frameworkId,
    source: info.source,
    statistics: toMesosJson(ResourceStatisticsSchema, usage.statistics),
  };
}

/** `/monitor/statistics` and its pre-1.7 `.json` alias, on the agent's own process (GET only). */
export function registerMonitorEndpoint(http: HttpServer, agent: Agent, clock: Clock): void {
  const handler = async (request: { method: string; query: URLSearchParams }) => {
    requireMethod(request.method, ['GET']);
    const usages = await executorUsages(agent, clock);
    return jsonResponse(request.query, stringifyJson(usages.map(usageJson)));
  };
  http.route('slave(1)', '/monitor/statistics', handler);
  http.route('slave(1)', '/monitor/statistics.json', handler);
}
