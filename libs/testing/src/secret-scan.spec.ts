import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { recordBatches, scanForSecret, writeCameraSecret, cameraCredentials } from './secret-scan.js';

/** A record batch (format v2) around `records`: only the header fields the scan reads are filled in. */
function batch(records: Buffer, codec: number, count = 1): Buffer {
  const head = Buffer.alloc(61);
  head.writeInt32BE(49 + records.length, 8); // batchLength counts from partitionLeaderEpoch on
  head[16] = 2; // magic
  head.writeInt16BE(codec, 21);
  head.writeInt32BE(count, 57);
  return Buffer.concat([head, records]);
}

const needle = (s: string) => [{ label: 'the password', bytes: Buffer.from(s) }];

test('a password inside a gzip batch of a Kafka segment is found; one in no file at all is not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-scan-'));
  try {
    const partition = join(dir, 'kafka', 'vigil.anomalies.v1-0');
    mkdirSync(partition, { recursive: true });
    const segment = Buffer.concat([
      batch(Buffer.from('{"note":"nothing here"}'), 0),
      batch(gzipSync('{"url":"rtsp://viewer:pw-in-gzip@cam/1"}'), 1, 3),
      batch(gzipSync('{"note":"clean"}'), 1),
    ]);
    writeFileSync(join(partition, '00000000000000000000.log'), segment);
    // the compressed bytes do not contain it: only unpacking finds it
    assert.ok(!segment.includes('pw-in-gzip'));
    assert.deepEqual(
      [...recordBatches(segment)].map((b) => [b.codec, b.count]),
      [
        [0, 1],
        [1, 3],
        [1, 1],
      ],
    );
    const found = scanForSecret([dir], needle('pw-in-gzip'));
    assert.equal(found.segments, 1);
    assert.equal(found.gzipBatches, 2);
    const first = 61 + Buffer.byteLength('{"note":"nothing here"}');
    assert.deepEqual(
      found.hits.map((h) => [h.file, h.what]),
      [[join(partition, '00000000000000000000.log'), `the password in a gzip batch at byte ${first}`]],
    );
    assert.deepEqual(scanForSecret([dir], needle('not-there')).hits, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('plain files are searched as bytes; secret files are counted, not reported; other codecs are never skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-scan-'));
  const prev = process.env.VIGIL_TEST_CAMERA_PASSWORD;
  process.env.VIGIL_TEST_CAMERA_PASSWORD = 'canary-unit-1';
  try {
    writeCameraSecret(join(dir, 'secrets'), 'cam', 'dir');
    writeCameraSecret(join(dir, 'flat'), 'yard', 'flat');
    assert.equal(readFileSync(join(dir, 'flat', 'yard.password'), 'utf8'), 'canary-unit-1');
    assert.equal(cameraCredentials().password, 'canary-unit-1');
    writeFileSync(join(dir, 'ingest.log'), 'stream cam: rtsp://vigil-viewer:canary-unit-1@cam failed');
    const lz4 = join(dir, 'kafka', 't-0');
    mkdirSync(lz4, { recursive: true });
    writeFileSync(join(lz4, '00000000000000000042.log'), batch(Buffer.from('opaque'), 3));
    const r = scanForSecret([dir], needle('canary-unit-1'));
    assert.deepEqual([...r.secretFiles].sort(), [
      join(dir, 'flat/yard.password'),
      join(dir, 'secrets/cam/password'),
    ]);
    assert.deepEqual(r.hits.map((h) => h.what).sort(), [
      'a batch at byte 0 in codec 3, not readable here',
      'the password',
    ]);
    assert.equal(r.files, 6);
  } finally {
    if (prev === undefined) delete process.env.VIGIL_TEST_CAMERA_PASSWORD;
    else process.env.VIGIL_TEST_CAMERA_PASSWORD = prev;
    rmSync(dir, { recursive: true, force: true });
  }
});
