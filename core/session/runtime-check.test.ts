import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadProfile } from '../profiles/profile-loader.js';
import { FakeSandboxEngine } from '../testing/fake-sandbox-engine.js';
import { checkRuntimeRunsLs } from './runtime-check.js';

/** An engine whose one sandbox prints OUTPUT and exits with EXIT (or runs until removed, for null). */
function scripted(output: string, exit: number | null): FakeSandboxEngine {
  return new FakeSandboxEngine({ stdout: output, exitCode: exit });
}

const strict = loadProfile('strict', '/nonexistent');
assert.ok(strict.ok);
const opts = { profile: strict.value.profile, seccompProfile: '{}', user: '1000:1000', apparmorProfile: null };
const LISTING = 'total 0\ndrwxr-xr-x 1 root root 0 Jan 1 00:00 bin\ndrwxr-xr-x 1 root root 0 Jan 1 00:00 etc\ndrwxr-xr-x 1 root root 0 Jan 1 00:00 usr\n';

test('a runtime that lists / passes; the probe runs as a session would, under the profile\'s runtime, and is removed', async () => {
  const engine = scripted(LISTING, 0);
  const res = await checkRuntimeRunsLs(engine, opts);
  assert.equal(res.ok, true);
  const spec = engine.specs[0];
  assert.ok(spec);
  assert.deepEqual([spec.runtime, spec.user, spec.command, spec.mounts], ['runsc', '1000:1000', ['ls', '-la', '/'], []]);
  assert.equal(spec.limits.pids, strict.value.profile.limits.pids, "the profile's own limits (gVisor needs its pids headroom)");
  assert.deepEqual([engine.history.length, engine.sandboxes.size], [1, 0], 'the one probe sandbox was removed');
});

test("Debian 12's runsc (statx answers EINVAL) fails the check, with what ls said", async () => {
  const engine = scripted("ls: cannot access '/': Invalid argument\n", 2);
  const res = await checkRuntimeRunsLs(engine, opts);
  assert.ok(!res.ok);
  assert.match(res.message, /`ls -la \/` in cordon\/agent:1 under runsc exited 2: ls: cannot access '\/': Invalid argument/);
  assert.deepEqual([engine.history.length, engine.sandboxes.size], [1, 0], 'the one probe sandbox was removed');
});

test('exit 0 without a listing of / is not a pass', async () => {
  const res = await checkRuntimeRunsLs(scripted('', 0), opts);
  assert.ok(!res.ok);
  assert.match(res.message, /exited 0: \(no output\)/);
});

test('a sandbox that never ends fails the check after the timeout and is removed', async () => {
  const engine = scripted('', null);
  const res = await checkRuntimeRunsLs(engine, { ...opts, timeoutMs: 50 });
  assert.ok(!res.ok);
  assert.match(res.message, /did not finish in 0\.05 s/);
  assert.deepEqual([engine.history.length, engine.sandboxes.size], [1, 0], 'the one probe sandbox was removed');
});
