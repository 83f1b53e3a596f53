import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type WindowSample } from '@vigil/windows';
import { GroundedDecoder } from './grounded-decoder.js';
import { objectStory, placeOf } from './object-story.js';
import { windowText } from './prompt.js';

const start = Date.parse('2026-03-01T14:02:00Z');
const person = (id: string, x: number) => ({ id, label: 'person', box: { x, y: 0.5, w: 0.05, h: 0.2 } });
const truck = { id: '9', label: 'truck', box: { x: 0.8, y: 0.05, w: 0.15, h: 0.12 } };

/** 10 s at 1 fps: two people cross left to right, one right to left, a truck parks at 14:02:04. */
const samples: WindowSample[] = Array.from({ length: 10 }, (_, i) => ({
  at: start + i * 1000,
  change: 0.02,
  objects: [
    person('1', 0.1 + 0.07 * i),
    person('2', 0.05 + 0.06 * i),
    person('3', 0.9 - 0.08 * i),
    ...(i >= 4 ? [truck] : []),
  ],
}));

test('a window’s tracks in words: who moved which way, what stayed where and since when, the most at once', () => {
  assert.equal(
    objectStory(samples, start),
    '2 people moved left to right; a person moved right to left; a truck stayed at the top right (from 14:02:04). At most 3 people at once.',
  );
  assert.equal(objectStory([{ at: start, change: 0, objects: [] }], start), 'No people or objects detected.');
  // detection off: nothing is claimed
  assert.equal(objectStory([{ at: start, change: 0 }], start), '');
  assert.deepEqual(
    [placeOf(0.1, 0.1), placeOf(0.5, 0.5), placeOf(0.9, 0.5), placeOf(0.5, 0.9)],
    ['top left', 'centre', 'right', 'bottom'],
  );
});

test('grounded summaries name what was there; the model’s prompt gets the object list of every frame it is sent', async () => {
  const window = {
    start,
    end: start + 10_000,
    trigger: 'cadence' as const,
    samples,
    anomalies: [],
    frames: samples.slice(-2).map((s) => ({ at: s.at, until: s.at, merged: 0, jpeg: Buffer.from('x') })),
    merged: 0,
    dropped: 0,
  };
  const r = await new GroundedDecoder().decode({ streamId: 'yard', window });
  assert.match(
    r.summary,
    /2 people moved left to right; a person moved right to left; a truck stayed at the top right \(from 14:02:04\)\./,
  );
  const text = windowText({ streamId: 'yard', window }, 2);
  assert.match(text, /Tracked objects in the window: 2 people moved left to right;/);
  assert.match(
    text,
    /Objects at 14:02:09 \(track id, class, box \[x, y, width, height\] as fractions of the picture\): #1 person \[0\.73, 0\.50, 0\.05, 0\.20\]; #2 person \[0\.59, 0\.50, 0\.05, 0\.20\]; #3 person \[0\.18, 0\.50, 0\.05, 0\.20\]; #9 truck \[0\.80, 0\.05, 0\.15, 0\.12\]\./,
  );
  assert.match(text, /Objects at 14:02:08 /);
  assert.doesNotMatch(text, /Objects at 14:02:07 /, 'only the frames sent');
});
