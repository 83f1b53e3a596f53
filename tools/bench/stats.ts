/** The p-th percentile (nearest rank below) of xs; null when there are none. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Rounded to 3 decimals, as the benches report figures. */
export const round3 = (x: number): number => Math.round(x * 1000) / 1000;
