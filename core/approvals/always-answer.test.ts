/**
 * "Always" (issue 17): which kinds may be answered so, refused where managed
 * policy locks the field it would write, and a file request's lasting grant
 * written to the user's own policy file, read back by the real loader.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveCordonPaths, type CordonPaths } from '../paths/cordon-paths.js';
import { loadPolicy, type PolicyOrigins } from '../policy/policy-loader.js';
import { addUserPreApproval } from '../policy/user-settings.js';
import { decideByPolicy } from './approval-policy.js';
import { alwaysRefusal } from './always-answer.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-always-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function setup(managed?: unknown): CordonPaths {
  const dir = join(root, String(n++));
  const paths = resolveCordonPaths({ CORDON_HOME: join(dir, 'home'), CORDON_POLICY_DIR: join(dir, 'pol'), HOME: dir }, 'linux');
  mkdirSync(paths.home, { recursive: true });
  mkdirSync(join(paths.policyDir, 'managed'), { recursive: true });
  if (managed !== undefined) writeFileSync(join(paths.policyDir, 'managed', 'it.json'), JSON.stringify(managed));
  return paths;
}

function provenance(paths: CordonPaths): PolicyOrigins {
  const res = loadPolicy(paths, { trustedKeys: [] });
  assert.ok(res.ok, JSON.stringify(res));
  if (!res.ok) throw new Error('unreachable');
  return res.provenance;
}

test('"always" is offered for network and file requests, never for clipboard or file transfers', () => {
  const p = provenance(setup());
  assert.equal(alwaysRefusal('network', p), null);
  assert.equal(alwaysRefusal('file', p), null);
  for (const k of ['clipboard', 'file-transfer'] as const) assert.match(alwaysRefusal(k, p) ?? '', /not available for .* requests/);
  assert.match(alwaysRefusal('file', null) ?? '', /policy cannot be read/);
});

test('a managed approvals.preApproved (or the whole section) locks "always" for files only', () => {
  const p = provenance(setup({ approvals: { preApproved: [] } }));
  assert.match(alwaysRefusal('file', p) ?? '', /approvals\.preApproved is locked by mandatory managed policy \(.*it\.json\)/);
  assert.equal(alwaysRefusal('network', p), null);
  const egressLocked = provenance(setup({ egress: { allow: [] } }));
  assert.equal(alwaysRefusal('file', egressLocked), null);
  assert.match(alwaysRefusal('network', egressLocked) ?? '', /egress\.allow is locked/);
});

test("a file answered always becomes a scoped pre-approval in the user's own file, which the loader then honours", () => {
  const paths = setup();
  writeFileSync(paths.userPolicyFile, JSON.stringify({ sandbox: { profile: 'strict' }, approvals: { preApproved: [{ kind: 'network', target: 'kept.test' }] } }));
  const entry = { kind: 'file' as const, target: '/data/reports', write: true, workspaces: ['/work/acme'] };
  const r = addUserPreApproval(paths.userPolicyFile, provenance(paths), entry);
  assert.equal(r.kind, 'allow', JSON.stringify(r));
  const doc = JSON.parse(readFileSync(paths.userPolicyFile, 'utf8')) as { sandbox: unknown; approvals: { preApproved: unknown[] } };
  assert.deepEqual(doc.sandbox, { profile: 'strict' }, 'other settings are kept');
  assert.deepEqual(doc.approvals.preApproved, [{ kind: 'network', target: 'kept.test' }, entry]);
  const before = readFileSync(paths.userPolicyFile, 'utf8');
  assert.equal(addUserPreApproval(paths.userPolicyFile, provenance(paths), { workspaces: ['/work/acme'], write: true, target: '/data/reports', kind: 'file' }).kind, 'allow');
  assert.equal(readFileSync(paths.userPolicyFile, 'utf8'), before, 'the same entry again writes nothing');
  const res = loadPolicy(paths, { trustedKeys: [] });
  assert.ok(res.ok);
  if (!res.ok) return;
  const req = { kind: 'file' as const, target: '/data/reports/q3.csv', write: true };
  assert.equal(decideByPolicy({ ...req, sessionWorkspaces: ['/work/acme'] }, res.policy.approvals, paths.userHome).kind, 'allow');
  assert.equal(decideByPolicy({ ...req, sessionWorkspaces: ['/work/other'] }, res.policy.approvals, paths.userHome).kind, 'ask', 'scoped to the session\'s workspaces');
});

test('refused with the lock message when managed policy sets approvals.preApproved; an invalid entry is not written', () => {
  const paths = setup({ approvals: { preApproved: [] } });
  const locked = addUserPreApproval(paths.userPolicyFile, provenance(paths), { kind: 'file', target: '/data' });
  assert.ok(locked.kind === 'deny' && locked.reason === 'locked' && /approvals\.preApproved is locked by mandatory managed policy/.test(locked.message), JSON.stringify(locked));
  const open = setup();
  const invalid = addUserPreApproval(open.userPolicyFile, provenance(open), { kind: 'file', target: '/' });
  assert.ok(invalid.kind === 'deny' && invalid.reason === 'invalid' && /every file on the host/.test(invalid.message), JSON.stringify(invalid));
  assert.throws(() => readFileSync(open.userPolicyFile), /ENOENT/);
});
