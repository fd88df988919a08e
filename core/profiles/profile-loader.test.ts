import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { profileJsonSchema } from './profile-json-schema.js';
import { BUILTIN_PROFILE_DIR, listProfiles, loadProfile, parseProfile } from './profile-loader.js';

const userDir = mkdtempSync(join(tmpdir(), 'cordon-profiles-'));
after(() => rmSync(userDir, { recursive: true, force: true }));

test('built-in profiles are valid: standard on runc, strict on gVisor, vm in a microVM', () => {
  const std = loadProfile('standard', userDir);
  const strict = loadProfile('strict', userDir);
  const vm = loadProfile('vm', userDir);
  assert.ok(std.ok && strict.ok && vm.ok);
  if (std.ok && strict.ok && vm.ok) {
    assert.equal(std.value.profile.runtime, 'runc');
    assert.equal(strict.value.profile.runtime, 'runsc');
    assert.equal(vm.value.profile.runtime, 'microvm');
    // The same write protection as the container tiers.
    assert.deepEqual(vm.value.profile.writeProtected, std.value.profile.writeProtected);
    for (const p of ['.git/hooks/', '.git/config', '.bashrc', '.zshrc', '.profile', '.mcp.json', '.claude/', '.vscode/', '.cursor/', '.idea/']) {
      assert.ok(std.value.profile.writeProtected.includes(p), `standard protects ${p}`);
    }
    assert.equal(std.value.profile.env['CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC'], '1');
    assert.equal(std.value.profile.env['DISABLE_AUTOUPDATER'], '1');
  }
  assert.deepEqual(listProfiles(userDir).sort(), ['standard', 'strict', 'vm']);
});

test('a malformed profile is rejected with the field path and reason', () => {
  const good = JSON.parse(readFileSync(join(BUILTIN_PROFILE_DIR, 'standard.json'), 'utf8')) as Record<string, unknown>;
  const bad = { ...good, runtime: 'kata', user: '0:0', limits: { memoryMiB: 10, cpus: 1, pids: 64, tmpfsMiB: 8 }, extra: true };
  const res = parseProfile('bad.json', JSON.stringify(bad));
  assert.equal(res.ok, false);
  if (!res.ok) {
    const paths = res.issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['(root)', 'limits.memoryMiB', 'runtime', 'user']);
    assert.match(res.issues.find((i) => i.path === '(root)')?.message ?? '', /unknown key "extra"/);
  }
  const notJson = parseProfile('x.json', '{');
  assert.ok(!notJson.ok && /not valid JSON/.test(notJson.issues[0]?.message ?? ''));
});

test('protected paths may not escape the workspace', () => {
  const good = JSON.parse(readFileSync(join(BUILTIN_PROFILE_DIR, 'standard.json'), 'utf8')) as Record<string, unknown>;
  for (const p of ['/etc/passwd', '../x', 'a/../../b', './x']) {
    const res = parseProfile('p.json', JSON.stringify({ ...good, writeProtected: [p] }));
    assert.equal(res.ok, false, p);
  }
});

test('a user profile of the same name wins, unknown names list what exists', () => {
  const good = JSON.parse(readFileSync(join(BUILTIN_PROFILE_DIR, 'standard.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(userDir, 'standard.json'), JSON.stringify({ ...good, description: 'mine' }));
  const res = loadProfile('standard', userDir);
  assert.ok(res.ok && res.value.profile.description === 'mine');
  const missing = loadProfile('nope', userDir);
  assert.ok(!missing.ok && /known: .*standard/.test(missing.issues[0]?.message ?? ''));
  rmSync(join(userDir, 'standard.json'));
});

test('the committed profile JSON Schema matches the zod schema (run `npm run gen:schemas`)', () => {
  const committed = JSON.parse(readFileSync(join(BUILTIN_PROFILE_DIR, 'profile.schema.json'), 'utf8')) as unknown;
  assert.deepEqual(committed, profileJsonSchema());
});
