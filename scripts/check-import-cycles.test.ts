import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The shape of scripts/check-import-cycles.mjs (plain JS, run by `npm run lint`). */
interface CycleChecker {
  buildImportGraph(root: string, dirs?: readonly string[]): Map<string, string[]>;
  findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][];
}

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../', import.meta.url));
const checker = (await import(pathToFileURL(join(repoRoot, 'scripts', 'check-import-cycles.mjs')).href)) as CycleChecker;

const graph = (edges: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(edges));

test('an acyclic graph has no cycles, however many paths join', () => {
  assert.deepEqual(checker.findCycles(graph({ a: ['b', 'c'], b: ['d'], c: ['d'], d: [] })), []);
});

test('a cycle is reported once, as the path from its smallest member back to it', () => {
  const cycles = checker.findCycles(graph({ entry: ['b'], b: ['c'], c: ['a', 'leaf'], a: ['b'], leaf: [] }));
  assert.deepEqual(cycles, [['a', 'b', 'c']]);
});

test('a module importing itself and two separate cycles are each reported', () => {
  const cycles = checker.findCycles(graph({ x: ['x'], p: ['q'], q: ['p'], r: ['s'], s: ['t'], t: ['r'] }));
  assert.deepEqual(cycles, [['p', 'q'], ['r', 's', 't'], ['x']]);
});

const tmp = mkdtempSync(join(tmpdir(), 'cordon-cycles-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function writeTree(root: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), text);
  }
}

/** core/a.ts -> core/b/b.ts -> cli/c.ts through a type-only import and a re-export. */
const chain = {
  'core/a.ts': "import type { B } from './b/b.js';\nexport type A = B;\n",
  'core/b/b.ts': "export * from '../../cli/c.js';\nexport type B = string;\n",
};

test('type-only imports, re-exports and lazy import() close a cycle across folders', () => {
  const root = join(tmp, 'cyclic');
  writeTree(root, {
    ...chain,
    'cli/c.ts': "export async function c(): Promise<unknown> { return import('../core/a.js'); }\nimport 'node:fs';\nimport 'zod';\n",
  });
  const g = checker.buildImportGraph(root, ['core', 'cli']);
  assert.deepEqual(g.get('cli/c.ts'), ['core/a.ts'], 'packages and built-ins are not followed');
  assert.deepEqual(checker.findCycles(g), [['cli/c.ts', 'core/a.ts', 'core/b/b.ts']]);
});

test('the same tree without the lazy import back is acyclic', () => {
  const root = join(tmp, 'acyclic');
  writeTree(root, { ...chain, 'cli/c.ts': 'export const c = 1;\n' });
  const g = checker.buildImportGraph(root, ['core', 'cli']);
  assert.deepEqual(g.get('core/a.ts'), ['core/b/b.ts']);
  assert.deepEqual(checker.findCycles(g), []);
});
