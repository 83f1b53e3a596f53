import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@vigil/config';
import { KafkaUnavailableError } from '@vigil/kafka';
import { UsageError, describeFatal } from './errors.js';
import { formatTailLine, tailTopic } from './tail.command.js';

test('known faults become one line with exit 2 for bad input, 1 for unavailable dependencies', () => {
  const cfg = describeFatal(
    new ConfigError(['VIGIL_KAFKA_BROKERS: is required (comma-separated host:port)']),
  );
  assert.deepEqual(cfg, {
    line: 'vigil: invalid configuration: VIGIL_KAFKA_BROKERS: is required (comma-separated host:port)',
    code: 2,
  });
  const kafka = describeFatal(new KafkaUnavailableError(['k:9092'], 'connection refused'));
  assert.equal(kafka.code, 1);
  assert.match(kafka.line, /^vigil: cannot reach Kafka at k:9092 \(connection refused\); start a broker/);
  assert.ok(!kafka.line.includes('\n'));
});

test('unexpected errors are reported without a stack unless asked, with credentials redacted', () => {
  const r = describeFatal(new Error('boom at rtsp://u:pw@h/x'));
  assert.equal(r.code, 1);
  assert.equal(
    r.line,
    'vigil: unexpected error: boom at rtsp://***@h/x (run with VIGIL_LOG_LEVEL=debug for the stack trace)',
  );
  assert.ok(r.stack && !r.stack.includes('pw@'));
});

test('tail validates the topic name', () => {
  assert.equal(tailTopic('summaries'), 'summaries');
  assert.throws(() => tailTopic('alerts'), UsageError);
});

test('tail prints one readable line per message', () => {
  const summary = Buffer.from(
    JSON.stringify({ streamId: 'cam-1', createdAt: '2026-01-01T12:34:56.000Z', text: 'All quiet.' }),
  );
  assert.equal(formatTailLine('summaries', summary, {}, false), '12:34:56 [cam-1] All quiet.');
  assert.equal(formatTailLine('summaries', summary, {}, true), summary.toString());
  const anomaly = Buffer.from(
    JSON.stringify({
      streamId: 'cam-1',
      observedAt: '2026-01-01T00:00:01Z',
      phase: 'start',
      kind: 'object_appeared',
      severity: 'warning',
      score: 0.1234,
      description: 'Box.',
    }),
  );
  assert.equal(
    formatTailLine('anomalies', anomaly, {}, false),
    '00:00:01 [cam-1] START object_appeared warning score=0.123 Box.',
  );
});
