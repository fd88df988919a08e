#!/usr/bin/env node
// Entry point of the `cordon` command. `npm run build` compiles the CLI with tsc
// into dist/ and bundles it (faster start-up) into dist/bundle/: one CommonJS
// file loaded with a V8 code cache, and an ES-module build split into chunks.
// The first of these that exists is used.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

// bin/cordon set NODE_EXTRA_CA_CERTS aside so this process skips parsing it;
// put it back so the processes Cordon starts (a provider's credential command,
// the compiler) see the environment they were given.
if (process.env.CORDON_SAVED_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.CORDON_SAVED_NODE_EXTRA_CA_CERTS;
  delete process.env.CORDON_SAVED_NODE_EXTRA_CA_CERTS;
}

const file = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const single = file('../dist/bundle/cordon.cjs');
const chunked = file('../dist/bundle/main.js');
const compiled = file('../dist/cli/main.js');

/** @type {{ runCli(argv: readonly string[]): Promise<number> }} */
let cli;
if (existsSync(single)) {
  const { loadBundle } = (await import('./cordon-loader.cjs')).default;
  cli = loadBundle(single);
} else if (existsSync(chunked) || existsSync(compiled)) {
  cli = await import(pathToFileURL(existsSync(chunked) ? chunked : compiled).href);
} else {
  process.stderr.write('cordon: not built yet. Run `npm install && npm run build` in the Cordon checkout.\n');
  process.exit(2);
}
// `cordon policy show | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
process.exitCode = await cli.runCli(process.argv);
