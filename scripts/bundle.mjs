#!/usr/bin/env node
// Bundles the CLI into dist/bundle/ after tsc has type-checked and compiled it.
// Why: Node's ESM loader spends more time resolving and reading the hundreds of
// small files of the CLI and zod than running them (~60 ms of every `cordon`
// invocation). Lazily imported parts (the keychain binding, DLP, egress) stay
// in their own chunks so they still load only when used. dockerode and the
// keychain's native binding stay external: dockerode's optional transports are
// stubbed through require.cache, which needs the real module files.
import { build } from 'esbuild';

await build({
  entryPoints: { main: 'cli/main.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  external: ['dockerode', '@napi-rs/keyring'],
  // CommonJS dependencies (commander) call require() for Node built-ins.
  banner: { js: "import { createRequire as __cordonRequire } from 'node:module'; const require = __cordonRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
