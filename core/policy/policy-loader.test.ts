import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveCordonPaths } from '../paths/cordon-paths.js';
import { loadPolicy, parsePolicyText } from './policy-loader.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-policy-'));
after(() => rmSync(root, { recursive: true, force: true }));

function setup(name: string, user: unknown, managed: Record<string, unknown>): ReturnType<typeof resolveCordonPaths> {
  const home = join(root, name, 'home');
  const pol = join(root, name, 'policies');
  mkdirSync(home, { recursive: true });
  mkdirSync(join(pol, 'managed'), { recursive: true });
  if (user !== undefined) writeFileSync(join(home, 'policy.json'), JSON.stringify(user));
  for (const [f, v] of Object.entries(managed)) writeFileSync(join(pol, 'managed', f), typeof v === 'string' ? v : JSON.stringify(v));
  return resolveCordonPaths({ CORDON_HOME: home, CORDON_POLICY_DIR: pol, HOME: join(root, name) }, 'linux');
}

test('no files at all gives the built-in defaults', () => {
  const res = loadPolicy(setup('empty', undefined, {}));
  assert.ok(res.ok);
  if (res.ok) {
    assert.equal(res.policy.sandbox.profile, 'standard');
    assert.equal(res.sources.length, 0);
  }
});

test('unknown keys are rejected with their path', () => {
  const res = parsePolicyText('p.json', JSON.stringify({ workspaces: { deny: ['/x'], writeProtect: ['.env'] }, sandbx: {} }));
  assert.equal(res.ok, false);
  if (!res.ok) {
    const byPath = Object.fromEntries(res.issues.map((i) => [i.path, i.message]));
    assert.match(byPath['workspaces'] ?? '', /unknown key "writeProtect"/);
    assert.match(byPath['(root)'] ?? '', /unknown key "sandbx"/);
  }
});

test('wrong types name the path and what was expected', () => {
  const res = parsePolicyText('p.json', JSON.stringify({ workspaces: { deny: ['/ok', 7] }, sandbox: { profile: 'Not Valid' } }));
  assert.ok(!res.ok);
  if (!res.ok) assert.deepEqual(res.issues.map((i) => i.path).sort(), ['sandbox.profile', 'workspaces.deny[1]']);
});

test('managed scalars beat user settings; deny and write-protect lists are unions', () => {
  const paths = setup(
    'merge',
    { sandbox: { profile: 'standard' }, workspaces: { deny: ['/user/deny'], writeProtected: ['.user'] } },
    { '10-it.json': { sandbox: { profile: 'strict' }, workspaces: { deny: ['/it/deny'], writeProtected: ['.it'] } } },
  );
  const res = loadPolicy(paths);
  assert.ok(res.ok);
  if (res.ok) {
    assert.equal(res.policy.sandbox.profile, 'strict');
    assert.deepEqual([...res.policy.workspaces.deny].sort(), ['/it/deny', '/user/deny']);
    assert.deepEqual([...res.policy.workspaces.writeProtected].sort(), ['.it', '.user']);
  }
});

test('a malformed managed file fails the whole load (no fallback to defaults)', () => {
  const res = loadPolicy(setup('broken', { sandbox: { profile: 'standard' } }, { 'a.json': '{"sandbox": ' }));
  assert.equal(res.ok, false);
  if (!res.ok) {
    assert.match(res.issues[0]?.source ?? '', /managed\/a\.json$/);
    assert.match(res.issues[0]?.message ?? '', /not valid JSON/);
  }
});
