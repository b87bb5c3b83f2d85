// Packaging lint for every published package (packages/*): publint, the house rules for
// package.json, `@opentelemetry/api` as a peer only, and no `export *` in sources.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = fileURLToPath(new URL('..', import.meta.url));
const packagesDir = join(root, 'packages');
const SINGLETONS = ['@opentelemetry/api', '@langchain/core'];
const problems = [];

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

for (const name of readdirSync(packagesDir)) {
  const dir = join(packagesDir, name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const where = `packages/${name}`;
  if (pkg.private) continue;

  const { messages } = await publint({ pkgDir: dir, level: 'suggestion', strict: true, pack: 'npm' });
  for (const message of messages)
    problems.push(`${where}: publint ${message.type}: ${formatMessage(message, pkg)}`);

  if (pkg.type !== 'module') problems.push(`${where}: "type" must be "module"`);
  if (pkg.sideEffects !== false) problems.push(`${where}: "sideEffects" must be false`);
  if (JSON.stringify(pkg.files) !== JSON.stringify(['dist', 'README.md'])) {
    problems.push(`${where}: "files" must be ["dist", "README.md"]`);
  }
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    if (typeof target === 'object' && Object.keys(target)[0] !== 'types') {
      problems.push(`${where}: exports["${subpath}"] must list "types" first`);
    }
  }
  if (!pkg.exports) problems.push(`${where}: needs an "exports" map`);
  for (const singleton of SINGLETONS) {
    if (pkg.dependencies?.[singleton]) {
      problems.push(`${where}: ${singleton} must be a peer dependency, not a dependency (one copy per app)`);
    }
  }
  const usesApi = walk(join(dir, 'src')).some((f) =>
    readFileSync(f, 'utf8').includes("from '@opentelemetry/api'"),
  );
  if (usesApi && !pkg.peerDependencies?.['@opentelemetry/api']) {
    problems.push(`${where}: imports @opentelemetry/api but does not list it in peerDependencies`);
  }
  try {
    readFileSync(join(dir, 'README.md'), 'utf8');
  } catch {
    problems.push(`${where}: needs a README.md`);
  }
  for (const file of walk(join(dir, 'src'))) {
    if (!file.endsWith('.ts')) continue;
    if (/^\s*export \* from/m.test(readFileSync(file, 'utf8'))) {
      problems.push(`${relative(root, file)}: 'export *' — name what the module exports`);
    }
  }
}

if (problems.length > 0) {
  console.error(`Packaging check failed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`Packaging check passed for ${readdirSync(packagesDir).length} package(s).`);
