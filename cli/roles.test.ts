/**
 * The role's features, enforced by the CLI as by the app: set by managed
 * policy only, refused before anything starts (so no Docker Engine is needed
 * to see the refusal), through bin/cordon.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TestEnv } from './test-harness.js';

const env = new TestEnv('roles');
after(() => env.cleanup());

test('a role without exec or launch is refused with exit 125, naming the role and the file', async () => {
  const file = join(env.policyDir, 'managed', 'role.json');
  writeFileSync(file, JSON.stringify({ role: 'viewer', features: { viewer: { exec: false, launch: false } } }));
  const ws = env.workspace('ws');
  const exec = await env.run(['exec', '--workspace', ws, '--', 'true']);
  assert.equal(exec.code, 125, exec.stderr);
  assert.match(exec.stderr, /role "viewer"/);
  assert.ok(exec.stderr.includes(file), exec.stderr);
  const launch = await env.run(['launch', '--workspace', ws]);
  assert.equal(launch.code, 125, launch.stderr);
  assert.match(launch.stderr, /launch agent sessions/);
});

test('a role a user writes in their own settings grants nothing', async () => {
  writeFileSync(join(env.policyDir, 'managed', 'role.json'), JSON.stringify({ role: 'viewer', features: { viewer: { exec: false } } }));
  writeFileSync(join(env.cordonHome, 'policy.json'), JSON.stringify({ role: 'admin', features: { viewer: { exec: true } } }));
  const exec = await env.run(['exec', '--workspace', env.workspace('ws2'), '--', 'true']);
  assert.equal(exec.code, 125, exec.stderr);
  assert.match(exec.stderr, /role "viewer"/);
});

test('a role without changeSettings may not change the user settings; a locked field names its manager', async () => {
  const managed = join(env.policyDir, 'managed', 'role.json');
  writeFileSync(managed, JSON.stringify({ role: 'kiosk', features: { kiosk: { changeSettings: false } } }));
  const refused = await env.run(['policy', 'set', 'egress.mode', 'report']);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /role "kiosk" change settings/);
  writeFileSync(managed, JSON.stringify({ egress: { mode: 'enforce' } }));
  const locked = await env.run(['policy', 'set', 'egress.mode', 'report']);
  assert.equal(locked.code, 1, locked.stderr);
  assert.ok(locked.stderr.includes(`locked by mandatory managed policy (${managed})`), locked.stderr);
  const allowed = await env.run(['policy', 'set', 'keys.phantomTtlMinutes', '30']);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /keys\.phantomTtlMinutes = 30/);
});
