import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { findProcesses, repoRoot } from '@vigil/testing';
import { helpers, startUp, waitFor } from './up-process.js';

// The dashboard in real headless Chromium (Debian's, driven by playwright-core) against `vigil up`: it
// shows the demo cameras with their frames, an event after the yard's scheduled box appears, the
// courtyard's tracked people as boxes and a zone event, the search box finding that event by meaning, and a
// live view that starts with its viewer and stops when the viewer leaves. The screenshot goes to docs/.

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

test('the dashboard shows the demo cameras, an event after the scheduled anomaly, and a live view', async () => {
  const up = await startUp();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  try {
    await waitFor(up, /Dashboard: http:\/\/localhost:\d+\/#key=[0-9a-f]+/, Date.now(), 120_000, 'stderr');
    const url = /Dashboard: (http:\/\/localhost:\d+\/#key=[0-9a-f]+)/.exec(up.output.stderr)![1]!;
    const port = /localhost:(\d+)/.exec(url)![1];

    const page = await browser.newPage({ viewport: { width: 1280, height: 960 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    // the key moved from the address to this tab's storage: the address no longer shows it
    assert.equal(new URL(page.url()).hash, '');
    for (const id of ['demo-yard', 'demo-line', 'demo-courtyard'])
      await page.waitForSelector(`[data-stream-id="${id}"] img.frame[data-loaded="true"]`, {
        timeout: 60_000,
      });
    await page.waitForSelector('[data-stream-id="demo-yard"] [data-health="online"]', { timeout: 30_000 });
    // the box appears 10 s into the yard's clip: an event with its evidence picture
    await page.waitForSelector('#events li[data-kind="object_appeared"]', { timeout: 90_000 });
    const yardEvent = page.locator('#events li', { hasText: 'Demo yard' }).first();
    await yardEvent.waitFor({ timeout: 60_000 }).catch(async (err: Error) => {
      // what the page and vigil up showed instead (a CI run had an object_appeared event, none on the yard)
      const events = await page.locator('#events li').allTextContents();
      const yard = await page.locator('[data-stream-id="demo-yard"]').textContent();
      assert.fail(
        `${err.message}\nevents: ${JSON.stringify(events)}\nyard card: ${yard}\nvigil up:\n${up.output.stderr.slice(-4000)}`,
      );
    });
    await page.waitForFunction(
      "[...document.querySelectorAll('#events li img')].some((i) => i.naturalWidth > 0)",
      undefined,
      { timeout: 10_000 },
    );
    // the courtyard's real footage: its tracked people drawn over its frame, with their track ids, and
    // someone walking into its forbidden right third
    const box = page.locator('[data-stream-id="demo-courtyard"] .boxes .box[data-label="person"]').first();
    await box.waitFor({ timeout: 60_000 });
    assert.match((await box.textContent()) ?? '', /^person #\d+$/);
    const b = (await box.boundingBox())!;
    const f = (await page.locator('[data-stream-id="demo-courtyard"] img.frame').boundingBox())!;
    const drawn = { b, f };
    assert.ok(
      b.x >= f.x - 1 &&
        b.x + b.width <= f.x + f.width + 1 &&
        b.y >= f.y - 1 &&
        b.height > 5 &&
        b.height < f.height,
      `a person's box within the frame: ${JSON.stringify(drawn)}`,
    );
    // the boxes sit on the frame they were found in: the detection's sample time is the frame's capture time
    const card = page.locator('[data-stream-id="demo-courtyard"]');
    const read = async () => ({
      boxes: (await card.locator('.boxes').getAttribute('data-captured-at')) ?? '',
      frame: (await card.locator('img.frame').getAttribute('data-captured-at')) ?? '',
      meta: (await card.locator('.meta').textContent()) ?? '',
    });
    // both are set together every 3 s; a second read settles one that fell between two refreshes
    let times = await read();
    if (times.boxes !== times.frame) times = await read();
    assert.ok(times.boxes, 'the boxes say which sample they are of');
    assert.equal(Date.parse(times.boxes), Date.parse(times.frame), JSON.stringify(times));
    // the card says what is analyzed beside what is sent
    assert.match(times.meta, /^running · [\d.]+ fps sent · [\d.]+ analyzed/, times.meta);
    const entered = page
      .locator('#events li[data-kind="zone_entered"]', { hasText: 'Demo courtyard' })
      .first();
    await entered.waitFor({ timeout: 90_000 });
    assert.match((await entered.textContent()) ?? '', /forbidden zone "right-third".*\(tracks? \d+/);
    await page.waitForSelector('#summaries li', { timeout: 60_000 });
    await page.waitForSelector('[data-stream-id="demo-yard"] .sparkwrap svg polyline', { timeout: 30_000 });
    assert.equal(await page.textContent('#conn'), 'live', 'following GET /events');
    mkdirSync(join(repoRoot(), 'docs'), { recursive: true });
    await page.screenshot({ path: join(repoRoot(), 'docs', 'dashboard.png') });

    // the search box: the yard's event is found by meaning, with its picture; Ask (no answer model in the
    // demo) gives the closest records, cited. Among the first five: the yard's window summaries narrate the
    // same event ("1 anomaly: object appeared at …") and can rank above it (a fresh-clone run had three)
    await page.fill('#q', 'something new showed up in the yard');
    await page.click('#search button[value="search"]');
    await page.waitForFunction(
      "[...document.querySelectorAll('#results li')].slice(0, 5).some((li) => li.dataset.kind === 'object_appeared' && li.dataset.streamId === 'demo-yard')",
      undefined,
      { timeout: 30_000 },
    );
    assert.match((await page.textContent('#answer')) ?? '', /^\d+ closest of \d+ summaries and events/);
    await page.waitForFunction(
      '[...document.querySelectorAll(\'#results li[data-kind="object_appeared"] img\')].some((i) => i.naturalWidth > 0)',
      undefined,
      { timeout: 10_000 },
    );
    await page.click('#search button[value="ask"]');
    await page.waitForSelector('#answer[data-answered-by="hits"]', { timeout: 30_000 });
    assert.match((await page.textContent('#answer')) ?? '', /No answer model is set up \(VIGIL_ASK_URL\)/);
    assert.ok((await page.locator('#results li.cited').count()) > 0, 'the records of the answer are marked');
    await page.screenshot({ path: join(repoRoot(), 'docs', 'dashboard-search.png') });

    // live view: one ffmpeg re-encoding for JSMpeg while the dialog is open, none after
    const liveEncoders = () =>
      findProcesses(/mpeg1video/).filter((p) => p.cmdline.includes(`:${up.rtspPort}/`));
    assert.equal(liveEncoders().length, 0);
    await page.click('[data-stream-id="demo-yard"] button:has-text("Live")');
    await page.waitForFunction(
      "document.querySelector('#live-note').textContent.startsWith('live')",
      undefined,
      {
        timeout: 30_000,
      },
    );
    assert.equal(liveEncoders().length, 1, 'the first viewer started the live encoder');
    await page.click('#live-close');
    const deadline = Date.now() + 15_000;
    while (liveEncoders().length > 0 && Date.now() < deadline) await sleep(200);
    assert.equal(liveEncoders().length, 0, 'the last viewer leaving stopped it');

    // a wrong key gets the key form back, with the reason
    const other = await browser.newPage();
    await other.goto(`http://localhost:${port}/#key=wrong-key-0000000000000000000000`);
    await other.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
    assert.match((await other.textContent('#login-error')) ?? '', /not valid/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    up.child.kill('SIGINT');
  }
  assert.equal(await up.exited, 0, up.output.stderr);
  assert.deepEqual(helpers(up), []);
});
