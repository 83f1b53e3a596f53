export interface ContentBox {
  /** Where the picture lies inside the model input (letterboxing), in model pixels. */
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** Where a frameW×frameH picture lands when letterboxed into modelW×modelH (aspect kept, centred). Pure. */
export function letterboxContent(frameW: number, frameH: number, modelW: number, modelH: number): ContentBox {
  const scale = Math.min(modelW / frameW, modelH / frameH);
  const w = Math.round(frameW * scale);
  const h = Math.round(frameH * scale);
  return { x: Math.floor((modelW - w) / 2), y: Math.floor((modelH - h) / 2), w, h };
}

export interface PatchChange {
  /** Fraction (0..1) of the picture's patches whose features changed. */
  readonly fraction: number;
  /** Normalized box, in frame coordinates, around the changed patches. */
  readonly region?: { x: number; y: number; w: number; h: number };
}

/**
 * Compares two frames' patch tokens ([rows × cols] tokens of `dims` features): a patch changed when the
 * mean absolute difference of its features reaches `threshold`. Patches outside the picture (letterbox
 * bars) are not counted. Pure.
 */
export function patchChange(
  prev: Float32Array,
  cur: Float32Array,
  grid: readonly [rows: number, cols: number],
  dims: number,
  threshold: number,
  content: ContentBox,
  modelW: number,
  modelH: number,
): PatchChange {
  const [rows, cols] = grid;
  const pw = modelW / cols;
  const ph = modelH / rows;
  let inside = 0;
  let changed = 0;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x0 = c * pw;
      const y0 = r * ph;
      // a patch counts when at least half of it shows the picture
      const ox = Math.max(0, Math.min(x0 + pw, content.x + content.w) - Math.max(x0, content.x));
      const oy = Math.max(0, Math.min(y0 + ph, content.y + content.h) - Math.max(y0, content.y));
      if (ox * oy < (pw * ph) / 2) continue;
      inside++;
      const base = (r * cols + c) * dims;
      let d = 0;
      for (let f = 0; f < dims; f++) d += Math.abs(cur[base + f]! - prev[base + f]!);
      if (d / dims < threshold) continue;
      changed++;
      minX = Math.min(minX, x0);
      minY = Math.min(minY, y0);
      maxX = Math.max(maxX, x0 + pw);
      maxY = Math.max(maxY, y0 + ph);
    }
  }
  if (changed === 0) return { fraction: 0 };
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  const x = clamp((minX - content.x) / content.w);
  const y = clamp((minY - content.y) / content.h);
  return {
    fraction: changed / Math.max(1, inside),
    region: {
      x,
      y,
      w: clamp((maxX - content.x) / content.w) - x,
      h: clamp((maxY - content.y) / content.h) - y,
    },
  };
}
