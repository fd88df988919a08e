import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import test from 'node:test';
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
