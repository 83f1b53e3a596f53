import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamicBatcher, FrameDroppedError } from './dynamic-batcher.js';

function recorder(delayMs = 0) {
  const batches: string[][] = [];
  const run = async (items: string[]) => {
    batches.push(items);
    if (delayMs) await sleep(delayMs);
    return items.map((i) => `enc(${i})`);
  };
  return { batches, run };
}

test('a full batch runs at once; results go back to each caller', async () => {
  const r = recorder();
  const b = new DynamicBatcher({ maxBatch: 3, maxWaitMs: 10_000, maxQueuePerStream: 10 }, r.run);
  const out = await Promise.all([b.submit('a', 'a1'), b.submit('b', 'b1'), b.submit('c', 'c1')]);
  assert.deepEqual(out, ['enc(a1)', 'enc(b1)', 'enc(c1)']);
  assert.equal(r.batches.length, 1);
});

test('a partial batch runs after maxWaitMs, not later', async () => {
  const r = recorder();
  const b = new DynamicBatcher({ maxBatch: 8, maxWaitMs: 30, maxQueuePerStream: 10 }, r.run);
  const t0 = Date.now();
  await b.submit('a', 'a1');
  const waited = Date.now() - t0;
  assert.ok(waited >= 22 && waited < 150, `waited ${waited} ms`);
  assert.deepEqual(r.batches, [['a1']]);
});

test('streams take turns: a busy stream cannot fill the batch while others wait', async () => {
  const r = recorder(20);
  const b = new DynamicBatcher({ maxBatch: 4, maxWaitMs: 5, maxQueuePerStream: 100 }, r.run);
  const all: Promise<string>[] = [];
  for (let i = 0; i < 8; i++) all.push(b.submit('busy', `busy${i}`));
  all.push(b.submit('quiet1', 'q1'), b.submit('quiet2', 'q2'));
  await Promise.all(all);
  // the first batch ran as soon as 4 busy frames were queued; the next one interleaves the quiet streams
  assert.deepEqual(r.batches[1], ['busy4', 'q1', 'q2', 'busy5']);
});

test('a stream over its queue bound loses its oldest frame, counted, and others are untouched', async () => {
  const r = recorder(30);
  const b = new DynamicBatcher({ maxBatch: 1, maxWaitMs: 0, maxQueuePerStream: 2 }, r.run);
  const first = b.submit('a', 'a0'); // starts running
  await sleep(1);
  const results = await Promise.allSettled([
    b.submit('a', 'a1'),
    b.submit('a', 'a2'),
    b.submit('a', 'a3'),
    b.submit('b', 'b1'),
    first,
  ]);
  assert.equal(results[0].status, 'rejected');
  assert.ok(results[0].status === 'rejected' && results[0].reason instanceof FrameDroppedError);
  assert.deepEqual(
    results.slice(1).map((x) => x.status),
    ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
  );
  assert.equal(b.dropped.get('a'), 1);
  assert.equal(b.dropped.get('b'), undefined);
});

test('a failing batch rejects its frames only; the next batch still runs', async () => {
  let calls = 0;
  const b = new DynamicBatcher({ maxBatch: 1, maxWaitMs: 0, maxQueuePerStream: 5 }, (items: string[]) => {
    calls++;
    return calls === 1 ? Promise.reject(new Error('boom')) : Promise.resolve(items);
  });
  const [x, y] = await Promise.allSettled([b.submit('a', '1'), b.submit('a', '2')]);
  assert.equal(x.status, 'rejected');
  assert.deepEqual(y, { status: 'fulfilled', value: '2' });
});

test("an Error in a frame's place rejects that frame alone", async () => {
  const b = new DynamicBatcher({ maxBatch: 3, maxWaitMs: 10_000, maxQueuePerStream: 5 }, (items: string[]) =>
    Promise.resolve(items.map((i) => (i === 'bad' ? new Error(`cannot decode ${i}`) : `enc(${i})`))),
  );
  const [x, y, z] = await Promise.allSettled([
    b.submit('a', 'a1'),
    b.submit('b', 'bad'),
    b.submit('c', 'c1'),
  ]);
  assert.deepEqual(x, { status: 'fulfilled', value: 'enc(a1)' });
  assert.ok(y.status === 'rejected' && /cannot decode bad/.test((y.reason as Error).message));
  assert.deepEqual(z, { status: 'fulfilled', value: 'enc(c1)' });
});

test('with concurrency 2 the next batch starts while one runs, never a third', async () => {
  let running = 0;
  let most = 0;
  const b = new DynamicBatcher(
    { maxBatch: 2, maxWaitMs: 10, maxQueuePerStream: 100, concurrency: 2 },
    async (items: string[]) => {
      running++;
      most = Math.max(most, running);
      await sleep(20);
      running--;
      return items;
    },
  );
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 8 }, (_, i) => b.submit(`s${i % 4}`, `f${i}`)));
  const took = Date.now() - t0;
  assert.equal(most, 2);
  assert.equal(b.batches, 4);
  // four 20 ms batches two at a time: about 40 ms, not 80
  assert.ok(took < 75, `took ${took} ms`);
});

test('close drops what is queued and resolves only after the running batch has finished', async () => {
  let finished = false;
  const b = new DynamicBatcher(
    { maxBatch: 1, maxWaitMs: 0, maxQueuePerStream: 5 },
    async (items: string[]) => {
      await sleep(30);
      finished = true;
      return items;
    },
  );
  const running = b.submit('a', '1');
  const queued = assert.rejects(b.submit('a', '2'), FrameDroppedError);
  await b.close();
  assert.equal(finished, true);
  assert.equal(await running, '1');
  await queued;
  await assert.rejects(b.submit('a', '3'), /batcher is closed/);
});
