import { type ContentBox, letterboxContent } from './patch-change.js';

/** A normalized box in frame coordinates (0..1, origin top-left). */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/**
 * Which of a model's rows × cols patches to score: a patch counts when at least half of it shows the
 * picture (not the letterbox bars) and its centre is outside every ignore region (a clock, a flag).
 */
export class PatchGrid {
  readonly rows: number;
  readonly cols: number;
  /** 1 where the patch is scored. */
  readonly mask: Uint8Array;
  readonly scored: number;
  private readonly pw: number;
  private readonly ph: number;

  constructor(
    grid: readonly [rows: number, cols: number],
    private readonly content: ContentBox,
    modelW: number,
    modelH: number,
    ignore: readonly Box[] = [],
  ) {
    [this.rows, this.cols] = grid;
    this.pw = modelW / this.cols;
    this.ph = modelH / this.rows;
    this.mask = new Uint8Array(this.rows * this.cols);
    let scored = 0;
    for (let r = 0; r < this.rows; r++) {
      for (let c = 0; c < this.cols; c++) {
        const x0 = c * this.pw;
        const y0 = r * this.ph;
        const ox = Math.max(0, Math.min(x0 + this.pw, content.x + content.w) - Math.max(x0, content.x));
        const oy = Math.max(0, Math.min(y0 + this.ph, content.y + content.h) - Math.max(y0, content.y));
        if (ox * oy < (this.pw * this.ph) / 2) continue;
        const cx = (x0 + this.pw / 2 - content.x) / content.w;
        const cy = (y0 + this.ph / 2 - content.y) / content.h;
        if (ignore.some((b) => cx >= b.x && cx <= b.x + b.w && cy >= b.y && cy <= b.y + b.h)) continue;
        this.mask[r * this.cols + c] = 1;
        scored++;
      }
    }
    this.scored = scored;
  }

  get patches(): number {
    return this.rows * this.cols;
  }

  /**
   * 1 for each scored patch that the boxes (normalized frame boxes, grown by `margin` of their size on each
   * side) cover by at least `minShare` of its area: the patches that what the detector found explains.
   */
  covered(boxes: readonly Box[], margin = 0.15, minShare = 0.25): Uint8Array {
    const out = new Uint8Array(this.rows * this.cols);
    const { content } = this;
    for (const b of boxes) {
      const x0 = content.x + (b.x - margin * b.w) * content.w;
      const x1 = content.x + (b.x + b.w * (1 + margin)) * content.w;
      const y0 = content.y + (b.y - margin * b.h) * content.h;
      const y1 = content.y + (b.y + b.h * (1 + margin)) * content.h;
      const c0 = Math.max(0, Math.floor(x0 / this.pw));
      const c1 = Math.min(this.cols - 1, Math.floor(x1 / this.pw));
      const r0 = Math.max(0, Math.floor(y0 / this.ph));
      const r1 = Math.min(this.rows - 1, Math.floor(y1 / this.ph));
      for (let r = r0; r <= r1; r++)
        for (let c = c0; c <= c1; c++) {
          const p = r * this.cols + c;
          if (!this.mask[p] || out[p]) continue;
          const ox = Math.min(x1, (c + 1) * this.pw) - Math.max(x0, c * this.pw);
          const oy = Math.min(y1, (r + 1) * this.ph) - Math.max(y0, r * this.ph);
          if (ox > 0 && oy > 0 && ox * oy >= minShare * this.pw * this.ph) out[p] = 1;
        }
    }
    return out;
  }

  /** The normalized frame box around the given patches, or undefined when there are none. */
  region(patches: readonly number[]): Box | undefined {
    if (patches.length === 0) return undefined;
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (const p of patches) {
      const r = Math.floor(p / this.cols);
      const c = p % this.cols;
      minX = Math.min(minX, c * this.pw);
      minY = Math.min(minY, r * this.ph);
      maxX = Math.max(maxX, (c + 1) * this.pw);
      maxY = Math.max(maxY, (r + 1) * this.ph);
    }
    const { content } = this;
    const clamp = (v: number) => Math.min(1, Math.max(0, v));
    const x = clamp((minX - content.x) / content.w);
    const y = clamp((minY - content.y) / content.h);
    return {
      x,
      y,
      w: clamp((maxX - content.x) / content.w) - x,
      h: clamp((maxY - content.y) / content.h) - y,
    };
  }
}

/**
 * The PatchGrid of each frame size and ignore list for one model input: a camera's grid is built once, not
 * per frame (an analyzer sees a few sizes; past `max` distinct ones the cache starts over).
 */
export class PatchGridCache {
  private readonly grids = new Map<string, PatchGrid>();

  constructor(
    private readonly grid: readonly [rows: number, cols: number],
    private readonly modelW: number,
    private readonly modelH: number,
    private readonly max = 256,
  ) {}

  get(width: number, height: number, ignore: readonly Box[] = []): PatchGrid {
    const key = `${width}x${height}:${JSON.stringify(ignore)}`;
    let g = this.grids.get(key);
    if (!g) {
      g = new PatchGrid(
        this.grid,
        letterboxContent(width, height, this.modelW, this.modelH),
        this.modelW,
        this.modelH,
        ignore,
      );
      if (this.grids.size > this.max) this.grids.clear();
      this.grids.set(key, g);
    }
    return g;
  }
}
