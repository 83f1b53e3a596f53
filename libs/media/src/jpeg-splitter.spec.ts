import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JpegSplitter } from './jpeg-splitter.js';

/** A minimal JPEG-shaped byte string: SOI, payload (with stuffed 0xFF00 bytes), EOI. */
function fakeJpeg(n: number, size = 50): Buffer {
  const body = Buffer.alloc(size, n);
  body[5] = 0xff;
  body[6] = 0x00; // byte stuffing, must not end the image
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), body, Buffer.from([0xff, 0xd9])]);
}

test('splits a stream of JPEGs whatever the chunk boundaries (down to single bytes)', () => {
  const stream = Buffer.concat([fakeJpeg(1), fakeJpeg(2), fakeJpeg(3)]);
  for (const chunkSize of [1, 2, 3, 7, 56, 1000]) {
    const s = new JpegSplitter();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += chunkSize) out.push(...s.push(stream.subarray(i, i + chunkSize)));
    assert.equal(out.length, 3, `chunk size ${chunkSize}`);
    assert.deepEqual(out[1], fakeJpeg(2));
    assert.equal(s.garbageBytes, 0);
  }
});

test('bytes outside images are skipped and counted; images after them still come out', () => {
  const s = new JpegSplitter();
  const out = s.push(
    Buffer.concat([Buffer.from('garbage!'), fakeJpeg(7), Buffer.from([0x00, 0x01]), fakeJpeg(8)]),
  );
  assert.equal(out.length, 2);
  assert.equal(s.garbageBytes, 10);
});

test('an image that never ends is dropped once over the size limit, and the splitter recovers', () => {
  const s = new JpegSplitter(100);
  assert.equal(s.push(Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(200, 1)])).length, 0);
  assert.equal(s.oversized, 1);
  assert.deepEqual(s.push(fakeJpeg(9)), [fakeJpeg(9)]);
});

test('emitted images do not alias the internal buffer', () => {
  const s = new JpegSplitter();
  const [img] = s.push(Buffer.concat([fakeJpeg(4), Buffer.from([0xff, 0xd8])]));
  s.push(Buffer.alloc(20, 0xaa));
  assert.deepEqual(img, fakeJpeg(4));
});
