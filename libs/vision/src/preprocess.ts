import sharp from 'sharp';
import { type ModelManifest } from '@vigil/contracts';
import { ImageDecodeError } from './thumbnail.js';

/** Shared memory: the model's worker thread reads the batch where it was written, without a copy. */
const shared = (floats: number) => new Float32Array(new SharedArrayBuffer(floats * 4));

/**
 * An image (JPEG, PNG) → interleaved 8-bit RGB at width × height, inside libvips: `contain` letterboxes
 * (aspect kept, black bars), `fill` stretches. A file that is no image is an ImageDecodeError.
 */
export async function decodeRgb(
  image: Buffer,
  width: number,
  height: number,
  fit: 'contain' | 'fill',
): Promise<Buffer> {
  try {
    return await sharp(image, { failOn: 'error' })
      .resize(width, height, { fit, background: { r: 0, g: 0, b: 0 } })
      .removeAlpha()
      .toColorspace('srgb')
      .raw()
      .toBuffer();
  } catch (e) {
    throw new ImageDecodeError((e as Error).message.split('\n')[0] ?? 'unknown');
  }
}

/**
 * JPEG → the model's input: resized to the model size inside libvips (letterboxed, aspect kept, black
 * bars), RGB (or BGR), normalized per channel, written into one reusable NCHW Float32Array per batch size.
 */
export class Preprocessor {
  private buffer: Float32Array;
  private readonly plane: number;
  private readonly scale: [number, number, number];
  private readonly offset: [number, number, number];

  constructor(
    readonly manifest: ModelManifest,
    maxBatch = 1,
  ) {
    const { width, height, mean, std } = manifest.input;
    this.plane = width * height;
    this.buffer = shared(maxBatch * 3 * this.plane);
    // (v/255 - mean) / std  ==  v * scale + offset
    this.scale = [0, 1, 2].map((c) => 1 / (255 * std[c]!)) as [number, number, number];
    this.offset = [0, 1, 2].map((c) => -mean[c]! / std[c]!) as [number, number, number];
  }

  /**
   * Writes frame `slot` of the batch; returns the shared buffer. Slots below the constructor's maxBatch may
   * be written concurrently; a larger slot grows (reallocates) the buffer, so write those one at a time.
   */
  async write(jpeg: Buffer, slot: number): Promise<Float32Array> {
    const { width, height, colorOrder } = this.manifest.input;
    const need = (slot + 1) * 3 * this.plane;
    if (need > this.buffer.length) {
      const grown = shared(Math.max(need, this.buffer.length * 2));
      grown.set(this.buffer);
      this.buffer = grown;
    }
    const raw = await decodeRgb(jpeg, width, height, 'contain');
    // one pass over the interleaved pixels, three planes written; mean and std are given in the model's
    // channel order, like its input
    const plane = this.plane;
    const out = this.buffer;
    const d0 = slot * 3 * plane;
    const d1 = d0 + plane;
    const d2 = d1 + plane;
    const [s0, s1, s2] = colorOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
    const [k0, k1, k2] = this.scale;
    const [o0, o1, o2] = this.offset;
    for (let i = 0, j = 0; i < plane; i++, j += 3) {
      out[d0 + i] = raw[j + s0]! * k0 + o0;
      out[d1 + i] = raw[j + s1]! * k1 + o1;
      out[d2 + i] = raw[j + s2]! * k2 + o2;
    }
    return this.buffer;
  }

  get pixels(): Float32Array {
    return this.buffer;
  }
}
