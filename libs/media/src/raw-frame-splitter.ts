/** Cuts ffmpeg's rawvideo byte stream into frames of exactly `frameBytes` (e.g. width × height × 3). */
export class RawFrameSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(readonly frameBytes: number) {
    if (!(frameBytes > 0)) throw new RangeError('frame size must be positive');
  }

  push(chunk: Buffer): Buffer[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.frameBytes) return [];
    const all = Buffer.concat(this.pending, this.pendingBytes);
    const out: Buffer[] = [];
    let at = 0;
    for (; at + this.frameBytes <= all.length; at += this.frameBytes)
      out.push(all.subarray(at, at + this.frameBytes));
    const rest = all.subarray(at);
    this.pending = rest.length ? [Buffer.from(rest)] : [];
    this.pendingBytes = rest.length;
    return out;
  }
}

/** Parses ffmpeg showinfo's per-frame line: `[Parsed_showinfo_3 @ 0x…] n:   4 pts: 2000 pts_time:2 …`. */
export function parseShowinfo(line: string): { n: number; ptsTime: number } | null {
  const m = /\[Parsed_showinfo_\d+ @ [^\]]+\] n:\s*(\d+) pts:\s*-?\d+\s+pts_time:(-?[\d.]+)/.exec(line);
  if (!m) return null;
  return { n: Number(m[1]), ptsTime: Number(m[2]) };
}
