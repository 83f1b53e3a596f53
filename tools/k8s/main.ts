// npm run k8s -- generate            rewrite the generated parts of k8s/ (topics, env references)
// npm run k8s -- render <overlay>    print an overlay as kubectl kustomize would (cpu, gpu)
// npm run k8s -- check               render every overlay and validate it; exit 1 on any problem
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, parseEnvFile, toYaml } from './kustomize.js';
import { externalSecrets, validateAll } from './validate.js';
import { topicsYaml, withEnvReference } from './generate.js';

const K8S = join(process.cwd(), 'k8s');
const ROLES = ['ingest', 'analyzer', 'gateway'] as const;

function generate(): void {
  writeFileSync(join(K8S, 'kafka/topics.yaml'), topicsYaml());
  const commonFile = join(K8S, 'base/config/common.env');
  const shared = new Set(Object.keys(parseEnvFile(readFileSync(commonFile, 'utf8'), commonFile)));
  for (const role of ROLES) {
    const file = join(K8S, `base/config/${role}.env`);
    writeFileSync(file, withEnvReference(readFileSync(file, 'utf8'), role, shared));
  }
  console.log('wrote k8s/kafka/topics.yaml and the setting lists in k8s/base/config/*.env');
}

function check(): number {
  let bad = 0;
  for (const overlay of readdirSync(join(K8S, 'overlays')).sort()) {
    const objects = build(join(K8S, 'overlays', overlay));
    const problems = validateAll(objects);
    const kinds = new Map<string, number>();
    for (const o of objects) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
    console.log(
      `${overlay}: ${objects.length} objects (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}); ` +
        `${problems.length} problems; secrets to create: ${externalSecrets(objects).join(', ') || 'none'}`,
    );
    for (const p of problems) console.log(`  ${p}`);
    bad += problems.length;
  }
  return bad ? 1 : 0;
}

const [command, arg] = process.argv.slice(2);
if (command === 'generate') generate();
else if (command === 'render' && arg) process.stdout.write(toYaml(build(join(K8S, 'overlays', arg))));
else if (command === 'check') process.exitCode = check();
else {
  console.error('usage: npm run k8s -- generate | render <overlay> | check');
  process.exitCode = 2;
}
