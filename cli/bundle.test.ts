import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { UNUSED_DOCKERODE_MODULES } from '../core/sandbox/dockerode-loader.js';

/** What scripts/bundle.mjs left out of the CLI bundle, and what it kept (start-up time depends on both). */
const bundleDir = fileURLToPath(new URL('../bundle/', import.meta.url));
const bundleText = (): string =>
  readdirSync(bundleDir)
    .filter((f) => f.endsWith('.js'))
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
