/**
 * The images install with `npm ci --omit=dev` (Dockerfile, Dockerfile.gpu), so every third-party package
 * that the services' and packages' run-time code imports must be a `dependencies` entry of its own
 * workspace or of the root manifest — found by hoisting is not enough (a devDependency, or another
 * package's dependency, can vanish from a production install). Workspace packages (@featurevis/*) are
 * linked by npm in any install. Found by reading the import specifiers of every `src/**.ts` file.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : name.endsWith('.ts') ? [full] : [];
  });
}

/** The package an import specifier names: `@scope/name` or `name`; null for relative and `node:` ones. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || specifier.startsWith('/')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

test('every package the run-time code imports is a production dependency of its workspace (or the root)', () => {
  const rootDependencies = new Set(Object.keys(manifest(root).dependencies ?? {}));
  const workspaces = ['packages', 'services'].flatMap((group) => readdirSync(path.join(root, group)).map((name) => path.join(root, group, name)));
  const missing: string[] = [];
  for (const workspace of workspaces) {
    const own = manifest(workspace);
    const declared = new Set([...Object.keys(own.dependencies ?? {}), ...Object.keys(own.optionalDependencies ?? {}), ...rootDependencies]);
    for (const file of sourceFiles(path.join(workspace, 'src'))) {
      const text = readFileSync(file, 'utf8');
      // Static imports and exports, and dynamic import() of a literal.
      for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'([^']+)'|(?:^|\n)\s*import\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
        const name = packageOf(match[1] ?? match[2] ?? match[3]);
        if (name && !name.startsWith('@featurevis/') && !declared.has(name)) missing.push(`${path.relative(root, file)} imports ${name}, not in ${path.relative(root, workspace)}/package.json dependencies`);
      }
    }
  }
  assert.deepEqual(missing, []);
});
