import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintPhantomToken } from '../keys/phantom.js';
import { agentHome, writeHomeSeed } from './agent-home.js';

void test('Claude Code: first run done and exactly this session\'s phantom approved (last 20 characters, as Claude Code compares)', () => {
  const phantom = mintPhantomToken();
  const home = agentHome({ agent: 'claude-code' }, phantom);
  assert.equal(home.files.length, 1);
  const config = JSON.parse(home.files[0]?.content ?? '') as { hasCompletedOnboarding: boolean; customApiKeyResponses: { approved: string[]; rejected: string[] } };
  assert.equal(home.files[0]?.path, '.claude.json');
  assert.equal(config.hasCompletedOnboarding, true);
  assert.deepEqual(config.customApiKeyResponses, { approved: [phantom.slice(-20)], rejected: [] });
  assert.ok(!home.files[0]?.content.includes(phantom), 'the seed holds the suffix Claude Code compares, not the token');
  assert.equal(home.env['DISABLE_INSTALLATION_CHECKS'], '1');
  assert.deepEqual(agentHome({ agent: 'claude-code' }, null).files.length, 1, 'no provider: first run still done, nothing approved');
});

void test('a generic agent (or a profile that names none) gets no seed and no variables', () => {
  assert.deepEqual(agentHome({ agent: 'generic' }, mintPhantomToken()), { env: {}, files: [] });
  assert.deepEqual(agentHome({}, null), { env: {}, files: [] });
});

void test('writeHomeSeed writes readable files and refuses a path that leaves the home folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-seed-'));
  try {
    writeHomeSeed(join(dir, 'seed'), [{ path: '.claude.json', content: '{}\n' }, { path: '.config/tool/settings.json', content: 'x' }]);
    assert.equal(readFileSync(join(dir, 'seed', '.claude.json'), 'utf8'), '{}\n');
    assert.equal(statSync(join(dir, 'seed', '.claude.json')).mode & 0o777, 0o644);
    assert.equal(statSync(join(dir, 'seed')).mode & 0o777, 0o755);
    assert.equal(readFileSync(join(dir, 'seed', '.config/tool/settings.json'), 'utf8'), 'x');
    assert.throws(() => writeHomeSeed(join(dir, 'seed2'), [{ path: '../escape', content: 'x' }]), /inside the home folder/);
    assert.throws(() => writeHomeSeed(join(dir, 'seed3'), [{ path: '/etc/passwd', content: 'x' }]), /inside the home folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
