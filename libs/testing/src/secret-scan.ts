import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, lstatSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

// The suite-wide credential check: every test that gives a camera a password uses cameraCredentials(),
// whose password the test runner draws at random for the run (VIGIL_TEST_CAMERA_PASSWORD). Afterwards the
// runner looks for it in everything the run left behind: the test output, the logs of the processes
// the tests started (captureOutput), the API responses they read (capture-fetch.ts), the brokers' log
// segments (gzip batches unpacked), gateway databases and outboxes. Only the secret files that hold it
// on purpose may contain it.

const fallback = `cam-${randomBytes(9).toString('hex')}`;

/** The one camera login of the test suite; the password is the run's canary. */
export function cameraCredentials(): { username: string; password: string } {
  return { username: 'vigil-viewer', password: process.env.VIGIL_TEST_CAMERA_PASSWORD || fallback };
}

/**
 * Writes the camera login as Kubernetes mounts a Secret: `<dir>/<name>/username` and `.../password`
 * ("dir"), or `<dir>/<name>.username` and `<dir>/<name>.password` (one Secret mounted whole, "flat").
 */
export function writeCameraSecret(dir: string, name: string, layout: 'dir' | 'flat' = 'dir'): void {
  const { username, password } = cameraCredentials();
  if (layout === 'dir') {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'username'), `${username}\n`);
    writeFileSync(join(dir, name, 'password'), `${password}\n`);
  } else {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.username`), username);
    writeFileSync(join(dir, `${name}.password`), password);
  }
}

/** A file that holds a password on purpose: a mounted secret's `password` or `<name>.password`. */
export function isSecretFile(path: string): boolean {
  const name = basename(path);
  return name === 'password' || name.endsWith('.password');
}

/**
 * Keeps what a child process writes to stdout and stderr in `$VIGIL_TEST_TMP/logs/<name>-<pid>.log`
 * for the runner's credential scan (nothing when the test runs outside the runner). Call it in the
 * same tick as spawn, next to the test's own listeners.
 */
export function captureOutput(child: ChildProcess, name: string): void {
  const root = process.env.VIGIL_TEST_TMP;
  if (!root) return;
  const dir = join(root, 'logs');
  mkdirSync(dir, { recursive: true });
  const out = createWriteStream(join(dir, `${name}-${child.pid ?? 'nopid'}.log`), { flags: 'a' });
  out.on('error', () => undefined);
  let open = 0;
  for (const s of [child.stdout, child.stderr]) {
    if (!s) continue;
    open++;
    s.on('data', (b: Buffer | string) => out.write(b));
    s.once('close', () => {
      if (--open === 0) out.end();
    });
  }
  if (open === 0) out.end();
}

export interface SecretHit {
  readonly file: string;
  /** Which form of the secret, and where: "password in a gzip batch at byte 4096". */
  readonly what: string;
}

export interface SecretScanResult {
  readonly files: number;
  readonly bytes: number;
  /** Kafka log segments read batch by batch, and how many of their batches were gzip-compressed. */
  readonly segments: number;
  readonly gzipBatches: number;
  /** Files that hold the secret on purpose (isSecretFile) and did contain it. */
  readonly secretFiles: readonly string[];
  readonly hits: readonly SecretHit[];
}

const SEGMENT = /^\d{20}\.log(\.deleted|\.cleaned|\.swap)?$/;

/**
 * Looks for each needle (the password, its Basic-auth form) in every file under `roots`. A Kafka log
 * segment is also read as record batches (format v2) and each gzip batch unpacked, so a secret inside a
 * compressed message is found; a batch in a codec this cannot unpack is reported as a hit, never
 * skipped silently.
 */
export function scanForSecret(
  roots: readonly string[],
  needles: readonly { readonly label: string; readonly bytes: Buffer }[],
): SecretScanResult {
  let files = 0;
  let bytes = 0;
  let segments = 0;
  let gzipBatches = 0;
  const secretFiles: string[] = [];
  const hits: SecretHit[] = [];
  const search = (file: string, data: Buffer, where: string) => {
    for (const n of needles) if (data.includes(n.bytes)) hits.push({ file, what: `${n.label}${where}` });
  };
  const visit = (path: string) => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // removed while we looked
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(path)) visit(join(path, e));
      return;
    }
    if (!st.isFile()) return;
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch {
      return;
    }
    files++;
    bytes += data.length;
    if (isSecretFile(path)) {
      if (needles.some((n) => data.includes(n.bytes))) secretFiles.push(path);
      return;
    }
    search(path, data, '');
    if (SEGMENT.test(basename(path))) {
      segments++;
      for (const batch of recordBatches(data)) {
        if (batch.codec === 0) continue; // its bytes were searched as they are
        if (batch.codec !== 1) {
          hits.push({
            file: path,
            what: `a batch at byte ${batch.at} in codec ${batch.codec}, not readable here`,
          });
          continue;
        }
        gzipBatches++;
        search(path, gunzipSync(batch.records), ` in a gzip batch at byte ${batch.at}`);
      }
    }
  };
  for (const r of roots) visit(r);
  return { files, bytes, segments, gzipBatches, secretFiles, hits };
}

/** The record batches of a Kafka log segment (magic 2): where each starts, its codec, its records. */
export function* recordBatches(
  segment: Buffer,
): Generator<{ at: number; codec: number; count: number; records: Buffer }> {
  let at = 0;
  while (at + 61 <= segment.length) {
    const length = segment.readInt32BE(at + 8);
    const end = at + 12 + length;
    if (length < 49 || end > segment.length) return; // the end, or a partly written tail
    if (segment[at + 16] !== 2) return; // older formats are not written by Kafka 3.x brokers
    yield {
      at,
      codec: segment.readInt16BE(at + 21) & 7,
      count: segment.readInt32BE(at + 57),
      records: segment.subarray(at + 61, end),
    };
    at = end;
  }
}
