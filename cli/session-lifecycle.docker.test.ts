/**
 * Session lifecycle through the real `cordon` command and Docker Engine:
 * teardown on signals, cleanup after SIGKILL, `ps`/`stop`, refusals that
 * happen before any container exists, a missing engine, and the audit trail.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { collect, cordonContainers, eventually, TestEnv } from './test-harness.js';

const t = new TestEnv('life');
after(() => t.cleanup());

/** Starts a long-running exec and resolves once its container runs. */
async function startLong(ws: string, seconds = 60): Promise<{ child: ReturnType<TestEnv['spawn']>; done: ReturnType<typeof collect>; sessionId: string }> {
  const child = t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', `echo started; sleep ${seconds}`]);
  const done = collect(child, undefined, 120_000);
  let sessionId = '';
  const up = await eventually(async () => {
    const cs = await cordonContainers();
    const mine = cs.find((c) => c.Labels['dev.cordon.owner-pid'] === String(child.pid) && c.State === 'running');
    sessionId = mine?.Labels['dev.cordon.session'] ?? '';
    return sessionId !== '';
  });
  assert.ok(up, 'session did not start');
  return { child, done, sessionId };
}

describe('teardown', () => {
  for (const [sig, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    test(`${sig} to cordon removes the container and the placeholders, exit ${code}`, async () => {
      const ws = t.workspace(`ws-${sig}`);
      const { child, done, sessionId } = await startLong(ws);
      assert.ok(existsSync(join(ws, '.mcp.json')), 'placeholder present during the session');
      child.kill(sig);
      const r = await done;
      assert.equal(r.code, code, r.stderr);
      assert.deepEqual(await cordonContainers(sessionId), []);
      assert.ok(!existsSync(join(ws, '.mcp.json')), 'placeholder left behind');
      assert.ok(!existsSync(join(t.cordonHome, 'sessions', sessionId)));
      const stop = t.auditRecords().find((e) => e.cordon['kind'] === 'session.stop' && e.cordon['session_id'] === sessionId);
      assert.equal(stop?.cordon['cancelled'], true);
    });
  }

  test('after SIGKILL of cordon its container ends by itself, and the next cordon command removes the placeholders and the session folder', async () => {
    const ws = t.workspace('ws-kill');
    const { child, done, sessionId } = await startLong(ws);
    child.kill('SIGKILL');
    await done;
    // The relay ends the sandbox when the launcher's lifeline breaks (issue 13; timing in session-lifeline.docker.test).
    assert.ok(await eventually(async () => (await cordonContainers(sessionId)).length === 0, 5000), 'the container outlived its launcher');
    assert.ok(existsSync(join(ws, '.mcp.json')));
    assert.ok(existsSync(join(t.cordonHome, 'sessions', sessionId)));
    const r = await t.run(['ps']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`cleaned up 1 session\\(s\\).*${sessionId}`));
    assert.deepEqual(await cordonContainers(sessionId), []);
    assert.ok(!existsSync(join(ws, '.mcp.json')), 'placeholder left behind');
    assert.ok(!existsSync(join(t.cordonHome, 'sessions', sessionId)), 'session folder left behind');
    assert.ok(t.auditRecords().some((e) => e.cordon['kind'] === 'session.orphan_removed' && e.cordon['session_id'] === sessionId));
  });
});

describe('ps and stop', () => {
  test('ps lists a running session with its workspace; stop ends it', async () => {
    const ws = t.workspace('ws-ps');
    const { done, sessionId } = await startLong(ws);
    const ps = await t.run(['ps', '--json']);
    const rows = JSON.parse(ps.stdout) as Array<{ session: string; kind: string; profile: string; workspaces: Array<{ path: string; mode: string }> }>;
    const row = rows.find((x) => x.session === sessionId);
    assert.ok(row, ps.stdout);
    assert.equal(row.kind, 'exec');
    assert.equal(row.profile, 'standard');
    assert.deepEqual(row.workspaces, [{ path: ws, mode: 'rw' }]);
    const text = await t.run(['ps']);
    assert.match(text.stdout, new RegExp(`^${sessionId}\\s+exec\\s+standard\\s+running`, 'm'));
    const stop = await t.run(['stop', sessionId.slice(0, 6)]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`stopped ${sessionId}`));
    const r = await done;
    assert.notEqual(r.code, 0);
    assert.ok(await eventually(async () => (await cordonContainers(sessionId)).length === 0));
    assert.ok(t.auditRecords().some((e) => e.cordon['kind'] === 'session.stop_requested' && e.cordon['session_id'] === sessionId));
  });

  test('stop with an unknown id fails and says so', async () => {
    const r = await t.run(['stop', 'ffffffffffff']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no running session/);
  });
});

describe('refusals happen before any container exists', () => {
  const noNewContainer = async (fn: () => Promise<void>): Promise<void> => {
    const before = (await t.containers()).length;
    await fn();
    assert.equal((await t.containers()).length, before);
  };

  test('missing folder, a file, the home folder, a symlink into ~/.aws: exit 125, audited', async () => {
    mkdirSync(join(t.home, '.aws'), { recursive: true });
    const ws = t.workspace('ws-refuse');
    writeFileSync(join(ws, 'file.txt'), 'x');
    symlinkSync(join(t.home, '.aws'), join(ws, 'sneaky'));
    const cases: Array<[string, RegExp]> = [
      [join(t.root, 'does-not-exist'), /does not exist.*\[rule: missing\]/],
      [join(ws, 'file.txt'), /is not a folder.*\[rule: not_a_directory\]/],
      [t.home, /is your home folder.*\[rule: home_folder\]/],
      [join(ws, 'sneaky'), /AWS credentials.*resolves to.*\[rule: credential_store\]/],
      [t.cordonHome, /Cordon's own state folder.*\[rule: cordon_state\]/],
      ['/etc', /system area \/etc.*\[rule: system_area\]/],
      ['/', /root folder.*\[rule: system_area\]/],
    ];
    for (const [path, want] of cases) {
      await noNewContainer(async () => {
        const r = await t.run(['exec', '--workspace', path, '--', 'true']);
        assert.equal(r.code, 125, `${path}: ${r.stderr}`);
        assert.match(r.stderr, want);
        assert.ok(!/\n\s+at /.test(r.stderr), 'stack trace printed');
      });
    }
    const denies = t.auditRecords().filter((e) => e.cordon['kind'] === 'mount.deny');
    assert.ok(denies.length >= cases.length);
  });

  test('a root-owned 0700 workspace (what mktemp -d makes as root) is refused, naming the folder, its owner and mode, and the fix', async () => {
    assert.equal(process.getuid?.(), 0, 'this test is about cordon run as root: run the suite as root');
    const ws = mkdtempSync(join(t.root, 'mktemp-'));
    assert.equal(statSync(ws).mode & 0o777, 0o700);
    for (const mode of ['ro', 'rw']) {
      await noNewContainer(async () => {
        const r = await t.run(['exec', '--workspace', `${ws}:${mode}`, '--', 'ls', ws]);
        assert.equal(r.code, 125, r.stderr);
        assert.match(r.stderr, new RegExp(`the sandbox runs as uid 1000, gid 1000, which cannot read ${ws} \\(owner uid 0 \\(root\\), group gid 0 \\(root\\), mode 0700\\)`));
        assert.match(r.stderr, mode === 'ro' ? /Fix: `chmod o\+rx .*` or `chown 1000:1000 / : /Fix: `chown -R 1000:1000 /);
        assert.match(r.stderr, /\[rule: sandbox_cannot_read\]/);
      });
    }
    const deny = t.auditRecords().filter((e) => e.cordon['kind'] === 'mount.deny' && e.cordon['real_path'] === ws);
    assert.deepEqual(deny.map((e) => e.cordon['rule']), ['sandbox_cannot_read', 'sandbox_cannot_read'], 'each refusal is audited with its rule');
    // Readable but not writable by uid 1000: fine read-only, refused read-write.
    chmodSync(ws, 0o755);
    const ro = await t.run(['exec', '--workspace', `${ws}:ro`, '--', 'ls', ws]);
    assert.equal(ro.code, 0, ro.stderr);
    const rw = await t.run(['exec', '--workspace', ws, '--', 'true']);
    assert.equal(rw.code, 125);
    assert.match(rw.stderr, /cannot write to .*mode 0755.*\[rule: sandbox_cannot_write\]/);
  });

  test('under sudo the sandbox runs as the account behind sudo (SUDO_UID/SUDO_GID), which must reach the workspace', async () => {
    const ws = t.workspace('ws-sudo');
    const sudo = { SUDO_UID: '1234', SUDO_GID: '1235' };
    // The harness hands workspaces to uid 1000, which is not the sudo caller.
    const refused = await t.run(['exec', '--workspace', ws, '--', 'true'], { env: sudo });
    assert.equal(refused.code, 125);
    assert.match(refused.stderr, /the sandbox runs as uid 1234, gid 1235, which cannot write to/);
    chownSync(ws, 1234, 1235);
    const r = await t.run(['exec', '--workspace', ws, '--', 'sh', '-c', `id -u; id -g; echo hi > ${ws}/mine.txt`], { env: sudo });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1234\n1235\n');
    const st = statSync(join(ws, 'mine.txt'));
    assert.deepEqual([st.uid, st.gid], [1234, 1235], 'what the agent writes belongs to the user behind sudo');
  });

  test('a malformed user policy stops exec with the field path', async () => {
    const file = join(t.cordonHome, 'policy.json');
    writeFileSync(file, JSON.stringify({ workspaces: { deny: 'not-a-list' }, typo: 1 }));
    try {
      await noNewContainer(async () => {
        const r = await t.run(['exec', '--', 'true']);
        assert.equal(r.code, 125);
        assert.match(r.stderr, /policy is invalid/);
        assert.match(r.stderr, /workspaces\.deny: /);
        assert.match(r.stderr, /unknown key "typo"/);
      });
      const show = await t.run(['policy', 'show']);
      assert.equal(show.code, 3);
    } finally {
      writeFileSync(file, '{}');
    }
  });

  test('a malformed managed policy file stops launches too, naming the file', async () => {
    const file = join(t.policyDir, 'managed', '50-broken.json');
    writeFileSync(file, '{"sandbox": {"profile": 7}}');
    try {
      const r = await t.run(['exec', '--', 'true']);
      assert.equal(r.code, 125);
      assert.match(r.stderr, /managed\/50-broken\.json: sandbox\.profile/);
      const d = await t.run(['doctor']);
      assert.equal(d.code, 1);
      assert.match(d.stdout, /\[FAIL\] policy/);
    } finally {
      writeFileSync(file, '{}');
    }
  });

  test('a malformed profile is rejected with its path and nothing starts', async () => {
    const dir = join(t.cordonHome, 'profiles');
    mkdirSync(dir, { recursive: true });
    const std = JSON.parse(readFileSync(join(process.env['CORDON_REPO_ROOT'] ?? '.', 'sandbox-profiles', 'standard.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'broken.json'), JSON.stringify({ ...std, name: 'broken', limits: { memoryMiB: 'lots', cpus: 1, pids: 64, tmpfsMiB: 8 } }));
    await noNewContainer(async () => {
      const r = await t.run(['exec', '--profile', 'broken', '--', 'true']);
      assert.equal(r.code, 125);
      assert.match(r.stderr, /broken\.json: limits\.memoryMiB/);
    });
  });

  test('a profile the policy does not allow is refused', async () => {
    const file = join(t.policyDir, 'managed', '60-allowed.json');
    writeFileSync(file, JSON.stringify({ sandbox: { allowedProfiles: ['strict'] } }));
    try {
      const r = await t.run(['exec', '--profile', 'standard', '--', 'true']);
      assert.equal(r.code, 125);
      assert.match(r.stderr, /profile "standard" is not allowed by policy/);
    } finally {
      writeFileSync(file, '{}');
    }
  });
});

describe('Docker Engine absent', () => {
  const gone = { DOCKER_HOST: `unix://${join(t.root, 'no-docker.sock')}` };
  test('doctor and exec say the engine is not running and how to start it, without a stack trace', async () => {
    const d = await t.run(['doctor'], { env: gone });
    assert.equal(d.code, 1);
    assert.match(d.stdout, /\[FAIL\] docker\s+Docker Engine is not running/);
    assert.match(d.stdout, /start-dockerd|systemctl start docker/);
    const e = await t.run(['exec', '--', 'true'], { env: gone });
    assert.equal(e.code, 125);
    assert.match(e.stderr, /Docker Engine is not running.*cordon doctor/s);
    for (const out of [d.stdout + d.stderr, e.stderr]) assert.ok(!/\n\s+at /.test(out), out);
    const ps = await t.run(['ps'], { env: gone });
    assert.equal(ps.code, 4);
  });
});

describe('doctor and audit', () => {
  test('doctor passes on a working machine and reports JSON', async () => {
    const r = await t.run(['doctor', '--json']);
    const rep = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ check: string; status: string }> };
    assert.equal(r.code, 0, r.stdout);
    assert.equal(rep.ok, true);
    for (const c of ['docker', 'image', 'policy', 'profile', 'runtime', 'gvisor', 'user', 'strict']) assert.equal(rep.checks.find((x) => x.check === c)?.status, 'ok', c);
  });

  test('doctor explains how the host user maps to the sandbox user, also under sudo, and checks that gVisor runs ls', async () => {
    const plain = await t.run(['doctor']);
    assert.match(plain.stdout, /^\[ok {2}\] user +cordon runs as root \(not through sudo\), and a sandbox never does: sandboxes of profile standard run as uid 1000, gid 1000;/m);
    assert.match(plain.stdout, /^\[ok {2}\] strict +runsc \(profile strict\) runs `ls -la \/` in cordon\/agent:1 \(\d+ ms\)$/m);
    const sudo = await t.run(['doctor'], { env: { SUDO_UID: '1234', SUDO_GID: '1235' } });
    assert.match(sudo.stdout, /^\[ok {2}\] user +cordon runs as root through sudo from uid 1234: sandboxes of profile standard run as uid 1234, gid 1235/m);
  });

  test('sessions leave an intact audit chain; tampering is caught and names the line', async () => {
    const ws = t.workspace('ws-audit');
    const r = await t.run(['exec', '--workspace', ws, '--', 'true']);
    assert.equal(r.code, 0, r.stderr);
    const recs = t.auditRecords();
    const kinds = recs.map((e) => e.cordon['kind']);
    assert.ok(kinds.includes('session.start') && kinds.includes('session.stop') && kinds.includes('mount.allow'));
    const v = await t.run(['audit', 'verify']);
    assert.equal(v.code, 0, v.stdout);
    assert.match(v.stdout, new RegExp(`intact: ${recs.length} record`));
    const file = join(t.cordonHome, 'audit', 'audit.jsonl');
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const target = lines.findIndex((l) => l.includes('"kind":"mount.allow"'));
    lines[target] = (lines[target] as string).replace('read-write', 'read-only');
    writeFileSync(file, lines.join('\n') + '\n');
    const bad = await t.run(['audit', 'verify', '--json']);
    assert.equal(bad.code, 1);
    const res = JSON.parse(bad.stdout) as { ok: boolean; line: number; reason: string };
    assert.equal(res.ok, false);
    assert.equal(res.line, target + 1);
    assert.match(res.reason, /edited/);
    // A tampered log stops nothing silently: new sessions still append after it.
    const again = await t.run(['exec', '--', 'true']);
    assert.equal(again.code, 0, again.stderr);
  });
});
