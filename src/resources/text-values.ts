/**
 * The text syntax of a `Value` used by the agent's `--resources` and `--attributes` flags (Mesos'
 * `values::parse`): `2.5` is a scalar, `[31000-32000,33000-34000]` ranges, `{sda,sdb}` a set, and
 * anything else text. Whitespace inside a value is ignored, as in Mesos (`r 1` reads as `r1`).
 *
 * Stricter than Mesos where Mesos silently accepts garbage: every ranges element must be
 * `begin-end`, and nothing may follow the closing bracket.
 */
import type { Range } from './ranges.js';
import { checkBound } from './ranges.js';

export type TextValue =
  | { readonly type: 'SCALAR'; readonly scalar: number }
  | { readonly type: 'RANGES'; readonly ranges: readonly Range[] }
  | { readonly type: 'SET'; readonly set: readonly string[] }
  | { readonly type: 'TEXT'; readonly text: string };

/** What a decimal scalar may look like (`numify<double>`): `2`, `0.5`, `.5`, `1e3`, `-1`. */
const SCALAR_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const RANGE_ELEMENT = /^(\d+)-(\d+)$/;
const WHITESPACE = /\s+/g;

/** Parses one value; returns the value, or an error message (Mesos wording where Mesos has one). */
export function parseTextValue(text: string): TextValue | { readonly error: string } {
  const compact = text.replace(WHITESPACE, '');
  if (compact.length === 0) return { error: 'Expecting non-empty string' };

  if (compact.startsWith('[')) {
    if (
      !compact.endsWith(']') ||
      compact.indexOf('[', 1) >= 0 ||
      compact.indexOf(']') !== compact.length - 1
    ) {
      return { error: 'Mismatched brackets' };
    }
    const body = compact.slice(1, -1);
    const ranges: Range[] = [];
    for (const element of body === '' ? [] : body.split(',')) {
      if (element === '') continue;
      const match = RANGE_ELEMENT.exec(element);
      if (match === null)
        return { error: `Error parsing value: ${compact}, the element '${element}' has invalid format` };
      const begin = checkBound(BigInt(match[1]!));
      const end = checkBound(BigInt(match[2]!));
      if (typeof begin === 'string' || typeof end === 'string') {
        return { error: `Error parsing value: ${compact}, an element is out of the range of uint64` };
      }
      if (begin > end)
        return { error: `Error parsing value: ${compact}, range '${element}' has begin > end` };
      ranges.push({ begin, end });
    }
    return { type: 'RANGES', ranges };
  }

  if (compact.startsWith('{')) {
    if (
      !compact.endsWith('}') ||
      compact.indexOf('{', 1) >= 0 ||
      compact.indexOf('}') !== compact.length - 1
    ) {
      return { error: 'Mismatched brackets' };
    }
    // Empty items (`{a,,b}`) are skipped, as Mesos' tokenizer does.
    return {
      type: 'SET',
      set: compact
        .slice(1, -1)
        .split(',')
        .filter((item) => item !== ''),
    };
  }

  if (/[[\]{}]/.test(compact)) return { error: 'Mismatched brackets' };
  if (SCALAR_TEXT.test(compact)) return { type: 'SCALAR', scalar: Number(compact) };
  return { type: 'TEXT', text: compact };
}
