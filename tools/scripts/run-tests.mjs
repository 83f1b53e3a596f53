// Runs the three test tiers on the compiled tree (npm test builds first):
//   unit         dist/{apps,libs,tools}/**/*.spec.js   no services (k8s/ manifests included)
//   integration  dist/test/integration/*.test.js real Kafka, RTSP server, ffmpeg
//   e2e          dist/test/e2e/*.test.js         the whole pipeline
// Integration and e2e share one local Kafka broker started here (VIGIL_TEST_BROKERS); afterwards no
// ffmpeg, java or python started by the tests may be left running, and the run's camera password (drawn
// here, used by every test that gives a camera a login) may appear nowhere but in its secret files: not in
// the output, the logs, the API responses, the brokers' segments or the databases the tests leave behind.
// Usage: run-tests.mjs [tier...] [name...]  (names pick the test files whose path contains one of them)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  createWriteStream,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  mkdtempSync,
} from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = process.cwd();
const TIERS = ['unit', 'integration', 'e2e'];
const args = process.argv.slice(2);
const named = args.filter((a) => TIERS.includes(a));
const tiers = named.length ? named : TIERS;
const names = args.filter((a) => !TIERS.includes(a));

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

function runNodeTest(list, env, tapFile, logFile) {
  return new Promise((resolve) => {
    const args = [
      // every test file's process keeps a copy of the HTTP responses it reads, for the credential scan
      '--import',
      join(root, 'dist/libs/testing/src/capture-fetch.js'),
      '--test',
      '--test-concurrency=1',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tapFile}`,
      ...list,
    ];
    const child = spawn(process.execPath, args, { stdio: ['inherit', 'pipe', 'pipe'], env });
    const log = createWriteStream(logFile);
    child.stdout.on('data', (b) => (process.stdout.write(b), log.write(b)));
    child.stderr.on('data', (b) => (process.stderr.write(b), log.write(b)));
    child.on('close', (code) => log.end(() => resolve(code ?? 1)));
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
        found.push(`${pid} ${cmd.replace(/\/\/[^/@\s]*@/g, '//***@').slice(0, 160)}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** The run's camera password anywhere but in its secret files fails the run. */
async function credentialScan() {
  const { cameraCredentials, scanForSecret } = await import(
    join(root, 'dist/libs/testing/src/secret-scan.js')
  );
  const { username, password } = cameraCredentials();
  const r = scanForSecret(
    [tmp, join(root, '.cache/vigil')],
    [
      { label: 'the camera password', bytes: Buffer.from(password) },
      {
        label: 'the camera login as HTTP Basic',
        bytes: Buffer.from(Buffer.from(`${username}:${password}`).toString('base64')),
      },
    ],
  );
  if (r.hits.length) {
    console.error('\ncamera credentials found where they must never be:');
    for (const h of r.hits) console.error(`  ${h.what}: ${h.file}`);
    return false;
  }
  if (!r.secretFiles.length && !names.length) {
    console.error("\ncredential scan: no test gave a camera the run's password, so the scan shows nothing");
    return false;
  }
  const count = (sub) => {
    try {
      return readdirSync(join(tmp, sub)).filter((f) => !f.startsWith('runner-')).length;
    } catch {
      return 0;
    }
  };
  console.log(
    `\n# credential scan: the camera password is in none of ${r.files} files (${(r.bytes / 1048576).toFixed(1)} MB: ` +
      `the test output, ${count('logs')} process logs, the API responses of ${count('responses')} test files, ` +
      `${r.segments} Kafka segments with ${r.gzipBatches} gzip batches, databases, outboxes), ` +
      `only in the ${r.secretFiles.length} secret files that hold it`,
  );
  return true;
}

const tmp = mkdtempSync(join(tmpdir(), 'vigil-tests-'));
// others may pass through (the image test runs its pods as another user under it), not list it
chmodSync(tmp, 0o711);
mkdirSync(join(tmp, 'logs'));
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
// the run's canary: cameraCredentials() in @vigil/testing hands it to the tests
process.env.VIGIL_TEST_CAMERA_PASSWORD = `canary-${randomBytes(12).toString('hex')}`;
const env = { ...process.env, VIGIL_TEST_RUN: String(process.pid), VIGIL_TEST_TMP: tmp };
let kafka = null;
let total = { pass: 0, fail: 0, skipped: 0 };
let failed = false;
try {
  for (const tier of tiers) {
    const list = files[tier].filter((f) => !names.length || names.some((n) => f.includes(n)));
    if (list.length === 0 && names.length) continue;
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
    const code = await runNodeTest(list, env, tap, join(tmp, 'logs', `runner-${tier}.log`));
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
const scanned = tiers.some((t) => t !== 'unit') ? await credentialScan() : true;
if (scanned) rmSync(tmp, { recursive: true, force: true });
else {
  failed = true;
  console.error(`(${tmp} is kept for a look at the files named above)`);
}
console.log(
  `\ntests: ${total.pass} passed, ${total.fail} failed${total.skipped ? `, ${total.skipped} skipped` : ''}${scanned ? '' : '; the credential scan failed'}`,
);
process.exit(failed || total.fail > 0 ? 1 : 0);
