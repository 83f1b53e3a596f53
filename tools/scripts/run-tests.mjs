// Runs the three test tiers on the compiled tree (npm test builds first):
//   unit         dist/{apps,libs,tools}/**/*.spec.js   no services (k8s/ manifests included)
//   integration  dist/test/integration/*.test.js real Kafka, RTSP server, ffmpeg
//   e2e          dist/test/e2e/*.test.js         the whole pipeline
// Integration and e2e share one local Kafka broker started here (VIGIL_TEST_BROKERS); afterwards no
// ffmpeg, java or python started by the tests may be left running. Usage: run-tests.mjs [tier...]
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = process.cwd();
const tiers = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];

function walk(dir, match, out = []) {
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (e === 'node_modules') continue;
    if (statSync(p).isDirectory()) walk(p, match, out);
    else if (match(p)) out.push(p);
  }
  return out.sort();
}

const files = {
  unit: [
    ...walk(join(root, 'dist/apps'), (p) => p.endsWith('.spec.js')),
    ...walk(join(root, 'dist/libs'), (p) => p.endsWith('.spec.js')),
    ...walk(join(root, 'dist/tools'), (p) => p.endsWith('.spec.js')),
  ],
  integration: walk(join(root, 'dist/test/integration'), (p) => p.endsWith('.test.js')),
  e2e: walk(join(root, 'dist/test/e2e'), (p) => p.endsWith('.test.js')),
};

function runNodeTest(list, env, tapFile) {
  return new Promise((resolve) => {
    const args = [
      '--test',
      '--test-concurrency=1',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tapFile}`,
      ...list,
    ];
    const child = spawn(process.execPath, args, { stdio: 'inherit', env });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

function counts(tapFile) {
  const text = readFileSync(tapFile, 'utf8');
  const n = (k) => Number(text.match(new RegExp(`^# ${k} (\\d+)$`, 'm'))?.[1] ?? 0);
  return { pass: n('pass'), fail: n('fail'), skipped: n('skipped') + n('todo') };
}

function ourLeftovers(marker) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (/\b(ffmpeg|java|python3?)\b/.test(cmd) && env.includes(marker))
        found.push(`${pid} ${cmd.slice(0, 160)}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

const tmp = mkdtempSync(join(tmpdir(), 'vigil-tests-'));
// Analyzers the tests start in this process tree keep their outboxes under .cache/vigil/analyzer-outbox*
// (the default); what an earlier run left there must not be sent to this run's broker.
let cached = [];
try {
  cached = readdirSync(join(root, '.cache/vigil'));
} catch {
  // a fresh checkout
}
for (const name of cached.filter((n) => n.startsWith('analyzer-outbox')))
  rmSync(join(root, '.cache/vigil', name), { recursive: true, force: true });
// Every process the tests start inherits this marker, so the leftover check finds exactly ours.
const marker = `VIGIL_TEST_RUN=${process.pid}`;
const env = { ...process.env, VIGIL_TEST_RUN: String(process.pid), VIGIL_TEST_TMP: tmp };
let kafka = null;
let total = { pass: 0, fail: 0, skipped: 0 };
let failed = false;
try {
  for (const tier of tiers) {
    const list = files[tier];
    if (!list) throw new Error(`unknown tier ${tier}; use unit, integration or e2e`);
    if (list.length === 0) {
      console.error(`no ${tier} test files found; run npm run build first`);
      failed = true;
      continue;
    }
    if (tier !== 'unit' && !kafka && !process.env.VIGIL_TEST_BROKERS) {
      const { LocalKafka } = await import(join(root, 'dist/libs/testing/src/index.js'));
      kafka = new LocalKafka({ dataDir: join(tmp, 'kafka') });
      const t0 = Date.now();
      process.env.VIGIL_TEST_RUN = String(process.pid); // the broker carries the marker too
      await kafka.start();
      env.VIGIL_TEST_BROKERS = kafka.brokers.join(',');
      console.log(
        `# local Kafka broker for the tests at ${env.VIGIL_TEST_BROKERS} (ready in ${Date.now() - t0} ms)`,
      );
    }
    console.log(`\n# ${tier} tests (${list.length} files)`);
    const tap = join(tmp, `${tier}.tap`);
    const code = await runNodeTest(list, env, tap);
    const c = counts(tap);
    total = { pass: total.pass + c.pass, fail: total.fail + c.fail, skipped: total.skipped + c.skipped };
    if (code !== 0) failed = true;
  }
} finally {
  if (kafka) await kafka.stop();
}
const leftovers = ourLeftovers(marker);
if (leftovers.length) {
  failed = true;
  console.error(`\nprocesses left behind by the tests:\n${leftovers.join('\n')}`);
} else {
  console.log('\n# process check: no ffmpeg, java or python left running by the tests');
}
rmSync(tmp, { recursive: true, force: true });
console.log(
  `\ntests: ${total.pass} passed, ${total.fail} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`,
);
process.exit(failed || total.fail > 0 ? 1 : 0);
