import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { materializePlaceholders, planMounts, removePlaceholders } from './mount-plan.js';
import type { MountRuleContext } from './mount-rules.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-plan-')));
after(() => rmSync(root, { recursive: true, force: true }));
const home = join(root, 'home');
mkdirSync(join(home, '.ssh'), { recursive: true });
writeFileSync(join(home, '.ssh', 'id_ed25519'), 'secret');
const ctx: MountRuleContext = { home, cordonHome: join(home, '.local/share/cordon'), policyDeny: [] };
const PROTECT = ['.git/hooks/', '.git/config', '.bashrc', '.claude/'];

function workspace(name: string): string {
  const ws = join(root, name);
  mkdirSync(ws, { recursive: true });
  return ws;
}

test('an existing protected file is mounted read-only and its folders become rename-proof anchors', () => {
  const ws = workspace('ws-existing');
  mkdirSync(join(ws, '.git', 'hooks'), { recursive: true });
  writeFileSync(join(ws, '.git', 'config'), '[core]');
  writeFileSync(join(ws, '.bashrc'), 'alias ll=ls');
  const plan = planMounts([{ path: ws, mode: 'rw' }], ctx, PROTECT);
  assert.ok(plan.ok);
  const byPath = new Map(plan.mounts.map((m) => [m.containerPath, m]));
  assert.deepEqual(byPath.get(ws), { hostPath: ws, containerPath: ws, readOnly: false, kind: 'workspace' });
  assert.equal(byPath.get(join(ws, '.git'))?.kind, 'anchor');
  assert.equal(byPath.get(join(ws, '.git'))?.readOnly, false);
  assert.equal(byPath.get(join(ws, '.git', 'hooks'))?.readOnly, true);
  assert.equal(byPath.get(join(ws, '.git', 'config'))?.readOnly, true);
  assert.equal(byPath.get(join(ws, '.bashrc'))?.readOnly, true);
  // .claude/ does not exist: a folder placeholder is planned for it.
  assert.deepEqual(plan.placeholders, [{ path: join(ws, '.claude'), type: 'dir' }]);
  // Parents are mounted before children.
  const order = plan.mounts.map((m) => m.containerPath);
  assert.ok(order.indexOf(join(ws, '.git')) < order.indexOf(join(ws, '.git', 'hooks')));
});

test('missing protected paths get placeholders that are removed afterwards only while empty', () => {
  const ws = workspace('ws-missing');
  const plan = planMounts([{ path: ws, mode: 'rw' }], ctx, PROTECT);
  assert.ok(plan.ok);
  assert.deepEqual(
    plan.placeholders.map((p) => [p.path.slice(ws.length + 1), p.type]),
    [
      ['.git', 'dir'],
      ['.git/hooks', 'dir'],
      ['.git/config', 'file'],
      ['.bashrc', 'file'],
      ['.claude', 'dir'],
    ],
  );
  const created = materializePlaceholders(plan.placeholders);
  assert.equal(created.length, 5);
  assert.ok(statSync(join(ws, '.git', 'hooks')).isDirectory());
  assert.equal(statSync(join(ws, '.bashrc')).size, 0);
  // A person edits one placeholder on the host during the session: it is kept.
  writeFileSync(join(ws, '.bashrc'), 'export EDITOR=vim\n');
  const res = removePlaceholders(created);
  assert.deepEqual(res.kept, [join(ws, '.bashrc')]);
  assert.ok(!existsSync(join(ws, '.git')));
  assert.ok(!existsSync(join(ws, '.claude')));
  assert.ok(existsSync(join(ws, '.bashrc')));
});

test('read-only workspaces need no protection mounts', () => {
  const ws = workspace('ws-ro');
  const plan = planMounts([{ path: ws, mode: 'ro' }], ctx, PROTECT);
  assert.ok(plan.ok);
  assert.equal(plan.mounts.length, 1);
  assert.equal(plan.mounts[0]?.readOnly, true);
  assert.equal(plan.placeholders.length, 0);
});

test('a symlink to a credential store is judged by where it points', () => {
  const link = join(root, 'innocent-looking');
  symlinkSync(join(home, '.ssh'), link);
  const plan = planMounts([{ path: link, mode: 'ro' }], ctx, PROTECT);
  assert.equal(plan.ok, false);
  if (!plan.ok) {
    assert.equal(plan.refusals[0]?.rule, 'credential_store');
    assert.match(plan.refusals[0]?.message ?? '', /resolves to .*\.ssh/);
  }
});

test('".." cannot climb into a denied area', () => {
  const ws = workspace('ws-dots');
  const plan = planMounts([{ path: `${ws}/../home/./.ssh/..`, mode: 'rw' }], ctx, PROTECT);
  assert.equal(plan.ok, false);
  if (!plan.ok) assert.equal(plan.refusals[0]?.rule, 'home_folder');
});

test('missing folders, files and "~" are refused with every reason listed', () => {
  writeFileSync(join(root, 'a-file'), 'x');
  const plan = planMounts(
    [
      { path: join(root, 'nope'), mode: 'rw' },
      { path: join(root, 'a-file'), mode: 'rw' },
      { path: '~', mode: 'ro' },
      { path: '~/.ssh', mode: 'ro' },
    ],
    ctx,
    PROTECT,
  );
  assert.equal(plan.ok, false);
  if (!plan.ok) assert.deepEqual(plan.refusals.map((r) => r.rule), ['missing', 'not_a_directory', 'home_folder', 'credential_store']);
});

test('a protected path that is a symlink is refused: a mount on it would land elsewhere', () => {
  const ws = workspace('ws-link');
  symlinkSync('/etc/hostname', join(ws, '.bashrc'));
  const plan = planMounts([{ path: ws, mode: 'rw' }], ctx, PROTECT);
  assert.equal(plan.ok, false);
  if (!plan.ok) assert.equal(plan.refusals[0]?.rule, 'protected_symlink');
});

test('a protected file with a second hard link is refused', () => {
  const ws = workspace('ws-hardlink');
  writeFileSync(join(ws, '.bashrc'), 'x');
  linkSync(join(ws, '.bashrc'), join(ws, 'innocent.txt'));
  const plan = planMounts([{ path: ws, mode: 'rw' }], ctx, PROTECT);
  assert.equal(plan.ok, false);
  if (!plan.ok) assert.equal(plan.refusals[0]?.rule, 'protected_hardlink');
});

test('a hook that is a symlink into the writable workspace protects its target too', () => {
  const ws = workspace('ws-hook-link');
  mkdirSync(join(ws, '.git', 'hooks'), { recursive: true });
  mkdirSync(join(ws, 'scripts'));
  writeFileSync(join(ws, 'scripts', 'pre-commit.sh'), '#!/bin/sh\n');
  symlinkSync('../../scripts/pre-commit.sh', join(ws, '.git', 'hooks', 'pre-commit'));
  const plan = planMounts([{ path: ws, mode: 'rw' }], ctx, PROTECT);
  assert.ok(plan.ok);
  const target = plan.mounts.find((m) => m.containerPath === join(ws, 'scripts', 'pre-commit.sh'));
  assert.equal(target?.readOnly, true);
  assert.equal(plan.mounts.find((m) => m.containerPath === join(ws, 'scripts'))?.kind, 'anchor');
});

test('a .git file (worktree pointer) is itself protected', () => {
  const ws = workspace('ws-worktree');
  writeFileSync(join(ws, '.git'), 'gitdir: /elsewhere/.git/worktrees/x\n');
  const plan = planMounts([{ path: ws, mode: 'rw' }], ctx, PROTECT);
  assert.ok(plan.ok);
  assert.equal(plan.mounts.find((m) => m.containerPath === join(ws, '.git'))?.readOnly, true);
  assert.ok(!plan.placeholders.some((p) => p.path.startsWith(join(ws, '.git'))));
});

test('the same folder twice keeps the stricter mode', () => {
  const ws = workspace('ws-twice');
  const plan = planMounts([{ path: ws, mode: 'rw' }, { path: ws, mode: 'ro' }], ctx, PROTECT);
  assert.ok(plan.ok);
  assert.equal(plan.workspaces.length, 1);
  assert.equal(plan.workspaces[0]?.mode, 'ro');
});
