/**
 * The approval queue against a real temporary folder: two store instances on
 * one folder stand in for two processes (the session host and `cordon approvals`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { ApprovalStore, type ApprovalRecord } from './approval-store.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-approvals-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function setup(opts: { timeoutSeconds?: number; max?: number; now?: () => number } = {}) {
  const dir = join(root, `q${n++}`);
  const audit = new MemoryAuditSink();
  const mk = () =>
    new ApprovalStore(dir, {
      timeoutSeconds: opts.timeoutSeconds ?? 5,
      audit,
      ...(opts.max === undefined ? {} : { maxPerMinutePerSession: opts.max }),
      ...(opts.now === undefined ? {} : { now: opts.now }),
    });
  return { dir, audit, host: mk(), user: mk() };
}

/** Resolves once the other store lists a pending request (bounded). */
async function pendingIn(store: ApprovalStore, count = 1, deadlineMs = 2000): Promise<ApprovalRecord[]> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const p = store.list().filter((r) => r.status === 'pending');
    if (p.length >= count) return p;
    if (Date.now() > end) throw new Error(`expected ${count} pending request(s) within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms).unref())]);
}

void test('an answer from another instance settles ask() within a second; folder 0700, files 0600', async () => {
  const { dir, audit, host, user } = setup();
  const asked = host.ask({ session: 's1', kind: 'network', target: 'example.com:443', reason: 'fetch docs', detail: { address: '93.184.216.34' } });
  const [req] = await pendingIn(user);
  assert.ok(req && /^[0-9a-f]{16}$/.test(req.id));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  const t0 = Date.now();
  const res = user.answer(req.id, { decision: 'allow', scope: 'duration', until: new Date(Date.now() + 3600_000) }, 'user');
  assert.equal(res.kind, 'allow');
  const settled = await within(asked, 1000);
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(settled.status, 'allowed');
  assert.deepEqual({ ...settled.answer, at: null, until: null }, { decision: 'allow', scope: 'duration', until: null, write: false, by: 'user', at: null });
  assert.deepEqual(audit.events.map((e) => e.kind), ['approval.request', 'approval.answer']);
  assert.equal(audit.events[1]?.details?.['by'], 'user');
  // A detail named `kind` would replace the event's kind in the written record.
  for (const e of audit.events) assert.equal(e.details?.['kind'], undefined);
});

void test('identical pending requests coalesce; a different write flag does not', async () => {
  const { host, user } = setup();
  const a = host.ask({ session: 's', kind: 'file', target: '/data' });
  const b = host.ask({ session: 's', kind: 'file', target: '/data' });
  const c = host.ask({ session: 's', kind: 'file', target: '/data', write: true });
  const pending = await pendingIn(user, 2);
  assert.equal(pending.length, 2);
  for (const p of pending) user.answer(p.id, { decision: 'deny' }, 'user');
  const [ra, rb, rc] = await within(Promise.all([a, b, c]), 1000);
  assert.equal(ra.id, rb.id);
  assert.notEqual(ra.id, rc.id);
  assert.equal(ra.status, 'denied');
});

void test('list: pending oldest first, then settled newest first; settled over a day old are removed', async () => {
  let clock = Date.parse('2026-12-04T10:00:00Z');
  const { dir, host, user } = setup({ now: () => clock, timeoutSeconds: 60 });
  const asks: Array<Promise<ApprovalRecord>> = [];
  for (const target of ['a:1', 'b:1', 'c:1', 'd:1']) {
    asks.push(host.ask({ session: 's', kind: 'network', target }));
    clock += 1000;
  }
  const ids = (await pendingIn(user, 4)).map((r) => r.target);
  assert.deepEqual(ids, ['a:1', 'b:1', 'c:1', 'd:1']);
  const [a, b] = user.list();
  user.answer(a!.id, { decision: 'deny' }, 'user');
  clock += 1000;
  user.answer(b!.id, { decision: 'allow' }, 'user');
  assert.deepEqual(user.list().map((r) => `${r.target}:${r.status}`), ['c:1:pending', 'd:1:pending', 'b:1:allowed', 'a:1:denied']);
  host.answerSession('s', { decision: 'deny' }, 'user');
  await within(Promise.all(asks), 1000);
  clock += 2 * 3600_000;
  // Settled over an hour ago: no longer listed, still on disk.
  assert.deepEqual(user.list().map((r) => r.target), []);
  assert.ok(readdirSync(dir).some((f) => f.startsWith(a!.id)));
  clock += 24 * 3600_000;
  user.list();
  assert.ok(!readdirSync(dir).some((f) => f.startsWith(a!.id)), 'pruned after a day');
});

void test('no answer in time: denied as expired by timeout, and listed as such', async () => {
  const { audit, host, user } = setup({ timeoutSeconds: 0.3 });
  const r = await within(host.ask({ session: 's', kind: 'network', target: 'slow.example:443' }), 2000);
  assert.equal(r.status, 'expired');
  assert.equal(r.answer?.by, 'timeout');
  assert.equal(r.answer?.decision, 'deny');
  assert.equal(user.list()[0]?.status, 'expired');
  assert.equal(audit.events.at(-1)?.details?.['by'], 'timeout');
  const late = user.answer(r.id, { decision: 'allow' }, 'user');
  assert.equal(late.kind, 'deny');
  assert.equal(late.kind === 'deny' && late.reason, 'already_settled');
  assert.match(late.kind === 'deny' ? late.message : '', /already expired.*nobody answered in time/);
});

void test('two answers race: exactly one wins, and the asker sees that one', async () => {
  const { host, user } = setup();
  const third = new ApprovalStore(join(root, `q${n - 1}`), { timeoutSeconds: 5, audit: new MemoryAuditSink() });
  for (let i = 0; i < 20; i++) {
    const asked = host.ask({ session: 's', kind: 'network', target: `race${i}:443` });
    const [req] = await pendingIn(user);
    const results = await Promise.all([
      Promise.resolve().then(() => user.answer(req!.id, { decision: 'allow' }, 'user')),
      Promise.resolve().then(() => third.answer(req!.id, { decision: 'deny' }, 'user')),
    ]);
    const winners = results.filter((x) => x.kind === 'allow');
    assert.equal(winners.length, 1, JSON.stringify(results));
    const settled = await within(asked, 1000);
    assert.equal(settled.answer?.decision, winners[0]?.kind === 'allow' ? winners[0].value.answer?.decision : undefined);
  }
});

void test('a user answer racing the asker\'s own timeout: one answer, the asker agrees with the file', async () => {
  const { host, user } = setup({ timeoutSeconds: 0.2 });
  const asked = host.ask({ session: 's', kind: 'network', target: 'edge:443' });
  const [req] = await pendingIn(user);
  await new Promise((r) => setTimeout(r, 190));
  const res = user.answer(req!.id, { decision: 'allow' }, 'user');
  const settled = await within(asked, 1000);
  assert.equal(settled.status, res.kind === 'allow' ? 'allowed' : 'expired');
  assert.equal(user.get(req!.id)?.status, settled.status);
});

void test('over the per-session rate limit: denied at once, exactly one alert per minute', async () => {
  let clock = Date.parse('2026-12-04T10:00:00Z');
  const { audit, host } = setup({ max: 3, now: () => clock });
  const asks = [0, 1, 2].map((i) => host.ask({ session: 'loud', kind: 'network', target: `h${i}:443` }));
  const over = await Promise.all([3, 4, 5, 6].map((i) => host.ask({ session: 'loud', kind: 'network', target: `h${i}:443` })));
  for (const r of over) assert.deepEqual([r.status, r.answer?.by], ['denied', 'rate_limit']);
  assert.equal(audit.events.filter((e) => e.kind === 'approval.rate_limited').length, 1);
  const other = host.ask({ session: 'quiet', kind: 'network', target: 'h:443' });
  clock += 61_000;
  await host.ask({ session: 'loud', kind: 'network', target: 'again:443' });
  assert.equal(audit.events.filter((e) => e.kind === 'approval.rate_limited').length, 1, 'under the limit again after a minute');
  host.answerSession('loud', { decision: 'deny' }, 'user');
  host.answerSession('quiet', { decision: 'deny' }, 'user');
  await within(Promise.all([...asks, other]), 1000);
});

void test('a corrupt or hostile request file is skipped; a corrupt answer is a deny', async () => {
  const { dir, host, user } = setup();
  writeFileSync(join(dir, '0123456789abcdef.json'), '{not json');
  writeFileSync(join(dir, 'fedcba9876543210.json'), JSON.stringify({ id: '0000000000000000', session: 's' }));
  writeFileSync(join(dir, '../escape.json'), '{}');
  const asked = host.ask({ session: 's', kind: 'network', target: 'x:443' });
  const [req] = await pendingIn(user);
  assert.equal(user.list().length, 1);
  writeFileSync(join(dir, `${req!.id}.answer.json`), '{"decision":"allow"');
  const r = await within(asked, 1000);
  assert.equal(r.status, 'denied');
  assert.equal(user.answer('../escape', { decision: 'allow' }, 'user').kind, 'deny');
});

void test('answer refuses unknown ids, write on a read request, and duration without an end', async () => {
  const { host, user } = setup();
  const asked = host.ask({ session: 's', kind: 'file', target: '/docs' });
  const [req] = await pendingIn(user);
  const unknown = user.answer('aaaaaaaaaaaaaaaa', { decision: 'allow' }, 'user');
  assert.equal(unknown.kind === 'deny' && unknown.reason, 'unknown_request');
  const write = user.answer(req!.id, { decision: 'allow', write: true }, 'user');
  assert.equal(write.kind === 'deny' && write.reason, 'write_not_requested');
  const dur = user.answer(req!.id, { decision: 'allow', scope: 'duration' }, 'user');
  assert.equal(dur.kind === 'deny' && dur.reason, 'invalid_answer');
  const always = user.answer(req!.id, { decision: 'allow', scope: 'always' }, 'user');
  assert.equal(always.kind, 'allow');
  assert.equal((await within(asked, 1000)).answer?.scope, 'always');
  const again = user.answer(req!.id, { decision: 'deny' }, 'user');
  assert.match(again.kind === 'deny' ? again.message : '', /already allowed: allowed always by user/);
});

void test('answerSession settles every pending request of one session only; abort settles as session_ended', async () => {
  const { host, user } = setup();
  const a = host.ask({ session: 'one', kind: 'network', target: 'a:1' });
  const b = host.ask({ session: 'one', kind: 'file', target: '/b', write: true });
  const ctl = new AbortController();
  const c = host.ask({ session: 'two', kind: 'network', target: 'c:1' }, ctl.signal);
  await pendingIn(user, 3);
  const settled = user.answerSession('one', { decision: 'allow', write: true }, 'user');
  assert.equal(settled.length, 2);
  const [ra, rb] = await within(Promise.all([a, b]), 1000);
  assert.deepEqual([ra.answer?.write, rb.answer?.write], [false, true]);
  assert.deepEqual((await pendingIn(user)).map((r) => r.session), ['two']);
  ctl.abort();
  const rc = await within(c, 1000);
  assert.deepEqual([rc.status, rc.answer?.by], ['denied', 'session_ended']);
});

void test('the agent\'s reason is cut to 200 characters in the record and the audit log', async () => {
  const { audit, host, user } = setup();
  const asked = host.ask({ session: 's', kind: 'network', target: 'r:443', reason: 'x'.repeat(5000) });
  const [req] = await pendingIn(user);
  assert.equal(req!.reason?.length, 200);
  assert.ok(JSON.stringify(audit.events).length < 2000);
  user.answer(req!.id, { decision: 'deny' }, 'user');
  await within(asked, 1000);
});

void test('processes racing to answer: exactly one answer file wins, the rest are told it was settled', async () => {
  const { dir, host } = setup();
  const asked = host.ask({ session: 's', kind: 'network', target: 'procs:443' });
  const [req] = await pendingIn(host);
  const storeUrl = new URL('./approval-store.js', import.meta.url).href;
  // Each child opens its own store on the folder and answers at once: real processes, real link(2) races.
  const script = `const { ApprovalStore } = await import(process.argv[1]);
const s = new ApprovalStore(process.argv[2], { timeoutSeconds: 5, audit: { record() {} } });
const r = s.answer(process.argv[3], { decision: process.argv[4] }, 'user');
process.stdout.write(r.kind === 'allow' ? 'won' : r.reason);`;
  const run = (decision: string): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script, storeUrl, dir, req!.id, decision], { timeout: 10_000 }, (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout)));
    });
  const results = await Promise.all(['allow', 'deny', 'allow', 'deny', 'allow', 'deny'].map(run));
  assert.equal(results.filter((r) => r === 'won').length, 1, results.join(','));
  assert.ok(results.every((r) => r === 'won' || r === 'already_settled'), results.join(','));
  const settled = await within(asked, 1000);
  assert.notEqual(settled.status, 'pending');
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left behind');
});

void test('a request that cannot be filed is denied, not thrown', async () => {
  const { dir, host } = setup();
  rmSync(dir, { recursive: true, force: true });
  const r = await within(host.ask({ session: 's', kind: 'network', target: 'nowhere:443' }), 1000);
  assert.deepEqual([r.status, r.answer?.decision], ['denied', 'deny']);
});
