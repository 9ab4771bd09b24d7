/**
 * A Mesos-style timer that is also a Prometheus histogram. One `observe()` feeds both views of
 * the same durations, so `/metrics/snapshot` and `/metrics` can never disagree about what was
 * measured:
 *
 * - the snapshot keys libprocess writes for a `Timer<Milliseconds>`: `<key>` (the latest value)
 *   and, once at least two values are in the window, `<key>/count|min|max|p50|p90|p95|p99|p999|
 *   p9999` over the recent values (a bounded window, as libprocess' TimeSeries);
 * - a prom-client `Histogram` in seconds, cumulative since the process started.
 *
 * Durations come from a monotonic stopwatch (`performance.now()` by default), not from the
 * injected Clock: they steer nothing, and under a ManualClock every duration would read 0.
 */
import { performance } from 'node:perf_hooks';
import { Histogram } from 'prom-client';
import { prometheusName } from './names.js';

/** The statistics libprocess adds below a timer's key, in its order. */
export const TIMER_STATISTICS = ['count', 'min', 'max', 'p50', 'p90', 'p95', 'p99', 'p999', 'p9999'] as const;

const PERCENTILES: ReadonlyArray<[string, number]> = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p95', 0.95],
  ['p99', 0.99],
  ['p999', 0.999],
  ['p9999', 0.9999],
];

/** Bucket bounds in seconds for latencies that cross the network (1 ms to 5 min). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

/** Bucket bounds in seconds for in-process work such as an allocation cycle (100 µs to 10 s). */
export const COMPUTE_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export interface TimerOptions {
  /** The snapshot key, ending in `_ms` as libprocess names a `Timer<Milliseconds>`. */
  key: string;
  /** HELP text of the histogram. */
  help: string;
  /** Upper bounds in seconds; prom-client adds `+Inf`. */
  buckets: readonly number[];
  /** How long a value counts towards the snapshot statistics (libprocess: the timer's window). */
  windowMs?: number;
  /** The most values kept for the statistics (libprocess' TimeSeries capacity). */
  capacity?: number;
  /** The stopwatch, in milliseconds; only its differences matter. */
  now?: () => number;
}

/** libprocess' default window for timers that name none, and its TimeSeries capacity. */
const DEFAULT_WINDOW_MS = 60 * 60 * 1000;
const DEFAULT_CAPACITY = 1000;

/** Linear interpolation between the closest ranks, as stout's Statistics::percentile. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 1) return sorted[0]!;
  const position = p * (sorted.length - 1);
  const index = Math.floor(position);
  const delta = position - index;
  const low = sorted[index]!;
  const high = sorted[Math.min(index + 1, sorted.length - 1)]!;
  return low + delta * (high - low);
}

export class Timer {
  readonly key: string;
  /** The histogram's Prometheus name (names.ts: `_ms` becomes `_seconds`). */
  readonly name: string;
  readonly histogram: Histogram;
  private readonly windowMs: number;
  private readonly capacity: number;
  private readonly clock: () => number;
  /** Ring of recent values and when they were taken (stopwatch time). */
  private readonly values: number[] = [];
  private readonly times: number[] = [];
  private next = 0;
  private last: number | undefined;
  private total = 0;

  constructor(options: TimerOptions) {
    if (!options.key.endsWith('_ms')) throw new RangeError(`timer key '${options.key}' must end in _ms`);
    this.key = options.key;
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.clock = options.now ?? (() => performance.now());
    this.name = prometheusName(options.key, 'histogram');
    this.histogram = new Histogram({
      name: this.name,
      help: options.help,
      buckets: [...options.buckets],
      registers: [],
    });
  }

  /** A stopwatch reading to pass back to `observeSince`. */
  now(): number {
    return this.clock();
  }

  /** Records the time since `start` (a `now()` reading). */
  observeSince(start: number): void {
    this.observe(this.clock() - start);
  }

  /** Records one duration in milliseconds. */
  observe(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const value = Math.max(0, ms);
    this.last = value;
    this.total++;
    if (this.values.length < this.capacity) {
      this.values.push(value);
      this.times.push(this.clock());
    } else {
      this.values[this.next] = value;
      this.times[this.next] = this.clock();
      this.next = (this.next + 1) % this.capacity;
    }
    this.histogram.observe(value / 1000);
  }

  /** How many durations were recorded since the process started (the histogram's `_count`). */
  get count(): number {
    return this.total;
  }

  /** Whether `key` is one this timer writes into a snapshot. */
  owns(key: string): boolean {
    return key === this.key || (key.startsWith(this.key) && key[this.key.length] === '/');
  }

  /** Adds this timer's libprocess keys to a snapshot (nothing until the first value). */
  snapshotInto(out: Record<string, number>): void {
    if (this.last === undefined) return;
    out[this.key] = this.last;
    const since = this.clock() - this.windowMs;
    const recent: number[] = [];
    for (let i = 0; i < this.values.length; i++) if (this.times[i]! >= since) recent.push(this.values[i]!);
    // libprocess reports statistics only from two values on.
    if (recent.length < 2) return;
    recent.sort((a, b) => a - b);
    out[`${this.key}/count`] = recent.length;
    out[`${this.key}/min`] = recent[0]!;
    out[`${this.key}/max`] = recent[recent.length - 1]!;
    for (const [name, p] of PERCENTILES) out[`${this.key}/${name}`] = percentile(recent, p);
  }
}
