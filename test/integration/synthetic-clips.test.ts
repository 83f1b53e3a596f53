import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { generateClip, testDir, type Scenario } from '@vigil/testing';

function probe(path: string) {
  const r = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=codec_name,width,height:packet=flags',
      '-of',
      'json',
      path,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as {
    streams: { codec_name: string; width: number; height: number }[];
    packets: { flags: string }[];
  };
}

function grayFrame(path: string, at: number): Buffer {
  const r = spawnSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-ss',
      String(at),
      '-i',
      path,
      '-frames:v',
      '1',
      '-vf',
      'scale=32:18,format=gray',
      '-f',
      'rawvideo',
      '-',
    ],
    {
      maxBuffer: 1 << 20,
    },
  );
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

function meanLuma(path: string, at: number): number {
  const f = grayFrame(path, at);
  return f.reduce((a, b) => a + b, 0) / f.length;
}

function frameDiff(path: string, t1: number, t2: number): number {
  const a = grayFrame(path, t1);
  const b = grayFrame(path, t2);
  return a.reduce((sum, v, i) => sum + Math.abs(v - b[i]!), 0) / a.length;
}

test('every scenario renders as H.264 at the asked size with the asked GOP', () => {
  const dir = testDir('clips');
  for (const scenario of ['steady', 'moving', 'box', 'blur', 'freeze', 'small-changes'] as Scenario[]) {
    const path = generateClip(join(dir, `${scenario}.mp4`), {
      scenario,
      seconds: 3,
      width: 320,
      height: 180,
      fps: 10,
      gop: 5,
    });
    const p = probe(path);
    assert.deepEqual(
      [p.streams[0]?.codec_name, p.streams[0]?.width, p.streams[0]?.height],
      ['h264', 320, 180],
      scenario,
    );
    const keys = p.packets.map((pk, i) => (pk.flags.startsWith('K') ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(keys, [0, 5, 10, 15, 20, 25], `${scenario} keyframes every 5 frames`);
  }
});

test('1080p clips render too', () => {
  const path = generateClip(join(testDir('clips'), 'steady-1080p.mp4'), {
    scenario: 'steady',
    seconds: 1,
    width: 1920,
    height: 1080,
  });
  assert.deepEqual([probe(path).streams[0]?.width, probe(path).streams[0]?.height], [1920, 1080]);
});

test('the scheduled change is visible: the box brightens the picture only after changeAt', () => {
  const path = generateClip(join(testDir('clips'), 'box.mp4'), {
    scenario: 'box',
    seconds: 4,
    width: 320,
    height: 180,
    changeAt: 2,
  });
  const before = meanLuma(path, 1);
  const afterChange = meanLuma(path, 3);
  assert.ok(afterChange - before > 20, `mean luma ${before.toFixed(1)} → ${afterChange.toFixed(1)}`);
  const steady = generateClip(join(testDir('clips'), 'steady.mp4'), {
    scenario: 'steady',
    seconds: 4,
    width: 320,
    height: 180,
  });
  assert.ok(Math.abs(meanLuma(steady, 3) - meanLuma(steady, 1)) < 3);
});

test('the freeze clip moves before changeAt and stands still after it', () => {
  const path = generateClip(join(testDir('clips'), 'freeze.mp4'), {
    scenario: 'freeze',
    seconds: 4,
    width: 320,
    height: 180,
    changeAt: 2,
  });
  assert.ok(frameDiff(path, 0.5, 1.5) > 2, 'moving before the freeze');
  assert.ok(frameDiff(path, 2.5, 3.5) < 0.5, 'frozen after it');
});
