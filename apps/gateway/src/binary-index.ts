/**
 * The sign bits of an embedding, packed 32 to a word: two texts whose codes differ in few bits point the
 * same way. (For unit vectors, the Hamming distance of sign codes tracks the angle between them.)
 */
export function binaryCode(v: Float32Array): Int32Array {
  const words = new Int32Array(Math.ceil(v.length / 32));
  for (let i = 0; i < v.length; i++) if (v[i]! > 0) words[i >>> 5]! |= 1 << (i & 31);
  return words;
}

/** Which rows a search may return: some cameras, a time range (ms since epoch, `to` exclusive). */
export interface IndexFilter {
  readonly streams?: readonly string[];
  readonly from?: number;
  readonly to?: number;
}

const popcount = (x: number): number => {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
};

/** The distance of a row a filter leaves out (above any real one). */
const NONE = 0xffff;
/** From this many rows a query scans in two stages (BinaryIndex.nearestTwoStage). */
const TWO_STAGE_FROM = 200_000;
/** Rows the first stage keeps for the second, at least. */
const PREFILTER_ROWS = 5000;

/** The distance at which `k` rows are reached in a histogram of distances, and how many are nearer. */
function cutFor(hist: Uint32Array, k: number): { at: number; below: number } {
  let at = 0;
  let below = 0;
  while (at < hist.length && below + hist[at]! < k) below += hist[at++]!;
  return { at: Math.min(at, hist.length - 1), below };
}

function hammingAt(codes: Int32Array, o: number, query: Int32Array, words: number): number {
  let d = 0;
  for (let w = 0; w < words; w++) d += popcount(codes[o + w]! ^ query[w]!);
  return d;
}

/**
 * A flat in-memory index of binary codes, one per searchable row (doc id, camera, time): a query's
 * nearest rows by Hamming distance over every row that passes the filter, exactly, in one pass, with no
 * training and no recall lost to partitions. At 384 bits a row is 48 bytes (48 MB for a million rows); the
 * candidates it returns are re-ranked by the caller on the full vectors. Rows are kept dense (a removal
 * moves the last row into the hole), so a scan reads one contiguous array.
 */
export class BinaryIndex {
  private readonly words: number;
  private cap: number;
  private codes: Int32Array;
  private docs: Int32Array;
  private streams: Int32Array;
  private times: Float64Array;
  private dist: Uint16Array;
  private n = 0;
  private readonly slotOf = new Map<number, number>();
  private readonly streamIndex = new Map<string, number>();

  constructor(
    readonly bits: number,
    initialCapacity = 1024,
  ) {
    this.words = Math.ceil(bits / 32);
    this.cap = Math.max(16, initialCapacity);
    this.codes = new Int32Array(this.cap * this.words);
    this.docs = new Int32Array(this.cap);
    this.streams = new Int32Array(this.cap);
    this.times = new Float64Array(this.cap);
    this.dist = new Uint16Array(this.cap);
  }

  get size(): number {
    return this.n;
  }

  has(docId: number): boolean {
    return this.slotOf.has(docId);
  }

  /** Adds a row, or replaces the row of the same doc id. */
  add(docId: number, code: Int32Array, streamId: string, atMs: number): void {
    if (code.length !== this.words)
      throw new RangeError(`a code of ${code.length} words given to an index of ${this.words}`);
    let slot = this.slotOf.get(docId);
    if (slot === undefined) {
      if (this.n === this.cap) this.grow();
      slot = this.n++;
      this.slotOf.set(docId, slot);
    }
    let s = this.streamIndex.get(streamId);
    if (s === undefined) this.streamIndex.set(streamId, (s = this.streamIndex.size));
    this.codes.set(code, slot * this.words);
    this.docs[slot] = docId;
    this.streams[slot] = s;
    this.times[slot] = atMs;
  }

  remove(docId: number): boolean {
    const slot = this.slotOf.get(docId);
    if (slot === undefined) return false;
    this.slotOf.delete(docId);
    const last = --this.n;
    if (slot !== last) {
      const moved = this.docs[last]!;
      this.codes.copyWithin(slot * this.words, last * this.words, (last + 1) * this.words);
      this.docs[slot] = moved;
      this.streams[slot] = this.streams[last]!;
      this.times[slot] = this.times[last]!;
      this.slotOf.set(moved, slot);
    }
    return true;
  }

  /** Doc ids of the (at most) `k` rows nearest to `query` that pass `filter`, nearest first. */
  nearest(query: Int32Array, k: number, filter: IndexFilter = {}): number[] {
    const n = this.n;
    if (n === 0 || k <= 0) return [];
    const W = this.words;
    const codes = this.codes;
    const dist = this.dist;
    const skip = this.skipper(filter);
    if (W === 12 && n >= TWO_STAGE_FROM) return this.nearestTwoStage(query, k, skip);
    const hist = new Uint32Array(W * 32 + 1);
    for (let i = 0, o = 0; i < n; i++, o += W) {
      if (skip(i)) {
        dist[i] = NONE;
        continue;
      }
      const d = hammingAt(codes, o, query, W);
      dist[i] = d;
      hist[d]!++;
    }
    // the distance at which k rows are reached: everything nearer, then ties at it in row order
    const cut = cutFor(hist, k);
    const near: number[] = [];
    let ties = k - cut.below;
    for (let i = 0; i < n; i++) {
      const d = dist[i]!;
      if (d < cut.at) near.push(i);
      else if (d === cut.at && ties > 0) {
        near.push(i);
        ties--;
      }
    }
    near.sort((a, b) => dist[a]! - dist[b]!);
    return near.map((i) => this.docs[i]!);
  }

  /**
   * The same for a large index, in a third of the time: the first 128 bits of every row, then all 384 bits
   * of the rows nearest on those (at least PREFILTER_ROWS, and 25 per row asked). A row among the k nearest
   * on all bits is near on its first third too, unless it is one of many at about the same distance
   * (recall against exact search: npm run bench -- search).
   */
  private nearestTwoStage(query: Int32Array, k: number, skip: (row: number) => boolean): number[] {
    const n = this.n;
    const codes = this.codes;
    const dist = this.dist;
    const [q0, q1, q2, q3] = [query[0]!, query[1]!, query[2]!, query[3]!];
    const hist = new Uint32Array(129);
    for (let i = 0, o = 0; i < n; i++, o += 12) {
      if (skip(i)) {
        dist[i] = NONE;
        continue;
      }
      const d =
        popcount(codes[o]! ^ q0) +
        popcount(codes[o + 1]! ^ q1) +
        popcount(codes[o + 2]! ^ q2) +
        popcount(codes[o + 3]! ^ q3);
      dist[i] = d;
      hist[d]!++;
    }
    const first = cutFor(hist, Math.max(PREFILTER_ROWS, k * 25)).at;
    const rows: number[] = [];
    const full: number[] = [];
    const rest = query.subarray(4);
    for (let i = 0, o = 0; i < n; i++, o += 12) {
      if (dist[i]! > first) continue;
      rows.push(i);
      full.push(dist[i]! + hammingAt(codes, o + 4, rest, 8));
    }
    const order = rows.map((_, j) => j).sort((a, b) => full[a]! - full[b]!);
    return order.slice(0, k).map((j) => this.docs[rows[j]!]!);
  }

  /** Whether a row is left out by `filter` (its cameras as a lookup by stream index, its time as bounds). */
  private skipper(filter: IndexFilter): (row: number) => boolean {
    const streams = this.streams;
    const times = this.times;
    const from = filter.from ?? -Infinity;
    const to = filter.to ?? Infinity;
    const timed = filter.from !== undefined || filter.to !== undefined;
    if (!filter.streams) return timed ? (i) => times[i]! < from || times[i]! >= to : () => false;
    const allowed = new Uint8Array(this.streamIndex.size);
    for (const id of filter.streams) {
      const s = this.streamIndex.get(id);
      if (s !== undefined) allowed[s] = 1;
    }
    return (i) => allowed[streams[i]!] !== 1 || (timed && (times[i]! < from || times[i]! >= to));
  }

  private grow(): void {
    this.cap *= 2;
    const grown = <T extends Int32Array | Float64Array | Uint16Array>(
      a: T,
      make: (n: number) => T,
      per = 1,
    ): T => {
      const b = make(this.cap * per);
      b.set(a);
      return b;
    };
    this.codes = grown(this.codes, (m) => new Int32Array(m), this.words);
    this.docs = grown(this.docs, (m) => new Int32Array(m));
    this.streams = grown(this.streams, (m) => new Int32Array(m));
    this.times = grown(this.times, (m) => new Float64Array(m));
    this.dist = new Uint16Array(this.cap);
  }
}
