/**
 * The ask-mode asker with a fake queue: policy answers before anyone is
 * asked (nothing filed, one audit record by policy), and a neverAllow added
 * mid-session beats a grant the session already holds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { DEFAULT_POLICY, type EffectivePolicy } from '../policy/policy-schema.js';
import { egressApprovals, type NetworkApprovals } from './egress-approvals.js';

function setup(initial: Partial<EffectivePolicy['approvals']>) {
  const asked: string[] = [];
  const approvals: NetworkApprovals = {
    ask: (req) => {
      asked.push(req.target);
      return Promise.resolve({ status: 'allowed', answer: { decision: 'allow', scope: 'duration', until: new Date(Date.now() + 3_600_000).toISOString(), by: 'user' } });
    },
  };
  const audit = new MemoryAuditSink();
  const current = { approvals: { ...DEFAULT_POLICY.approvals, ...initial } };
  const asker = egressApprovals({
    approvals,
    sessionId: 's1',
    policy: () => current.approvals,
    sessionWorkspaces: ['/home/ada/proj'],
    home: '/home/ada',
    audit,
    allowAlways: () => ({ ok: true }),
    notify: () => undefined,
  });
  return { asked, audit, current, asker };
}

test('neverAllow refuses at once and pre-approval allows without a prompt; both audited as answered by policy', async () => {
  const { asked, audit, asker } = setup({ neverAllow: [{ kind: 'network', target: 'paste.test' }], preApproved: [{ kind: 'network', target: 'docs.test:8080', workspaces: ['~/proj'] }] });
  assert.equal(await asker({ host: 'paste.test', port: 443, address: '127.0.0.1' }), 'never_allow');
  assert.equal(await asker({ host: 'docs.test', port: 8080, address: '127.0.0.1' }), 'pre_approved');
  assert.deepEqual(asked, [], 'nothing was filed in the queue');
  const answers = audit.events.filter((e) => e.kind === 'approval.answer');
  assert.deepEqual(answers.map((e) => [e.details?.['target'], e.details?.['decision'], e.details?.['by']]), [['paste.test:443', 'deny', 'policy'], ['docs.test:8080', 'allow', 'policy']]);
  assert.match(answers[0]?.message ?? '', /approvals\.neverAllow "paste\.test"/);
  assert.match(answers[1]?.message ?? '', /approvals\.preApproved network "docs\.test:8080"/);
  assert.equal(await asker({ host: 'docs.test', port: 443, address: '127.0.0.1' }), 'duration', 'another port is asked as before');
  assert.deepEqual(asked, ['docs.test:443']);
});

test('policy is read on every question: a neverAllow added mid-session beats a grant already given', async () => {
  const { asked, current, asker } = setup({});
  assert.equal(await asker({ host: 'new.test', port: 443, address: null }), 'duration');
  assert.equal(await asker({ host: 'new.test', port: 443, address: null }), 'duration', 'the grant is remembered');
  assert.equal(asked.length, 1);
  current.approvals = { ...current.approvals, neverAllow: [{ kind: 'network', target: 'new.test' }] };
  assert.equal(await asker({ host: 'new.test', port: 443, address: null }), 'never_allow');
});
