/**
 * Folders asked for after launch, in real sessions (issue 17): the agent runs
 * `cordon-request-access` inside `cordon exec`; the test answers as the user
 * would, with `cordon approvals allow|deny ID` from another process, or pushes
 * a folder with `cordon approvals grant`. Under runc and under gVisor.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mountsBelow } from '../core/grants/grant-mounts.js';
import { chownTree, collect, eventually, TestEnv } from './test-harness.js';

interface Listed {
  id: string;
  session: string;
  kind: string;
  target: string;
  status: string;
  write: boolean;
  detail: Record<string, string>;
  answer: { by: string } | null;
}

const RUNTIMES = [
  { runtime: 'runc', base: 'standard' },
  { runtime: 'runsc', base: 'strict' },
] as const;

/** Resolves once CHILD's stdout holds a line matching RE; rejects after TIMEOUTMS. */
function lineFrom(child: ChildProcess, re: RegExp, timeoutMs = 90_000): Promise<{ line: string; at: number }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${String(re)} in: ${buf}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const m = buf.split('\n').find((l) => re.test(l));
      if (m !== undefined) {
        clearTimeout(timer);
        resolve({ line: m, at: Date.now() });
      }
    });
  });
}

for (const { runtime, base } of RUNTIMES) {
  describe(`folders granted to a running session under ${runtime}`, () => {
    const t = new TestEnv(`grants-${runtime}`);
    const profile = t.profile(`grants-${runtime}`, base, { limits: { memoryMiB: 256, cpus: 1, pids: runtime === 'runc' ? 256 : 1024, tmpfsMiB: 64 } });
    const spawnExec = (ws: string, script: string) => t.spawn(['exec', '--profile', profile, '--workspace', ws, '--', 'sh', '-c', script]);

    async function pending(target: string): Promise<Listed> {
      let found: Listed | undefined;
      const ok = await eventually(async () => {
        const r = await t.run(['approvals', 'list', '--json']);
        found = (JSON.parse(r.stdout) as Listed[]).find((p) => p.target === target && p.status === 'pending');
        return found !== undefined;
      }, 60_000);
      assert.ok(ok && found, `no pending request for ${target}`);
      return found;
    }

    before(() => {
      writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify({ approvals: { timeoutSeconds: 60 } }));
      mkdirSync(join(t.home, '.ssh'), { recursive: true });
      writeFileSync(join(t.home, '.ssh', 'id_ed25519'), 'host-key');
    });
    after(() => t.cleanup());

    test('a folder outside the workspace: asked, allowed by `cordon approvals allow`, readable inside within 2 s, not writable, gone after the session', async () => {
      const ws = t.workspace('ws-read');
      const other = t.workspace('other-read');
      writeFileSync(join(other, 'notes.txt'), 'the plan\n');
      chownTree(join(other, 'notes.txt'));
      const script = [
        `p=$(cordon-request-access ${other} --reason "the user said the notes are there")`,
        'echo "rc=$? path=$p"',
        'cat "$p/notes.txt" && echo READABLE',
        'if echo x > "$p/new.txt" 2>/dev/null; then echo WRITABLE; else echo not-writable; fi',
      ].join('\n');
      const child = spawnExec(ws, script);
      const done = collect(child, undefined, 150_000);
      const req = await pending(other);
      assert.equal(req.kind, 'file');
      assert.equal(req.write, false);
      assert.equal(req.detail['mechanism'], 'live', 'a root launcher on Linux mounts grants live');
      assert.equal(req.detail['sandboxPath'], '/run/cordon/grants/other-read');
      const readable = lineFrom(child, /^READABLE$/);
      const allow = await t.run(['approvals', 'allow', req.id]);
      assert.equal(allow.code, 0, allow.stderr);
      const answeredAt = Date.now();
      const seen = await readable;
      assert.ok(seen.at - answeredAt <= 2000, `readable ${seen.at - answeredAt} ms after the answer`);
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^rc=0 path=\/run\/cordon\/grants\/other-read$/m);
      assert.match(r.stdout, /^the plan$/m);
      assert.match(r.stdout, /^not-writable$/m);
      assert.ok(!existsSync(join(other, 'new.txt')));
      // After the session: nothing of it is mounted on the host, and the user's folder is intact.
      assert.deepEqual(mountsBelow(t.root), []);
      assert.equal(readFileSync(join(other, 'notes.txt'), 'utf8'), 'the plan\n');
      assert.deepEqual(readdirSync(join(t.cordonHome, 'sessions')), []);
      const kinds = t.auditRecords().map((a) => a.cordon['kind']);
      for (const k of ['approval.request', 'approval.answer', 'grant.add', 'grant.revoke']) assert.ok(kinds.includes(k), `no ${k} record`);
      const revoke = t.auditRecords().find((a) => a.cordon['kind'] === 'grant.revoke');
      assert.equal(revoke?.cordon['why'], 'session_ended');
    });

    test('--write: writes reach the host under runc (a write-protected path inside stays read-only); under gVisor the grant is read-only and says so', async () => {
      const ws = t.workspace('ws-write');
      const proj = t.workspace('proj-write');
      mkdirSync(join(proj, '.git', 'hooks'), { recursive: true });
      chownTree(join(proj, '.git'));
      chownTree(join(proj, '.git', 'hooks'));
      const script = [
        `p=$(cordon-request-access ${proj} --write --reason "fix the bug")`,
        'echo "rc=$? path=$p"',
        'if echo fixed > "$p/fix.txt"; then echo WROTE; fi',
        'if cp /bin/sh "$p/.git/hooks/pre-commit" 2>/dev/null; then echo HOOK-PLANTED; else echo hook-refused; fi',
        'if mv "$p/.git" "$p/git-away" 2>/dev/null; then echo GIT-RENAMED; else echo rename-refused; fi',
      ].join('\n');
      const done = collect(spawnExec(ws, script), undefined, 150_000);
      const req = await pending(proj);
      assert.equal(req.write, true);
      const allow = await t.run(['approvals', 'allow', req.id, '--write']);
      assert.equal(allow.code, 0, allow.stderr);
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^rc=0 path=\/run\/cordon\/grants\/proj-write$/m);
      assert.match(r.stdout, /^hook-refused$/m);
      assert.match(r.stdout, /^rename-refused$/m);
      assert.deepEqual(readdirSync(join(proj, '.git', 'hooks')), []);
      if (runtime === 'runc') {
        assert.match(r.stdout, /^WROTE$/m);
        assert.equal(readFileSync(join(proj, 'fix.txt'), 'utf8'), 'fixed\n');
      } else {
        assert.doesNotMatch(r.stdout, /^WROTE$/m);
        assert.match(r.stderr, /granted read-only, not read-write/);
        assert.ok(!existsSync(join(proj, 'fix.txt')));
      }
      // The placeholders made for protected paths that did not exist are gone again.
      assert.deepEqual(readdirSync(proj).sort(), runtime === 'runc' ? ['.git', 'fix.txt'] : ['.git']);
      assert.deepEqual(mountsBelow(t.root), []);
    });

    test('credential stores, the home folder and system areas are refused at once, without a prompt', async () => {
      const ws = t.workspace('ws-refused');
      const before = JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Listed[];
      const script = ['~/.ssh', t.home, '/etc', join(t.home, '.ssh'), '/'].map((p) => `cordon-request-access '${p}'; echo "rc=$?"`).join('\n');
      const r = await t.run(['exec', '--profile', profile, '--workspace', ws, '--', 'sh', '-c', script], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['rc=1', 'rc=1', 'rc=1', 'rc=1', 'rc=1']);
      assert.match(r.stderr, /credential store|never mounted/);
      assert.match(r.stderr, /is your home folder/);
      assert.doesNotMatch(r.stderr, /host-key/);
      const listed = JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Listed[];
      assert.equal(listed.length, before.length, 'a refused request reached the queue');
      const refused = t.auditRecords().filter((a) => a.cordon['kind'] === 'approval.refused');
      assert.ok(refused.length >= 5);
    });

    test('no answer in time: denied, and listed as expired', async () => {
      writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify({ approvals: { timeoutSeconds: 5 } }));
      try {
        const ws = t.workspace('ws-late');
        const late = t.workspace('late');
        const t0 = Date.now();
        const r = await t.run(['exec', '--profile', profile, '--workspace', ws, '--', 'sh', '-c', `cordon-request-access ${late}; echo "rc=$?"`], { timeoutMs: 120_000 });
        assert.ok(Date.now() - t0 >= 5000);
        assert.match(r.stdout, /^rc=1$/m);
        assert.match(r.stderr, /nobody answered/);
        const listed = JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Listed[];
        assert.ok(listed.some((l) => l.target === late && l.status === 'expired'));
      } finally {
        writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify({ approvals: { timeoutSeconds: 60 } }));
      }
    });

    test('the user pushes a folder with `cordon approvals grant` without being asked; it appears inside', async () => {
      const ws = t.workspace('ws-push');
      const pushed = t.workspace('pushed');
      writeFileSync(join(pushed, 'data.csv'), 'a,b\n');
      chownTree(join(pushed, 'data.csv'));
      const child = spawnExec(ws, 'echo "SESSION=$CORDON_SESSION"; for i in $(seq 1 600); do [ -f /run/cordon/grants/pushed/data.csv ] && break; sleep 0.1; done; cat /run/cordon/grants/pushed/data.csv');
      const done = collect(child, undefined, 150_000);
      const session = (await lineFrom(child, /^SESSION=/)).line.slice('SESSION='.length);
      const g = await t.run(['approvals', 'grant', session.slice(0, 6), pushed]);
      assert.equal(g.code, 0, g.stderr);
      assert.equal(g.stdout, '/run/cordon/grants/pushed\n');
      assert.match(g.stderr, /granted read-only until the session ends/);
      const r = await done;
      assert.match(r.stdout, /^a,b$/m);
      // A credential store cannot be pushed either.
      const refused = await t.run(['approvals', 'grant', 'ffffffffffff', join(t.home, '.ssh')]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /no running session/);
    });

    if (runtime === 'runc') {
      test('policy answers first: never-allow refuses and a pre-approval grants without a prompt; "always" writes a pre-approval the next session uses', async () => {
        const ws = t.workspace('ws-policy');
        const never = t.workspace('never');
        const pre = t.workspace('pre');
        const keep = t.workspace('keep');
        writeFileSync(
          join(t.cordonHome, 'policy.json'),
          JSON.stringify({ approvals: { timeoutSeconds: 60, neverAllow: [{ kind: 'file', target: never }], preApproved: [{ kind: 'file', target: pre }] } }),
        );
        try {
          const before = (JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Listed[]).length;
          const r = await t.run(['exec', '--profile', profile, '--workspace', ws, '--', 'sh', '-c', `cordon-request-access ${never}; echo "never=$?"; cordon-request-access ${pre}; echo "pre=$?"`]);
          assert.match(r.stdout, /^never=1$/m);
          assert.match(r.stdout, /^\/run\/cordon\/grants\/pre\npre=0$/m);
          assert.equal((JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Listed[]).length, before, 'policy answers must not queue');
          const byPolicy = t.auditRecords().filter((a) => a.cordon['kind'] === 'approval.answer' && a.cordon['by'] === 'policy' && a.cordon['request_kind'] === 'file');
          assert.deepEqual(byPolicy.map((a) => [a.cordon['target'], a.cordon['decision']]), [[never, 'deny'], [pre, 'allow']]);

          // "always": the folder becomes a pre-approval for sessions on this workspace.
          const run = collect(spawnExec(ws, `cordon-request-access ${keep}; echo "keep=$?"`), undefined, 150_000);
          const req = await pending(keep);
          const always = await t.run(['approvals', 'allow', req.id, '--always']);
          assert.equal(always.code, 0, always.stderr);
          assert.match((await run).stdout, /^keep=0$/m);
          const user = JSON.parse(readFileSync(join(t.cordonHome, 'policy.json'), 'utf8')) as { approvals: { preApproved: unknown[] } };
          assert.deepEqual(user.approvals.preApproved.at(-1), { kind: 'file', target: keep, workspaces: [ws] });
          const again = await t.run(['exec', '--profile', profile, '--workspace', ws, '--', 'sh', '-c', `cordon-request-access ${keep}`]);
          assert.equal(again.code, 0, again.stderr);
          assert.equal(again.stdout, '/run/cordon/grants/keep\n');
        } finally {
          writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify({ approvals: { timeoutSeconds: 60 } }));
        }
      });

      test('a flood of requests: the first are queued, the rest denied at once, and one alert is raised', async () => {
        const ws = t.workspace('ws-flood');
        const parent = t.workspace('flood');
        for (let i = 0; i < 100; i++) t.workspace(join('flood', `d${i}`));
        const script = `for i in $(seq 0 99); do cordon-request-access ${parent}/d$i >/dev/null 2>&1 & done; wait; echo done`;
        const child = spawnExec(ws, script);
        const done = collect(child, undefined, 150_000);
        // The queue holds the first 20; the test denies them, which lets the session end.
        const ok = await eventually(() => t.auditRecords().filter((a) => a.cordon['kind'] === 'approval.rate_limited').length > 0, 60_000);
        assert.ok(ok, 'no rate-limit alert');
        const listed = JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Listed[];
        const mine = listed.filter((l) => l.target.startsWith(`${parent}/`) && l.status === 'pending');
        assert.equal(mine.length, 20, `${mine.length} requests queued`);
        // One answer settles every pending request of the session.
        const first = mine[0];
        assert.ok(first);
        const deny = await t.run(['approvals', 'deny', first.id, '--session-wide']);
        assert.equal(deny.code, 0, deny.stderr);
        assert.equal(deny.stdout.trim().split('\n').length, 20, deny.stdout);
        const r = await done;
        assert.match(r.stdout, /^done$/m);
        assert.equal(t.auditRecords().filter((a) => a.cordon['kind'] === 'approval.rate_limited').length, 1);
      });
    }
  });
}
