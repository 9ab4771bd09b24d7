/**
 * Mesos' duration and byte-size syntax, used by flags (`--offer_timeout=30secs`,
 * `--gc_delay=1weeks`, `--docker_store_size=10GB`) and printed back the same way in `/flags`.
 */

const NANOS_PER_UNIT: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  ms: 1,
  secs: 1000,
  mins: 60_000,
  hrs: 3_600_000,
  days: 86_400_000,
  weeks: 604_800_000,
};

/** Parses `10secs`, `1.5mins`, `100ms` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(-?\d+(?:\.\d+)?)\s*(ns|us|ms|secs|mins|hrs|days|weeks)\s*$/.exec(text);
  if (!match) return undefined;
  const factor = NANOS_PER_UNIT[match[2]!]!;
  return Number(match[1]) * factor;
}

/** Prints milliseconds in the largest Mesos unit that keeps the value whole-ish, like stout. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['weeks', 604_800_000],
    ['days', 86_400_000],
    ['hrs', 3_600_000],
    ['mins', 60_000],
    ['secs', 1000],
    ['ms', 1],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(ms) >= size && Number.isInteger(ms / size)) return `${ms / size}${unit}`;
  }
  if (Math.abs(ms) >= 1000) return `${ms / 1000}secs`;
  if (ms === 0) return '0ns';
  if (Math.abs(ms) >= 1) return `${ms}ms`;
  if (Math.abs(ms) >= 1e-3) return `${ms * 1e3}us`;
  return `${ms * 1e6}ns`;
}

const BYTES_PER_UNIT: Record<string, number> = {
  B: 1,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};

/** Parses `512MB`, `10GB`, `1024B` into bytes; undefined when malformed. */
export function parseBytes(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)\s*$/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * BYTES_PER_UNIT[match[2]!]!);
}

export function formatBytes(bytes: number): string {
  for (const unit of ['TB', 'GB', 'MB', 'KB'] as const) {
    const size = BYTES_PER_UNIT[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
