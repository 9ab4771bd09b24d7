/**
 * The allocator's only randomness: a seeded PRNG for the agent shuffle, so the same seed and the
 * same calls give the same offers (replayable allocation).
 */

/** mulberry32: tiny, fast and good enough for a shuffle; the state is one 32-bit integer. */
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

/** Fisher–Yates over `items[0..length)` in place. */
export function shuffleInPlace<T>(items: T[], length: number, random: () => number): void {
  for (let i = length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = items[i]!;
    items[i] = items[j]!;
    items[j] = swap;
  }
}
