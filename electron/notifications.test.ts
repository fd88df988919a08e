/** Denials and DLP blocks notify at most once per interval; the rest are counted, never lost. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditRecordView } from '../core/api/cordon-api.js';
import { alertFor, approvalAlertFor, NotificationCoalescer, type Alert } from './notifications.js';

const record = (kind: string, outcome: 'success' | 'failure', details: Record<string, unknown> = {}, message = `${kind} happened`): AuditRecordView => ({
  seq: 1,
  time: 0,
  kind,
  sessionId: 'abc',
  outcome,
  severity: 'medium',
  message,
  details,
});

test('egress denials and DLP blocks alert; allows, redactions and report-mode records do not', () => {
  assert.deepEqual(alertFor(record('egress.deny', 'failure', {}, 'evil.example:443 denied')), { kind: 'egress', sessionId: 'abc', text: 'evil.example:443 denied' });
  assert.equal(alertFor(record('dlp.block', 'failure', { action: 'block' }))?.kind, 'dlp');
  assert.equal(alertFor(record('dlp.findings', 'success', { action: 'block' }))?.kind, 'dlp');
  for (const r of [record('egress.allow', 'success'), record('egress.would_deny', 'success'), record('dlp.findings', 'success', { action: 'rewrite' }), record('session.start', 'failure')]) {
    assert.equal(alertFor(r), null, r.kind);
  }
});

const alert = (n: number, kind: Alert['kind'] = 'egress'): Alert => ({ kind, sessionId: 'abc', text: `host${n}.example denied` });

test('the first alert shows at once; a burst within the interval becomes one "and N more"', () => {
  const c = new NotificationCoalescer(10_000);
  assert.deepEqual(c.offer(alert(0), 1_000), { title: 'Cordon blocked a connection', body: 'host0.example denied' });
  for (let i = 1; i <= 8; i++) assert.equal(c.offer(alert(i), 1_000 + i * 100), null);
  assert.equal(c.dueAt(), 11_000);
  assert.equal(c.flush(10_999), null, 'not before the interval has passed');
  assert.deepEqual(c.flush(11_000), { title: 'Cordon blocked a connection', body: 'host1.example denied — and 7 more blocks since' });
  assert.equal(c.dueAt(), null);
  assert.equal(c.flush(50_000), null, 'nothing held back, nothing shown');
});

test('never more than one notification per interval, and every alert is counted once', () => {
  const c = new NotificationCoalescer(5_000);
  const shown: { at: number; count: number }[] = [];
  let offered = 0;
  for (let t = 0; t < 60_000; t += 250) {
    offered++;
    const n = c.offer(alert(offered, offered % 3 === 0 ? 'dlp' : 'egress'), t) ?? c.flush(t);
    if (n) shown.push({ at: t, count: 1 + Number(/and (\d+) more/.exec(n.body)?.[1] ?? 0) });
  }
  const due = c.dueAt();
  const last = due === null ? null : c.flush(due);
  if (last) shown.push({ at: due ?? 0, count: 1 + Number(/and (\d+) more/.exec(last.body)?.[1] ?? 0) });
  for (let i = 1; i < shown.length; i++) assert.ok((shown[i]?.at ?? 0) - (shown[i - 1]?.at ?? 0) >= 5_000, `notifications ${i - 1} and ${i} too close`);
  assert.equal(shown.reduce((a, s) => a + s.count, 0), offered);
});

test('a mixed burst says so in its title, and a non-positive interval is refused', () => {
  const c = new NotificationCoalescer(1_000);
  c.offer(alert(0), 0);
  c.offer(alert(1, 'dlp'), 10);
  c.offer(alert(2), 20);
  assert.equal(c.flush(1_000)?.title, 'Cordon blocked connections and model requests');
  assert.throws(() => new NotificationCoalescer(0));
});

test('a filed approval request notifies with the target core established, never the agent\'s reason', () => {
  const filed = record('approval.request', 'success', { id: '0123456789abcdef', request_kind: 'network', target: 'yes.test:8080', write: false, reason: 'Cordon needs this: click here' });
  const a = approvalAlertFor({ ...filed, sessionId: '0123456789abcdef0123' });
  assert.deepEqual(a, { kind: 'approval', sessionId: '0123456789abcdef0123', text: 'Session 0123456789ab asks for network access to yes.test:8080' });
  assert.equal(JSON.stringify(a).includes('click here'), false);
  assert.equal(approvalAlertFor(record('approval.request', 'success', { request_kind: 'file', target: '/home/u/Reports\u202Etxt.exe', write: true }))?.text, 'Session abc asks for file access to /home/u/Reports?txt.exe (write)');
  for (const r of [record('approval.answer', 'success', { request_kind: 'network', target: 'x:1' }), record('approval.request', 'success', { target: 'x:1' }), record('egress.deny', 'failure')]) {
    assert.equal(approvalAlertFor(r), null, r.kind);
  }
  assert.equal(alertFor(filed), null, 'a request is not a block: it does not go through the blocks\' notifier');
});

test('waiting requests coalesce as requests, not blocks', () => {
  const c = new NotificationCoalescer(10_000);
  const req = (n: number): Alert => ({ kind: 'approval', sessionId: 'abc', text: `Session abc asks for network access to h${n}:443` });
  assert.deepEqual(c.offer(req(0), 0), { title: 'An agent is waiting for your answer', body: 'Session abc asks for network access to h0:443' });
  assert.equal(c.offer(req(1), 1_000), null);
  assert.equal(c.offer(req(2), 2_000), null);
  assert.deepEqual(c.flush(10_000), { title: 'An agent is waiting for your answer', body: 'Session abc asks for network access to h1:443 — and 1 more request since' });
});
