import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_GATES_POLICY, type GateMode, type GatesPolicy } from '../policy/policy-schema.js';
import { afterAnswer, decide, matchBlockedLabel, matchBlockedType, type GateFinding, type Transfer } from './gate-decision.js';

const key: GateFinding = { detector: 'aws_access_key_id', category: 'secret', count: 2, action: 'tokenize' };
const mail: GateFinding = { detector: 'email', category: 'pii', count: 1, action: 'allow' };
const pem: GateFinding = { detector: 'pem_private_key', category: 'secret', count: 1, action: 'block' };

function text(over: Partial<Transfer> = {}): Transfer {
  return { direction: 'toSandbox', channel: 'paste', contentType: 'text/plain', size: 100, form: 'text', scan: { status: 'complete', findings: [] }, ...over };
}
function gates(clip: Partial<GatesPolicy['clipboard']> = {}, drop: Partial<GatesPolicy['dragDrop']> = {}): GatesPolicy {
  return { clipboard: { ...DEFAULT_GATES_POLICY.clipboard, ...clip }, dragDrop: { ...DEFAULT_GATES_POLICY.dragDrop, ...drop } };
}

test('defaults: a paste with a secret is redacted, clean text passes, PII the dlp policy allows passes', () => {
  const r = decide(text({ scan: { status: 'complete', findings: [key, mail] } }), DEFAULT_GATES_POLICY);
  assert.equal(r.kind, 'redact');
  assert.deepEqual(r.kind === 'redact' ? r.redact : null, ['aws_access_key_id'], 'scan redacts what the dlp section redacts or tokenizes, not what it allows');
  assert.equal(decide(text(), DEFAULT_GATES_POLICY).reason, 'clean');
  assert.equal(decide(text({ scan: { status: 'complete', findings: [mail] } }), DEFAULT_GATES_POLICY).reason, 'findings_allowed');
});

test('mode redact redacts every finding, including those the dlp policy allows', () => {
  const r = decide(text({ channel: 'clipboard', direction: 'fromSandbox', scan: { status: 'complete', findings: [key, mail] } }), DEFAULT_GATES_POLICY);
  assert.equal(r.kind, 'redact');
  assert.deepEqual(r.kind === 'redact' ? [...r.redact].sort() : null, ['aws_access_key_id', 'email']);
});

test('a block finding refuses in every scanning mode, even ask', () => {
  for (const mode of ['scan', 'redact', 'ask'] as GateMode[]) {
    const r = decide(text({ scan: { status: 'complete', findings: [key, pem] } }), gates({ toSandbox: mode }));
    assert.equal(r.kind, 'deny', mode);
    assert.equal(r.reason, 'dlp_block', mode);
    assert.match(r.message, /pem_private_key/);
  }
});

test('deny rules come before allow and ask: protected source, deny mode, rate, size, type, label', () => {
  const file = (over: Partial<Transfer>): Transfer => text({ channel: 'file', name: 'a.txt', ...over });
  const allowAll = gates({ toSandbox: 'allow' }, { toSandbox: 'allow', blockTypes: ['.exe', 'application/zip', 'image/*'], blockLabels: ['Confidential', '{1A2B3C4D-0000-0000-0000-000000000001}'], maxBytes: 1000 });
  assert.equal(decide(file({ source: { kind: 'protected', rule: 'credential_store', message: 'SSH keys' } }), allowAll).reason, 'protected_source');
  assert.equal(decide(file({ size: 1001 }), allowAll).reason, 'too_large');
  assert.equal(decide(file({ size: 1000 }), allowAll).kind, 'allow', 'the limit itself is allowed');
  assert.equal(decide(file({ name: 'SETUP.EXE' }), allowAll).reason, 'blocked_type');
  assert.equal(decide(file({ name: 'x.bin', contentType: 'application/zip' }), allowAll).reason, 'blocked_type');
  assert.equal(decide(file({ name: 'x.bin', contentType: 'image/png' }), allowAll).reason, 'blocked_type');
  assert.equal(decide(file({ labels: [{ id: '00000000-0000-0000-0000-000000000000', name: 'confidential' }] }), allowAll).reason, 'blocked_label');
  assert.equal(decide(file({ labels: [{ id: '1a2b3c4d-0000-0000-0000-000000000001', name: 'Secret' }] }), allowAll).reason, 'blocked_label', 'GUIDs match without braces and case');
  assert.equal(decide(file({ labels: [{ id: 'x', name: 'Public' }] }), allowAll).kind, 'allow');
  // Ask does not jump the deny rules either.
  assert.equal(decide(file({ size: 5000 }), gates({}, { toSandbox: 'ask', maxBytes: 1000 })).reason, 'too_large');
  assert.equal(decide(text(), gates({ toSandbox: 'deny' })).reason, 'policy_deny');
});

test('block lists apply in both directions; the clipboard and paste have none', () => {
  const g = gates({ toSandbox: 'allow', fromSandbox: 'allow' }, { fromSandbox: 'allow', blockTypes: ['.sh'] });
  assert.equal(decide(text({ channel: 'file', direction: 'fromSandbox', name: 'run.sh' }), g).reason, 'blocked_type');
  assert.equal(decide(text({ channel: 'paste', name: 'run.sh' }), g).kind, 'allow');
});

test('the clipboard rate counts transfers before this one; paste is never rate limited', () => {
  const g = gates({ ratePerMinute: 3 });
  assert.equal(decide(text({ channel: 'clipboard', recentTransfers: 2 }), g).kind, 'allow');
  assert.equal(decide(text({ channel: 'clipboard', recentTransfers: 3 }), g).reason, 'rate_limited');
  assert.equal(decide(text({ channel: 'paste', recentTransfers: 300 }), g).kind, 'allow');
});

test('paste follows the clipboard toSandbox mode and size; a fromSandbox paste does not exist', () => {
  assert.equal(decide(text({ size: 2 * 1024 * 1024 }), DEFAULT_GATES_POLICY).reason, 'too_large');
  assert.equal(decide(text(), gates({ toSandbox: 'deny' })).reason, 'policy_deny');
  assert.equal(decide(text({ direction: 'fromSandbox' }), gates({ toSandbox: 'allow', fromSandbox: 'allow' })).reason, 'policy_deny');
});

test('incomplete scans are refused; mode allow never needs a scan', () => {
  assert.equal(decide(text({ scan: { status: 'incomplete', reason: 'time budget' } }), DEFAULT_GATES_POLICY).reason, 'unscanned');
  assert.equal(decide(text({ scan: { status: 'not_scanned' } }), gates({ toSandbox: 'allow' })).reason, 'mode_allow');
});

test('opaque content: scan lets it in, nothing lets it out but allow, ask asks', () => {
  const img = (direction: Transfer['direction']): Transfer => text({ channel: 'file', direction, form: 'opaque', contentType: 'image/png', scan: { status: 'not_scanned' } });
  assert.equal(decide(img('toSandbox'), DEFAULT_GATES_POLICY).reason, 'opaque_allowed');
  assert.equal(decide(img('fromSandbox'), DEFAULT_GATES_POLICY).reason, 'unscannable');
  assert.equal(decide(img('toSandbox'), gates({}, { toSandbox: 'redact' })).reason, 'unscannable');
  assert.equal(decide(img('fromSandbox'), gates({}, { fromSandbox: 'allow' })).kind, 'allow');
  assert.equal(decide(img('fromSandbox'), gates({}, { fromSandbox: 'ask' })).kind, 'ask');
});

test('findings in extracted document text cannot be redacted in place: refused', () => {
  const r = decide(text({ channel: 'file', name: 'r.docx', form: 'extracted', scan: { status: 'complete', findings: [key] } }), DEFAULT_GATES_POLICY);
  assert.equal(r.reason, 'cannot_redact');
  assert.equal(decide(text({ channel: 'file', form: 'extracted' }), DEFAULT_GATES_POLICY).kind, 'allow', 'a clean document passes');
});

test('ask carries the findings; the answer decides', () => {
  const r = decide(text({ scan: { status: 'complete', findings: [key] } }), gates({ toSandbox: 'ask' }));
  assert.equal(r.kind, 'ask');
  if (r.kind !== 'ask') return;
  assert.deepEqual(r.findings, [key]);
  assert.equal(afterAnswer(r, true).kind, 'allow');
  assert.equal(afterAnswer(r, true).reason, 'approved');
  assert.equal(afterAnswer(r, false).reason, 'not_approved');
});

test('messages name detectors and counts, quote file names, and never carry content', () => {
  const r = decide(text({ channel: 'file', name: 'a\u001b[2Jb.docx', form: 'extracted', scan: { status: 'complete', findings: [key] } }), DEFAULT_GATES_POLICY);
  assert.match(r.message, /aws_access_key_id ×2/);
  assert.ok(!r.message.includes('\u001b'), 'control characters in a name are escaped');
});

test('matchBlockedType: an extension must be a suffix of a longer name; MIME parameters are ignored', () => {
  assert.equal(matchBlockedType({ name: '.exe', contentType: '' }, ['.exe']), null);
  assert.equal(matchBlockedType({ name: 'a.tar.gz', contentType: '' }, ['.gz']), '.gz');
  assert.equal(matchBlockedType({ contentType: 'text/html; charset=utf-8' }, ['text/html']), 'text/html');
  assert.equal(matchBlockedType({ contentType: 'text/plain' }, ['text/html', '.txt']), null);
  assert.equal(matchBlockedLabel([], ['x']), null);
});
