/**
 * Reads a Prometheus text exposition (format 0.0.4) the way a scraper would, and refuses what a
 * scraper would refuse. Two independent checks:
 *
 * - parse-prometheus-text-format (a port of the Python client's parser) builds the families:
 *   name, HELP, TYPE, samples, histogram buckets;
 * - a line-level pass here enforces what that lenient parser lets through: every sample belongs to
 *   the family its `# TYPE` line announced (with `_bucket`/`_sum`/`_count` only for histograms),
 *   names are valid, no family is declared twice, every value is a float Go's parser accepts.
 *
 * `histogram()` returns a histogram's buckets in bound order and checks the invariants Prometheus
 * relies on: cumulative (non-decreasing) counts, a `+Inf` bucket equal to `_count`, a `_sum`.
 */
import assert from 'node:assert/strict';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( -?\d+)?$/;
const FLOAT = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/i;

export type Kind = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Family {
  name: string;
  help: string;
  kind: Kind;
  parsed: ParsedFamily;
}

export interface Histogram {
  /** [upper bound, cumulative count], ascending, `+Inf` last. */
  buckets: Array<[number, number]>;
  count: number;
  sum: number;
}

export class Exposition {
  readonly families = new Map<string, Family>();

  constructor(readonly text: string) {
    strictLines(text);
    for (const parsed of parsePrometheusTextFormat(text)) {
      assert.ok(!this.families.has(parsed.name), `family ${parsed.name} parsed twice`);
      this.families.set(parsed.name, {
        name: parsed.name,
        help: parsed.help,
        kind: parsed.type.toLowerCase() as Kind,
        parsed,
      });
    }
  }

  family(name: string): Family {
    const family = this.families.get(name);
    assert.ok(family, `no metric family ${name} in the exposition`);
    return family;
  }

  /** The value of an unlabelled counter or gauge. */
  value(name: string): number {
    const family = this.family(name);
    assert.ok(family.kind === 'counter' || family.kind === 'gauge', `${name} is a ${family.kind}`);
    assert.equal(family.parsed.metrics.length, 1, `${name} has one series`);
    return Number(family.parsed.metrics[0]!.value);
  }

  histogram(name: string): Histogram {
    const family = this.family(name);
    assert.equal(family.kind, 'histogram', `${name} is a histogram`);
    assert.equal(family.parsed.metrics.length, 1, `${name} has one series`);
    const sample = family.parsed.metrics[0]!;
    assert.ok(sample.buckets, `${name} has buckets`);
    const buckets = Object.entries(sample.buckets)
      .map(([le, count]): [number, number] => [le === '+Inf' ? Infinity : Number(le), Number(count)])
      .sort((a, b) => a[0] - b[0]);
    assert.ok(buckets.length >= 2, `${name} has buckets besides +Inf`);
    for (const [bound, count] of buckets) {
      assert.ok(!Number.isNaN(bound) && Number.isInteger(count) && count >= 0, `${name} bucket ${bound}`);
    }
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(
        buckets[i]![1] >= buckets[i - 1]![1],
        `${name} buckets are cumulative at le=${buckets[i]![0]}`,
      );
    }
    const last = buckets[buckets.length - 1]!;
    assert.equal(last[0], Infinity, `${name} ends with a +Inf bucket`);
    const count = Number(sample.count);
    const sum = Number(sample.sum);
    assert.equal(last[1], count, `${name}: the +Inf bucket equals _count`);
    assert.ok(Number.isFinite(sum) && sum >= 0, `${name}_sum is a non-negative number`);
    return { buckets, count, sum };
  }
}

/** The line-level rules of the text format that the library parser does not enforce. */
function strictLines(text: string): void {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  const declared = new Map<string, Kind>();
  let current: { name: string; kind: Kind } | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const where = `line ${i + 1}: ${line}`;
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const name = line.slice(7).split(' ', 1)[0]!;
      assert.match(name, NAME, where);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, kind, ...rest] = line.slice(7).split(' ');
      assert.ok(name !== undefined && NAME.test(name), where);
      assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(kind ?? ''), where);
      assert.equal(rest.length, 0, where);
      assert.ok(!declared.has(name), `${where}: ${name} declared twice`);
      declared.set(name, kind as Kind);
      current = { name, kind: kind as Kind };
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    assert.ok(match, `${where}: not a sample line`);
    const [, name, , value] = match;
    assert.ok(current, `${where}: sample before any # TYPE`);
    const suffixes =
      current.kind === 'histogram'
        ? ['_bucket', '_sum', '_count']
        : current.kind === 'summary'
          ? ['', '_sum', '_count']
          : [''];
    assert.ok(
      suffixes.some((suffix) => name === current!.name + suffix),
      `${where}: sample of ${name} inside family ${current.name} (${current.kind})`,
    );
    assert.match(value!, FLOAT, where);
  }
}
