/** Shared helpers for the resources tests: a seeded PRNG and error matchers. */
import { type ErrorCode, isStrataError } from '../../../src/common/errors.js';
import { parseResources } from '../../../src/resources/flags.js';
import type { Resources } from '../../../src/resources/resources.js';

/** mulberry32: small, fast, deterministic; the seed makes every failure reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomInt(random: () => number, lowInclusive: number, highInclusive: number): number {
  return lowInclusive + Math.floor(random() * (highInclusive - lowInclusive + 1));
}

/** An `assert.throws` matcher for a StrataError with `code` whose message matches `pattern`. */
export function strataError(code: ErrorCode, pattern?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    if (!isStrataError(err, code)) return false;
    if (pattern !== undefined && !pattern.test(err.message)) {
      throw new Error(`message ${JSON.stringify(err.message)} does not match ${pattern}`);
    }
    return true;
  };
}

/** Shorthand: resources from the agent flag syntax. */
export function r(text: string): Resources {
  return parseResources(text);
}
