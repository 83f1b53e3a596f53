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
