// Checks rendered manifests without a cluster: every object against its Kubernetes or CRD schema (the
// kubernetes-models validators: types, required fields, enums, patterns; like the API server they accept
// unknown fields, so containers are also checked for unknown keys here), then the references between
// objects that a typo breaks silently (selectors, named ports, ConfigMaps, volumes, scale targets) and the
// pod security rules Vigil's own pods keep.
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as strimzi from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { type K8sObject } from './kustomize.js';

interface Validatable {
  validate(): void;
}
type ModelCtor = new (data: never) => Validatable;

const GROUPS: Record<string, Record<string, unknown>> = {
  v1: core,
  'apps/v1': apps,
  'policy/v1': policy,
  'networking.k8s.io/v1': networking,
  'kafka.strimzi.io/v1beta2': strimzi,
  'keda.sh/v1alpha1': keda,
  'monitoring.coreos.com/v1': monitoring,
};

/** The model class for an apiVersion and kind, or undefined when no schema is known for it. */
function modelOf(apiVersion: string, kind: string): ModelCtor | undefined {
  const m = GROUPS[apiVersion]?.[kind];
  return typeof m === 'function' ? (m as ModelCtor) : undefined;
}

/** Schema problems of one object ("Kind/name: message"), empty when valid. */
export function schemaProblems(o: K8sObject): string[] {
  const Model = modelOf(o.apiVersion, o.kind);
  const id = `${o.kind}/${o.metadata.name}`;
  if (!Model) return [`${id}: no schema known for ${o.apiVersion} ${o.kind}`];
  try {
    new Model(structuredClone(o) as never).validate();
    return [];
  } catch (e) {
    return [`${id}: ${(e as Error).message}`];
  }
}

const CONTAINER_KEYS = new Set([
  'name',
  'image',
  'imagePullPolicy',
  'command',
  'args',
  'workingDir',
  'ports',
  'env',
  'envFrom',
  'resources',
  'volumeMounts',
  'livenessProbe',
  'readinessProbe',
  'startupProbe',
  'lifecycle',
  'securityContext',
  'terminationMessagePath',
  'terminationMessagePolicy',
  'stdin',
  'tty',
]);

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {});
const asList = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

interface PodTemplate {
  owner: K8sObject;
  labels: Record<string, string>;
  spec: Obj;
  containers: Obj[];
}

function templates(objects: readonly K8sObject[]): PodTemplate[] {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind))
    .map((o) => {
      const t = asObj(asObj(o.spec).template);
      const spec = asObj(t.spec);
      return {
        owner: o,
        labels: asObj(asObj(t.metadata).labels) as Record<string, string>,
        spec,
        containers: [...asList(spec.containers), ...asList(spec.initContainers)],
      };
    });
}

/** Whether a label selector (matchLabels and matchExpressions, or a plain map for Services) selects labels. */
export function selects(selector: Obj, labels: Record<string, string>): boolean {
  const plain = !('matchLabels' in selector) && !('matchExpressions' in selector);
  const match = (plain ? selector : asObj(selector.matchLabels)) as Record<string, string>;
  if (Object.entries(match).some(([k, v]) => labels[k] !== v)) return false;
  for (const e of plain ? [] : asList(selector.matchExpressions)) {
    const key = e.key as string;
    const values = (e.values as string[] | undefined) ?? [];
    const ok =
      e.operator === 'In'
        ? values.includes(labels[key] ?? '\0')
        : e.operator === 'NotIn'
          ? !values.includes(labels[key] ?? '\0')
          : e.operator === 'Exists'
            ? key in labels
            : !(key in labels);
    if (!ok) return false;
  }
  return true;
}

const portNames = (t: PodTemplate) =>
  new Set(t.containers.flatMap((c) => asList(c.ports).map((p) => p.name as string)));

/** Problems in the references between objects and in pod security; empty when none. */
export function referenceProblems(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
  const pods = templates(objects);
  const configMaps = new Set(objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name));

  for (const o of objects)
    if (o.kind !== 'Namespace' && !o.metadata.namespace) problems.push(`${id(o)}: no namespace`);

  for (const t of pods) {
    const who = id(t.owner);
    const sel = asObj(asObj(t.owner.spec).selector);
    if (!Object.keys(sel).length || !selects(sel, t.labels))
      problems.push(`${who}: its selector does not select its own pod template`);
    const volumes = new Set(asList(t.spec.volumes).map((v) => v.name as string));
    for (const v of asList(t.spec.volumes)) {
      const cm = asObj(v.configMap);
      if (typeof cm.name === 'string' && !cm.optional && !configMaps.has(cm.name))
        problems.push(`${who}: volume ${String(v.name)} uses ConfigMap ${cm.name}, not rendered`);
    }
    for (const c of t.containers) {
      const cname = `${who} container ${String(c.name)}`;
      for (const key of Object.keys(c))
        if (!CONTAINER_KEYS.has(key)) problems.push(`${cname}: unknown field "${key}"`);
      const ports = new Set(asList(c.ports).map((p) => p.name as string));
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const port = asObj(asObj(c[probe]).httpGet).port;
        if (typeof port === 'string' && !ports.has(port))
          problems.push(`${cname}: ${probe} uses port "${port}", which the container does not name`);
      }
      for (const e of asList(c.envFrom)) {
        const ref = asObj(e.configMapRef);
        if (typeof ref.name === 'string' && !ref.optional && !configMaps.has(ref.name))
          problems.push(`${cname}: envFrom ConfigMap ${ref.name} is not rendered`);
      }
      for (const m of asList(c.volumeMounts))
        if (!volumes.has(m.name as string))
          problems.push(`${cname}: mounts volume ${String(m.name)}, which the pod does not have`);
    }
    if (t.labels['app.kubernetes.io/part-of'] === 'vigil') problems.push(...restricted(who, t));
  }

  const selected = (sel: Obj) => pods.filter((t) => selects(sel, t.labels));
  for (const o of objects) {
    const spec = asObj(o.spec);
    if (o.kind === 'Service') {
      const hits = selected(asObj(spec.selector));
      if (!hits.length) problems.push(`${id(o)}: selects no pod template`);
      for (const p of asList(spec.ports))
        if (typeof p.targetPort === 'string' && !hits.every((t) => portNames(t).has(p.targetPort as string)))
          problems.push(`${id(o)}: targetPort "${p.targetPort}" is not a port name of the selected pods`);
    }
    if (o.kind === 'PodDisruptionBudget' && !selected(asObj(spec.selector)).length)
      problems.push(`${id(o)}: selects no pod template`);
    if (o.kind === 'NetworkPolicy') {
      const hits = selected(asObj(spec.podSelector));
      if (!hits.length) problems.push(`${id(o)}: selects no pod template`);
      for (const rule of asList(spec.ingress))
        for (const p of asList(rule.ports))
          if (typeof p.port === 'string' && !hits.every((t) => portNames(t).has(p.port as string)))
            problems.push(`${id(o)}: port "${p.port}" is not a port name of every selected pod`);
    }
    if (o.kind === 'ScaledObject') {
      const ref = asObj(spec.scaleTargetRef);
      const kind = (ref.kind as string | undefined) ?? 'Deployment';
      if (!objects.some((x) => x.kind === kind && x.metadata.name === ref.name))
        problems.push(`${id(o)}: scales ${kind}/${String(ref.name)}, which is not rendered`);
      for (const t of asList(spec.triggers)) {
        const auth = asObj(t.authenticationRef).name;
        if (
          typeof auth === 'string' &&
          !objects.some((x) => x.kind === 'TriggerAuthentication' && x.metadata.name === auth)
        )
          problems.push(
            `${id(o)}: trigger ${String(t.type)} uses TriggerAuthentication ${auth}, not rendered`,
          );
      }
    }
    if (o.kind === 'TriggerAuthentication')
      for (const r of asList(spec.configMapTargetRef)) {
        const cm = objects.find((x) => x.kind === 'ConfigMap' && x.metadata.name === r.name);
        if (!cm || !(String(r.key) in asObj(cm.data)))
          problems.push(
            `${id(o)}: ${String(r.parameter)} from ConfigMap ${String(r.name)} key ${String(r.key)}, which is not there`,
          );
      }
    if (o.kind === 'ServiceMonitor') {
      const services = objects.filter(
        (s) => s.kind === 'Service' && selects(asObj(spec.selector), s.metadata.labels ?? {}),
      );
      if (!services.length) problems.push(`${id(o)}: selects no Service`);
      for (const ep of asList(spec.endpoints))
        for (const s of services)
          if (!asList(asObj(s.spec).ports).some((p) => p.name === ep.port))
            problems.push(`${id(o)}: Service ${s.metadata.name} has no port named "${String(ep.port)}"`);
    }
  }
  return problems;
}

const VIGIL_ROLES = new Set(['ingest', 'analyzer', 'gateway']);

/** The Pod Security Standards "restricted" profile, plus a read-only root filesystem for Vigil's roles. */
function restricted(who: string, t: PodTemplate): string[] {
  const problems: string[] = [];
  const pod = asObj(t.spec.securityContext);
  if (t.spec.hostNetwork || t.spec.hostPID || t.spec.hostIPC) problems.push(`${who}: uses host namespaces`);
  for (const v of asList(t.spec.volumes))
    if (v.hostPath) problems.push(`${who}: mounts a hostPath volume ${String(v.name)}`);
  for (const c of t.containers) {
    const sc = asObj(c.securityContext);
    const cname = `${who} container ${String(c.name)}`;
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${cname}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? pod.runAsUser) === 0) problems.push(`${cname}: runs as uid 0`);
    if (sc.allowPrivilegeEscalation !== false)
      problems.push(`${cname}: allowPrivilegeEscalation is not false`);
    if (sc.privileged === true) problems.push(`${cname}: privileged`);
    if (!asList(asObj(sc.capabilities).drop).includes('ALL' as never))
      problems.push(`${cname}: does not drop ALL capabilities`);
    const seccomp = asObj(sc.seccompProfile ?? pod.seccompProfile).type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${cname}: seccompProfile is not RuntimeDefault`);
    if (VIGIL_ROLES.has(t.labels['app.kubernetes.io/component'] ?? '') && sc.readOnlyRootFilesystem !== true)
      problems.push(`${cname}: root filesystem is writable`);
  }
  return problems;
}

/**
 * The environment a container gets from the manifests: its envFrom ConfigMaps, then its env entries (one
 * taken from a Secret or field shows as "<from a reference>"). A ConfigMap that is not rendered throws.
 */
export function containerEnv(
  objects: readonly K8sObject[],
  container: Record<string, unknown>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of asList(container.envFrom)) {
    const name = asObj(from.configMapRef).name;
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name);
    if (!cm) throw new Error(`envFrom names ConfigMap ${String(name)}, which is not rendered`);
    Object.assign(env, asObj(cm.data) as Record<string, string>);
  }
  for (const e of asList(container.env))
    env[e.name as string] = typeof e.value === 'string' ? e.value : '<from a reference>';
  return env;
}

/** Secrets Strimzi writes for the rendered Kafka clusters and users. */
function strimziSecrets(objects: readonly K8sObject[]): Set<string> {
  return new Set([
    ...objects.filter((o) => o.kind === 'KafkaUser').map((o) => o.metadata.name),
    ...objects.filter((o) => o.kind === 'Kafka').map((o) => `${o.metadata.name}-cluster-ca-cert`),
  ]);
}

/** Secrets the manifests use but neither contain nor have Strimzi write: the site creates them. */
export function externalSecrets(objects: readonly K8sObject[]): string[] {
  const strimzi = strimziSecrets(objects);
  return externalSecretNames(objects).filter((n) => !strimzi.has(n));
}

function externalSecretNames(objects: readonly K8sObject[]): string[] {
  const rendered = new Set(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name));
  const names = new Set<string>();
  for (const t of templates(objects)) {
    for (const v of asList(t.spec.volumes)) {
      const s = asObj(v.secret).secretName;
      if (typeof s === 'string' && !rendered.has(s)) names.add(s);
    }
    for (const c of t.containers)
      for (const e of asList(c.env)) {
        const s = asObj(asObj(e.valueFrom).secretKeyRef).name;
        if (typeof s === 'string' && !rendered.has(s)) names.add(s);
      }
  }
  return [...names].sort();
}

/** Every problem of a rendered overlay: schema first, then references. */
export function validateAll(objects: readonly K8sObject[]): string[] {
  return [...objects.flatMap(schemaProblems), ...referenceProblems(objects)];
}
