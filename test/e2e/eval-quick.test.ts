import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureOutput, repoRoot, useTestKafka } from '@vigil/testing';

// `npm run eval -- --quick` through the real pipeline, held to the anomaly targets: recall ≥ 0.95 for
// every kind, ≤ 1 false alarm per stream-hour on the normal scene, onset delay p95 ≤ 3 s at the default
// sampling, frame AUROC ≥ 0.95. (The quick run watches only minutes of normal scene; the full run,
// `npm run eval`, about an hour: its figures are in docs/anomaly.md.)

interface EvalResult {
  quick: boolean;
  kinds: Record<string, { windows: number; recall: number | null }>;
  minRecall: number;
  onsetDelayP95S: number;
  falseAlarms: number;
  falseAlarmsPerStreamHour: number | null;
  frameAuroc: number;
  falseAlarmEvents: string[];
}

test('the quick evaluation meets the anomaly targets', { timeout: 15 * 60_000 }, async (t) => {
  const broker = await useTestKafka();
  try {
    const child = spawn(process.execPath, [join(repoRoot(), 'dist/tools/eval/main.js'), '--quick'], {
      env: { ...process.env, VIGIL_KAFKA_BROKERS: broker.brokers.join(','), VIGIL_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    captureOutput(child, 'eval-quick');
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, out);
    t.diagnostic(
      out
        .split('\n')
        .filter((l) => /minRecall|false alarm|also during/.test(l))
        .join('\n'),
    );
    const r = JSON.parse(readFileSync(join(repoRoot(), 'bench-results/eval.json'), 'utf8')) as EvalResult;
    assert.equal(r.quick, true);
    assert.equal(Object.keys(r.kinds).length, 8, 'every kind was scheduled');
    for (const [kind, k] of Object.entries(r.kinds)) assert.ok(k.windows >= 1, `${kind} had a scored window`);
    assert.ok(r.minRecall >= 0.95, `minRecall ${r.minRecall}\n${out}`);
    assert.ok(
      (r.falseAlarmsPerStreamHour ?? Infinity) <= 1,
      `false alarms: ${r.falseAlarmEvents.join('; ')}`,
    );
    assert.ok(r.onsetDelayP95S <= 3, `onset delay p95 ${r.onsetDelayP95S} s\n${out}`);
    assert.ok(r.frameAuroc >= 0.95, `frame AUROC ${r.frameAuroc}`);
  } finally {
    await broker.stop();
  }
});
