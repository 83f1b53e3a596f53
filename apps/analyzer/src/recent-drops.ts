/**
 * Frames dropped in the last minute, and by which streams, in memory that does not grow with the drop
 * rate: a ring of one-second counts and each stream's latest drop. An analyzer under overload drops
 * hundreds of frames a second, and the tally is read only when a probe or a scrape asks, so a list of every
 * drop (what this replaced) grew by megabytes a minute whenever nothing asked.
 */
export class RecentDrops {
  private readonly counts: number[];
  /** the second (ms / 1000, floored) each slot of `counts` holds */
  private readonly seconds: number[];
  private readonly lastDrop = new Map<string, number>();

  constructor(
    private readonly windowS = 60,
    private readonly now: () => number = Date.now,
  ) {
    this.counts = new Array<number>(windowS).fill(0);
    this.seconds = new Array<number>(windowS).fill(-1);
  }

  add(streamId: string, n = 1): void {
    const at = this.now();
    const s = Math.floor(at / 1000);
    const i = s % this.windowS;
    if (this.seconds[i] !== s) {
      this.seconds[i] = s;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
    // re-inserted so the map stays in order of last drop, oldest first, and pruning stops early
    this.lastDrop.delete(streamId);
    this.lastDrop.set(streamId, at);
    this.prune(at);
  }

  /** Drops in the last `windowS` seconds (to the second), and the streams they came from. */
  last(): { dropped: number; streams: string[] } {
    const at = this.now();
    this.prune(at);
    const oldest = Math.floor(at / 1000) - this.windowS + 1;
    let dropped = 0;
    for (let i = 0; i < this.windowS; i++) if (this.seconds[i]! >= oldest) dropped += this.counts[i]!;
    return { dropped, streams: [...this.lastDrop.keys()] };
  }

  private prune(at: number): void {
    const since = at - this.windowS * 1000;
    for (const [id, t] of this.lastDrop) {
      if (t >= since) break;
      this.lastDrop.delete(id);
    }
  }
}
