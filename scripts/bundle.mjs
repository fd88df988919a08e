#!/usr/bin/env node
// Bundles the CLI into dist/bundle/ after tsc has type-checked and compiled it.
// Why: Node's ESM loader spends more time resolving and reading the hundreds of
// small files of the CLI and zod than running them (~60 ms of every `cordon`
// invocation). Lazily imported parts (the keychain binding, DLP, egress) stay
// in their own chunks so they still load only when used. dockerode is bundled
// too, without its unused transports (~15 ms less per launch than resolving
// its files from node_modules); the keychain's native binding stays external.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

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

const common = {
  entryPoints: { main: 'cli/main.ts' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['@napi-rs/keyring'],
  plugins: [dockerodeInBundle, zodEnglishOnly],
  logLevel: 'warning',
};

// What bin/cordon.js runs: one CommonJS file, loaded with a V8 code cache
// (bin/cordon-loader.cjs), so no command compiles the CLI from source.
await build({
  ...common,
  entryPoints: { cordon: 'cli/main.ts' },
  format: 'cjs',
  // Smaller source to read and hash on every start; ASCII only (esbuild's
  // default charset), so the loader reads it as one-byte text.
  minify: true,
  keepNames: true,
  charset: 'ascii',
  legalComments: 'external',
  outdir: 'dist/bundle',
  outExtension: { '.js': '.cjs' },
  // Modules find their own files (install root, dockerode) from import.meta.url.
  define: { 'import.meta.url': '__cordonModuleUrl' },
  banner: { js: "const __cordonModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
if (readFileSync('dist/bundle/cordon.cjs').some((byte) => byte > 0x7f)) throw new Error('bundle: dist/bundle/cordon.cjs must be ASCII (bin/cordon-loader.cjs reads it as latin1)');
// esbuild turns import() of the CLI's own modules into require(), but keeps it
// for anything external (Node built-ins, the keychain binding). A script that
// V8 compiled from a code cache cannot run import(): such a command would fail
// only when installed (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), never in tests
// that load dist/ directly.
{
  const text = readFileSync('dist/bundle/cordon.cjs', 'latin1');
  const found = [...text.matchAll(/(?<![\w$.])import\s*\(/g)].map((m) => text.slice(Math.max(0, m.index - 60), m.index + 60));
  if (found.length > 0) {
    throw new Error(
      `bundle: dist/bundle/cordon.cjs still contains ${found.length} dynamic import(), which fails when bin/cordon runs it from its code cache. ` +
        `Use a static import (or require) for Node built-ins and external packages instead:\n${found.map((f) => `  …${f}…`).join('\n')}`,
    );
  }
}

// Written by a separate Node, as bin/cordon.js will read it: same binary, same
// flags. The warm-up is `cordon exec -- true` in a throwaway home against an
// engine socket that does not exist: it compiles everything a launch runs
// before the container (policy, profile, mounts, egress set-up, the Docker
// client), then fails with exit 125, as it should.
const scratch = mkdtempSync(join(tmpdir(), 'cordon-code-cache-'));
try {
  const cached = spawnSync(
    process.execPath,
    ['-e', "require('./bin/cordon-loader.cjs').writeCache(process.argv[1], ['exec', '--', 'true']).catch((e) => { console.error(e); process.exit(1); })", resolve('dist/bundle/cordon.cjs')],
    {
      encoding: 'utf8',
      env: { ...process.env, HOME: scratch, CORDON_HOME: join(scratch, 'state'), CORDON_POLICY_DIR: join(scratch, 'policy'), DOCKER_HOST: `unix://${join(scratch, 'no-engine.sock')}` },
    },
  );
  if (cached.status !== 0 || !existsSync('dist/bundle/cordon.cjs.cache')) {
    throw new Error(`bundle: writing the code cache failed: ${cached.stderr}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

// The same CLI as ES modules split into lazily loaded chunks: the fallback, and
// what `import` from dist/bundle gets.
await build({
  ...common,
  splitting: true,
  format: 'esm',
  outdir: 'dist/bundle',
  // CommonJS dependencies (commander) call require() for Node built-ins.
  banner: { js: "import { createRequire as __cordonRequire } from 'node:module'; const require = __cordonRequire(import.meta.url);" },
  sourcemap: 'linked',
});
