/**
 * `cordon approvals` through the real command (no Docker needed): a store in
 * this process plays the session host; the CLI, another process, answers it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../core/audit/audit-event.js';
import { ApprovalStore, type ApprovalRecord } from '../core/approvals/approval-store.js';
import { CORDON_BIN, TestEnv } from './test-harness.js';

const t = new TestEnv('approvals-cli');
after(() => t.cleanup());
const host = new ApprovalStore(join(t.cordonHome, 'approvals'), { timeoutSeconds: 30, audit: new MemoryAuditSink() });
after(() => host.answerSession('s-cli', { decision: 'deny' }, 'policy'));

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms).unref())]);
}

function pendingId(target: string): string {
  const r = host.list().find((x) => x.target === target && x.status === 'pending');
  assert.ok(r, `no pending request for ${target}`);
  return r.id;
}

void test('list --json shows a filed request with id, session, kind, target and status', async () => {
  const asked = host.ask({ session: 's-cli', kind: 'network', target: 'list.example:443', reason: 'docs', detail: { address: '192.0.2.7' } });
  const r = await t.run(['approvals', 'list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  const row = rows.find((x) => x['target'] === 'list.example:443');
  assert.ok(row, r.stdout);
  assert.deepEqual(
    { session: row['session'], kind: row['kind'], status: row['status'], detail: row['detail'] },
    { session: 's-cli', kind: 'network', status: 'pending', detail: { address: '192.0.2.7' } },
  );
  assert.match(String(row['id']), /^[0-9a-f]{16}$/);
  const text = await t.run(['approvals', 'list']);
  assert.match(text.stdout, /ID\s+STATUS\s+SESSION/);
  assert.match(text.stdout, /list\.example:443/);
  host.answer(String(row['id']), { decision: 'deny' }, 'user');
  await within(asked, 1000);
});

void test('allow --for 1h from the CLI settles the waiting ask() within a second of the answer', async () => {
  const asked = host.ask({ session: 's-cli', kind: 'network', target: 'allow.example:443' });
  const id = pendingId('allow.example:443');
  const r = await t.run(['approvals', 'allow', id, '--for', '1h']);
  const answeredAt = Date.now();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Allowed network access to allow\.example:443/);
  const settled: ApprovalRecord = await within(asked, 1000);
  assert.ok(Date.now() - answeredAt < 1000);
  assert.equal(settled.status, 'allowed');
  assert.equal(settled.answer?.scope, 'duration');
  assert.ok(Math.abs(Date.parse(settled.answer?.until ?? '') - (Date.now() + 3600_000)) < 60_000);
  const audit = t.auditRecords().filter((e) => e.cordon['kind'] === 'approval.answer');
  assert.equal(audit.length, 1, 'the answering process audits its answer');
});

void test('deny from the CLI settles the ask() as denied; a second answer is refused saying what happened', async () => {
  const asked = host.ask({ session: 's-cli', kind: 'network', target: 'deny.example:443' });
  const id = pendingId('deny.example:443');
  const r = await t.run(['approvals', 'deny', id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await within(asked, 1000)).status, 'denied');
  const again = await t.run(['approvals', 'allow', id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already denied/);
});

void test('usage errors exit 2; an unknown id exits 1', async () => {
  const both = await t.run(['approvals', 'allow', 'aaaaaaaaaaaaaaaa', '--for', '1h', '--always']);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /--for and --always/);
  const badFor = await t.run(['approvals', 'allow', 'aaaaaaaaaaaaaaaa', '--for', '3 days']);
  assert.equal(badFor.code, 2, badFor.stderr);
  const unknown = await t.run(['approvals', 'deny', 'aaaaaaaaaaaaaaaa']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no approval request/);
  const watch = await t.run(['approvals', 'watch']);
  assert.equal(watch.code, 2);
  assert.match(watch.stderr, /needs a terminal.*list.*allow.*deny/);
});

void test('watch, at a terminal: shows the request with its reason and detail, h allows for an hour, q quits', async () => {
  const asked = host.ask({ session: 's-cli', kind: 'network', target: 'watch.example:443', reason: 'read \u001b[2Jthe docs', detail: { address: '198.51.100.9' } });
  // `script` gives the command a pseudo-terminal, as a person's shell would.
  const child = spawn('script', ['-qec', `${CORDON_BIN} approvals watch`, '/dev/null'], { env: { ...t.env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const seen = (re: RegExp): Promise<void> =>
    within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (re.test(out)) resolve();
        };
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          check();
        });
        check();
      }),
      20_000,
    );
  // Not collect(): it closes stdin, and the keys go there.
  const done = within(new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code))), 30_000);
  after(() => child.kill('SIGKILL'));
  await seen(/\[a\]lways/);
  assert.match(out, /watch\.example:443/);
  assert.match(out, /address: 198\.51\.100\.9/);
  assert.match(out, /reason: read \?\[2Jthe docs/, 'control characters in the agent\'s text are neutralised');
  child.stdin.write('h');
  const settled = await within(asked, 5000);
  assert.equal(settled.answer?.scope, 'duration');
  assert.ok(Math.abs(Date.parse(settled.answer?.until ?? '') - (Date.now() + 3600_000)) < 60_000);
  await seen(/waiting for new ones/);
  child.stdin.write('q');
  assert.equal(await done, 0, out);
});
