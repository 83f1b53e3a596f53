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
  // nothing detected is not news: no sentence for it
  assert.equal(objectStory([{ at: start, change: 0, objects: [] }], start), '');
  // detection off: nothing is claimed
  assert.equal(objectStory([{ at: start, change: 0 }], start), '');
  assert.deepEqual(
    [placeOf(0.1, 0.1), placeOf(0.5, 0.5), placeOf(0.9, 0.5), placeOf(0.5, 0.9)],
    ['top left', 'centre', 'right', 'bottom'],
  );
});

test('narration does not repeat itself: one parked vehicle is one, arrivals are said once, flicker is not news', () => {
  const van = (id: string, label: string) => ({ id, label, box: { x: 0.8, y: 0.05, w: 0.15, h: 0.12 } });
  // the detector calls the parked van a truck, then a bus, and the tracker started a second track
  const parked: WindowSample[] = Array.from({ length: 10 }, (_, i) => ({
    at: start + i * 1000,
    change: 0.01,
    objects: [i < 5 ? van('4', 'truck') : van('7', 'bus')],
  }));
  assert.equal(objectStory(parked, start), 'A truck stayed at the top right.');
  // five people arriving at different times at one place: one clause, the first arrival
  const arriving: WindowSample[] = Array.from({ length: 10 }, (_, i) => ({
    at: start + i * 1000,
    change: 0.01,
    objects: Array.from({ length: Math.min(5, Math.floor(i / 2)) }, (_, k) => ({
      id: `p${k}`,
      label: 'person',
      box: { x: 0.1 + k * 0.01, y: 0.7, w: 0.05, h: 0.2 },
    })),
  }));
  assert.equal(
    objectStory(arriving, start),
    '4 people stayed at the bottom left (the first from 14:02:02). At most 4 people at once.',
  );
  // a ball the detector calls a frisbee in one sample of ten is not a story, and neither is nothing
  const flicker: WindowSample[] = Array.from({ length: 10 }, (_, i) => ({
    at: start + i * 1000,
    change: 0.05,
    objects: i === 3 ? [{ id: '12', label: 'frisbee', box: { x: 0.5, y: 0.5, w: 0.05, h: 0.05 } }] : [],
  }));
  assert.equal(objectStory(flicker, start), '');
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
