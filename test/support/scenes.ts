import sharp from 'sharp';

export const W = 640;
export const H = 360;

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SceneFrame {
  /** Sample number: moves the walker and the machine arm. */
  readonly i: number;
  /** Multiplies brightness (light drift, darkness, overexposure). */
  readonly gain?: number;
  /** Sensor noise amplitude (0: a pixel-identical repeat). */
  readonly noise?: number;
  /** The conveyor belt runs (a busy scene) unless stopped, at its position of sample `stoppedAt`. */
  readonly machineStopped?: boolean;
  readonly stoppedAt?: number;
  /** A red crate placed in the scene, that stays. */
  readonly crate?: boolean;
  /** The camera turned: the picture shifted right by this many pixels. */
  readonly shiftX?: number;
  /** Everything is a uniform dark gray (a hand or cap over the lens). */
  readonly covered?: boolean;
  /** Gaussian blur sigma (defocus). */
  readonly blur?: number;
}

/** A textured industrial-looking scene: shelves of boxes, a walker crossing, a conveyor belt, sensor noise. */
export async function sceneJpeg(f: SceneFrame): Promise<Buffer> {
  const px = Buffer.alloc(W * H * 3);
  const r = rng(7);
  const rects: [number, number, number, number, number, number, number][] = [];
  for (let k = 0; k < 40; k++) {
    rects.push([
      Math.floor(r() * W),
      Math.floor(r() * H),
      20 + Math.floor(r() * 90),
      15 + Math.floor(r() * 60),
      40 + Math.floor(r() * 180),
      40 + Math.floor(r() * 180),
      40 + Math.floor(r() * 180),
    ]);
  }
  const shift = f.shiftX ?? 0;
  const set = (x: number, y: number, c: readonly number[]) => {
    const xs = x + shift;
    if (xs < 0 || xs >= W || y < 0 || y >= H) return;
    const o = (y * W + xs) * 3;
    px[o] = c[0]!;
    px[o + 1] = c[1]!;
    px[o + 2] = c[2]!;
  };
  for (let y = 0; y < H; y++)
    for (let x = -shift; x < W; x++) set(x, y, [90 + (y >> 3), 100 + (x >> 4), 110]);
  for (const [x0, y0, w, h, cr, cg, cb] of rects)
    for (let y = y0; y < Math.min(H, y0 + h); y++)
      for (let x = x0; x < Math.min(W, x0 + w); x++)
        set(x, y, (x + y) % 9 === 0 ? [20, 20, 20] : [cr, cg, cb]);
  // the walker: crosses the aisle every 40 samples
  const wx = ((f.i * 16) % (W + 80)) - 40;
  for (let y = 200; y < 290; y++) for (let x = wx; x < wx + 28; x++) set(x, y, [60, 50, 160]);
  // a conveyor belt: its diagonal stripes advance every sample while it runs, and stand still when stopped
  const belt = f.machineStopped ? (f.stoppedAt ?? 0) * 13 : f.i * 13;
  for (let y = 50; y < 130; y++)
    for (let x = 380; x < 630; x++) set(x, y, (x + y + belt) % 40 < 20 ? [230, 200, 30] : [40, 40, 40]);
  if (f.crate) for (let y = 230; y < 320; y++) for (let x = 250; x < 360; x++) set(x, y, [200, 30, 30]);
  const gain = f.gain ?? 1;
  const noise = f.noise ?? 6;
  const n = rng(1000 + f.i);
  for (let o = 0; o < px.length; o++) {
    let v = f.covered ? 22 : px[o]! * gain;
    if (noise) v += (n() - 0.5) * 2 * noise;
    px[o] = Math.max(0, Math.min(255, Math.round(v)));
  }
  let img = sharp(px, { raw: { width: W, height: H, channels: 3 } });
  if (f.blur) img = img.blur(f.blur);
  return img.jpeg({ quality: 85 }).toBuffer();
}
