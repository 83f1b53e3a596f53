// libs/media's one-shot adapters against real ffmpeg/ffprobe: the probe, the frame reader (what `vigil
// replay` reads clips with) and the live-view encode (what the dashboard's live view runs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StreamSpecSchema } from '@vigil/contracts';
import {
  FrameReadError,
  MediaProbeError,
  buildIngestArgs,
  liveViewOptions,
  probeDuration,
  readFrames,
  inputWhitelists,
  startLiveEncode,
} from '@vigil/media';
import { generateClip, testDir } from '@vigil/testing';

const dir = testDir('media-adapters');
const clip = generateClip(join(dir, 'moving.mp4'), { scenario: 'moving', seconds: 4, fps: 10 });
const garbage = join(dir, 'garbage.mp4');
writeFileSync(garbage, Buffer.from('this is not a video, only text with an .mp4 name\n'.repeat(50)));

const spec = (file: string) =>
  StreamSpecSchema.parse({
    id: 'clip',
    url: `file://${file}`,
    sampling: { mode: 'fps', fps: 2 },
  });
const argsFor = (file: string) =>
  buildIngestArgs(spec(file), { ioTimeoutMs: 5000, realtime: false, fileDirs: [dir] });
const isJpeg = (b: Buffer) =>
  b[0] === 0xff && b[1] === 0xd8 && b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9;

test('probeDuration reads a clip’s length; a file that is no video is a MediaProbeError naming it', async () => {
  const d = await probeDuration('ffprobe', clip);
  assert.ok(Math.abs(d - 4) < 0.3, `duration ${d}`);
  await assert.rejects(probeDuration('ffprobe', garbage), (err: unknown) => {
    assert.ok(err instanceof MediaProbeError);
    assert.match(err.message, /garbage\.mp4 is not a video ffmpeg can read \(.+\); give a recorded clip/);
    return true;
  });
});

test('readFrames yields every sampled JPEG of a clip, in order, and ends', async () => {
  const frames: Buffer[] = [];
  // a slow consumer: frames wait in the pipe rather than being dropped
  for await (const jpeg of readFrames('ffmpeg', argsFor(clip))) {
    frames.push(jpeg);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(frames.length >= 7 && frames.length <= 9, `4 s at 2 fps gave ${frames.length} frames`);
  assert.ok(frames.every(isJpeg));
});

test('leaving readFrames early stops ffmpeg; a file it cannot decode, or no ffmpeg, is a FrameReadError', async () => {
  let n = 0;
  for await (const _ of readFrames('ffmpeg', argsFor(clip))) if (++n === 2) break;
  assert.equal(n, 2);
  await assert.rejects(
    (async () => {
      for await (const _ of readFrames('ffmpeg', argsFor(garbage))) assert.fail('no frame expected');
    })(),
    (err: unknown) => {
      assert.ok(err instanceof FrameReadError);
      assert.notEqual(err.code, 0);
      assert.ok(err.lastStderr.length > 0, 'carries ffmpeg’s last line');
      return true;
    },
  );
  await assert.rejects(
    (async () => {
      for await (const _ of readFrames('/nonexistent/ffmpeg', argsFor(clip))) assert.fail('no frame');
    })(),
    // names the path and why (the parent-death guard, setpriv, reports it when it wraps ffmpeg)
    /\/nonexistent\/ffmpeg: (No such file or directory|spawn .*ENOENT)/,
  );
});

test('the live-view encode sends MPEG-TS for JSMpeg; no ffmpeg at the path is a message, not a crash', async () => {
  assert.equal(liveViewOptions()['-bf'], '0', 'JSMpeg plays no B-frames');
  const live = startLiveEncode(`file://${clip}`, 'ffmpeg', inputWhitelists('clip', `file://${clip}`));
  const chunks: Buffer[] = [];
  live.onData((c) => chunks.push(c));
  const code = await new Promise<number | null>((r) => live.onExit(r));
  const ts = Buffer.concat(chunks);
  assert.ok(ts.length > 188 * 10, `${ts.length} bytes of MPEG-TS`);
  assert.equal(ts[0], 0x47, 'MPEG-TS sync byte');
  assert.equal(code, 0);

  const missing = startLiveEncode(`file://${clip}`, '/nonexistent/ffmpeg', []);
  let stderr = '';
  missing.onStderr((t) => (stderr += t));
  await new Promise<void>((r) => setTimeout(r, 500));
  assert.match(stderr, /cannot run \/nonexistent\/ffmpeg/);
  missing.stop();
});
