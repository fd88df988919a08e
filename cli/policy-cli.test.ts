/**
 * `cordon policy show|set|sign|validate` through the real command (no Docker
 * needed): sources and locks like chrome://policy, refusal of a locked field
 * that names the managing source, and a signed bundle deployed as IT would.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateBundleKeyPair } from '../core/policy/signed-bundle.js';
import { TestEnv } from './test-harness.js';

const t = new TestEnv('policy-cli');
after(() => t.cleanup());

test('a user may change an unmanaged field; a managed one is locked, and the refusal names its source', async () => {
  writeFileSync(join(t.policyDir, 'managed', '10-it.json'), JSON.stringify({ egress: { mode: 'enforce', deny: ['pastebin.com'] } }));
  const ok = await t.run(['policy', 'set', 'sandbox.profile', 'strict']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(readFileSync(join(t.cordonHome, 'policy.json'), 'utf8')) as { sandbox: { profile: string } }).sandbox.profile, 'strict');
  const locked = await t.run(['policy', 'set', 'egress.mode', 'report']);
  assert.equal(locked.code, 1);
  assert.match(locked.stderr, /egress\.mode is locked by mandatory managed policy \(.*managed\/10-it\.json\)/);
  const whole = await t.run(['policy', 'set', 'egress', '{"mode":"report"}']);
  assert.equal(whole.code, 1, 'replacing a parent object must not sidestep a lock');
  const invalid = await t.run(['policy', 'set', 'sandbox.profile', 'Not A Name']);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /not changed: sandbox\.profile/);
});

test('policy show lists every value with its source and lock', async () => {
  const r = await t.run(['policy', 'show', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { values: Array<{ path: string; source: string; locked: boolean }>; sources: Array<{ kind: string }> };
  const by = new Map(out.values.map((v) => [v.path, v]));
  assert.deepEqual(by.get('egress.mode'), { ...by.get('egress.mode'), source: 'managed', locked: true });
  assert.deepEqual(by.get('sandbox.profile'), { ...by.get('sandbox.profile'), source: 'user', locked: false });
  assert.equal(by.get('keys.phantomTtlMinutes')?.source, 'default');
  assert.deepEqual(out.sources.map((s) => s.kind), ['user', 'managed']);
  const text = await t.run(['policy', 'show']);
  assert.match(text.stdout, /^egress\.mode\s+managed \(locked\)\s+"enforce"$/m);
});

test('policy show reports the approvals section with sources and locks; validate rejects a malformed one, saying what to fix', async () => {
  const managed = join(t.policyDir, 'managed', '20-approvals.json');
  writeFileSync(managed, JSON.stringify({ approvals: { neverAllow: [{ kind: 'network', target: 'pastebin.com' }], timeoutSeconds: 30 } }));
  writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify({ sandbox: { profile: 'strict' }, approvals: { preApproved: [{ kind: 'file', target: '~/shared', write: true }], timeoutSeconds: 3600 } }));
  try {
    const r = await t.run(['policy', 'show', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { policy: { approvals: unknown }; values: Array<{ path: string; source: string; locked: boolean; value: unknown }> };
    assert.deepEqual(out.policy.approvals, {
      fileAccess: 'ask',
      timeoutSeconds: 30,
      preApproved: [{ kind: 'file', target: '~/shared', write: true }],
      neverAllow: [{ kind: 'network', target: 'pastebin.com' }],
      maxRequestsPerMinute: 20,
    });
    const by = new Map(out.values.map((v) => [v.path, v]));
    assert.deepEqual(by.get('approvals.timeoutSeconds'), { ...by.get('approvals.timeoutSeconds'), source: 'managed', locked: true, value: 30 }, 'the user\'s 3600 does not win');
    assert.deepEqual(by.get('approvals.neverAllow'), { ...by.get('approvals.neverAllow'), source: 'managed', locked: true });
    assert.deepEqual(by.get('approvals.preApproved'), { ...by.get('approvals.preApproved'), source: 'user', locked: false });
    assert.deepEqual(by.get('approvals.maxRequestsPerMinute'), { ...by.get('approvals.maxRequestsPerMinute'), source: 'default', locked: false, value: 20 });
    assert.deepEqual(by.get('approvals.fileAccess'), { ...by.get('approvals.fileAccess'), source: 'default', value: 'ask' });
    const text = await t.run(['policy', 'show']);
    assert.match(text.stdout, /^approvals\.timeoutSeconds\s+managed \(locked\)\s+30$/m);
    assert.match(text.stdout, /^approvals\.preApproved\s+user\s+\[\{"kind":"file","target":"~\/shared","write":true\}\]$/m);
    const locked = await t.run(['policy', 'set', 'approvals.neverAllow', '[]']);
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /approvals\.neverAllow is locked by mandatory managed policy/);
  } finally {
    rmSync(managed, { force: true });
  }
  const bad = join(t.root, 'bad-approvals.json');
  writeFileSync(bad, JSON.stringify({ approvals: { fileAccess: 'sometimes', preApproved: [{ kind: 'file', target: 'projects/x' }, { kind: 'network', target: '*.com' }], neverAllow: [{ kind: 'file', target: '/' , write: false }], maxRequestsPerMinute: 'lots' } }));
  const v = await t.run(['policy', 'validate', bad]);
  assert.equal(v.code, 1, v.stdout);
  assert.match(v.stdout, /bad-approvals\.json: approvals\.fileAccess: /);
  assert.match(v.stdout, /approvals\.preApproved\[0\]\.target: "projects\/x" must be an absolute path or start with "~\/"/);
  assert.match(v.stdout, /approvals\.preApproved\[1\]\.target: "\*\.com" would allow every host under the top-level domain/);
  assert.match(v.stdout, /approvals\.neverAllow\[0\]: unknown key "write"/);
  assert.match(v.stdout, /approvals\.maxRequestsPerMinute: /);
  const good = join(t.root, 'good-approvals.json');
  writeFileSync(good, JSON.stringify({ approvals: { fileAccess: 'deny', preApproved: [{ kind: 'network', target: 'api.github.com', workspaces: ['~/src'] }], neverAllow: [{ kind: 'file', target: '/' }], maxRequestsPerMinute: 5 } }));
  const ok = await t.run(['policy', 'validate', good]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /good-approvals\.json: valid/);
});

test('IT signs a policy; with a trusted key only the verified bundle is accepted', async () => {
  const keys = generateBundleKeyPair();
  const keyFile = join(t.root, 'it-signing.pem');
  writeFileSync(keyFile, keys.privateKeyPem);
  const src = join(t.root, 'fleet.json');
  writeFileSync(src, JSON.stringify({ egress: { mode: 'enforce', allow: ['api.anthropic.com', 'github.com'] } }));
  const signed = await t.run(['policy', 'sign', '--key', keyFile, '--serial', '7', src]);
  assert.equal(signed.code, 0, signed.stderr);
  writeFileSync(join(t.policyDir, 'trust', 'it.pem'), keys.publicKeyPem);
  // The plain managed file from the first test is now refused: keys are trusted.
  const refused = await t.run(['policy', 'show']);
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /10-it\.json: \(root\): unsigned managed policy/);
  const exec = await t.run(['exec', '--', 'true']);
  assert.equal(exec.code, 125, 'a launch must not happen on a refused policy');
  writeFileSync(join(t.policyDir, 'managed', '10-it.json'), readFileSync(join(t.root, 'fleet.bundle.json')));
  writeFileSync(join(t.policyDir, 'managed', '10-it.json.sig'), readFileSync(join(t.root, 'fleet.bundle.json.sig')));
  const show = await t.run(['policy', 'show']);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`signed, key ${keys.keyId}, serial 7`));
  assert.match(show.stdout, /^egress\.allow\s+managed \(locked\)\s+\["api\.anthropic\.com","github\.com"\]$/m);
});
