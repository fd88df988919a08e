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

// MDM may create the managed folder only after a session started: with a
// pause before the policy lands (the watch has moved down by then), and all at
// once (the file lands before any watch on the new folder can exist).
for (const { name, title, pauseMs } of [
  { name: 'late-managed', title: 'a policy folder and managed folder created after watching began are noticed; a policy dropped in arrives', pauseMs: 300 },
  { name: 'late-managed-at-once', title: 'a managed folder created and filled at once after watching began is still seen', pauseMs: 0 },
]) {
  void test(title, async () => {
    const s = setup(name);
    const managed = join(s.paths.policyDir, 'managed');
    rmSync(pauseMs > 0 ? s.paths.policyDir : managed, { recursive: true, force: true });
    const stop = watchPolicy(s.paths, (c) => s.changes.push(c));
    try {
      await waitUntil('the initial reload', () => s.changes.length === 1, 3000);
      mkdirSync(managed, { recursive: true });
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      writeFileSync(join(managed, '10-it.json'), JSON.stringify({ egress: { allow: [`${name}.test`] } }));
      await waitUntil('the managed policy', () => allowOf(s.changes.at(-1))?.includes(`${name}.test`) === true, 3000);
    } finally {
      stop();
    }
  });
}

void test('a managed folder removed and created again is watched again', async () => {
  const s = setup('recreated-managed');
  const managed = join(s.paths.policyDir, 'managed');
  writeFileSync(join(managed, '10-it.json'), JSON.stringify({ egress: { allow: ['first.test'] } }));
  const stop = watchPolicy(s.paths, (c) => s.changes.push(c));
  try {
    await waitUntil('the initial reload', () => allowOf(s.changes.at(-1))?.includes('first.test') === true, 3000);
    rmSync(managed, { recursive: true });
    await waitUntil('the removal', () => allowOf(s.changes.at(-1))?.includes('first.test') === false, 3000);
    mkdirSync(managed);
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(join(managed, '20-it.json'), JSON.stringify({ egress: { allow: ['second.test'] } }));
    await waitUntil('the new managed policy', () => allowOf(s.changes.at(-1))?.includes('second.test') === true, 3000);
  } finally {
    stop();
  }
});
