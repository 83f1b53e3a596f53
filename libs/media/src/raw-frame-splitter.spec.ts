import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawFrameSplitter, parseShowinfo } from './raw-frame-splitter.js';
import { classifyFailure } from './failure.js';

test('raw frames are cut at exactly width × height × 3 bytes whatever the chunking', () => {
  const frame = (n: number) => Buffer.alloc(12, n);
  const stream = Buffer.concat([frame(1), frame(2), frame(3)]);
  for (const size of [1, 5, 12, 13, 36]) {
    const s = new RawFrameSplitter(12);
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) out.push(...s.push(stream.subarray(i, i + size)));
    assert.deepEqual(out, [frame(1), frame(2), frame(3)], `chunk ${size}`);
  }
});

test('showinfo lines give frame number and pts time; other lines give nothing', () => {
  assert.deepEqual(
    parseShowinfo(
      '[Parsed_showinfo_4 @ 0x5581c0f0] n:  12 pts:  60000 pts_time:4.8     duration:3600 fmt:yuvj420p',
    ),
    { n: 12, ptsTime: 4.8 },
  );
  assert.equal(parseShowinfo('[rtsp @ 0x1] method DESCRIBE failed: 404 Not Found'), null);
});

test('unreachable cameras are offline; reachable ones sending unusable data are degraded', () => {
  assert.equal(classifyFailure('ffmpeg exited with code 1: rtsp://cam/s: Connection refused'), 'offline');
  assert.equal(classifyFailure('ffmpeg exited with code 1: rtsp://cam/s: Connection timed out'), 'offline');
  assert.equal(classifyFailure('no frame for 15000 ms'), 'offline');
  assert.equal(
    classifyFailure('ffmpeg exited with code 1: rtsp://cam/s: Invalid data found when processing input'),
    'degraded',
  );
  assert.equal(
    classifyFailure('ffmpeg exited with code 1: Output file #0 does not contain any stream'),
    'degraded',
  );
  assert.equal(
    classifyFailure('ffmpeg exited with code 1: method DESCRIBE failed: 401 Unauthorized'),
    'degraded',
  );
});
