/**
 * Issue 18: the `gates` section merges like the rest of the policy: scalars
 * from the highest source (locked when managed), block lists joined so no
 * source can unblock what another blocks, documented defaults when unset.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveCordonPaths } from '../paths/cordon-paths.js';
import { loadPolicy } from './policy-loader.js';
import { DEFAULT_POLICY, PolicySchema } from './policy-schema.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-gates-policy-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function load(docs: { user?: unknown; recommended?: unknown; managed?: unknown }): ReturnType<typeof loadPolicy> {
  const dir = join(root, String(n++));
  const paths = resolveCordonPaths({ CORDON_HOME: join(dir, 'home'), CORDON_POLICY_DIR: join(dir, 'pol'), HOME: dir }, 'linux');
  mkdirSync(paths.home, { recursive: true });
  for (const level of ['managed', 'recommended', 'trust'] as const) mkdirSync(join(paths.policyDir, level), { recursive: true });
  if (docs.user !== undefined) writeFileSync(paths.userPolicyFile, JSON.stringify(docs.user));
  if (docs.recommended !== undefined) writeFileSync(join(paths.policyDir, 'recommended', 'r.json'), JSON.stringify(docs.recommended));
  if (docs.managed !== undefined) writeFileSync(join(paths.policyDir, 'managed', 'm.json'), JSON.stringify(docs.managed));
  return loadPolicy(paths, { trustedKeys: [] });
}

test('defaults: scan in, redact out, 1 MiB clipboard at 60 a minute, 64 MiB files, nothing blocked by type or label', () => {
  const r = load({});
  assert.ok(r.ok);
  assert.deepEqual(r.policy.gates, DEFAULT_POLICY.gates);
  assert.deepEqual(r.policy.gates, {
    clipboard: { toSandbox: 'scan', fromSandbox: 'redact', maxBytes: 1048576, ratePerMinute: 60 },
    dragDrop: { toSandbox: 'scan', fromSandbox: 'redact', maxBytes: 67108864, blockTypes: [], blockLabels: [] },
  });
});

test('managed beats user for each scalar and locks it; unset fields keep lower values', () => {
  const r = load({
    user: { gates: { clipboard: { toSandbox: 'allow', maxBytes: 4096 }, dragDrop: { fromSandbox: 'allow' } } },
    managed: { gates: { clipboard: { toSandbox: 'deny', ratePerMinute: 5 } } },
  });
  assert.ok(r.ok);
  assert.equal(r.policy.gates.clipboard.toSandbox, 'deny');
  assert.equal(r.policy.gates.clipboard.maxBytes, 4096, 'the user set it and nothing above did');
  assert.equal(r.policy.gates.clipboard.ratePerMinute, 5);
  assert.equal(r.policy.gates.dragDrop.fromSandbox, 'allow');
  assert.equal(r.provenance.locked.get('gates.clipboard.toSandbox')?.kind, 'managed');
  assert.equal(r.provenance.locked.has('gates.dragDrop.fromSandbox'), false);
});

test('block lists are joined across sources: a user cannot unblock what IT blocks', () => {
  const r = load({
    user: { gates: { dragDrop: { blockTypes: [], blockLabels: ['Personal'] } } },
    recommended: { gates: { dragDrop: { blockTypes: ['.EXE'] } } },
    managed: { gates: { dragDrop: { blockLabels: ['Confidential'], blockTypes: ['application/zip'] } } },
  });
  assert.ok(r.ok);
  assert.deepEqual([...r.policy.gates.dragDrop.blockTypes].sort(), ['.exe', 'application/zip']);
  assert.deepEqual([...r.policy.gates.dragDrop.blockLabels].sort(), ['Confidential', 'Personal']);
});

test('the schema keeps the staged keys and refuses unknown ones and bad values with their path', () => {
  assert.ok(PolicySchema.safeParse({ gates: { clipboard: { toSandbox: 'scan', fromSandbox: 'redact', maxBytes: 10 }, dragDrop: { toSandbox: 'ask', fromSandbox: 'deny' } } }).success);
  for (const bad of [
    { gates: { paste: {} } },
    { gates: { clipboard: { toSandbox: 'tokenize' } } },
    { gates: { clipboard: { ratePerMinute: 0 } } },
    { gates: { dragDrop: { blockTypes: ['exe'] } } },
    { gates: { dragDrop: { maxBytes: 2 * 1024 * 1024 * 1024 } } },
  ]) {
    assert.equal(PolicySchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
  const r = load({ user: { gates: { dragDrop: { blockTypes: ['exe'] } } } });
  assert.ok(!r.ok);
  assert.match(r.issues.map((i) => i.path).join(' '), /gates\.dragDrop\.blockTypes\[0\]/);
});
