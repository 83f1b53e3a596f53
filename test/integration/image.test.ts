// The container image and the pods, without Docker or a cluster (and Kafka as in the cluster: SCRAM-SHA-512
// over TLS with the mounted password and CA): /app is assembled from the files the
// Dockerfile's `app` stage copies (node_modules without the packages package-lock.json marks dev-only, as
// `npm prune --omit=dev` leaves it), and each role runs from it as the image's user (uid 10001, through
// setpriv when the tests run as root, as in CI) with exactly the environment the cpu overlay gives its pod,
// its volumes as directories at the mount paths' places, and a root-owned /app it cannot write to — the
// read-only root filesystem. Every role must pass its readiness probe on the manifest's port and path, a
// camera added through the gateway must be analyzed, and SIGTERM must stop each within its grace period.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  LocalKafka,
  RtspTestServer,
  cameraCredentials,
  captureOutput,
  repoRoot,
  testDir,
  trackChild,
  waitFor,
  writeCameraSecret,
} from '@vigil/testing';
import { build, type K8sObject } from '../../tools/k8s/kustomize.js';
import { containerEnv } from '../../tools/k8s/validate.js';
import { copiesFrom, envOf, execForm, parseDockerfile, stage, userOf } from '../../tools/k8s/dockerfile.js';

const ROOT = repoRoot();
const ROLES = ['gateway', 'ingest', 'analyzer'] as const;
type Role = (typeof ROLES)[number];
const stages = parseDockerfile(join(ROOT, 'Dockerfile'));
const runtime = stage(stages, 'runtime');
const image = userOf(runtime);
const asRoot = process.getuid?.() === 0;
const objects = build(join(ROOT, 'k8s/overlays/cpu'));

type Obj = Record<string, unknown>;
const deployment = (role: Role) =>
  objects.find((o) => o.kind === 'Deployment' && o.metadata.name === `vigil-${role}`)!;
const podSpec = (d: K8sObject) => (d.spec as { template: { spec: Obj } }).template.spec;
const container = (d: K8sObject) => (podSpec(d).containers as Obj[])[0]!;

let dir: string;
let app: string;
// the cluster's Kafka as the pods see it: SCRAM over TLS, user "vigil", a CA of its own
let broker: LocalKafka;
const KAFKA_PASSWORD = randomBytes(12).toString('hex');
let rtsp: RtspTestServer;
const writeKey = randomBytes(18).toString('base64url');
const pods = new Map<Role, { child: ChildProcess; log: string[]; env: Record<string, string> }>();

/** Copies (hard links where it can) `src` to `dst`, leaving out what `skip` says. */
function copyTree(src: string, dst: string, skip: (rel: string) => boolean, base = src): void {
  const st = lstatSync(src);
  if (skip(relative(base, src))) return;
  if (st.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
  else if (st.isDirectory()) {
    mkdirSync(dst, { mode: 0o755 });
    for (const e of readdirSync(src)) copyTree(join(src, e), join(dst, e), skip, base);
  } else
    try {
      linkSync(src, dst);
    } catch {
      copyFileSync(src, dst);
    }
}

/** node_modules paths of packages only devDependencies need (what `npm prune --omit=dev` removes). */
function devOnly(): Set<string> {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return new Set(Object.entries(lock.packages).flatMap(([p, v]) => (p && v.dev ? [p] : [])));
}

/** The pod's environment: image ENV, then the ConfigMaps of envFrom, then env, mount paths mapped. */
function podEnv(role: Role, mounts: Map<string, string>): Record<string, string> {
  const c = container(deployment(role));
  const env: Record<string, string> = {
    ...envOf(runtime),
    HOME: '/nonexistent',
    ...containerEnv(objects, c),
  };
  for (const [k, v] of Object.entries(env))
    for (const [mountPath, host] of mounts)
      if (v === mountPath || v.startsWith(mountPath + '/')) env[k] = host + v.slice(mountPath.length);
  env.TMPDIR = mounts.get('/tmp') ?? '/tmp';
  env.PATH = '/usr/local/bin:/usr/bin:/bin';
  // the one thing that differs from the cluster: the broker's address
  env.VIGIL_KAFKA_BROKERS = broker.tlsBrokers.join(',');
  return env;
}

/** The pod's volumes as directories: emptyDirs owned by the image user, Secrets with their files. */
function volumes(role: Role): Map<string, string> {
  const d = deployment(role);
  const byName = new Map(((podSpec(d).volumes as Obj[]) ?? []).map((v) => [v.name as string, v]));
  const mounts = new Map<string, string>();
  for (const m of (container(d).volumeMounts as { name: string; mountPath: string }[]) ?? []) {
    const v = byName.get(m.name)!;
    const host = join(dir, 'volumes', role, m.name);
    mkdirSync(host, { recursive: true, mode: 0o755 });
    const secret = (v.secret as { secretName: string } | undefined)?.secretName;
    // what Strimzi writes: the KafkaUser's password and the cluster CA
    if (secret === 'vigil') writeFileSync(join(host, 'password'), KAFKA_PASSWORD);
    if (secret === 'vigil-cluster-ca-cert') copyFileSync(broker.caFile, join(host, 'ca.crt'));
    if (secret === 'vigil-api-keys') writeFileSync(join(host, 'keys'), `write ${writeKey}\n`);
    if (secret === 'vigil-camera-credentials') {
      // the flat layout of one Secret mounted whole; the test camera asks for this login
      writeCameraSecret(host, 'yard', 'flat');
    }
    if (asRoot) {
      // Secret files belong to root with the fsGroup's read access, emptyDirs to the pod's user
      const gid = (podSpec(d).securityContext as { fsGroup: number }).fsGroup;
      if (secret) {
        for (const f of readdirSync(host)) {
          chownSync(join(host, f), 0, gid);
          chmodSync(join(host, f), 0o440);
        }
      } else chownSync(host, image.uid, image.gid);
    }
    mounts.set(m.mountPath, host);
  }
  return mounts;
}

function startPod(role: Role): void {
  const env = podEnv(role, volumes(role));
  const entry = execForm(runtime, 'ENTRYPOINT');
  // tini is PID 1 in the image; here the test runner reaps
  const argv = [...entry.slice(entry.indexOf('node') + 1), ...(container(deployment(role)).args as string[])];
  const cmd = asRoot ? 'setpriv' : process.execPath;
  const args = asRoot
    ? [
        `--reuid=${image.uid}`,
        `--regid=${image.gid}`,
        '--clear-groups',
        '--no-new-privs',
        '--',
        process.execPath,
        ...argv,
      ]
    : argv;
  const child = spawn(cmd, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  captureOutput(child, `pod-${role}`);
  const log: string[] = [];
  child.stdout.on('data', (b: Buffer) => log.push(b.toString()));
  child.stderr.on('data', (b: Buffer) => log.push(b.toString()));
  pods.set(role, { child, log, env });
}

/** The probe of a role as the manifest states it: its path on the container port it names. */
function probeUrl(role: Role, probe: 'readinessProbe' | 'livenessProbe'): string {
  const c = container(deployment(role));
  const get = (c[probe] as { httpGet: { path: string; port: string } }).httpGet;
  const port = (c.ports as { name: string; containerPort: number }[]).find((p) => p.name === get.port)!;
  return `http://127.0.0.1:${port.containerPort}${get.path}`;
}

const ok = async (url: string, init?: RequestInit) => {
  try {
    return (await fetch(url, { ...init, signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
};

before(async () => {
  broker = new LocalKafka({
    dataDir: testDir('vigil-image-kafka'),
    sasl: { users: [{ username: 'vigil', password: KAFKA_PASSWORD }] },
  });
  await broker.start();
  rtsp = new RtspTestServer(
    [{ name: 'yard', pattern: 'ball', width: 320, height: 180, fps: 10 }],
    undefined,
    {
      auth: cameraCredentials(),
    },
  );
  await rtsp.start();
  // the pods' user must reach it: the runner's directory lets others pass through, this one lets them in
  dir = testDir('vigil-image');
  chmodSync(dir, 0o755);
  app = join(dir, 'app');
  mkdirSync(app, { mode: 0o755 });
  const dev = devOnly();
  const removed = stage(stages, 'build')
    .instructions.filter((i) => i.op === 'RUN')
    .flatMap((i) =>
      [...i.args.matchAll(/rm -rf ((?:dist\/\S+\s*)+)/g)].flatMap((m) => m[1]!.trim().split(/\s+/)),
    );
  for (const [src, dst] of copiesFrom(stage(stages, 'app'), 'build')) {
    const from = join(ROOT, relative('/app', src));
    const to = join(app, relative('/app', dst));
    mkdirSync(dirname(to), { recursive: true, mode: 0o755 });
    copyTree(from, to, (rel) => {
      const path = join(relative('/app', src), rel);
      return dev.has(path) || removed.includes(path) || path === 'node_modules/.vigil-lock';
    });
  }
});

after(async () => {
  for (const { child } of pods.values()) if (child.exitCode === null) child.kill('SIGKILL');
  await rtsp?.stop();
  await broker?.stop();
  // under the test runner the pods' volumes stay for its credential scan (it removes its directory)
  if (dir) rmSync(process.env.VIGIL_TEST_TMP ? app : dir, { recursive: true, force: true });
});

test('the image: one user for the image and the pods, the entry point is vigil, roles are its commands', (t) => {
  t.diagnostic(asRoot ? `roles run as uid ${image.uid} (setpriv)` : 'not root: roles run as this user');
  for (const s of ['runtime', 'cuda']) {
    assert.deepEqual(userOf(stage(stages, s)), image, `${s} runs as the same user`);
    assert.deepEqual(execForm(stage(stages, s), 'ENTRYPOINT'), [
      '/usr/bin/tini',
      '--',
      'node',
      'bin/vigil.js',
    ]);
  }
  assert.ok(image.uid !== 0);
  for (const o of objects.filter((x) => x.kind === 'Deployment')) {
    const sc = podSpec(o).securityContext as { runAsUser: number; runAsGroup: number };
    assert.equal(sc.runAsUser, image.uid, `${o.metadata.name} runs as the image's user`);
    assert.equal(sc.runAsGroup, image.gid);
  }
  assert.equal(stages.at(-1)!.name, 'runtime', 'a plain docker build gives the CPU runtime');
  // dev-only packages really are absent from the assembled /app, and the app's own are there
  assert.ok(!existsSync(join(app, 'node_modules/playwright-core')));
  assert.ok(!existsSync(join(app, 'node_modules/kubernetes-models')));
  assert.ok(existsSync(join(app, 'node_modules/kafkajs/package.json')));
  assert.ok(existsSync(join(app, 'dist/node_modules/@vigil/contracts/index.js')));
  assert.ok(!existsSync(join(app, 'dist/test')));
  const help = spawnSync(
    process.execPath,
    [...execForm(runtime, 'ENTRYPOINT').slice(3), ...execForm(runtime, 'CMD')],
    {
      cwd: app,
      encoding: 'utf8',
    },
  );
  assert.equal(help.status, 0, help.stderr);
  for (const role of ROLES) assert.match(help.stdout, new RegExp(`vigil ${role} `));
});

test('each role starts from the image as its pod would and passes its readiness probe', async () => {
  for (const role of ROLES) startPod(role);
  for (const role of ROLES) {
    const pod = pods.get(role)!;
    await waitFor(
      `vigil ${role} ready at ${probeUrl(role, 'readinessProbe')}`,
      async () => {
        if (pod.child.exitCode !== null)
          assert.fail(`vigil ${role} exited with ${pod.child.exitCode}:\n${pod.log.join('')}`);
        return ok(probeUrl(role, 'readinessProbe'));
      },
      90_000,
    );
    assert.ok(await ok(probeUrl(role, 'livenessProbe')));
  }
  // the gateway keeps its SQLite file on the data volume, the only place it can write
  assert.ok(existsSync(pods.get('gateway')!.env.VIGIL_GATEWAY_DB!));
  // logs are JSON lines (VIGIL_LOG_FORMAT=json from the common ConfigMap)
  const line = pods
    .get('gateway')!
    .log.join('')
    .split('\n')
    .find((l) => l.trim());
  assert.doesNotThrow(() => JSON.parse(line!));
});

test('a camera added through the gateway is run by ingest and analyzed, from the image', async () => {
  const gatewayPort = (
    container(deployment('gateway')).ports as { name: string; containerPort: number }[]
  ).find((p) => p.name === 'http')!.containerPort;
  const api = `http://127.0.0.1:${gatewayPort}/api`;
  const auth = { authorization: `Bearer ${writeKey}`, 'content-type': 'application/json' };
  const id = `image-${randomBytes(3).toString('hex')}`;
  const res = await fetch(`${api}/streams`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      id,
      url: rtsp.url('yard'),
      credentials: { secret: 'yard' },
      sampling: { mode: 'fps', fps: 2 },
    }),
  });
  assert.equal(res.status, 201, await res.text());
  try {
    const metrics = probeUrl('analyzer', 'readinessProbe').replace('/health/ready', '/metrics');
    await waitFor(
      `frames of ${id} analyzed`,
      async () => {
        const text = await (await fetch(metrics)).text();
        return new RegExp(`^vigil_analyzer_frames_total\\{stream="${id}"\\} [1-9]`, 'm').test(text);
      },
      60_000,
    );
    const status = await waitFor(
      `${id} online in the gateway`,
      async () => {
        const s = (await (
          await fetch(`${api}/streams/${id}`, { headers: { authorization: auth.authorization } })
        ).json()) as {
          status?: { online?: boolean; framesOut?: number };
        };
        // the first status says online; the periodic one (every 10 s) counts frames
        return s.status?.online && (s.status.framesOut ?? 0) > 0 && s;
      },
      40_000,
    );
    assert.ok(status.status?.online);
  } finally {
    const gone = await fetch(`${api}/streams/${id}`, {
      method: 'DELETE',
      headers: { authorization: auth.authorization },
    });
    assert.equal(gone.status, 204, await gone.text());
  }
});

test('SIGTERM stops every role within its termination grace period, with exit code 0', async () => {
  for (const role of ROLES) {
    const { child, log } = pods.get(role)!;
    const grace = (podSpec(deployment(role)).terminationGracePeriodSeconds as number) * 1000;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const t0 = Date.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), grace))]);
    assert.equal(
      code,
      0,
      `vigil ${role} after SIGTERM (${Date.now() - t0} ms):\n${log.join('').slice(-2000)}`,
    );
    // nothing of the run was written into the image
    assert.ok(!log.join('').includes('EACCES'), log.join('').slice(-2000));
  }
});
