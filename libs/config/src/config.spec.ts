import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  configReferenceMarkdown,
  loadAnalyzerConfig,
  loadCliConfig,
  loadIngestConfig,
} from './index.js';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return [...e.problems];
  }
  assert.fail('expected a ConfigError');
}

test('valid ingest config: brokers list, streams JSON, numbers coerced, defaults filled', () => {
  const cfg = loadIngestConfig({
    VIGIL_KAFKA_BROKERS: 'k1:9092, k2:9092',
    VIGIL_STREAMS: '[{"id":"cam-1","url":"rtsp://cam/s"}]',
    VIGIL_INGEST_STALL_TIMEOUT_MS: '5000',
  });
  assert.deepEqual(cfg.brokers, ['k1:9092', 'k2:9092']);
  assert.equal(cfg.streams[0]?.id, 'cam-1');
  assert.equal(cfg.stallTimeoutMs, 5000);
  assert.equal(cfg.logLevel, 'info');
});

test('one error names every bad key with its fix', () => {
  const p = problems(() =>
    loadIngestConfig({
      VIGIL_KAFKA_BROKERS: 'localhost',
      VIGIL_INGEST_STALL_TIMEOUT_MS: 'soon',
      VIGIL_LOG_LEVEL: 'loud',
    }),
  );
  assert.equal(p.length, 3, p.join('\n'));
  assert.match(
    p.join('\n'),
    /VIGIL_KAFKA_BROKERS\[0\]: each broker must be host:port \(comma-separated host:port/,
  );
  assert.match(p.join('\n'), /VIGIL_INGEST_STALL_TIMEOUT_MS: .*\(milliseconds, 1000-600000\)/);
  assert.match(p.join('\n'), /VIGIL_LOG_LEVEL: .*\(one of debug, info, warn, error\)/);
});

test('a missing required key says it is required', () => {
  const p = problems(() => loadAnalyzerConfig({}));
  assert.deepEqual(p, ['VIGIL_KAFKA_BROKERS: is required (comma-separated host:port, e.g. localhost:9092)']);
});

test('stream problems point inside VIGIL_STREAMS', () => {
  const p = problems(() =>
    loadIngestConfig({
      VIGIL_KAFKA_BROKERS: 'k:9092',
      VIGIL_STREAMS: '[{"id":"cam-1","url":"ftp://cam/x"}]',
    }),
  );
  assert.equal(p.length, 1);
  assert.match(p[0]!, /^VIGIL_STREAMS\[0\.url\]: stream URL uses scheme "ftp"/);
});

test('malformed JSON is reported as such', () => {
  const p = problems(() => loadIngestConfig({ VIGIL_KAFKA_BROKERS: 'k:9092', VIGIL_STREAMS: '[{id:1}' }));
  assert.match(p[0]!, /^VIGIL_STREAMS: is not valid JSON/);
});

test('an out-of-range anomaly setting names its variable and the allowed range', () => {
  const p = problems(() =>
    loadAnalyzerConfig({
      VIGIL_KAFKA_BROKERS: 'k:9092',
      VIGIL_ANALYZER_SENSITIVITY: '9',
      VIGIL_ANALYZER_WARMUP_SAMPLES: '2',
    }),
  );
  assert.equal(p.length, 2);
  assert.ok(
    p.some((l) => /^VIGIL_ANALYZER_SENSITIVITY: .*4.*0\.25-4/.test(l)),
    p.join(' | '),
  );
  assert.ok(
    p.some((l) => /^VIGIL_ANALYZER_WARMUP_SAMPLES: .*5/.test(l)),
    p.join(' | '),
  );
});

test('the CLI config makes brokers optional (a local broker is started instead)', () => {
  const cfg = loadCliConfig({});
  assert.equal(cfg.brokers, undefined);
  assert.equal(cfg.kafkaPort, 9092);
});

test('the openai decoder needs its server URL and model, said in one line', () => {
  const p = problems(() => loadAnalyzerConfig({ VIGIL_KAFKA_BROKERS: 'k:9092', VIGIL_DECODER: 'openai' }));
  assert.equal(p.length, 2, p.join(' | '));
  assert.match(
    p[0]!,
    /^VIGIL_DECODER_URL: the openai decoder needs the server URL, e\.g\. http:\/\/vllm:8000/,
  );
  assert.match(p[1]!, /^VIGIL_DECODER_MODEL: the openai decoder needs the served model name/);
  const ok = loadAnalyzerConfig({
    VIGIL_KAFKA_BROKERS: 'k:9092',
    VIGIL_DECODER: 'openai',
    VIGIL_DECODER_URL: 'http://vllm:8000',
    VIGIL_DECODER_MODEL: 'Qwen/Qwen3-VL-30B-A3B-Instruct',
  });
  assert.equal(ok.decoderConcurrency, 4);
  assert.match(
    problems(() => loadAnalyzerConfig({ VIGIL_KAFKA_BROKERS: 'k:9092', VIGIL_DECODER: 'llama' }))[0]!,
    /^VIGIL_DECODER: .*grounded.*openai/,
  );
});

test('the onnx decoder needs its model.json; windows and rollups are checked against each other', () => {
  const p = problems(() => loadAnalyzerConfig({ VIGIL_KAFKA_BROKERS: 'k:9092', VIGIL_DECODER: 'onnx' }));
  assert.equal(p.length, 1, p.join(' | '));
  assert.match(p[0]!, /^VIGIL_DECODER_MODEL: the onnx decoder needs the path of its model\.json/);
  const q = problems(() =>
    loadAnalyzerConfig({
      VIGIL_KAFKA_BROKERS: 'k:9092',
      VIGIL_SUMMARY_INTERVAL_S: '10',
      VIGIL_WINDOW_S: '5',
      VIGIL_ROLLUP_MINUTE_S: '60',
      VIGIL_ROLLUP_HOUR_S: '90',
      VIGIL_DECODER_PROVIDER: 'tpu',
    }),
  );
  assert.equal(q.length, 3, q.join(' | '));
  assert.match(
    q.join('\n'),
    /VIGIL_WINDOW_S: a window \(5 s\) must be at least the summary interval \(10 s\)/,
  );
  assert.match(
    q.join('\n'),
    /VIGIL_ROLLUP_HOUR_S: the hour rollup \(90 s\) must be a whole number of minute rollups/,
  );
  assert.match(q.join('\n'), /VIGIL_DECODER_PROVIDER: must be cpu, cuda or cuda:<device id>/);
  const ok = loadAnalyzerConfig({ VIGIL_KAFKA_BROKERS: 'k:9092' });
  assert.equal(ok.windowS, 0, 'windows default to twice the summary interval');
  assert.equal(ok.rollupMinuteS, 60);
  assert.equal(ok.rollupHourS, 3600);
});

test("README's configuration reference is the one the schemas generate (npm run docs)", () => {
  // from dist/libs/config/src (and libs/config/src) up to the repository
  const readme = readFileSync(fileURLToPath(new URL('../../../../README.md', import.meta.url)), 'utf8');
  const section = readme.slice(
    readme.indexOf('<!-- config-reference:begin'),
    readme.indexOf('<!-- config-reference:end -->'),
  );
  const cells = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('| `VIGIL_'))
      .map((l) =>
        l
          .split(/(?<!\\)\|/)
          .slice(1, -1)
          .map((c) => c.trim()),
      );
  const want = cells(configReferenceMarkdown());
  assert.ok(want.length > 60);
  assert.deepEqual(cells(section), want, 'README.md is stale: run npm run docs');
});
