#!/usr/bin/env node
// Writes Cordon's labelled DLP evaluation set as JSON lines:
//   {"text": "...", "labels": [{"detector": "...", "start": N, "end": N}]}
// start/end are JavaScript string indices into text; an empty labels list is
// a hard negative (must produce no finding). Values are synthetic, from a
// seeded PRNG, so the set is identical on every run for a given seed.
//
//   npm run build && node scripts/build-dlp-eval-set.mjs [OUT] [--seed N] [--per-detector N]
//
// OUT defaults to dist/dlp-eval-set.jsonl (a build artifact, not committed:
// regenerate instead). bench/dlp-bench.ts builds the same set in memory.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`build-dlp-eval-set: ${name} needs a positive integer`);
    process.exit(2);
  }
  args.splice(i, 2);
  return v;
};
const seed = opt('--seed', 42);
const perDetector = opt('--per-detector', 200);
const out = args[0] ?? join(root, 'dist', 'dlp-eval-set.jsonl');

let synthetic;
try {
  synthetic = await import(join(root, 'dist', 'core', 'dlp', 'synthetic.js'));
} catch {
  console.error('build-dlp-eval-set: dist/core/dlp/synthetic.js missing; run `npm run build` first');
  process.exit(2);
}
const set = synthetic.buildEvalSet(seed, perDetector);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, set.map((s) => JSON.stringify(s)).join('\n') + '\n');
const positives = set.reduce((n, s) => n + s.labels.length, 0);
const negatives = set.filter((s) => s.labels.length === 0).length;
console.log(`wrote ${set.length} samples (${positives} labelled values, ${negatives} hard negatives) to ${out}`);
