import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameMetaSchema, StreamSpecSchema, fromCloudEventHeaders } from '@vigil/contracts';
import { frameMessage } from './frame-message.js';

test('a frame message is keyed by stream, carries the JPEG, CloudEvents headers and valid vigil_meta', () => {
  const spec = StreamSpecSchema.parse({
    id: 'cam-1',
    url: 'rtsp://cam/s',
    credentials: { secret: 'cam-1-pw' },
    output: { width: 320, height: 180 },
  });
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
  const msg = frameMessage(
    spec,
    { image: jpeg, seq: 7, runId: 'run-1', capturedAt: Date.parse('2026-01-01T00:00:00Z') },
    'fps',
  );
  assert.equal(msg.key, 'cam-1');
  assert.equal(msg.value, jpeg);
  const ce = fromCloudEventHeaders(msg.headers);
  assert.ok(ce.ok);
  assert.equal(ce.ok && ce.value.type, 'dev.vigil.frame.v1');
  assert.equal(ce.ok && ce.value.contentType, 'image/jpeg');
  const meta = FrameMetaSchema.parse(JSON.parse(msg.headers.vigil_meta!));
  assert.deepEqual(
    [meta.seq, meta.width, meta.height, meta.capturedAt],
    [7, 320, 180, '2026-01-01T00:00:00.000Z'],
  );
  assert.ok(
    !JSON.stringify(msg.headers).includes('cam-1-pw'),
    'not even the secret name travels with frames',
  );
});
