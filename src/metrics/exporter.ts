/**
 * `/metrics` in the Prometheus text format (version 0.0.4), derived from the very values
 * `/metrics/snapshot` serves: each scrape takes one snapshot from the same function the snapshot
 * endpoint calls, writes every key into a prom-client Gauge or Counter (kind and HELP from
 * catalog.ts, name from names.ts), and lets prom-client render the registry. Timers are not
 * re-derived from their snapshot keys: their histograms, fed by the same `observe()` calls, stand
 * for them. prom-client's default process metrics (`process_*`, `nodejs_*`: CPU, memory, event
 * loop lag, GC) are appended, once per process.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { describe } from './catalog.js';
import { type MetricKind, prometheusName } from './names.js';
import type { Timer } from './timer.js';

export interface ExporterOptions {
  /** The `/metrics/snapshot` values; keys owned by `timers` are skipped (the histograms replace them). */
  snapshot: () => Promise<Record<string, number>> | Record<string, number>;
  timers: readonly Timer[];
  /** Append prom-client's default process metrics (default true). */
  processMetrics?: boolean;
}

interface Series {
  name: string;
  kind: Exclude<MetricKind, 'histogram'>;
  metric: Gauge | Counter;
}

let processRegistry: Registry | undefined;

/** One registry of process metrics per OS process: they describe the process, not a component. */
function processMetricsRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class PrometheusExporter {
  /** `text/plain; version=0.0.4; charset=utf-8` */
  readonly contentType: string;
  private readonly registry = new Registry();
  /** Snapshot key → its Prometheus series. */
  private readonly series = new Map<string, Series>();
  /** Prometheus name → the snapshot key that has it (two keys must never share a name). */
  private readonly owners = new Map<string, string>();
  private readonly reserved = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ExporterOptions) {
    this.contentType = this.registry.contentType;
    for (const timer of options.timers) {
      this.registry.registerMetric(timer.histogram);
      // A histogram's name and the names of its samples are taken.
      for (const suffix of ['', '_bucket', '_sum', '_count']) this.reserved.add(timer.name + suffix);
    }
  }

  /** The exposition text. Scrapes run one after another, so one never sees another's half-written values. */
  render(): Promise<string> {
    const run = this.queue.then(() => this.renderNow());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async renderNow(): Promise<string> {
    const snapshot = await this.options.snapshot();
    this.update(snapshot);
    const own = await this.registry.metrics();
    if (this.options.processMetrics === false) return own;
    return `${own}\n${await processMetricsRegistry().metrics()}`;
  }

  /** Writes a snapshot into the registry: new keys get a metric, vanished keys lose theirs. */
  private update(snapshot: Record<string, number>): void {
    const seen = new Set<string>();
    for (const key of Object.keys(snapshot).sort()) {
      if (this.options.timers.some((timer) => timer.owns(key))) continue;
      const series = this.seriesFor(key);
      if (!series) continue;
      seen.add(key);
      const value = snapshot[key]!;
      if (series.kind === 'gauge') {
        (series.metric as Gauge).set(value);
      } else if (Number.isFinite(value) && value >= 0) {
        const counter = series.metric as Counter;
        counter.reset();
        counter.inc(value);
      }
    }
    for (const [key, series] of this.series) {
      if (seen.has(key)) continue;
      this.registry.removeSingleMetric(series.name);
      this.owners.delete(series.name);
      this.series.delete(key);
    }
  }

  private seriesFor(key: string): Series | undefined {
    const existing = this.series.get(key);
    if (existing) return existing;
    const { kind, help } = describe(key);
    const name = prometheusName(key, kind);
    // Two keys that map to one name (`a/b` and `a_b`): the first keeps it, the other is left out.
    if (this.reserved.has(name) || this.owners.has(name)) return undefined;
    const metric =
      kind === 'counter'
        ? new Counter({ name, help, registers: [this.registry] })
        : new Gauge({ name, help, registers: [this.registry] });
    const series: Series = { name, kind, metric };
    this.series.set(key, series);
    this.owners.set(name, key);
    return series;
  }
}
