import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DecodeScheduler, type ScheduledResult } from './decode-scheduler.js';
import { type DecodeRequest, type Decoder } from './decoder.js';
import { GroundedDecoder } from './grounded-decoder.js';

/** A slow backend that records how many calls run at once. */
function slowBackend(ms: number) {
  let running = 0;
  const stats = { most: 0, calls: [] as string[] };
  const decoder: Decoder = {
    type: 'slow',
    async decode(r: DecodeRequest) {
      stats.calls.push(`${r.streamId}@${r.window.start}`);
      running++;
      stats.most = Math.max(stats.most, running);
      await sleep(ms);
      running--;
      return {
        summary: `slow ${r.streamId}@${r.window.start}`,
        findings: [],
        decoder: { type: 'slow', fallback: false },
      };
    },
  };
  return { decoder, stats };
}

const req = (streamId: string, start: number): DecodeRequest => ({
  streamId,
  window: {
    start,
    end: start + 10,
    samples: [{ at: start, change: 0 }],
    anomalies: [],
    trigger: 'cadence',
    frames: [],
    merged: 0,
    dropped: 0,
  },
});

test('at most `concurrency` windows at once; a stream’s newer waiting window replaces its older one, which grounded narrates', async () => {
  const { decoder, stats } = slowBackend(30);
  const results: ScheduledResult<number>[] = [];
  const s = new DecodeScheduler<number>(
    decoder,
    new GroundedDecoder(),
    { concurrency: 2, maxQueue: 10 },
    (r) => {
      results.push(r);
    },
  );
  s.submit(req('a', 0), 1);
  s.submit(req('b', 0), 2);
  s.submit(req('c', 0), 3); // waits
  s.submit(req('c', 10), 4); // replaces c@0
  await s.drain();
  assert.equal(stats.most, 2);
  assert.deepEqual(stats.calls.sort(), ['a@0', 'b@0', 'c@10']);
  assert.equal(results.length, 4, 'every window narrated once');
  const c0 = results.find((r) => r.context === 3)!;
  assert.equal(c0.result.decoder.fallback, true);
  assert.equal(c0.result.decoder.type, 'grounded');
  assert.match(c0.skipped!, /newer window/);
  assert.equal(s.replaced, 1);
});

test('a full queue hands its oldest window to the fallback; a failing backend falls back too', async () => {
  const { decoder } = slowBackend(20);
  const results: ScheduledResult<string>[] = [];
  const s = new DecodeScheduler<string>(
    decoder,
    new GroundedDecoder(),
    { concurrency: 1, maxQueue: 2 },
    (r) => {
      results.push(r);
    },
  );
  for (const id of ['a', 'b', 'c', 'd']) s.submit(req(id, 0), id);
  await s.drain();
  assert.equal(results.length, 4);
  assert.deepEqual(
    results.filter((r) => r.skipped).map((r) => r.context),
    ['b'],
  );
  assert.equal(s.overflowed, 1);

  const failing: Decoder = { type: 'broken', decode: () => Promise.reject(new Error('boom')) };
  const out: ScheduledResult<null>[] = [];
  const f = new DecodeScheduler<null>(
    failing,
    new GroundedDecoder(),
    { concurrency: 1, maxQueue: 4 },
    (r) => {
      out.push(r);
    },
  );
  f.submit(req('x', 0), null);
  await f.drain();
  assert.equal(out.length, 1);
  assert.equal(out[0]!.result.decoder.fallback, true);
});
