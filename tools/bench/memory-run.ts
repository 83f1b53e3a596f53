import { rssMb as rssOf } from './proc-stats.js';

/** This process's RSS in MB, to 0.1. */
export const ownRssMb = () => Math.round(rssOf(process.pid) * 10) / 10;

/**
 * The loop of the memory workers (one process per variant): runs `step` for `seconds`, told whether it is
 * in the first, quiet half; `step` returns how many items it did. Gives RSS when the busy half began, at
 * the end and at most, and items per second.
 */
export async function quietThenBusy(
  seconds: number,
  step: (quiet: boolean) => Promise<number>,
): Promise<{ rssQuietMb: number; rssEndMb: number; rssMaxMb: number; perS: number }> {
  const start = performance.now();
  let done = 0;
  let rssQuietMb = 0;
  let rssMaxMb = 0;
  while (performance.now() - start < seconds * 1000) {
    const quiet = performance.now() - start < (seconds * 1000) / 2;
    if (!quiet && !rssQuietMb) rssQuietMb = ownRssMb();
    done += await step(quiet);
    rssMaxMb = Math.max(rssMaxMb, ownRssMb());
  }
  const perS = done / ((performance.now() - start) / 1000);
  return { rssQuietMb, rssEndMb: ownRssMb(), rssMaxMb, perS };
}
