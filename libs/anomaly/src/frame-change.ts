/** Mean absolute difference of two equal-size 8-bit images, as a fraction of full scale (0..1). Pure. */
export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length || a.length === 0) {
    throw new RangeError(`images differ in size (${a.length} vs ${b.length} pixels)`);
  }
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / (a.length * 255);
}

/**
 * The bounding box of pixels that changed by more than `threshold` (0..1), normalized, or undefined when
 * nothing did. Used as the region of a scene-change event.
 */
export function changedRegion(
  a: Uint8Array,
  b: Uint8Array,
  width: number,
  height: number,
  threshold = 0.1,
): { x: number; y: number; w: number; h: number } | undefined {
  const t = threshold * 255;
  let minX = width;
  let minY = height;
  let maxX = -1;
  let maxY = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (Math.abs(a[i]! - b[i]!) > t) {
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  if (maxX < 0) return undefined;
  return { x: minX / width, y: minY / height, w: (maxX - minX + 1) / width, h: (maxY - minY + 1) / height };
}
