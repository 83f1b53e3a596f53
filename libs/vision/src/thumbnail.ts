import sharp from 'sharp';

export interface GrayThumbnail {
  readonly width: number;
  readonly height: number;
  /** 8-bit luma, row-major. */
  readonly pixels: Uint8Array;
}

export class ImageDecodeError extends Error {
  constructor(reason: string) {
    super(`frame is not a decodable JPEG (${reason})`);
    this.name = 'ImageDecodeError';
  }
}

/**
 * Decodes a JPEG and shrinks it to a small grayscale thumbnail. Shrinking averages away sensor noise, so
 * differences between thumbnails reflect real scene changes. Adapter over sharp (libvips).
 */
export async function grayThumbnail(jpeg: Buffer, width = 64, height = 36): Promise<GrayThumbnail> {
  try {
    const { data, info } = await sharp(jpeg, { failOn: 'error' })
      .resize(width, height, { fit: 'fill', kernel: 'cubic' })
      .grayscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return {
      width: info.width,
      height: info.height,
      pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
  } catch (err) {
    throw new ImageDecodeError((err as Error).message.split('\n')[0] ?? 'unknown');
  }
}

/** Mean absolute difference of two equal-size 8-bit images, as a fraction of full scale (0..1). Pure. */
export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length || a.length === 0) {
    throw new RangeError(`images differ in size (${a.length} vs ${b.length} pixels)`);
  }
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / (a.length * 255);
}

/** The schema allows 64 000 base64 characters for an event's evidence, and a busy frame must still fit. */
export const EVIDENCE_MAX_BASE64 = 48_000;

/**
 * A small JPEG of the frame (160 px wide, ~5 KB) as base64, for an event's evidence; smaller if need be,
 * undefined when even 80 px does not fit `maxBase64`.
 */
export async function evidenceThumbnail(
  jpeg: Buffer,
  maxBase64 = EVIDENCE_MAX_BASE64,
): Promise<{ mime: 'image/jpeg'; base64: string } | undefined> {
  for (const [width, quality] of [
    [160, 70],
    [120, 50],
    [80, 40],
  ] as const) {
    const small = await sharp(jpeg).resize({ width }).jpeg({ quality }).toBuffer();
    const base64 = small.toString('base64');
    if (base64.length <= maxBase64) return { mime: 'image/jpeg', base64 };
  }
  return undefined;
}
