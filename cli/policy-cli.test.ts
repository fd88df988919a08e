/**
 * `cordon policy show|set|sign|validate` through the real command (no Docker
 * needed): sources and locks like chrome://policy, refusal of a locked field
 * that names the managing source, and a signed bundle deployed as IT would.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
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
