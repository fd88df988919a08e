import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadProfile } from '../profiles/profile-loader.js';
import type { RunningSandbox, SandboxEngine, SandboxIo, SandboxSpec } from '../sandbox/sandbox-engine.js';
import { checkRuntimeRunsLs } from './runtime-check.js';

/** An engine whose one sandbox prints OUTPUT and exits with EXIT (or never, for null). */
class ScriptedEngine implements SandboxEngine {
  readonly name = 'scripted';
  readonly specs: SandboxSpec[] = [];
  readonly removed: string[] = [];
  constructor(
    private readonly output: string,
    private readonly exit: number | null,
  ) {}
  probe(): ReturnType<SandboxEngine['probe']> {
    return Promise.resolve({ ok: true, version: 'test', runtimes: ['runc', 'runsc'], apparmor: false, seccomp: true });
  }
  hasImage(): Promise<boolean> {
    return Promise.resolve(true);
  }
  apparmorEnabled(): Promise<boolean> {
    return Promise.resolve(false);
  }
  start(spec: SandboxSpec, io: SandboxIo): Promise<RunningSandbox> {
    this.specs.push(spec);
    io.stdout.write(this.output);
    const exit = this.exit;
    return Promise.resolve({
      id: `c${this.specs.length}`,
      wait: () => (exit === null ? new Promise<number>(() => undefined) : Promise.resolve(exit)),
      kill: () => Promise.resolve(),
      resize: () => Promise.resolve(),
    });
  }
  list(): ReturnType<SandboxEngine['list']> {
    return Promise.resolve([]);
  }
  remove(id: string): Promise<void> {
    this.removed.push(id);
    return Promise.resolve();
  }
}

const strict = loadProfile('strict', '/nonexistent');
assert.ok(strict.ok);
const opts = { profile: strict.value.profile, seccompProfile: '{}', user: '1000:1000', apparmorProfile: null };
const LISTING = 'total 0\ndrwxr-xr-x 1 root root 0 Jan 1 00:00 bin\ndrwxr-xr-x 1 root root 0 Jan 1 00:00 etc\ndrwxr-xr-x 1 root root 0 Jan 1 00:00 usr\n';

test('a runtime that lists / passes; the probe runs as a session would, under the profile\'s runtime, and is removed', async () => {
  const engine = new ScriptedEngine(LISTING, 0);
  const res = await checkRuntimeRunsLs(engine, opts);
  assert.equal(res.ok, true);
  const spec = engine.specs[0];
  assert.ok(spec);
  assert.deepEqual([spec.runtime, spec.user, spec.command, spec.mounts], ['runsc', '1000:1000', ['ls', '-la', '/'], []]);
  assert.equal(spec.limits.pids, strict.value.profile.limits.pids, "the profile's own limits (gVisor needs its pids headroom)");
  assert.deepEqual(engine.removed, ['c1']);
});

test("Debian 12's runsc (statx answers EINVAL) fails the check, with what ls said", async () => {
  const engine = new ScriptedEngine("ls: cannot access '/': Invalid argument\n", 2);
  const res = await checkRuntimeRunsLs(engine, opts);
  assert.ok(!res.ok);
  assert.match(res.message, /`ls -la \/` in cordon\/agent:1 under runsc exited 2: ls: cannot access '\/': Invalid argument/);
  assert.deepEqual(engine.removed, ['c1']);
});

test('exit 0 without a listing of / is not a pass', async () => {
  const res = await checkRuntimeRunsLs(new ScriptedEngine('', 0), opts);
  assert.ok(!res.ok);
  assert.match(res.message, /exited 0: \(no output\)/);
});

test('a sandbox that never ends fails the check after the timeout and is removed', async () => {
  const engine = new ScriptedEngine('', null);
  const res = await checkRuntimeRunsLs(engine, { ...opts, timeoutMs: 50 });
  assert.ok(!res.ok);
  assert.match(res.message, /did not finish in 0\.05 s/);
  assert.deepEqual(engine.removed, ['c1']);
});
