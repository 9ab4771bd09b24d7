/**
 * The legacy summary object of `/state`, `/state-summary`, `/slaves`, `/frameworks` and `/tasks`
 * (§5.2): `{"cpus":4.0,"gpus":0.0,"mem":7168.0,"disk":10240.0,"ports":"[31000-32000]"}`.
 *
 * Always has `cpus`, `gpus`, `mem` and `disk` (0 when absent), then one key per other name in
 * first-seen order. Scalars of one name are summed whatever their metadata (in thousandths, so no
 * float drift), ranges and sets are unioned and written as `[a-b, c-d]` / `{a, b}`, and revocable
 * resources go under `<name>_revocable`. A shared resource counts once.
 */
import type { JsonObject } from '../wire/json-text.js';
import { JsonNumber } from '../wire/json-text.js';
import { Ranges } from './ranges.js';
import type { Resources } from './resources.js';
import { fromMilli, Scalar } from './scalar.js';
import type { ValueSet } from './value-set.js';

const ALWAYS_PRESENT = ['cpus', 'gpus', 'mem', 'disk'] as const;

/** The summary with plain JS values: numbers for scalars, bracket text for ranges and sets. */
export function legacySummaryValues(resources: Resources): Record<string, number | string> {
  const scalars = new Map<string, number>(ALWAYS_PRESENT.map((name) => [name, 0]));
  const ranges = new Map<string, Ranges>();
  const sets = new Map<string, ValueSet>();
  for (const item of resources) {
    const key = item.revocable ? `${item.name}_revocable` : item.name;
    const value = item.value;
    if (value instanceof Scalar) {
      scalars.set(key, (scalars.get(key) ?? 0) + value.milli);
    } else if (value instanceof Ranges) {
      const seen = ranges.get(key);
      ranges.set(key, seen === undefined ? value : seen.add(value));
    } else {
      const seen = sets.get(key);
      sets.set(key, seen === undefined ? value : seen.add(value));
    }
  }
  const out: Record<string, number | string> = {};
  for (const [key, milli] of scalars) out[key] = fromMilli(milli);
  for (const [key, value] of ranges) out[key] = value.toString();
  for (const [key, value] of sets) out[key] = value.toString();
  return out;
}

/** The summary as a JSON object for the response writers; scalars keep Mesos' `4.0` form. */
export function toLegacySummary(resources: Resources): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(legacySummaryValues(resources))) {
    out[key] = typeof value === 'number' ? JsonNumber.ofDouble(value) : value;
  }
  return out;
}
