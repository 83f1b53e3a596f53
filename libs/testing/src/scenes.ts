import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '@vigil/contracts';

/** Size of the synthetic camera scenes. */
export const W = 640;
export const H = 360;

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
  /** Burn this number into the picture as a camera OSD would (see TIMECODE_BOX, readTimecode). */
  readonly timecode?: number;
}

/** Where the timecode strip lies (normalized, as an ignore region): 16 blocks of 8×8 px at the top left. */
export const TIMECODE_BOX = { x: 0, y: 0, w: 144 / W, h: 24 / H } as const;
const TC_BITS = 16;
const TC_X = 8;
const TC_Y = 8;
const TC_BLOCK = 8;

function timecodeStrip(n: number): Buffer {
  const w = TC_BITS * TC_BLOCK;
  const strip = Buffer.alloc(w * TC_BLOCK * 3);
  for (let b = 0; b < TC_BITS; b++) {
    const v = (n >> (TC_BITS - 1 - b)) & 1 ? 255 : 0;
    for (let y = 0; y < TC_BLOCK; y++)
      for (let x = 0; x < TC_BLOCK; x++)
        strip.fill(v, (y * w + b * TC_BLOCK + x) * 3, (y * w + b * TC_BLOCK + x) * 3 + 3);
  }
  return strip;
}

/** Burns the timecode `n` into any JPEG frame at the scene's size (W × H), where readTimecode reads it. */
export async function withTimecode(jpeg: Buffer, n: number): Promise<Buffer> {
  return sharp(jpeg)
    .composite([
      {
        input: timecodeStrip(n),
        raw: { width: TC_BITS * TC_BLOCK, height: TC_BLOCK, channels: 3 },
        left: TC_X,
        top: TC_Y,
      },
    ])
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** Reads the timecode burnt in by sceneJpeg from a frame at the scene's size (JPEG or H.264 artefacts are fine). */
export async function readTimecode(jpeg: Buffer): Promise<number> {
  const { data, info } = await sharp(jpeg)
    .resize(W, H, { fit: 'fill' })
    .extract({ left: TC_X, top: TC_Y, width: TC_BITS * TC_BLOCK, height: TC_BLOCK })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  let n = 0;
  for (let b = 0; b < TC_BITS; b++) {
    const centre = (TC_BLOCK >> 1) * info.width + b * TC_BLOCK + (TC_BLOCK >> 1);
    n = (n << 1) | (data[centre]! > 127 ? 1 : 0);
  }
  return n;
}

/** A textured industrial-looking scene: shelves of boxes, a walker crossing, a conveyor belt, sensor noise. */
export async function sceneJpeg(f: SceneFrame): Promise<Buffer> {
  const px = Buffer.alloc(W * H * 3);
  const r = seededRandom(7);
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
  const n = seededRandom(1000 + f.i);
  for (let o = 0; o < px.length; o++) {
    let v = f.covered ? 22 : px[o]! * gain;
    if (noise) v += (n() - 0.5) * 2 * noise;
    px[o] = Math.max(0, Math.min(255, Math.round(v)));
  }
  let img = sharp(px, { raw: { width: W, height: H, channels: 3 } });
  if (f.blur) img = img.blur(f.blur);
  if (f.timecode !== undefined)
    img = img.composite([
      {
        input: timecodeStrip(f.timecode),
        raw: { width: TC_BITS * TC_BLOCK, height: TC_BLOCK, channels: 3 },
        left: TC_X,
        top: TC_Y,
      },
    ]);
  return img.jpeg({ quality: 85 }).toBuffer();
}

/**
 * Encodes `seconds` of the scene at `fps` into an H.264 MP4 (one keyframe per second) for the RTSP test
 * server; `frame` may alter each frame (scheduled anomalies). Cached: an existing file is reused.
 */
export async function sceneClip(
  file: string,
  seconds: number,
  fps: number,
  frame: (i: number, t: number) => SceneFrame | Buffer | Promise<Buffer> = (i) => ({ i }),
): Promise<string> {
  if (existsSync(file)) return file;
  mkdirSync(dirname(file), { recursive: true });
  const ff = spawn(
    'ffmpeg',
    ['-v', 'error', '-y', '-f', 'image2pipe', '-framerate', String(fps), '-i', '-'].concat(
      ['-c:v', 'libx264', '-preset', 'veryfast', '-g', String(fps), '-keyint_min', String(fps)],
      ['-sc_threshold', '0', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', `${file}.part.mp4`],
    ),
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let err = '';
  ff.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number | null>((resolve) => ff.once('close', resolve));
  for (let i = 0; i < seconds * fps; i++) {
    const f = await frame(i, i / fps);
    const jpeg = Buffer.isBuffer(f) ? f : await sceneJpeg(f);
    if (!ff.stdin.write(jpeg)) await new Promise((r) => ff.stdin.once('drain', r));
  }
  ff.stdin.end();
  const code = await done;
  if (code !== 0) throw new Error(`ffmpeg could not encode ${file}: ${err.trim()}`);
  renameSync(`${file}.part.mp4`, file);
  return file;
}

/** Gaussian sensor noise as a PNG of `width`×`height`, mean grey; `seed` varies it from frame to frame. */
export const sensorNoise = (width: number, height: number, sigma: number, seed: number): Promise<Buffer> =>
  sharp({
    create: {
      width,
      height,
      channels: 3,
      background: { r: 128, g: 128, b: 128 },
      noise: { type: 'gaussian', mean: 128 + (seed % 3), sigma },
    },
  })
    .png()
    .toBuffer();

/** A real frame (`width`×`height`) with a hand over the lens: no layout, warm, dim, noisy. Not yet encoded. */
export const handOverLens = async (frame: Buffer, width: number, height: number, seed: number) =>
  sharp(frame)
    .blur(80)
    .modulate({ brightness: 0.12 })
    .tint({ r: 180, g: 110, b: 90 })
    .composite([{ input: await sensorNoise(width, height, 60, seed), blend: 'overlay' }]);

/** A real frame (`width`×`height`) with the lights out: the layout kept, dim, noisy. Not yet encoded. */
export const lightsOut = async (frame: Buffer, width: number, height: number, seed: number) =>
  sharp(frame)
    .linear(0.14, 0)
    .composite([{ input: await sensorNoise(width, height, 30, seed), blend: 'soft-light' }]);
