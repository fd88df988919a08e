#!/usr/bin/env node
// Fails when Cordon's TypeScript modules import each other in a cycle
// (HOUSE-STYLE.md: "no import cycles"). A cycle hides which module is the
// lower layer, makes load order decide what is `undefined` at startup, and
// stops a module from being tested or bundled on its own.
//
// Every import counts: `import type`, re-exports and lazy `import()` too; a
// type-only or lazy edge still ties the two modules' designs together.
// Only relative specifiers are followed (packages cannot import us back).
//
//   node scripts/check-import-cycles.mjs [ROOT]    exit 1 and list cycles if any
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The layers whose modules are checked. */
export const CHECKED_DIRS = ['core', 'cli', 'electron', 'renderer', 'bench', 'e2e'];

const SOURCE = /\.(ts|tsx|mts|cts)$/;

function walk(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The file a relative specifier names under NodeNext resolution (`./x.js` is `./x.ts`), or null. */
function resolveSpecifier(fromFile, spec) {
  if (!spec.startsWith('./') && !spec.startsWith('../')) return null;
  const base = resolve(dirname(fromFile), spec);
  const stem = base.replace(/\.(js|jsx|mjs|cjs)$/, '');
  const candidates = [base, `${stem}.ts`, `${stem}.tsx`, `${stem}.mts`, `${stem}.cts`, join(base, 'index.ts'), join(base, 'index.tsx')];
  return candidates.find((c) => SOURCE.test(c) && existsSync(c)) ?? null;
}

/**
 * The import graph of every TypeScript file under ROOT's checked folders:
 * file (relative to ROOT) → the files it imports (relative to ROOT).
 */
export function buildImportGraph(root, dirs = CHECKED_DIRS) {
  const graph = new Map();
  for (const file of dirs.flatMap((d) => walk(join(root, d)))) {
    // preProcessFile finds static imports, re-exports, `import type` and `import()` alike.
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = new Set();
    for (const ref of info.importedFiles) {
      const target = resolveSpecifier(file, ref.fileName);
      if (target !== null) targets.add(relative(root, target));
    }
    graph.set(relative(root, file), [...targets].sort());
  }
  return graph;
}

/**
 * Every cycle in GRAPH (a Map from node to the nodes it imports), one per
 * strongly connected component that has one: the component's members in
 * import order, starting from its smallest name and ending where it began is
 * implied. An empty list means the graph is acyclic.
 */
export function findCycles(graph) {
  // Tarjan's algorithm, iterative so a deep graph cannot overflow the stack.
  let next = 0;
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  const nodes = [...graph.keys()].sort();
  for (const start of nodes) {
    if (index.has(start)) continue;
    const frames = [{ node: start, edges: graph.get(start) ?? [], i: 0 }];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1];
      if (frame.i < frame.edges.length) {
        const to = frame.edges[frame.i++];
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          frames.push({ node: to, edges: graph.get(to) ?? [], i: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node), index.get(to)));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node), low.get(frame.node)));
      if (low.get(frame.node) === index.get(frame.node)) {
        const members = [];
        let m;
        do {
          m = stack.pop();
          onStack.delete(m);
          members.push(m);
        } while (m !== frame.node);
        const selfLoop = (graph.get(frame.node) ?? []).includes(frame.node);
        if (members.length > 1 || selfLoop) components.push(members);
      }
    }
  }
  return components.map((members) => cyclePath(graph, new Set(members))).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** One concrete cycle through a strongly connected component, from its smallest member back to it. */
function cyclePath(graph, members) {
  const first = [...members].sort()[0];
  // Breadth-first from FIRST inside the component: the shortest way back to FIRST.
  const prev = new Map();
  const queue = [first];
  while (queue.length > 0) {
    const at = queue.shift();
    for (const to of graph.get(at) ?? []) {
      if (!members.has(to)) continue;
      if (to === first) {
        const path = [at];
        while (path[0] !== first) path.unshift(prev.get(path[0]));
        return path;
      }
      if (!prev.has(to)) {
        prev.set(to, at);
        queue.push(to);
      }
    }
  }
  return [first];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const cycles = findCycles(buildImportGraph(root));
  if (cycles.length > 0) {
    console.error(`check-import-cycles: ${cycles.length} import cycle(s):`);
    for (const c of cycles) console.error(`  ${[...c, c[0]].join(' -> ')}`);
    process.exit(1);
  }
}
