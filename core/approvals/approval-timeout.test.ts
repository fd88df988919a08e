/**
 * The queue's timeout and rate limit come from the effective policy: a managed
 * approvals.maxRequestsPerMinute reaches a real store's rate limit; a broken
 * policy falls back to the defaults so a deny stays possible.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { resolveCordonPaths } from '../paths/cordon-paths.js';
import { loadPolicy } from '../policy/policy-loader.js';
import { ApprovalStore } from './approval-store.js';
import { approvalStoreSettings, approvalTimeoutSeconds } from './approval-timeout.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-approval-settings-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('managed approvals.maxRequestsPerMinute and timeoutSeconds reach the store; the user cannot raise them', async () => {
  const paths = resolveCordonPaths({ CORDON_HOME: join(root, 'home'), CORDON_POLICY_DIR: join(root, 'pol'), HOME: root }, 'linux');
  mkdirSync(join(paths.policyDir, 'managed'), { recursive: true });
  mkdirSync(paths.home, { recursive: true });
  writeFileSync(join(paths.policyDir, 'managed', 'it.json'), JSON.stringify({ approvals: { maxRequestsPerMinute: 2, timeoutSeconds: 5 } }));
  writeFileSync(paths.userPolicyFile, JSON.stringify({ approvals: { maxRequestsPerMinute: 600, timeoutSeconds: 3600 } }));
  const loaded = loadPolicy(paths, { trustedKeys: [] });
  assert.deepEqual(approvalStoreSettings(loaded), { timeoutSeconds: 5, maxPerMinutePerSession: 2 });
  assert.equal(approvalTimeoutSeconds(loaded), 5);
  const audit = new MemoryAuditSink();
  const store = new ApprovalStore(join(root, 'queue'), { ...approvalStoreSettings(loaded), audit });
  const ac = new AbortController();
  const asks = ['a.test:443', 'b.test:443', 'c.test:443'].map((target) => store.ask({ session: 's', kind: 'network', target }, ac.signal));
  const third = await asks[2];
  assert.equal(third?.answer?.by, 'rate_limit', 'the third request in a minute is over a limit of 2');
  ac.abort();
  await Promise.all(asks);
  store.close();
});

test('a policy that cannot be read gives the built-in 60 s and 20 a minute', () => {
  assert.deepEqual(approvalStoreSettings({ ok: false, issues: [{ source: 'x', path: '(root)', message: 'broken' }] }), { timeoutSeconds: 60, maxPerMinutePerSession: 20 });
});
