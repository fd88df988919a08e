// watchPolicy against real files and real inotify watches.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveCordonPaths } from '../paths/cordon-paths.js';
import { waitUntil } from '../testing/wait-until.js';
import { watchPolicy, type PolicyChange } from './policy-watch.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-watch-'));
after(() => rmSync(root, { recursive: true, force: true }));

function setup(name: string): { paths: ReturnType<typeof resolveCordonPaths>; changes: PolicyChange[]; write: (allow: string[]) => void } {
  const home = join(root, name, 'home');
  const policyDir = join(root, name, 'policies');
  mkdirSync(home, { recursive: true });
  mkdirSync(join(policyDir, 'managed'), { recursive: true });
  const paths = resolveCordonPaths({ CORDON_HOME: home, CORDON_POLICY_DIR: policyDir, HOME: join(root, name) }, 'linux');
  const write = (allow: string[]): void => writeFileSync(paths.userPolicyFile, JSON.stringify({ egress: { allow } }));
  return { paths, changes: [], write };
}

const allowOf = (c: PolicyChange | undefined): readonly string[] | undefined => (c?.ok ? c.policy.egress.allow : undefined);

void test('a change made after the policy was loaded but before watching began still arrives', async () => {
  const s = setup('before');
  s.write(['a.test']); // what the session loaded at launch
  s.write(['b.test']); // IT tightened it while the sandbox was starting
  const stop = watchPolicy(s.paths, (c) => s.changes.push(c));
  try {
    await waitUntil('the initial reload', () => s.changes.length > 0, 3000);
    // The effective policy adds the built-in defaults to the user's entries.
    const allow = allowOf(s.changes.at(-1)) ?? [];
    assert.ok(allow.includes('b.test') && !allow.includes('a.test'), allow.join(', '));
  } finally {
    stop();
  }
});

void test('a change while watching arrives, debounced into one reload', async () => {
  const s = setup('during');
  s.write(['a.test']);
  const stop = watchPolicy(s.paths, (c) => s.changes.push(c));
  try {
    await waitUntil('the initial reload', () => s.changes.length === 1, 3000);
    // An editor's several writes in a row are one change.
    s.write(['c.test']);
    s.write(['c.test', 'd.test']);
    await waitUntil('the reload', () => s.changes.length === 2, 3000);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(s.changes.length, 2);
    const allow = allowOf(s.changes[1]) ?? [];
    assert.ok(allow.includes('c.test') && allow.includes('d.test'), allow.join(', '));
  } finally {
    stop();
  }
});

void test('an invalid file is reported as invalid, not applied', async () => {
  const s = setup('invalid');
  s.write(['a.test']);
  const stop = watchPolicy(s.paths, (c) => s.changes.push(c));
  try {
    await waitUntil('the initial reload', () => s.changes.length === 1, 3000);
    writeFileSync(s.paths.userPolicyFile, '{ "egress": { "allow": [');
    await waitUntil('the reload', () => s.changes.length === 2, 3000);
    assert.equal(s.changes[1]?.ok, false);
  } finally {
    stop();
  }
});
