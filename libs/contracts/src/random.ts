/**
 * mulberry32, one step: the value for a generator whose state is `state`, and the state after it. The same
 * numbers on every machine: seeded model weights, test scenes, the baseline's reservoir sampling (whose
 * state is saved with it) and seeded decoding all draw from it. Pure.
 */
export function mulberry32(state: number): { value: number; state: number } {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: ((t ^ (t >>> 14)) >>> 0) / 4294967296, state: next };
}

/** A seeded generator of numbers in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    const r = mulberry32(state);
    state = r.state;
    return r.value;
  };
}
