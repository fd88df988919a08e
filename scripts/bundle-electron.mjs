#!/usr/bin/env node
// Bundles the Electron preload into one CommonJS file, dist/electron/preload.cjs.
// Why: a sandboxed preload cannot load files or packages; its require() knows
// only `electron` and a few built-ins (events, timers, url). The preload, the
// IPC checks, the contract and zod therefore travel as one script, and the
// bundle is checked to require nothing but `electron`.
//
// The main process needs no bundle: Electron runs dist/electron/main.js (tsc's
// ES module output) with Node's loader. Run after `tsc` (npm run build).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';

// `--out FILE` writes elsewhere (the preload's bundle test builds into a temporary folder).
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 && process.argv[outArg + 1] ? process.argv[outArg + 1] : 'dist/electron/preload.cjs';

/** zod's locale index pulls in ~40 message languages; the contract's messages are English. */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({ contents: 'export { default as en } from "./en.js";', resolveDir: dirname(args.path), loader: 'js' }));
  },
};

await build({
  entryPoints: ['electron/preload.ts'],
  outfile: out,
  bundle: true,
  format: 'cjs',
  // The preload runs in the renderer (Chromium of Electron 45), not in Node.
  platform: 'browser',
  target: 'chrome130',
  external: ['electron'],
  plugins: [zodEnglishOnly],
  // Smaller to parse on every window load; also drops comments, so the checks below see only code.
  minify: true,
  keepNames: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});

const text = readFileSync(out, 'utf8');
const required = [...new Set([...text.matchAll(/\brequire\(\s*["'`]([^"'`]+)["'`]\s*\)/g)].map((m) => m[1]))];
const extra = required.filter((r) => r !== 'electron');
if (extra.length > 0) throw new Error(`bundle-electron: ${out} requires ${extra.join(', ')}; a sandboxed preload can load only electron`);
if (/\bimport\s*\(/.test(text)) throw new Error(`bundle-electron: ${out} contains import(), which a sandboxed preload cannot run`);
