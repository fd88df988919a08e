import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { UNUSED_DOCKERODE_MODULES } from '../core/sandbox/dockerode-loader.js';

/** What scripts/bundle.mjs left out of the CLI bundle, and what it kept (start-up time depends on both). */
const bundleDir = fileURLToPath(new URL('../bundle/', import.meta.url));
const bundleText = (): string =>
  readdirSync(bundleDir)
    .filter((f) => f.endsWith('.js') || f.endsWith('.cjs'))
    .map((f) => readFileSync(join(bundleDir, f), 'utf8'))
    .join('\n');

test('the CLI bundle carries dockerode but none of the unused transports', () => {
  const text = bundleText();
  assert.match(text, /node_modules\/docker-modem\/lib\/modem\.js/, 'dockerode is bundled, not resolved from node_modules at run time');
  for (const name of UNUSED_DOCKERODE_MODULES) {
    assert.doesNotMatch(text, new RegExp(`node_modules/${name.replace('/', '\\/')}/`), `${name} must not be in the bundle`);
    assert.match(text, new RegExp(`needs ${name.replace('/', '\\/')} \\(`), `${name} is replaced by a refusing stub`);
  }
});

test('the CLI bundle keeps only the English zod messages', () => {
  const text = bundleText();
  assert.match(text, /node_modules\/zod\/v4\/locales\/en\.js/);
  assert.doesNotMatch(text, /node_modules\/zod\/v4\/locales\/(de|fr|ja)\.js/);
});

test('the single-file bundle that bin/cordon.js runs comes with a V8 code cache that fits it', () => {
  const require = createRequire(import.meta.url);
  const loader = require('../../bin/cordon-loader.cjs') as { compile(file: string, cachedData?: Buffer): { cachedDataRejected?: boolean } };
  const file = join(bundleDir, 'cordon.cjs');
  const cache = readFileSync(`${file}.cache`);
  assert.ok(cache.length > 100_000, 'the cache holds the compiled top level, not just a header');
  assert.equal(loader.compile(file, cache).cachedDataRejected, false);
  // And a cache that does not fit is refused by V8, never trusted: the bundle then compiles from source.
  const foreign = Buffer.from(cache);
  foreign.writeUInt32LE((foreign.readUInt32LE(8) ^ 0xffffffff) >>> 0, 8);
  assert.equal(loader.compile(file, foreign).cachedDataRejected, true);
});
