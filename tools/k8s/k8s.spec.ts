// The manifests in k8s/ checked offline: every overlay renders and validates (Kubernetes and CRD
// schemas, references between objects, pod security), the Kafka topics agree with libs/contracts, every
// setting the manifests give is one the role's config schema knows and accepts, autoscaling stays within
// the partitions, and the Grafana dashboard only asks for metrics the apps export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_TOPICS, TOPICS } from '@vigil/contracts';
import {
  type Env,
  configReference,
  loadAnalyzerConfig,
  loadGatewayConfig,
  loadIngestConfig,
} from '@vigil/config';
import { IngestMetrics } from '../../apps/ingest/src/index.js';
import { AnalyzerMetrics } from '../../apps/analyzer/src/index.js';
import { GatewayMetrics } from '../../apps/gateway/src/index.js';
import { type K8sObject, KustomizeError, build, parseEnvFile, strategicMerge } from './kustomize.js';
import { containerEnv, referenceProblems, schemaProblems, validateAll } from './validate.js';
import { ENV_BEGIN, topicsYaml, withEnvReference } from './generate.js';

const ROOT = process.cwd();
const K8S = join(ROOT, 'k8s');
const OVERLAYS = readdirSync(join(K8S, 'overlays')).sort();
const rendered = new Map(OVERLAYS.map((o) => [o, build(join(K8S, 'overlays', o))]));
const ROLES = ['ingest', 'analyzer', 'gateway'] as const;
type Role = (typeof ROLES)[number];

type Obj = Record<string, unknown>;
const spec = (o: K8sObject) => o.spec as Obj;
const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} is rendered`);
  return o;
};
const containers = (d: K8sObject) => ((spec(d).template as Obj).spec as { containers: Obj[] }).containers;

/** The environment a role's container gets: its ConfigMaps (envFrom) then its env entries. */
function podEnv(objects: K8sObject[], role: Role): Record<string, string> {
  const c = containers(find(objects, 'Deployment', `vigil-${role}`))[0]!;
  assert.deepEqual(c.args, [role], `vigil-${role} runs "vigil ${role}"`);
  return containerEnv(objects, c);
}

test('k8s: cpu, gpu and gpu-onnx overlays render, and every object passes its schema and the checks', () => {
  assert.deepEqual(OVERLAYS, ['cpu', 'gpu', 'gpu-onnx']);
  for (const [overlay, objects] of rendered) {
    assert.deepEqual(validateAll(objects), [], `${overlay} validates`);
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of [
      'Namespace',
      'Deployment',
      'Service',
      'ConfigMap',
      'PodDisruptionBudget',
      'NetworkPolicy',
      'Kafka',
      'KafkaNodePool',
      'KafkaTopic',
      'ScaledObject',
      'ServiceMonitor',
    ])
      assert.ok(kinds.has(k), `${overlay} has a ${k}`);
    for (const role of ROLES) {
      const d = find(objects, 'Deployment', `vigil-${role}`);
      const c = containers(d)[0]!;
      assert.ok(c.readinessProbe && c.livenessProbe, `${overlay} ${role} has probes`);
      const res = c.resources as { requests: Obj; limits: Obj };
      assert.ok(res.requests.cpu && res.requests.memory && res.limits.memory, `${role} requests and limits`);
      assert.equal(d.metadata.namespace, 'vigil');
    }
  }
  const gpu = rendered.get('gpu')!;
  const analyzer = containers(find(gpu, 'Deployment', 'vigil-analyzer'))[0]!;
  assert.equal((analyzer.resources as { limits: Obj }).limits['nvidia.com/gpu'], '1');
  assert.equal(analyzer.image, 'vigil:0.1.0-cuda');
  const vllm = containers(find(gpu, 'Deployment', 'vigil-vllm'))[0]!;
  assert.ok((vllm.args as string[]).includes('--enable-prefix-caching'));
  const served = (vllm.args as string[]).find((a) => a.startsWith('--served-model-name='))!.split('=')[1];
  const env = podEnv(gpu, 'analyzer');
  assert.equal(env.VIGIL_DECODER, 'openai');
  assert.equal(env.VIGIL_DECODER_MODEL, served, 'the analyzer asks vLLM for the model it serves');
  assert.equal(env.VIGIL_DECODER_URL, `http://${find(gpu, 'Service', 'vigil-vllm').metadata.name}:8000`);
  assert.equal(podEnv(rendered.get('gpu-onnx')!, 'analyzer').VIGIL_DECODER_PROVIDER, 'cuda');
  assert.equal(podEnv(rendered.get('cpu')!, 'analyzer').VIGIL_DECODER, 'grounded');
  assert.ok(!rendered.get('cpu')!.some((o) => o.metadata.name === 'vigil-vllm'));
});

test('k8s: the apps log in to Kafka the way its listener expects, as the user Strimzi creates', () => {
  for (const [overlay, objects] of rendered) {
    const kafka = find(objects, 'Kafka', 'vigil');
    const listeners = (spec(kafka).kafka as { listeners: Obj[] }).listeners;
    for (const role of ROLES) {
      const env = podEnv(objects, role);
      const port = Number(env.VIGIL_KAFKA_BROKERS!.split(':')[1]);
      const listener = listeners.find((l) => l.port === port);
      assert.ok(listener, `${overlay}: ${role} connects to a listener`);
      assert.equal(env.VIGIL_KAFKA_TLS === 'true', listener.tls, `${overlay}: ${role} TLS as the listener`);
      assert.equal(env.VIGIL_KAFKA_SASL_MECHANISM, (listener.authentication as Obj).type);
      const user = find(objects, 'KafkaUser', env.VIGIL_KAFKA_SASL_USERNAME!);
      assert.equal((spec(user).authentication as Obj).type, env.VIGIL_KAFKA_SASL_MECHANISM);
      // the password and CA files are where the Secrets Strimzi writes are mounted
      const pod = (spec(find(objects, 'Deployment', `vigil-${role}`)).template as Obj).spec as Obj;
      const c = containers(find(objects, 'Deployment', `vigil-${role}`))[0]!;
      const fileFrom = (path: string) => {
        const m = (c.volumeMounts as { name: string; mountPath: string }[]).find((x) =>
          path.startsWith(x.mountPath + '/'),
        )!;
        const v = (pod.volumes as Obj[]).find((x) => x.name === m.name)!.secret as {
          secretName: string;
          items: { key: string; path: string }[];
        };
        const item = v.items.find((i) => path === `${m.mountPath}/${i.path}`)!;
        return `${v.secretName}/${item.key}`;
      };
      assert.equal(fileFrom(env.VIGIL_KAFKA_SASL_PASSWORD_FILE!), `${user.metadata.name}/password`);
      assert.equal(fileFrom(env.VIGIL_KAFKA_TLS_CA_FILE!), `${kafka.metadata.name}-cluster-ca-cert/ca.crt`);
    }
    const policy = find(objects, 'NetworkPolicy', 'vigil-dns-and-kafka');
    assert.ok(JSON.stringify(spec(policy)).includes(`"port":${Number(listeners[0]!.port)}`));
  }
});

test('k8s: the validators catch wrong types in core objects and CRDs, and broken references', () => {
  const objects = structuredClone(rendered.get('gpu')!);
  const topic = find(objects, 'KafkaTopic', TOPICS.frames.name);
  (spec(topic) as { partitions: unknown }).partitions = '12';
  assert.match(schemaProblems(topic).join(), /partitions must be integer/);
  const scaled = find(objects, 'ScaledObject', 'vigil-analyzer');
  ((spec(scaled).triggers as Obj[])[0]!.metadata as Obj).lagThreshold = 24;
  assert.match(schemaProblems(scaled).join(), /lagThreshold must be string/);
  const kafka = find(objects, 'Kafka', 'vigil');
  delete ((spec(kafka).kafka as { listeners: Obj[] }).listeners[0] as Obj).tls;
  assert.match(schemaProblems(kafka).join(), /tls/);
  const monitor = find(objects, 'ServiceMonitor', 'vigil');
  (spec(monitor).endpoints as Obj[])[0]!.interval = 15;
  assert.match(schemaProblems(monitor).join(), /interval must be string/);
  assert.match(schemaProblems({ ...topic, apiVersion: 'kafka.strimzi.io/v9' }).join(), /no schema known/);

  const gateway = find(objects, 'Deployment', 'vigil-gateway');
  const c = containers(gateway)[0]!;
  c.imagePullPolicyy = 'Always';
  (c.readinessProbe as { httpGet: Obj }).httpGet.port = 'ops';
  (c.envFrom as { configMapRef: Obj }[])[1]!.configMapRef.name = 'vigil-gatewy';
  (c.securityContext as Obj).allowPrivilegeEscalation = true;
  ((spec(gateway).template as Obj).spec as { securityContext: Obj }).securityContext.runAsNonRoot = false;
  const service = find(objects, 'Service', 'vigil-ingest');
  (spec(service).selector as Obj)['app.kubernetes.io/name'] = 'vigil-ingst';
  const problems = referenceProblems(objects).join('\n');
  for (const want of [
    /vigil-gateway container gateway: unknown field "imagePullPolicyy"/,
    /readinessProbe uses port "ops"/,
    /envFrom ConfigMap vigil-gatewy is not rendered/,
    /allowPrivilegeEscalation is not false/,
    /runAsNonRoot is not true/,
    /Service\/vigil-ingest: selects no pod template/,
  ])
    assert.match(problems, want);
});

test('k8s: the KafkaTopics are the topics of libs/contracts, and topics.yaml is current', () => {
  assert.equal(
    readFileSync(join(K8S, 'kafka/topics.yaml'), 'utf8'),
    topicsYaml(),
    'k8s/kafka/topics.yaml is stale: run npm run k8s -- generate',
  );
  for (const [overlay, objects] of rendered) {
    const topics = objects.filter((o) => o.kind === 'KafkaTopic');
    assert.deepEqual(
      topics.map((t) => spec(t).topicName).sort(),
      ALL_TOPICS.map((t) => t.name).sort(),
      `${overlay}: one KafkaTopic per topic`,
    );
    for (const want of ALL_TOPICS) {
      const t = spec(topics.find((x) => spec(x).topicName === want.name)!);
      const config = t.config as Record<string, unknown>;
      assert.equal(t.partitions, want.partitions, `${want.name} partitions`);
      assert.equal(config['cleanup.policy'], want.cleanupPolicy, `${want.name} cleanup.policy`);
      assert.equal(config['retention.ms'], want.retentionMs, `${want.name} retention.ms`);
      for (const [k, v] of Object.entries(want.config ?? {})) assert.equal(config[k], v, `${want.name} ${k}`);
      assert.ok((t.replicas as number) >= (config['min.insync.replicas'] as number) + 1);
    }
    const kafka = find(objects, 'Kafka', 'vigil');
    for (const t of topics) assert.equal(t.metadata.labels?.['strimzi.io/cluster'], kafka.metadata.name);
  }
});

test('k8s: every setting the manifests give is known to the role and accepted by its config schema', () => {
  const known = new Map<Role, Set<string>>(
    ROLES.map((r) => [
      r,
      new Set(configReference().flatMap((row) => (row.apps.includes(r) ? [row.env] : []))),
    ]),
  );
  const loaders: Record<Role, (env: Env) => unknown> = {
    ingest: loadIngestConfig,
    analyzer: loadAnalyzerConfig,
    gateway: loadGatewayConfig,
  };
  for (const [overlay, objects] of rendered)
    for (const role of ROLES) {
      const env = podEnv(objects, role);
      const unknown = Object.keys(env).filter((k) => !known.get(role)!.has(k));
      assert.deepEqual(unknown, [], `${overlay}: settings vigil ${role} does not know`);
      assert.doesNotThrow(() => loaders[role](env), `${overlay}: vigil ${role} accepts its settings`);
      // every port the pod declares is the one the role listens on
      const ports = (containers(find(objects, 'Deployment', `vigil-${role}`))[0]!.ports as Obj[]).map(
        (p) => p.containerPort,
      );
      const httpPorts = Object.entries(env)
        .filter(([k]) => /_(HTTP_)?PORT$/.test(k))
        .map(([, v]) => Number(v));
      assert.deepEqual([...ports].sort(), [...httpPorts].sort(), `${overlay}: ${role} ports`);
    }
  // a misspelt setting is caught (the same check as above, on a copy)
  const objects = structuredClone(rendered.get('cpu')!);
  (find(objects, 'ConfigMap', 'vigil-ingest').data as Record<string, string>).VIGIL_INGEST_STALL_MS = '9';
  assert.ok(!known.get('ingest')!.has(Object.keys(podEnv(objects, 'ingest')).at(-1)!));
  // the analyzer does not read camera secrets: that setting belongs to ingest and gateway only
  assert.ok(!known.get('analyzer')!.has('VIGIL_SECRETS_DIR'));
});

test('k8s: the env files list every other setting of their role, current with the config schemas', () => {
  const common = parseEnvFile(readFileSync(join(K8S, 'base/config/common.env'), 'utf8'), 'common.env');
  for (const role of ROLES) {
    const file = join(K8S, `base/config/${role}.env`);
    const text = readFileSync(file, 'utf8');
    assert.equal(text, withEnvReference(text, role, new Set(Object.keys(common))), `${file} is stale`);
    assert.ok(text.includes(ENV_BEGIN));
  }
});

test('k8s: autoscaling stays within the partitions that spread the work', () => {
  for (const [overlay, objects] of rendered) {
    const analyzer = spec(find(objects, 'ScaledObject', 'vigil-analyzer'));
    const ingest = spec(find(objects, 'ScaledObject', 'vigil-ingest'));
    assert.ok((analyzer.maxReplicaCount as number) <= TOPICS.frames.partitions, overlay);
    assert.ok((ingest.maxReplicaCount as number) <= TOPICS.streams.partitions, overlay);
    const kafkaTrigger = (analyzer.triggers as { type: string; metadata: Obj }[]).find(
      (t) => t.type === 'kafka',
    )!;
    assert.equal(kafkaTrigger.metadata.topic, TOPICS.frames.name);
    assert.equal(kafkaTrigger.metadata.consumerGroup, podEnv(objects, 'analyzer').VIGIL_ANALYZER_GROUP_ID);
    const [host, port] = String(kafkaTrigger.metadata.bootstrapServers).split(':');
    assert.equal(`${host!.split('.')[0]}:${port}`, podEnv(objects, 'analyzer').VIGIL_KAFKA_BROKERS);
  }
});

test('k8s: the Grafana dashboard asks only for metrics the apps export', () => {
  const exported = new Set<string>();
  for (const m of [new IngestMetrics(), new AnalyzerMetrics(), new GatewayMetrics()])
    for (const metric of m.registry.getMetricsAsArray()) {
      const { name, type } = metric as unknown as { name: string; type: string };
      exported.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
    }
  const dashboard = JSON.parse(readFileSync(join(K8S, 'monitoring/vigil-dashboard.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const used = dashboard.panels.flatMap((p) =>
    p.targets.flatMap((t) => [...t.expr.matchAll(/\bvigil_[a-z_]+/g)].map((m) => m[0])),
  );
  assert.ok(used.length >= 15);
  assert.deepEqual(
    used.filter((n) => !exported.has(n)),
    [],
  );
  for (const title of [
    'Streams online',
    'Frames per second',
    'Dropped frames per second',
    'Vision encoder latency per batch',
    'Decoder latency per window',
    'Anomaly events per minute',
    'Analyzer consumer lag',
  ])
    assert.ok(
      dashboard.panels.some((p) => p.title === title),
      title,
    );
  // the ConfigMap Grafana's sidecar loads holds this file
  const cm = find(rendered.get('cpu')!, 'ConfigMap', 'vigil-grafana-dashboard');
  assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
  const scaled = find(rendered.get('cpu')!, 'ScaledObject', 'vigil-ingest');
  const query = ((spec(scaled).triggers as { metadata: Obj }[])[0]!.metadata.query as string).match(
    /vigil_[a-z_]+/,
  )![0];
  assert.ok(exported.has(query), `KEDA's ingest query uses ${query}`);
});

test('kustomize subset: strategic merge, components, load restriction, refusals', () => {
  const base = {
    containers: [{ name: 'a', image: 'x', env: [{ name: 'K', value: '1' }], args: ['p'] }],
    volumes: [{ name: 'v' }, { name: 'w' }],
  };
  const merged = strategicMerge(base, {
    containers: [{ name: 'a', env: [{ name: 'L', value: '2' }], args: ['q'] }],
    volumes: [{ name: 'w', $patch: 'delete' }],
  });
  assert.deepEqual(merged, {
    containers: [
      {
        name: 'a',
        image: 'x',
        env: [
          { name: 'K', value: '1' },
          { name: 'L', value: '2' },
        ],
        args: ['q'],
      },
    ],
    volumes: [{ name: 'v' }],
  });

  // a Service's ports merge on port, a container's on containerPort
  assert.deepEqual(
    strategicMerge(
      { ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      {
        ports: [
          { port: 80, targetPort: 8080 },
          { name: 'metrics', port: 9466 },
        ],
      },
    ),
    {
      ports: [
        { name: 'http', port: 80, targetPort: 8080 },
        { name: 'metrics', port: 9466 },
      ],
    },
  );

  const dir = mkdtempSync(join(tmpdir(), 'vigil-kustomize-'));
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  write('outside.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
  write('o/kustomization.yaml', 'resources: [../outside.yaml]\n');
  assert.throws(
    () => build(join(dir, 'o')),
    (e: Error) => e instanceof KustomizeError && /not in or below/.test(e.message),
  );
  write('p/kustomization.yaml', 'resources: []\nnamePrefix: a-\n');
  assert.throws(() => build(join(dir, 'p')), /"namePrefix" is not supported/);
  write('q/kustomization.yaml', 'configMapGenerator: [{name: c, literals: [A=1]}]\n');
  assert.throws(() => build(join(dir, 'q')), /disableNameSuffixHash/);
  write('r/a.env', 'A=1\nA=2\n');
  write(
    'r/kustomization.yaml',
    'generatorOptions: {disableNameSuffixHash: true}\nconfigMapGenerator: [{name: c, envs: [a.env]}]\n',
  );
  assert.throws(() => build(join(dir, 'r')), /A is set twice/);
  write('s/kustomization.yaml', 'components: [../t]\n');
  write('t/kustomization.yaml', 'kind: Kustomization\n');
  assert.throws(() => build(join(dir, 's')), /kind Kustomization where a Component is expected/);
});
