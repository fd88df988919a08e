#!/usr/bin/env node
// Bundles the CLI into dist/bundle/ after tsc has type-checked and compiled it.
// Why: Node's ESM loader spends more time resolving and reading the hundreds of
// small files of the CLI and zod than running them (~60 ms of every `cordon`
// invocation). Lazily imported parts (the keychain binding, DLP, egress) stay
// in their own chunks so they still load only when used. dockerode is bundled
// too, without its unused transports (~15 ms less per launch than resolving
// its files from node_modules); the keychain's native binding stays external.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

// tsc has just compiled core/: the bundle stubs the same modules as the unbundled loader.
const { UNUSED_DOCKERODE_MODULES } = await import('../dist/core/sandbox/dockerode-loader.js');
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Bundles dockerode (see core/sandbox/dockerode-loader.bundled.ts) with refusing stubs for UNUSED. */
const dockerodeInBundle = {
  name: 'dockerode-in-bundle',
  setup(b) {
    b.onResolve({ filter: /^\.\/dockerode-loader\.js$/ }, (args) =>
      args.importer.endsWith('dockerode-loader.bundled.ts') ? undefined : { path: resolve(dirname(args.importer), 'dockerode-loader.bundled.ts') },
    );
    b.onResolve({ filter: new RegExp(`^(${UNUSED_DOCKERODE_MODULES.map(escape).join('|')})$`) }, (args) => ({ path: args.path, namespace: 'unused-module' }));
    b.onLoad({ filter: /.*/, namespace: 'unused-module' }, (args) => {
      const message = `Cordon does not support the Docker feature that needs ${args.path} (remote ssh:// engines, BuildKit sessions, folder build contexts)`;
      // Members are looked up at load time (`require('ssh2').Client`) but only
      // used by those features: hand out functions that refuse when called.
      const contents = `const refuse = () => { throw new Error(${JSON.stringify(message)}); };
module.exports = new Proxy({}, { get: (_t, prop) => (prop === '__esModule' || typeof prop === 'symbol' ? undefined : refuse) });`;
      return { contents, loader: 'js' };
    });
  },
};

// Chunk names carry content hashes: start empty so no stale chunk lingers.
rmSync('dist/bundle', { recursive: true, force: true });

/**
 * zod re-exports all of its ~40 message locales (a third of its code) although
 * only English is ever configured; the bundle keeps English alone.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: { main: 'cli/main.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  external: ['@napi-rs/keyring'],
  plugins: [dockerodeInBundle, zodEnglishOnly],
  // CommonJS dependencies (commander) call require() for Node built-ins.
  banner: { js: "import { createRequire as __cordonRequire } from 'node:module'; const require = __cordonRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
