#!/usr/bin/env node
// Entry point of the `cordon` command. `npm run build` compiles the CLI with tsc
// into dist/ and bundles it into dist/bundle/ (faster start-up); the bundle is
// used when present.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/bundle/main.js', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
const main = existsSync(fileURLToPath(bundle)) ? bundle : compiled;
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('cordon: not built yet. Run `npm install && npm run build` in the Cordon checkout.\n');
  process.exit(2);
}
// `cordon policy show | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
const { runCli } = await import(main.href);
process.exitCode = await runCli(process.argv);
