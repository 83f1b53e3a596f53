import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamSpecSchema, type StreamSpecInput } from '@vigil/contracts';
import { buildIngestArgs, UnsafeStreamUrlError } from './ffmpeg-args.js';

const spec = (over: Partial<StreamSpecInput> = {}) =>
  StreamSpecSchema.parse({ id: 'cam-1', url: 'rtsp://cam.local/s', ...over });

function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

test('RTSP input: transport, timeout in microseconds, protocol whitelist, all before -i', () => {
  const args = buildIngestArgs(spec({ rtspTransport: 'udp' }), { ioTimeoutMs: 5000 });
  assert.equal(valueOf(args, '-rtsp_transport'), 'udp');
  assert.equal(valueOf(args, '-timeout'), '5000000');
  assert.equal(valueOf(args, '-protocol_whitelist'), 'rtsp,rtp,srtp,udp,tcp');
  assert.ok(args.indexOf('-timeout') < args.indexOf('-i'));
  assert.equal(valueOf(args, '-i'), 'rtsp://cam.local/s');
});

test('fps sampling: fps filter then scale and letterbox to the model size inside ffmpeg', () => {
  const args = buildIngestArgs(
    spec({ sampling: { mode: 'fps', fps: 2 }, output: { width: 320, height: 180 } }),
    {
      ioTimeoutMs: 1000,
    },
  );
  assert.equal(
    valueOf(args, '-vf'),
    'fps=2,scale=320:180:force_original_aspect_ratio=decrease,pad=320:180:(ow-iw)/2:(oh-ih)/2,format=yuvj420p',
  );
  assert.ok(!args.includes('-skip_frame'));
  assert.deepEqual(args.slice(-9), [
    '-fps_mode',
    'passthrough',
    '-f',
    'image2pipe',
    '-c:v',
    'mjpeg',
    '-q:v',
    '5',
    'pipe:1',
  ]);
});

test('keyframe sampling decodes keyframes only and adds no fps filter', () => {
  const args = buildIngestArgs(spec({ sampling: { mode: 'keyframes' } }), { ioTimeoutMs: 1000 });
  assert.equal(valueOf(args, '-skip_frame'), 'nokey');
  assert.ok(args.indexOf('-skip_frame') < args.indexOf('-i'), '-skip_frame is an input option');
  assert.equal(valueOf(args, '-threads'), '1', 'one decoder thread per stream by default');
  assert.ok(args.indexOf('-threads') < args.indexOf('-i'), '-threads before -i sets the decoder');
  assert.ok(!valueOf(args, '-vf')!.startsWith('fps='));
});

test('a burst overrides keyframe sampling with full decoding at burstFps', () => {
  const args = buildIngestArgs(spec({ sampling: { mode: 'adaptive' } }), { ioTimeoutMs: 1000, burstFps: 5 });
  assert.ok(!args.includes('-skip_frame'));
  assert.ok(valueOf(args, '-vf')!.startsWith('fps=5,'));
});

test('other protocols use -rw_timeout and their own whitelist; cuda preset adds -hwaccel', () => {
  const args = buildIngestArgs(spec({ url: 'https://cams.example/live.m3u8' }), {
    ioTimeoutMs: 2000,
    hwaccel: 'cuda',
  });
  assert.equal(valueOf(args, '-rw_timeout'), '2000000');
  assert.equal(valueOf(args, '-protocol_whitelist'), 'http,https,tcp,tls,hls,crypto,data');
  assert.equal(valueOf(args, '-hwaccel'), 'cuda');
  assert.ok(!args.includes('-rtsp_transport'));
});

test('file input only under the directories the caller allows, whatever the spec says', () => {
  // A spec parsed elsewhere could be mutated; the builder re-checks rather than trusting it.
  const unsafe = { ...spec(), url: 'file:///etc/passwd', replay: true };
  assert.throws(() => buildIngestArgs(unsafe, { ioTimeoutMs: 1000 }), UnsafeStreamUrlError);
  assert.throws(
    () => buildIngestArgs(unsafe, { ioTimeoutMs: 1000, fileDirs: ['/clips'] }),
    /outside the directories the operator allows/,
  );
  const clip = spec({ url: 'file:///clips/a.mp4' });
  const args = buildIngestArgs(clip, { ioTimeoutMs: 1000, realtime: true, fileDirs: ['/clips'] });
  assert.ok(args.includes('-re'));
  assert.equal(valueOf(args, '-protocol_whitelist'), 'file,crypto,data');
  // a text file is no recording: only video containers may be demuxed (ffmpeg renders .txt as video)
  assert.equal(valueOf(args, '-format_whitelist'), 'mov,matroska,avi,mpegts,flv,h264,hevc,mjpeg');
  assert.ok(args.indexOf('-format_whitelist') < args.indexOf('-i'));
});

test('a resolved URL replaces the written one for ffmpeg, and is checked again', () => {
  const args = buildIngestArgs(spec({ url: 'rtsp://cam.local:8554/s' }), {
    ioTimeoutMs: 1000,
    resolvedUrl: 'rtsp://127.0.0.3:8554/s',
  });
  assert.equal(valueOf(args, '-i'), 'rtsp://127.0.0.3:8554/s');
  assert.equal(valueOf(args, '-format_whitelist'), 'rtsp,rtp,sdp');
  assert.throws(
    () =>
      buildIngestArgs(spec({ url: 'rtsp://cam.local/s' }), {
        ioTimeoutMs: 1000,
        resolvedUrl: 'rtsp://169.254.169.254/s',
      }),
    /link-local/,
  );
});

test('a forbidden scheme never reaches an argument list', () => {
  const bad = { ...spec(), url: 'concat:/etc/passwd|/etc/shadow' };
  assert.throws(() => buildIngestArgs(bad, { ioTimeoutMs: 1000 }), /scheme "concat"/);
});

test('credentials go into the URL ffmpeg gets, percent-encoded', () => {
  const args = buildIngestArgs(spec({ credentials: { secret: 'cam-1' } }), {
    ioTimeoutMs: 1000,
    credentials: { username: 'ad min', password: 'p@ss:w/rd' },
  });
  assert.equal(valueOf(args, '-i'), 'rtsp://ad%20min:p%40ss%3Aw%2Frd@cam.local/s');
});

test('raw output writes packed RGB24; timestamps add showinfo and info-level logging', () => {
  const args = buildIngestArgs(spec(), { ioTimeoutMs: 1000, output: 'raw', timestamps: true });
  assert.deepEqual(args.slice(-5), ['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  assert.ok(valueOf(args, '-vf')!.endsWith(',format=rgb24,showinfo'));
  assert.equal(valueOf(args, '-loglevel'), 'info');
  assert.equal(valueOf(buildIngestArgs(spec(), { ioTimeoutMs: 1000 }), '-loglevel'), 'error');
});
