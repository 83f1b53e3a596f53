import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Logger } from './logger.js';

function capture(level: 'debug' | 'info' = 'info', format: 'text' | 'json' = 'text') {
  const lines: string[] = [];
  const logger = new Logger('test', {
    level,
    format,
    sink: { write: (l) => lines.push(l) },
    clock: () => new Date('2026-01-02T03:04:05.000Z'),
  });
  return { logger, lines };
}

test('text lines carry time, level, context, message and fields', () => {
  const { logger, lines } = capture();
  logger.info('stream started', { streamId: 'cam-1', fps: 2 });
  assert.equal(lines[0], '2026-01-02T03:04:05.000Z INFO  [test] stream started streamId=cam-1 fps=2\n');
});

test('records below the level are dropped', () => {
  const { logger, lines } = capture('info');
  logger.debug('noise');
  assert.equal(lines.length, 0);
});

test('credentials in messages and fields are redacted', () => {
  const { logger, lines } = capture('info', 'json');
  logger.warn('cannot open rtsp://admin:hunter2@10.0.0.5/live', {
    url: 'rtsp://admin:hunter2@10.0.0.5/live',
  });
  assert.ok(!lines[0]!.includes('hunter2'), lines[0]);
  assert.ok(!lines[0]!.includes('admin'), lines[0]);
  const rec = JSON.parse(lines[0]!) as { msg: string; url: string };
  assert.equal(rec.url, 'rtsp://***@10.0.0.5/live');
});
