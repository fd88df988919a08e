/**
 * WorkspaceChanges against a real temp folder and real chokidar events: the
 * "agent" creates, edits, deletes and renames files and folders; reverts
 * drop out; a planted link to a host file is listed but never read; `.git/`
 * is ignored; the baseline and the list respect their caps.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { waitUntil } from '../testing/wait-until.js';
import { WorkspaceChanges, type FileChange } from './workspace-changes.js';

const base = mkdtempSync(join(tmpdir(), 'cordon-changes-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

function workspace(files: Record<string, string>): string {
  const root = join(base, `ws${n++}`);
  mkdirSync(root);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}

const summary = (w: WorkspaceChanges): string[] =>
  w
    .list()
    .changes.map((c: FileChange) => `${c.change} ${c.path}`)
    .sort();

async function started(root: string, onChange?: () => void, limits = {}): Promise<WorkspaceChanges> {
  const w = new WorkspaceChanges({ roots: [root], limits, ...(onChange ? { onChange } : {}) });
  await w.start();
  return w;
}

test('create, modify, delete and rename files and a folder are listed; diffs go from and to empty', async (t) => {
  const root = workspace({ 'keep.txt': 'same\n', 'edit.md': '# A\none\n', 'gone.txt': 'bye\n', 'old-name.txt': 'moving\n', 'dir/inner.txt': 'in\n' });
  let calls = 0;
  const w = await started(root, () => calls++);
  t.after(() => w.close());
  writeFileSync(join(root, 'new.txt'), 'fresh\n');
  writeFileSync(join(root, 'edit.md'), '# A\ntwo\n');
  unlinkSync(join(root, 'gone.txt'));
  renameSync(join(root, 'old-name.txt'), join(root, 'new-name.txt'));
  renameSync(join(root, 'dir'), join(root, 'dir2'));
  mkdirSync(join(root, 'made'));
  writeFileSync(join(root, 'made', 'x.txt'), 'x\n');
  const want = ['created dir2/inner.txt', 'created made/x.txt', 'created new-name.txt', 'created new.txt', 'deleted dir/inner.txt', 'deleted gone.txt', 'deleted old-name.txt', 'modified edit.md'];
  await waitUntil('all changes', () => JSON.stringify(summary(w)) === JSON.stringify(want), 8000).catch(() => assert.deepEqual(summary(w), want));
  await waitUntil('onChange', () => calls > 0);
  const edit = w.list().changes.find((c) => c.path === 'edit.md');
  assert.equal(edit?.kind, 'markdown');
  assert.equal(edit?.size, 8);
  const d = await w.diff(root, 'edit.md');
  assert.ok(d.kind === 'diff');
  assert.deepEqual(d.diff.hunks[0]?.lines.map((l) => l.op + l.text), [' # A', '-one', '+two']);
  const created = await w.diff(root, 'new.txt');
  assert.ok(created.kind === 'diff' && created.diff.added === 1 && created.diff.removed === 0);
  const deleted = await w.diff(root, 'gone.txt');
  assert.ok(deleted.kind === 'diff' && deleted.diff.removed === 1 && deleted.diff.added === 0);
  assert.equal(w.list().overflow, 0);
});

test('a file changed back to its baseline content disappears; created then deleted disappears', async (t) => {
  const root = workspace({ 'a.txt': 'original\n' });
  const w = await started(root);
  t.after(() => w.close());
  writeFileSync(join(root, 'a.txt'), 'changed\n');
  writeFileSync(join(root, 'tmp.txt'), 'temp\n');
  await waitUntil('both listed', () => summary(w).length === 2);
  writeFileSync(join(root, 'a.txt'), 'original\n');
  unlinkSync(join(root, 'tmp.txt'));
  await waitUntil('both gone', () => summary(w).length === 0);
});

test('a link the agent plants to a host file is listed, but its diff is refused and nothing is read', async (t) => {
  const host = workspace({ 'id_ed25519': 'SECRET-HOST-KEY\n' });
  const root = workspace({ 'a.txt': 'a\n' });
  const w = await started(root);
  t.after(() => w.close());
  symlinkSync(join(host, 'id_ed25519'), join(root, 'key.txt'));
  await waitUntil('link listed', () => summary(w).includes('created key.txt'));
  const c = w.list().changes.find((x) => x.path === 'key.txt');
  assert.equal(c?.entry, 'symlink');
  assert.equal(c?.kind, 'unknown');
  assert.equal(c?.size, null);
  const d = await w.diff(root, 'key.txt');
  assert.ok(d.kind === 'refused' && d.reason === 'symlink', JSON.stringify(d));
  assert.ok(!JSON.stringify(d).includes('SECRET'));
  // A file that becomes a link to the host: modified, and still refused.
  unlinkSync(join(root, 'a.txt'));
  symlinkSync(join(host, 'id_ed25519'), join(root, 'a.txt'));
  await waitUntil('a.txt modified', () => summary(w).includes('modified a.txt'));
  const d2 = await w.diff(root, 'a.txt');
  assert.ok(d2.kind === 'refused' && d2.reason === 'symlink');
  // Not a watched root, and paths that leave the root, are refused.
  assert.equal((await w.diff(host, 'id_ed25519')).kind, 'refused');
  const up = await w.diff(root, '../' + host.split('/').at(-1) + '/id_ed25519');
  assert.ok(up.kind === 'refused' && up.reason === 'outside_workspace');
});

test('.git internals are ignored', async (t) => {
  const root = workspace({ '.git/HEAD': 'ref: refs/heads/main\n', 'src.txt': 's\n' });
  const w = await started(root);
  t.after(() => w.close());
  writeFileSync(join(root, '.git', 'HEAD'), 'ref: refs/heads/other\n');
  mkdirSync(join(root, '.git', 'objects'));
  writeFileSync(join(root, '.git', 'objects', 'ab'), 'blob');
  writeFileSync(join(root, 'src.txt'), 's2\n');
  await waitUntil('src listed', () => summary(w).includes('modified src.txt'));
  await new Promise((r) => setTimeout(r, 300)); // give a .git event time to (wrongly) land
  assert.deepEqual(summary(w), ['modified src.txt']);
});

test("Cordon's own read-only placeholders (the profile's write-protected paths) are not the agent's changes", async (t) => {
  const root = workspace({ 'src.txt': 's\n' });
  const w = new WorkspaceChanges({ roots: [root], readOnlyPaths: ['.bashrc', '.claude/', '.git/hooks/'] });
  await w.start();
  t.after(() => w.close());
  // What materializePlaceholders creates at launch, then a change of the agent's own.
  writeFileSync(join(root, '.bashrc'), '');
  mkdirSync(join(root, '.claude'));
  writeFileSync(join(root, '.claude', 'settings.json'), '{}');
  writeFileSync(join(root, '.bashrc.bak'), 'not protected');
  writeFileSync(join(root, 'src.txt'), 's2\n');
  await waitUntil('src listed', () => summary(w).includes('modified src.txt'));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(summary(w), ['created .bashrc.bak', 'modified src.txt']);
});

test('binary and oversized files: listed, diff says binary or no baseline', async (t) => {
  const root = workspace({ 'big.txt': 'x'.repeat(3000) + '\n' });
  writeFileSync(join(root, 'blob.bin'), Buffer.from([0, 1, 2]));
  const w = await started(root, undefined, { maxTextBytes: 1000 });
  t.after(() => w.close());
  writeFileSync(join(root, 'blob.bin'), Buffer.from([0, 1, 3]));
  writeFileSync(join(root, 'big.txt'), 'y'.repeat(3000) + '\n');
  await waitUntil('both modified', () => summary(w).length === 2);
  assert.equal(w.list().changes.find((c) => c.path === 'blob.bin')?.kind, 'binary');
  assert.deepEqual(await w.diff(root, 'blob.bin'), { kind: 'binary' });
  const big = await w.diff(root, 'big.txt');
  assert.ok(big.kind === 'no_baseline' && big.reason === 'too_large');
});

test('the baseline stops at its entry cap and says so; the list stops at its cap and counts the rest', async (t) => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 30; i++) files[`f${i}.txt`] = `${i}\n`;
  const root = workspace(files);
  const w = await started(root, undefined, { maxBaselineEntries: 10, maxListed: 5 });
  t.after(() => w.close());
  assert.deepEqual(w.list().incompleteBaselines, [root]);
  for (let i = 0; i < 12; i++) writeFileSync(join(root, `new${i}.txt`), 'n\n');
  await waitUntil('overflow', () => w.list().overflow === 7);
  assert.equal(w.list().changes.length, 5);
  // Unknown to an incomplete baseline: reported modified, and no diff is invented.
  assert.ok(w.list().changes.every((c) => c.change === 'modified'));
  const d = await w.diff(root, 'new0.txt');
  assert.ok(d.kind === 'no_baseline' && d.reason === 'not_walked');
});
