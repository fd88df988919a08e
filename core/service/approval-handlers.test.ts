/**
 * The app's approval calls over a real queue folder, and through the real
 * service: answers are turned into the store's input in core (durations
 * computed here, not trusted from the UI), refusals arrive as values with a
 * message, and the queue's audit records become `approvals.changed` events.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { FileAuditLog } from '../audit/audit-log.js';
import type { ApiEvent, AuditRecordView } from '../api/cordon-api.js';
import type { ApprovalView } from '../api/approvals-contract.js';
import { ManualClock } from '../keys/clock.js';
import { MemoryKeyStore } from '../keys/key-store.js';
import { resolveCordonPaths } from '../paths/cordon-paths.js';
import { loadPolicy } from '../policy/policy-loader.js';
import { ApprovalStore, type ApprovalRecord } from '../approvals/approval-store.js';
import { FakeSandboxEngine } from '../testing/fake-sandbox-engine.js';
import { waitUntil } from '../testing/wait-until.js';
import { answerInput, approvalEventFor, boundedList, MAX_LISTED_PENDING, MAX_LISTED_SETTLED } from './approval-handlers.js';
import { CordonService } from './cordon-service.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-approval-handlers-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const ID = '0123456789abcdef';
const NOW = new Date('2026-03-10T14:00:00.000Z');

test('answerInput: durations are computed in core; for/until only with "duration", exactly one of them', () => {
  assert.deepEqual(answerInput({ id: ID, decision: 'deny' }, NOW), { ok: true, answer: { decision: 'deny' } });
  assert.deepEqual(answerInput({ id: ID, decision: 'allow', scope: 'once', write: true }, NOW), { ok: true, answer: { decision: 'allow', scope: 'once', write: true } });
  const hour = answerInput({ id: ID, decision: 'allow', scope: 'duration', for: '1h' }, NOW);
  assert.equal(hour.ok && hour.answer.until?.toISOString(), '2026-03-10T15:00:00.000Z');
  const eod = answerInput({ id: ID, decision: 'allow', scope: 'duration', for: 'end-of-day' }, NOW);
  const end = new Date(NOW);
  end.setHours(23, 59, 59, 999);
  assert.equal(eod.ok && eod.answer.until?.getTime(), end.getTime());
  const until = answerInput({ id: ID, decision: 'allow', scope: 'duration', until: '2026-03-10T16:30:00Z' }, NOW);
  assert.equal(until.ok && until.answer.until?.toISOString(), '2026-03-10T16:30:00.000Z');
  for (const [req, why] of [
    [{ id: ID, decision: 'allow', scope: 'once', for: '1h' }, /only with scope "duration"/],
    [{ id: ID, decision: 'allow', scope: 'always', until: '2026-03-10T16:30:00Z' }, /only with scope "duration"/],
    [{ id: ID, decision: 'allow', scope: 'duration' }, /exactly one/],
    [{ id: ID, decision: 'allow', scope: 'duration', for: '1h', until: '2026-03-10T16:30:00Z' }, /exactly one/],
    [{ id: ID, decision: 'allow', scope: 'duration', until: '2026-03-10T13:59:59Z' }, /not in the future/],
    [{ id: ID, decision: 'allow', scope: 'duration', until: '2026-03-18T14:00:00Z' }, /more than a week/],
  ] as const) {
    const r = answerInput(req, NOW);
    assert.equal(r.ok, false, JSON.stringify(req));
    assert.match(r.ok ? '' : r.message, why);
  }
});

test('the list is bounded: the oldest pending and the newest settled are kept, the rest counted', () => {
  const rec = (i: number, status: ApprovalRecord['status']): ApprovalRecord => ({
    ...{ id: i.toString(16).padStart(16, '0'), session: 's', kind: 'network', target: `h${i}:443`, reason: null, detail: {}, write: false },
    ...{ createdAt: NOW.toISOString(), expiresAt: NOW.toISOString(), status, answer: null },
  });
  const records = [...Array.from({ length: 130 }, (_, i) => rec(i, 'pending')), ...Array.from({ length: 70 }, (_, i) => rec(1000 + i, 'denied'))];
  const out = boundedList(records, (r) => ({ ...r, alwaysUnavailable: null }));
  assert.equal(out.requests.length, MAX_LISTED_PENDING + MAX_LISTED_SETTLED);
  assert.equal(out.omitted, 200 - MAX_LISTED_PENDING - MAX_LISTED_SETTLED);
  assert.equal(out.requests[0]?.target, 'h0:443', 'the oldest pending comes first');
  assert.equal(out.requests[MAX_LISTED_PENDING]?.target, 'h1000:443', 'the newest settled is kept');
});

test('approvals.changed comes from the queue\'s audit records only, and carries no text of the request', () => {
  const record = (kind: string, details: Record<string, unknown>): AuditRecordView => ({ seq: 1, time: 0, kind, sessionId: 'aaaabbbbcccc', outcome: 'success', severity: 'informational', message: 'm', details });
  assert.deepEqual(approvalEventFor(record('approval.request', { id: ID, target: 'x:1', reason: 'press A' })), { type: 'approvals.changed', change: 'request', id: ID, sessionId: 'aaaabbbbcccc' });
  assert.equal(approvalEventFor(record('approval.answer', { id: ID }))?.type, 'approvals.changed');
  assert.deepEqual(approvalEventFor(record('approval.rate_limited', {})), { type: 'approvals.changed', change: 'rate_limited', id: null, sessionId: 'aaaabbbbcccc' });
  assert.equal((approvalEventFor(record('approval.request', { id: '../../x' })) as { id: unknown } | null)?.id, null);
  for (const kind of ['egress.deny', 'session.start', 'approval.', 'toString', '__proto__']) assert.equal(approvalEventFor(record(kind, { id: ID })), null, kind);
});

/** A service over the in-memory engine with real policy files and a real audit log. */
function service(): { svc: CordonService; home: string; policyDir: string } {
  const dir = join(root, `s${n++}`);
  const home = join(dir, 'cordon');
  const policyDir = join(dir, 'policies');
  mkdirSync(join(policyDir, 'managed'), { recursive: true });
  const paths = resolveCordonPaths({ CORDON_HOME: home, CORDON_POLICY_DIR: policyDir }, 'linux', join(dir, 'userhome'));
  const svc = new CordonService({
    paths,
    engine: new FakeSandboxEngine(),
    audit: new FileAuditLog({ dir: paths.auditDir, productVersion: 'test' }),
    keyStore: () => new MemoryKeyStore(new ManualClock()),
    hostUser: { uid: process.getuid?.() ?? 1000, gid: process.getgid?.() ?? 1000, sudo: null },
    loadPolicy: () => loadPolicy(paths, { platform: null }),
    settings: { version: '9.9.9', platform: 'linux', connectShim: true, hostProxyEnv: {} },
    notify: () => undefined,
  });
  return { svc, home, policyDir };
}

test('through the service: a request filed by another process is listed, answered once, and both changes arrive as events', async () => {
  const { svc, home } = service();
  const events: ApiEvent[] = [];
  svc.subscribe((e) => events.push(e));
  // The session host is another process in real life: a second store on the same folder, auditing to the same log.
  const host = new ApprovalStore(join(home, 'approvals'), { timeoutSeconds: 30, audit: svc.audit });
  const asked = host.ask({ session: 'aaaabbbbcccc', kind: 'network', target: 'docs.example:443', reason: '<img src=x onerror=alert(1)>', detail: { address: '127.0.0.1' } });
  await waitUntil('an approvals.changed event for the request', () => events.some((e) => e.type === 'approvals.changed' && e.change === 'request'));
  const listed = await svc.dispatch('approvals.list', {});
  assert.ok(listed.ok, JSON.stringify(listed));
  const [req] = (listed.value as { requests: ApprovalView[] }).requests;
  assert.equal(req?.status, 'pending');
  assert.equal(req?.reason, '<img src=x onerror=alert(1)>', 'the reason is data, passed through as text');
  assert.equal(req?.alwaysUnavailable, null);
  const id = req?.id ?? '';
  const refused = await svc.dispatch('approvals.answer', { id, decision: 'allow', scope: 'once', write: true });
  assert.deepEqual(refused, { ok: false, error: { code: 'failed', message: `request ${id} asked for read access only; write cannot be granted on it` } });
  const once = await svc.dispatch('approvals.answer', { id, decision: 'allow', scope: 'once' });
  assert.ok(once.ok, JSON.stringify(once));
  assert.equal((once.value as ApprovalView).status, 'allowed');
  assert.equal((await asked).status, 'allowed', 'the asker saw the answer');
  const again = await svc.dispatch('approvals.answer', { id, decision: 'deny' });
  assert.equal(!again.ok && again.error.code, 'failed');
  assert.match(!again.ok ? again.error.message : '', /already allowed/);
  await waitUntil('an approvals.changed event for the answer', () => events.some((e) => e.type === 'approvals.changed' && e.change === 'answer' && e.id === id));
  const unknown = await svc.dispatch('approvals.answer', { id: 'ffffffffffffffff', decision: 'deny' });
  assert.equal(!unknown.ok && unknown.error.code, 'not_found');
  host.close();
  await svc.close();
});

test('through the service: "always" shows as unavailable while managed policy locks egress.allow, and an answer of it is refused', async () => {
  const { svc, home, policyDir } = service();
  writeFileSync(join(policyDir, 'managed', 'lock.json'), JSON.stringify({ egress: { allow: [] } }));
  const host = new ApprovalStore(join(home, 'approvals'), { timeoutSeconds: 30, audit: new MemoryAuditSink() });
  const asked = host.ask({ session: 'aaaabbbbcccc', kind: 'network', target: 'docs.example:443' });
  const listed = await svc.dispatch('approvals.list', {});
  const req = listed.ok ? (listed.value as { requests: ApprovalView[] }).requests[0] : undefined;
  assert.match(req?.alwaysUnavailable ?? '', /egress\.allow is locked by mandatory managed policy/);
  const always = await svc.dispatch('approvals.answer', { id: req?.id ?? '', decision: 'allow', scope: 'always' });
  assert.equal(always.ok, false);
  assert.match(!always.ok ? always.error.message : '', /cannot allow always/);
  const deny = await svc.dispatch('approvals.answer', { id: req?.id ?? '', decision: 'deny' });
  assert.equal(deny.ok && (deny.value as ApprovalView).status, 'denied');
  assert.equal((await asked).status, 'denied');
  host.close();
  await svc.close();
});
