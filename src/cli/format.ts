/**
 * Output helpers shared by the commands: aligned tables (cli-table3, borderless), human units
 * (MB amounts as `512 MB` / `1.5 GB`, ages), resource summaries and usage (`1.5/4 cpus`).
 */
import Table from 'cli-table3';
import type { Resource } from '../wire/gen/mesos/v1/mesos_pb.js';

/** A borderless, left-aligned table with a header row, like kubectl's. */
export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({
    head,
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const row of rows) t.push(row.map(String));
  return t
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/** Prints a table, or a line saying there is nothing to show. */
export function printTable(head: string[], rows: (string | number)[][], empty: string): void {
  if (rows.length === 0) console.log(empty);
  else console.log(table(head, rows));
}

/** Megabytes (Mesos' unit for mem and disk) in human form. */
export function megabytes(mb: number): string {
  if (!Number.isFinite(mb)) return String(mb);
  if (mb >= 1024 * 1024) return `${trim(mb / (1024 * 1024))} TB`;
  if (mb >= 1024) return `${trim(mb / 1024)} GB`;
  return `${trim(mb)} MB`;
}

export function bytes(n: number): string {
  return n >= 1024 * 1024 ? megabytes(n / (1024 * 1024)) : n >= 1024 ? `${trim(n / 1024)} KB` : `${n} B`;
}

function trim(n: number): string {
  return n >= 100
    ? n.toFixed(0)
    : n >= 10
      ? String(Math.round(n * 10) / 10)
      : String(Math.round(n * 100) / 100);
}

export function cpus(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

/** Seconds since a moment in epoch seconds: `42s`, `5m`, `3h`, `2d`. */
export function age(epochSeconds: number | undefined, now = Date.now() / 1000): string {
  if (epochSeconds === undefined || !Number.isFinite(epochSeconds) || epochSeconds <= 0) return '-';
  const s = Math.max(0, now - epochSeconds);
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export interface Amounts {
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
}

/** Sums scalar resources by name (cpus, mem, disk, gpus). */
export function amounts(resources: readonly Resource[] | undefined): Amounts {
  const out: Amounts = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  for (const r of resources ?? []) {
    const value = r.scalar?.value;
    if (value === undefined) continue;
    if (r.name === 'cpus' || r.name === 'mem' || r.name === 'disk' || r.name === 'gpus') out[r.name] += value;
  }
  for (const key of ['cpus', 'mem', 'disk', 'gpus'] as const) out[key] = Math.round(out[key] * 1000) / 1000;
  return out;
}

export function amountsFromMap(map: { [name: string]: { value: number } | undefined }): Amounts {
  return {
    cpus: map.cpus?.value ?? 0,
    mem: map.mem?.value ?? 0,
    disk: map.disk?.value ?? 0,
    gpus: map.gpus?.value ?? 0,
  };
}

/** `1 cpus, 128 MB mem, 64 MB disk` (zero amounts left out). */
export function summary(a: Amounts): string {
  const parts: string[] = [];
  if (a.cpus) parts.push(`${cpus(a.cpus)} cpus`);
  if (a.gpus) parts.push(`${a.gpus} gpus`);
  if (a.mem) parts.push(`${megabytes(a.mem)} mem`);
  if (a.disk) parts.push(`${megabytes(a.disk)} disk`);
  return parts.length ? parts.join(', ') : '-';
}

function percent(used: number, total: number): string {
  return total > 0 ? ` (${Math.round((used / total) * 100)}%)` : '';
}

/** `cpus 0.5/4 (13%)  mem 128 MB/2 GB (6%)`: the usage column. */
export function usage(used: Amounts, total: Amounts): string {
  return [
    `cpus ${cpus(used.cpus)}/${cpus(total.cpus)}${percent(used.cpus, total.cpus)}`,
    `mem ${megabytes(used.mem)}/${megabytes(total.mem)}${percent(used.mem, total.mem)}`,
  ].join('  ');
}

/** A text bar for terminals: `[#####.....]`. */
export function bar(used: number, total: number, width = 20): string {
  const filled = total > 0 ? Math.min(width, Math.round((used / total) * width)) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** TASK_RUNNING → RUNNING. */
export function shortState(name: string | undefined): string {
  return (name ?? 'UNKNOWN').replace(/^TASK_/, '');
}

/** TimeInfo nanoseconds → epoch seconds. */
export function nanosToSeconds(nanos: bigint | undefined): number | undefined {
  return nanos === undefined ? undefined : Number(nanos) / 1e9;
}
