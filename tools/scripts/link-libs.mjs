// After `tsc`, makes `@vigil/<lib>` importable at run time: Node resolves bare specifiers through
// node_modules folders above the importing file, so dist/node_modules/@vigil/<lib> is found from anywhere in
// dist/. Each is a tiny ESM package re-exporting the compiled lib. (tsc's `paths` only inform the type checker.)
import { mkdirSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = process.cwd();
for (const lib of readdirSync(join(root, 'libs'))) {
  const entry = join(root, 'dist/libs', lib, 'src/index.js');
  if (!existsSync(entry)) continue;
  const pkgDir = join(root, 'dist/node_modules/@vigil', lib);
  mkdirSync(pkgDir, { recursive: true });
  writeFileSync(
    join(pkgDir, 'package.json'),
    JSON.stringify({ name: `@vigil/${lib}`, type: 'module', exports: './index.js' }, null, 2) + '\n',
  );
  writeFileSync(join(pkgDir, 'index.js'), `export * from '../../../libs/${lib}/src/index.js';\n`);
}
