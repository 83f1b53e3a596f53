import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  StreamSpecSchema,
  anomalyEventId,
  deterministicId,
  fromCloudEventHeaders,
  generateJsonSchemas,
  parseWith,
  redactSecrets,
  redactUrl,
  streamUrlProblem,
  summaryId,
  toCloudEventHeaders,
  ALL_TOPICS,
} from './index.js';

test('StreamSpec fills defaults for a minimal camera', () => {
  const spec = StreamSpecSchema.parse({ id: 'cam-1', url: 'rtsp://cam.local:554/stream1' });
  assert.equal(spec.enabled, true);
  assert.equal(spec.rtspTransport, 'tcp');
  assert.deepEqual(spec.output, { width: 640, height: 360 });
  assert.equal(spec.sampling.mode, 'fps');
});

test('StreamSpec rejects bad ids and unknown keys with readable paths', () => {
  const r = parseWith(StreamSpecSchema, { id: 'Cam 1', url: 'rtsp://x/y', colour: 'red' });
  assert.equal(r.ok, false);
  const text = r.ok ? '' : r.errors.join('\n');
  assert.match(text, /^id: must be 1-63 characters/m);
  assert.match(text, /colour/);
});

test('stream URL policy: allowed schemes pass, others say what to use instead', () => {
  for (const ok of ['rtsp://h/s', 'rtsps://h/s', 'rtmp://h/app/key', 'srt://h:9000', 'https://h/live.m3u8']) {
    assert.equal(streamUrlProblem(ok), null, ok);
  }
  assert.match(streamUrlProblem('ftp://h/x')!, /scheme "ftp".*use one of rtsp, rtsps/);
  assert.match(streamUrlProblem('not-a-url')!, /not a valid URL/);
  assert.match(streamUrlProblem('file:///etc/passwd')!, /only allowed for replay/);
  assert.equal(streamUrlProblem('file:///clips/a.mp4', { allowFiles: true }), null);
});

test('stream URL policy refuses link-local and cloud metadata hosts', () => {
  for (const bad of [
    'http://169.254.169.254/latest',
    'rtsp://[fe80::1]/s',
    'http://metadata.google.internal/x',
    'http://100.100.100.200/',
  ]) {
    assert.match(streamUrlProblem(bad)!, /metadata/, bad);
  }
  assert.equal(streamUrlProblem('http://169.254.169.254/', { allowMetadataHosts: true }), null);
});

test('a StreamSpec with a forbidden URL fails on url with the reason', () => {
  const r = parseWith(StreamSpecSchema, { id: 'cam-1', url: 'gopher://h/x' });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.errors[0]!, /^url: stream URL uses scheme "gopher"/);
});

test('credentials are redacted from URLs and from free text', () => {
  assert.equal(
    redactUrl('rtsp://admin:s3cret@10.0.0.5:554/live?token=abc'),
    'rtsp://***@10.0.0.5:554/live?token=***',
  );
  assert.equal(redactUrl('rtsp://10.0.0.5/live'), 'rtsp://10.0.0.5/live');
  const text = redactSecrets(
    '[rtsp @ 0x1] rtsp://admin:s3cret@10.0.0.5/live: 401 Unauthorized, retry http://u:p@h/x?password=zz',
  );
  assert.ok(!/s3cret|admin|zz|u:p@/.test(text), text);
});

test('ids are deterministic, distinct per input, and shaped like UUIDs', () => {
  const a = anomalyEventId('cam-1', 'lens_covered', '2026-01-01T00:00:00.000Z');
  assert.equal(a, anomalyEventId('cam-1', 'lens_covered', '2026-01-01T00:00:00.000Z'));
  assert.notEqual(a, anomalyEventId('cam-2', 'lens_covered', '2026-01-01T00:00:00.000Z'));
  assert.notEqual(a, summaryId('cam-1', 'lens_covered', '2026-01-01T00:00:00.000Z'));
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  // the separator cannot be forged by a part containing it
  assert.notEqual(deterministicId('a|b', 'c'), deterministicId('a', 'b|c'));
});

test('CloudEvents binary-mode headers round-trip, and missing ones are named', () => {
  const headers = toCloudEventHeaders({
    id: 'x1',
    source: 'urn:vigil:test',
    type: 'dev.vigil.summary.v1',
    time: '2026-01-01T00:00:00Z',
    subject: 'cam-1',
    contentType: 'application/json',
  });
  assert.equal(headers.ce_specversion, '1.0');
  const asKafka = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)]));
  const back = fromCloudEventHeaders(asKafka);
  assert.ok(back.ok);
  assert.equal(back.ok && back.value.subject, 'cam-1');
  const missing = fromCloudEventHeaders({ ce_id: Buffer.from('1') });
  assert.deepEqual(missing.ok ? [] : missing.missing, ['ce_source', 'ce_type', 'ce_time', 'content-type']);
});

test('topic names are versioned and every Vigil topic is listed once', () => {
  const names = ALL_TOPICS.map((t) => t.name);
  assert.equal(new Set(names).size, names.length);
  for (const n of names) assert.match(n, /^vigil\.[a-z-]+\.v\d+$/);
  assert.equal(ALL_TOPICS.find((t) => t.name === 'vigil.streams.v1')?.cleanupPolicy, 'compact');
});

test('committed JSON Schemas are current (run `npm run schemas` when this fails)', () => {
  const dir = join(process.cwd(), 'libs/contracts/schemas');
  const generated = generateJsonSchemas();
  const committed = readdirSync(dir)
    .filter((f) => f.endsWith('.schema.json'))
    .sort();
  assert.deepEqual(committed, Object.keys(generated).sort());
  for (const [file, text] of Object.entries(generated)) {
    assert.equal(readFileSync(join(dir, file), 'utf8'), text, `${file} is stale`);
  }
});

test('malformed and forbidden stream URLs are each refused with a specific reason', () => {
  const cases: [url: string, reason: RegExp][] = [
    ['', /not a valid URL/],
    ['camera-3', /not a valid URL/],
    ['rtsp://', /not a valid URL|has no host/],
    ['rtsp://cam:99999/s', /not a valid URL/],
    ['ftp://cam/x', /scheme "ftp"/],
    ['gopher://cam/x', /scheme "gopher"/],
    ['udp://239.0.0.1:1234', /scheme "udp"/],
    ['tcp://cam:1234', /scheme "tcp"/],
    ['javascript:alert(1)', /scheme "javascript"/],
    ['data:video/mp4;base64,AAAA', /scheme "data"/],
    ['concat:/etc/passwd|/etc/shadow', /scheme "concat"/],
    ['subfile,,start,0,end,0,,:/etc/passwd', /not a valid URL|scheme/],
    ['file:///etc/passwd', /only allowed for replay/],
    ['-i file:/etc/passwd', /whitespace|starts with "-"/],
    ['-protocol_whitelist', /starts with "-"/],
    ['rtsp://cam/s\n-i file:/etc/passwd', /whitespace or control characters/],
    ['rtsp://cam/s\tx', /whitespace or control characters/],
    ['rtsp://cam/s\u0000', /whitespace or control characters/],
    ['http://169.254.169.254/latest/meta-data', /link-local or cloud metadata/],
    ['http://2852039166/', /link-local or cloud metadata/],
    ['http://0xA9FEA9FE/', /link-local or cloud metadata/],
    ['http://[::ffff:169.254.169.254]/', /link-local or cloud metadata/],
    ['rtsp://[fe80::1%25eth0]/s', /not a valid URL|link-local/],
    ['http://metadata.google.internal/computeMetadata/v1/', /link-local or cloud metadata/],
    ['http://100.100.100.200/latest/meta-data', /link-local or cloud metadata/],
    ['rtsp://admin:hunter2@cam/s', /user name or password; store them in a secret/],
    ['rtsp://admin@cam/s', /user name or password/],
  ];
  assert.ok(cases.length >= 20);
  for (const [url, reason] of cases) {
    const problem = streamUrlProblem(url);
    assert.ok(problem, `${JSON.stringify(url)} was accepted`);
    assert.match(problem, reason, JSON.stringify(url));
    assert.ok(!problem.includes('hunter2'), 'a rejection never echoes a password');
  }
});

test('inline credentials are accepted only when explicitly allowed', () => {
  assert.equal(streamUrlProblem('rtsp://admin:pw@cam/s', { allowInlineCredentials: true }), null);
});
