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

/** Prints milliseconds in the largest unit the value reaches, as stout does: `1.5secs`, `100ms`. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['weeks', 604_800_000],
    ['days', 86_400_000],
    ['hrs', 3_600_000],
    ['mins', 60_000],
    ['secs', 1000],
    ['ms', 1],
    ['us', 1e-3],
    ['ns', 1e-6],
  ];
  if (ms === 0) return '0ns';
  for (const [unit, size] of units) {
    if (Math.abs(ms) >= size) return `${Number((ms / size).toPrecision(12))}${unit}`;
  }
  return `${Number((ms * 1e6).toPrecision(12))}ns`;
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
