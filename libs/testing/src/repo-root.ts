import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding tools/kafka/pom.xml), from source or from dist/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'tools/kafka/pom.xml'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the Vigil repository root (tools/kafka/pom.xml)');
    dir = up;
  }
}
