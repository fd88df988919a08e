import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DockerEngine } from './docker-engine.js';
import type { SandboxSpec } from './sandbox-engine.js';

/** A minimal hardened spec for the default image; LABEL marks it for the leftovers check. */
function spec(command: string[], label: string): SandboxSpec {
  return {
    name: `cordon-enginetest-${label}`,
    image: 'cordon/agent:1',
    entrypoint: null,
    command,
    user: '1000:1000',
    runtime: 'runc',
    workdir: '/',
    env: {},
    mounts: [],
    limits: { memoryBytes: 256 * 1024 * 1024, nanoCpus: 1e9, pids: 64, tmpfsBytes: 16 * 1024 * 1024 },
    seccompProfile: readFileSync(fileURLToPath(new URL('../../../sandbox-profiles/seccomp/cordon-default.json', import.meta.url)), 'utf8'),
    apparmorProfile: null,
    homeDir: '/home/agent',
    tty: false,
    labels: { 'dev.cordon.enginetest': label },
  };
}

const io = () => ({ stdin: null, stdout: new PassThrough(), stderr: new PassThrough() });

test('the start hook runs while the engine starts the sandbox, and the session goes on as usual', async () => {
  const engine = new DockerEngine();
  const label = randomBytes(4).toString('hex');
  let hookRan = false;
  let startedBeforeHookEnded = false;
  const starting = engine.start(spec(['sh', '-c', 'exit 7'], label), io(), {
    whileStarting: async () => {
      // The container exists (created) while the hook runs; start has not returned yet.
      const listed = await engine.list({ 'dev.cordon.enginetest': label });
      assert.equal(listed.length, 1);
      await new Promise((r) => setTimeout(r, 20));
      hookRan = true;
    },
  });
  void starting.then(() => (startedBeforeHookEnded = !hookRan));
  const running = await starting;
  assert.equal(hookRan, true);
  assert.equal(startedBeforeHookEnded, false, 'start resolves only after the hook');
  assert.equal(await running.wait(), 7);
  await engine.remove(running.id);
});

test('a failing start hook removes the sandbox and its own error comes back unchanged', async () => {
  const engine = new DockerEngine();
  const label = randomBytes(4).toString('hex');
  class HookError extends Error {}
  await assert.rejects(
    engine.start(spec(['sleep', '30'], label), io(), {
      whileStarting: () => Promise.reject(new HookError('the proxy could not take its socket')),
    }),
    (err: unknown) => err instanceof HookError && /could not take its socket/.test(err.message),
  );
  assert.deepEqual(await engine.list({ 'dev.cordon.enginetest': label }), []);
});
