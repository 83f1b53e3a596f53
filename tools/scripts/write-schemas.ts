// Regenerates libs/contracts/schemas/*.json from the zod schemas (`npm run schemas`).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateJsonSchemas } from '@vigil/contracts';

const dir = join(process.cwd(), 'libs/contracts/schemas');
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith('.schema.json')) rmSync(join(dir, f));
for (const [file, text] of Object.entries(generateJsonSchemas())) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote libs/contracts/schemas/${file}`);
}
