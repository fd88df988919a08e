'use strict';
// Loads the CLI's single-file CommonJS bundle (dist/bundle/cordon.cjs) with
// the V8 code cache `npm run build` wrote beside it, so a `cordon` command does
// not compile ~1 MB of JavaScript before it starts: ~20 ms of every launch.
// The cache is only an optimisation: V8 checks it against the source and its
// own version and flags, and if it does not fit the bundle compiles as usual.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire } = require('node:module');

// Byte-identical when the cache is written and when it is used. The bundle is
// ASCII (esbuild escapes everything else), so latin1 reads it without UTF-8
// decoding.
const wrap = (source) => `(function (exports, require, module, __filename, __dirname) {${source}\n})`;

/** The bundle as a V8 script; `cachedDataRejected` says whether CACHEDDATA fitted. */
function compile(file, cachedData) {
  return new vm.Script(wrap(fs.readFileSync(file, 'latin1')), {
    filename: file,
    // No importModuleDynamically: a script compiled from a code cache cannot
    // run import() (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so the build
    // refuses a bundle that still contains one (scripts/bundle.mjs).
    cachedData,
  });
}

function evaluate(script, file) {
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, path.dirname(file));
  return module.exports;
}

/** The bundle's exports, compiled from its code cache when that fits. */
function loadBundle(file) {
  let cachedData;
  try {
    cachedData = fs.readFileSync(`${file}.cache`);
  } catch {
    cachedData = undefined;
  }
  return evaluate(compile(file, cachedData), file);
}

/**
 * Writes FILE.cache. The bundle is compiled, its top level run, and then the
 * CLI with WARMUP (argv after `cordon`), so the cache also holds every function
 * that command compiled. The caller points the environment (CORDON_HOME,
 * DOCKER_HOST …) somewhere harmless: the build uses a launch against an
 * engine that is not there, which runs everything before the container.
 */
async function writeCache(file, warmup) {
  const script = compile(file, undefined);
  const cli = evaluate(script, file);
  if (warmup) await cli.runCli(['node', 'cordon', ...warmup]);
  fs.writeFileSync(`${file}.cache`, script.createCachedData());
}

module.exports = { compile, loadBundle, writeCache };
