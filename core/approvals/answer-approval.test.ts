/**
 * The one answer function behind `cordon approvals` and the app's prompt:
 * "always" is refused up front (locked `egress.allow`, a role without
 * changeSettings, a kind with no lasting grant) and the request stays pending.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import type { PolicyLoadResult } from '../policy/policy-loader.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import type { RoleFeatures } from '../policy/role-features.js';
import { answerApproval, type AnswerContext } from './answer-approval.js';
import { ApprovalStore, type ApprovalKind } from './approval-store.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-answer-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const ROLE_ALL: RoleFeatures = { role: 'default', features: { launch: true, exec: true, changeSettings: true }, roleSource: null };
const ROLE_LOCKED: RoleFeatures = { role: 'kiosk', features: { launch: true, exec: true, changeSettings: false }, roleSource: '/etc/cordon/managed/role.json' };

/** A loaded policy whose only interesting part is which fields managed policy locks. */
function policy(locked: readonly string[]): PolicyLoadResult {
  const lock = new Map(locked.map((p) => [p, { kind: 'managed' as const, file: '/etc/cordon/managed/lock.json' }]));
  return { ok: true, policy: {} as EffectivePolicy, sources: [], provenance: { origins: new Map(lock), locked: lock } };
}

/** A store with one pending request of KIND (its asker waits in the background until the store closes). */
function pending(kind: ApprovalKind, write = false): { store: ApprovalStore; id: string; asked: Promise<unknown> } {
  const store = new ApprovalStore(join(root, `q${n++}`), { timeoutSeconds: 30, audit: new MemoryAuditSink() });
  const asked = store.ask({ session: 'aaaabbbbcccc', kind, target: kind === 'network' ? 'docs.example:443' : '/home/u/notes', write });
  const id = store.list()[0]?.id ?? '';
  assert.match(id, /^[0-9a-f]{16}$/);
  return { store, id, asked };
}

const ctx = (locked: readonly string[] = [], role = ROLE_ALL): AnswerContext => ({ policy: policy(locked), role });

test('"always" on a network request with nothing locked is recorded', async () => {
  const { store, id, asked } = pending('network');
  const r = answerApproval(store, id, { decision: 'allow', scope: 'always' }, ctx());
  assert.equal(r.kind, 'allow');
  assert.equal(store.get(id)?.answer?.scope, 'always');
  assert.equal(((await asked) as { status: string }).status, 'allowed');
});

test('"always" is refused where managed policy locks egress.allow, and the request stays pending for another answer', async () => {
  const { store, id, asked } = pending('network');
  const r = answerApproval(store, id, { decision: 'allow', scope: 'always' }, ctx(['egress.allow']));
  assert.equal(r.kind, 'deny');
  assert.equal(r.kind === 'deny' && r.reason, 'always_refused');
  assert.match(r.kind === 'deny' ? r.message : '', /egress\.allow is locked by mandatory managed policy \(\/etc\/cordon\/managed\/lock\.json\)/);
  assert.equal(store.get(id)?.status, 'pending');
  assert.equal(answerApproval(store, id, { decision: 'allow', scope: 'once' }, ctx(['egress.allow'])).kind, 'allow');
  await asked;
});

test('"always" is refused to a role that may not change settings, for a kind with no lasting grant, and when policy is unreadable', async () => {
  const net = pending('network');
  const role = answerApproval(net.store, net.id, { decision: 'allow', scope: 'always' }, ctx([], ROLE_LOCKED));
  assert.match(role.kind === 'deny' ? role.message : '', /role "kiosk" change settings/);
  const broken = answerApproval(net.store, net.id, { decision: 'allow', scope: 'always' }, { policy: { ok: false, issues: [] }, role: ROLE_ALL });
  assert.match(broken.kind === 'deny' ? broken.message : '', /policy cannot be read/);
  const file = pending('clipboard');
  const r = answerApproval(file.store, file.id, { decision: 'allow', scope: 'always' }, ctx());
  assert.match(r.kind === 'deny' ? r.message : '', /not available for clipboard requests/);
  // A deny is never refused on policy grounds.
  assert.equal(answerApproval(net.store, net.id, { decision: 'deny' }, ctx(['egress.allow'], ROLE_LOCKED)).kind, 'allow');
  assert.equal(answerApproval(file.store, file.id, { decision: 'deny' }, ctx()).kind, 'allow');
  await Promise.all([net.asked, file.asked]);
});

test('a settled or unknown request gets the store\'s refusal, not the "always" one', async () => {
  const { store, id, asked } = pending('file');
  assert.equal(answerApproval(store, id, { decision: 'deny' }, ctx()).kind, 'allow');
  const again = answerApproval(store, id, { decision: 'allow', scope: 'always' }, ctx());
  assert.equal(again.kind === 'deny' && again.reason, 'already_settled');
  const unknown = answerApproval(store, '0000000000000000', { decision: 'allow', scope: 'always' }, ctx());
  assert.equal(unknown.kind === 'deny' && unknown.reason, 'unknown_request');
  await asked;
});
