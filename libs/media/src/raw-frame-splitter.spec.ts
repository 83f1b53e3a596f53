import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawFrameSplitter, parseShowinfo } from './raw-frame-splitter.js';
import { classifyFailure, explainFfmpegError, pickErrorLine } from './failure.js';

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
  assert.equal(classifyFailure('the stream stopped sending frames for 15000 ms'), 'offline');
  assert.equal(
    classifyFailure(
      'no frame within 15000 ms of starting: the source sent data that is not a valid video stream',
    ),
    'degraded',
  );
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

test('common ffmpeg failures are explained in plain words, keeping the original line', () => {
  assert.equal(
    explainFfmpegError('Output file #0 does not contain any stream'),
    'no video track that can be decoded (unsupported codec, or audio only) (ffmpeg: Output file #0 does not contain any stream)',
  );
  assert.match(
    explainFfmpegError('[rtsp @ 0x1] method DESCRIBE failed: 401 Unauthorized'),
    /^the camera refused the credentials/,
  );
  assert.match(
    explainFfmpegError('rtsp://h:1/x: Connection refused'),
    /^connection refused: nothing listens/,
  );
  assert.equal(explainFfmpegError('something new'), 'something new');
});

test('the reason is the last error-like stderr line, not the exit chatter after it', () => {
  const lines = [
    "Input #0, rtsp, from 'rtsp://cam/s':",
    'rtsp://cam/s: Invalid data found when processing input',
    'Exiting normally, received signal 15.',
  ];
  assert.equal(pickErrorLine(lines), 'rtsp://cam/s: Invalid data found when processing input');
  assert.equal(
    pickErrorLine(['something odd happened', 'Exiting normally, received signal 2.']),
    'something odd happened',
  );
  assert.equal(pickErrorLine(['Exiting normally, received signal 15.']), undefined);
  assert.equal(
    pickErrorLine([
      "Input #0, rtsp, from 'x':",
      '  Stream #0:0: Audio: pcm_s16be',
      'Output file #0 does not contain any stream',
    ]),
    'Output file #0 does not contain any stream',
  );
});
