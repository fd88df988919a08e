import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDockerode, UNUSED_DOCKERODE_MODULES } from './dockerode-loader.js';

test('dockerode loads with every unused transport replaced by a stub that refuses when used', () => {
  const Docker = loadDockerode();
  assert.equal(typeof Docker, 'function');
  const fromDockerode = createRequire(createRequire(import.meta.url).resolve('dockerode'));
  for (const name of ['ssh2', 'tar-fs', 'protobufjs']) {
    assert.ok((UNUSED_DOCKERODE_MODULES as readonly string[]).includes(name));
    // Members exist (dockerode reads them at load time) but refuse when called.
    const member = (fromDockerode(name) as Record<string, () => unknown>)['anyMember'];
    assert.equal(typeof member, 'function');
    assert.throws(() => member?.(), new RegExp(`Cordon does not support the Docker feature that needs ${name}`));
  }
});

test('the CLI bundle carries dockerode but none of the unused transports', () => {
  const bundleDir = fileURLToPath(new URL('../../bundle/', import.meta.url));
  const text = readdirSync(bundleDir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(join(bundleDir, f), 'utf8'))
    .join('\n');
  assert.match(text, /node_modules\/docker-modem\/lib\/modem\.js/, 'dockerode is bundled, not resolved from node_modules at run time');
  for (const name of UNUSED_DOCKERODE_MODULES) {
    assert.doesNotMatch(text, new RegExp(`node_modules/${name.replace('/', '\\/')}/`), `${name} must not be in the bundle`);
    assert.match(text, new RegExp(`needs ${name.replace('/', '\\/')} \\(`), `${name} is replaced by a refusing stub`);
  }
});
