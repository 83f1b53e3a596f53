const SOI = 0xd8;
const EOI = 0xd9;

/**
 * Splits ffmpeg's image2pipe MJPEG byte stream into whole JPEG images. JPEG byte-stuffs 0xFF inside
 * entropy-coded data (0xFF00), so the first 0xFFD9 after a start-of-image ends the image. Bytes before a
 * start-of-image are garbage and counted; an image larger than maxBytes is dropped and counted.
 */
export class JpegSplitter {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Offset (into the joined buffer) up to which we already searched for the end marker. */
  private scanned = 0;
  garbageBytes = 0;
  oversized = 0;

  constructor(private readonly maxBytes = 8 * 1024 * 1024) {}

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const out: Buffer[] = [];
    let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    for (;;) {
      const start = findMarker(buf, SOI, 0);
      if (start < 0) {
        // keep a trailing 0xFF: it may be the first half of a marker split across chunks
        const keep = buf.length > 0 && buf[buf.length - 1] === 0xff ? 1 : 0;
        this.garbageBytes += buf.length - keep;
        buf = buf.subarray(buf.length - keep);
        this.scanned = 0;
        break;
      }
      if (start > 0) {
        this.garbageBytes += start;
        this.scanned = Math.max(0, this.scanned - start);
        buf = buf.subarray(start);
      }
      const end = findMarker(buf, EOI, Math.max(2, this.scanned));
      if (end < 0) {
        this.scanned = Math.max(2, buf.length - 1);
        if (buf.length > this.maxBytes) {
          this.oversized++;
          buf = buf.subarray(buf.length);
          this.scanned = 0;
        }
        break;
      }
      out.push(Buffer.from(buf.subarray(0, end + 2)));
      buf = buf.subarray(end + 2);
      this.scanned = 0;
    }
    this.chunks = buf.length > 0 ? [buf] : [];
    this.length = buf.length;
    return out;
  }
}

function findMarker(buf: Buffer, marker: number, from: number): number {
  let i = buf.indexOf(0xff, from);
  while (i >= 0 && i + 1 < buf.length) {
    if (buf[i + 1] === marker) return i;
    i = buf.indexOf(0xff, i + 1);
  }
  return -1;
}
