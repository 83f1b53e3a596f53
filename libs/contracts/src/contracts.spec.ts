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
  cameraNetworksProblem,
  parseIPv4,
  redactSecrets,
  redactUrl,
  resolveCameraUrl,
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
  assert.match(
    streamUrlProblem('file:///etc/passwd')!,
    /file input is off; backtest a recording with `vigil replay/,
  );
  assert.equal(streamUrlProblem('file:///clips/a.mp4', { fileDirs: ['/clips'] }), null);
  assert.match(
    streamUrlProblem('file:///clips/../etc/passwd', { fileDirs: ['/clips'] })!,
    /outside the directories the operator allows/,
  );
  assert.match(
    streamUrlProblem('file:///clipsX/a.mp4', { fileDirs: ['/clips'] })!,
    /outside the directories/,
  );
  assert.match(streamUrlProblem('file://server/share/a.mp4', { fileDirs: ['/'] })!, /with a host/);
  assert.equal(streamUrlProblem('file:///anything.mp4', { fileDirs: 'any' }), null);
});

test('a StreamSpec cannot grant itself file input: replay: true is refused, replay: false still loads', () => {
  const refused = parseWith(StreamSpecSchema, { id: 'x', url: 'rtsp://cam/s', replay: true });
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.errors.join(), /^replay: replay no longer grants file input/);
  const stored = parseWith(StreamSpecSchema, { id: 'x', url: 'rtsp://cam/s', replay: false });
  assert.equal(stored.ok, true);
});

test('one host parser: every spelling of a link-local or metadata address is refused, in every scheme', () => {
  const spellings = [
    'rtsp://0xa9fea9fe/',
    'rtsp://2852039166:554/',
    'rtmp://0xa9fea9fe/live',
    'srt://2852039166:80',
    'rtsp://0251.0376.0251.0376/s',
    'rtsp://169.254.43518/s',
    'rtsp://0xa9.0xfe.0xa9.0xfe/s',
    'rtsp://169.16689662/s',
    'rtsp://[::ffff:169.254.169.254]/s',
    'rtsp://[::ffff:a9fe:a9fe]/s',
    'rtsp://[64:ff9b::a9fe:a9fe]/s',
    'rtsp://[fe80::1]/s',
    'srt://169.254.169.254.:9000',
    'http://metadata.google.internal./',
    'rtsp://METADATA.google.internal../s',
    'rtsp://0/s',
    'rtsp://0.0.0.0/s',
  ];
  for (const url of spellings)
    assert.match(streamUrlProblem(url) ?? 'accepted', /link-local, cloud metadata|metadata address/, url);
  assert.match(streamUrlProblem('rtsp://08.1.1.1/s')!, /neither a valid IPv4 address nor a name/);
  assert.match(
    streamUrlProblem('rtsp://1.2.3.4.5/s')!,
    /neither a valid IPv4 address nor a name|not a host name/,
  );
  assert.match(streamUrlProblem('rtsp://%31%32%37.0.0.1/s')!, /not a host name/);
  assert.equal(parseIPv4('2852039166'), '169.254.169.254');
  assert.equal(parseIPv4('0x7f.1'), '127.0.0.1');
  assert.equal(parseIPv4('10.0x10.0377.1'), '10.16.255.1');
  assert.equal(parseIPv4('256.1.1.1'), 'invalid');
  assert.equal(parseIPv4('camera-1'), null);
});

test('camera networks: an allow-list confines cameras, a deny-list wins, link-local only when listed', () => {
  const networks = { allow: ['10.20.0.0/16', '169.254.10.0/24'], deny: ['10.20.9.0/24'] };
  assert.equal(streamUrlProblem('rtsp://10.20.1.5/s', { networks }), null);
  assert.match(streamUrlProblem('rtsp://10.30.1.5/s', { networks })!, /outside the camera networks/);
  assert.match(streamUrlProblem('rtsp://0x0a140905/s', { networks })!, /operator refuses/);
  assert.equal(streamUrlProblem('rtsp://169.254.10.9/s', { networks }), null);
  assert.match(streamUrlProblem('rtsp://169.254.169.254/s', { networks })!, /outside the camera networks/);
  const deny = { allow: [], deny: ['127.0.0.2'] };
  assert.match(streamUrlProblem('rtsp://127.0.0.2:8554/s', { networks: deny })!, /operator refuses/);
  assert.match(streamUrlProblem('rtsp://0x7f000002:8554/s', { networks: deny })!, /operator refuses/);
  assert.equal(streamUrlProblem('rtsp://127.0.0.3:8554/s', { networks: deny }), null);
  assert.match(
    cameraNetworksProblem({ allow: ['10.0.0.0/33'], deny: [] })!,
    /"10.0.0.0\/33" is not an address or CIDR/,
  );
});

test('names are resolved and every address checked; rtsp, rtmp and srt get the checked address', async () => {
  const resolver = (map: Record<string, string[]>) => (name: string) =>
    map[name]
      ? Promise.resolve(map[name].map((address) => ({ address, family: address.includes(':') ? 6 : 4 })))
      : Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }));
  const r = resolver({
    'cam.test': ['127.0.0.3'],
    'meta.test': ['10.0.0.1', '169.254.169.254'],
    'v6.test': ['::1'],
  });
  assert.deepEqual(await resolveCameraUrl('rtsp://cam.test:8554/s', {}, r), {
    url: 'rtsp://127.0.0.3:8554/s',
    address: '127.0.0.3',
  });
  assert.deepEqual(await resolveCameraUrl('rtsp://v6.test/s', {}, r), {
    url: 'rtsp://[::1]/s',
    address: '::1',
  });
  assert.deepEqual(await resolveCameraUrl('https://cam.test/live.m3u8', {}, r), {
    url: 'https://cam.test/live.m3u8',
    address: '127.0.0.3',
  });
  const meta = await resolveCameraUrl('rtsp://meta.test/s', {}, r);
  assert.match(
    'problem' in meta ? meta.problem : '',
    /meta\.test, which reaches 169\.254\.169\.254, a link-local/,
  );
  const gone = await resolveCameraUrl('rtsp://gone.test/s', {}, r);
  assert.match('problem' in gone ? gone.problem : '', /does not resolve \(ENOTFOUND\)/);
});

test('credentials in a query are refused and point at a secret', () => {
  for (const url of [
    'rtsp://cam/s?access_token=abc',
    'rtsp://cam/s?password=abc',
    'https://cam/live.m3u8?apikey=abc',
    'rtsp://cam/s?sig=abc',
    'rtsp://cam/s?X-Amz-Signature=abc',
  ])
    assert.match(
      streamUrlProblem(url) ?? 'accepted',
      /carries a credential in its query .*credentials: \{ secret, queryParam/,
      url,
    );
  assert.equal(streamUrlProblem('rtsp://cam/s?channel=1&subtype=0'), null);
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
  assert.equal(
    streamUrlProblem('http://169.254.169.254/', { networks: { allow: ['169.254.169.254'], deny: [] } }),
    null,
  );
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
  // a query may carry a secret under any name: every value is masked
  assert.equal(redactUrl('rtsp://cam/live?t=xyz&channel=1'), 'rtsp://cam/live?t=***&channel=***');
  assert.equal(
    redactSecrets('ffmpeg: rtsp://cam/live?t=xyz&channel=1: 404, then http://h/a?q=zz'),
    'ffmpeg: rtsp://cam/live?t=***&channel=*** 404, then http://h/a?q=***',
  );
  // a key after # never reaches a server, and `vigil up` prints its dashboard link with it on purpose
  assert.equal(
    redactSecrets('Dashboard: http://localhost:8080/#key=abc123'),
    'Dashboard: http://localhost:8080/#key=abc123',
  );
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
    ['file:///etc/passwd', /file input is off/],
    ['-i file:/etc/passwd', /whitespace|starts with "-"/],
    ['-protocol_whitelist', /starts with "-"/],
    ['rtsp://cam/s\n-i file:/etc/passwd', /whitespace or control characters/],
    ['rtsp://cam/s\tx', /whitespace or control characters/],
    ['rtsp://cam/s\u0000', /whitespace or control characters/],
    ['http://169.254.169.254/latest/meta-data', /link-local, cloud metadata/],
    ['http://2852039166/', /link-local, cloud metadata/],
    ['http://0xA9FEA9FE/', /link-local, cloud metadata/],
    ['http://[::ffff:169.254.169.254]/', /link-local, cloud metadata/],
    ['rtsp://[fe80::1%25eth0]/s', /not a valid URL|link-local/],
    ['http://metadata.google.internal/computeMetadata/v1/', /cloud metadata address/],
    ['http://100.100.100.200/latest/meta-data', /link-local, cloud metadata/],
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

test('v1 grows compatibly: a consumer validating with the published schema accepts added fields and kinds', async () => {
  const { Ajv2020 } = await import('ajv/dist/2020.js');
  const addFormats = (await import('ajv-formats')).default as unknown as (a: unknown) => void;
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  const schema = JSON.parse(
    readFileSync(join(process.cwd(), 'libs/contracts/schemas/anomaly-event.v1.schema.json'), 'utf8'),
  ) as object;
  const validate = ajv.compile(schema);
  const today = {
    eventId: anomalyEventId('cam-1', 'lens_covered', '2026-01-01T00:00:00.000Z'),
    streamId: 'cam-1',
    phase: 'start',
    kind: 'lens_covered',
    severity: 'critical',
    score: 2,
    peakScore: 2,
    startedAt: '2026-01-01T00:00:00.000Z',
    observedAt: '2026-01-01T00:00:00.000Z',
    description: 'the lens is covered',
  };
  assert.ok(validate(today), ajv.errorsText(validate.errors));
  // what the next issues add: a kind and a clip reference
  const tomorrow = { ...today, kind: 'object_out_of_place', clip: { url: '/api/anomalies/x/clip.mp4' } };
  assert.ok(validate(tomorrow), ajv.errorsText(validate.errors));
  // what stays a break: a missing field, a changed type
  const { description: _d, ...missing } = today;
  assert.equal(validate(missing), false);
  assert.equal(validate({ ...today, score: 'high' }), false);
  // what Vigil reads stays closed: a misspelt field in a stream spec is reported, not ignored
  const spec = JSON.parse(
    readFileSync(join(process.cwd(), 'libs/contracts/schemas/stream-spec.v1.schema.json'), 'utf8'),
  ) as { $defs: { StreamSpec: { additionalProperties?: boolean } } };
  assert.equal(spec.$defs.StreamSpec.additionalProperties, false);
});
