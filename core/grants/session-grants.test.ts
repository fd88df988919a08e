/**
 * Grants on the host side, with real mounts where this process may mount
 * (root on Linux, as in CI) and real copies otherwise: expiry, widening,
 * stable names, copy bounds, and that a session folder with a mount left
 * under it is never deleted (it would delete the user's files).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { SessionStore } from '../session/session-store.js';
import { COPY_LIMITS, mountsBelow, prepareGrantsFolder, releaseMountsBelow } from './grant-mounts.js';
import { SessionGrants } from './session-grants.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-grants-'));
const canMount = process.platform === 'linux' && process.getuid?.() === 0;
after(async () => {
  await releaseMountsBelow(root);
  rmSync(root, { recursive: true, force: true });
});

function source(name: string, files: Record<string, string> = { 'a.txt': 'A\n' }): string {
  const dir = join(root, 'src', name);
  mkdirSync(dir, { recursive: true });
  for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content);
  return dir;
}

const plan = (src: string, write = false) => ({ source: src, write, mounts: [], placeholders: [] });

test('a live grant is a read-only mount that goes away when it expires', { skip: canMount ? false : 'needs root on Linux to mount' }, async () => {
  const sessionDir = join(root, 's1');
  mkdirSync(sessionDir);
  const folder = await prepareGrantsFolder(sessionDir);
  assert.equal(folder.mechanism, 'live');
  const audit = new MemoryAuditSink();
  const grants = new SessionGrants({ sessionId: 's1', dir: folder.dir, stage: folder.stage, mechanism: 'live', writable: true, audit });
  const src = source('expiring');
  const g = await grants.add(plan(src), Date.now() + 300);
  assert.equal(g.sandboxPath, '/run/cordon/grants/expiring');
  assert.equal(readFileSync(join(folder.dir, 'expiring', 'a.txt'), 'utf8'), 'A\n');
  assert.throws(() => writeFileSync(join(folder.dir, 'expiring', 'b.txt'), 'x'), /EROFS/);
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(grants.find(src), null);
  assert.ok(!existsSync(join(folder.dir, 'expiring')));
  assert.deepEqual(mountsBelow(join(folder.dir, 'expiring')), []);
  assert.equal(readFileSync(join(src, 'a.txt'), 'utf8'), 'A\n', 'the source was touched');
  const revoke = audit.events.find((e) => e.kind === 'grant.revoke');
  assert.equal(revoke?.details?.['why'], 'expired');
  assert.deepEqual(await grants.close(), []);
  assert.deepEqual(mountsBelow(sessionDir), []);
});

test('asking again widens a grant (read-only to read-write) and keeps its path; write is refused where the sandbox cannot keep it safe', { skip: canMount ? false : 'needs root on Linux to mount' }, async () => {
  const sessionDir = join(root, 's2');
  mkdirSync(sessionDir);
  const folder = await prepareGrantsFolder(sessionDir);
  const grants = new SessionGrants({ sessionId: 's2', dir: folder.dir, stage: folder.stage, mechanism: folder.mechanism, writable: true, audit: new MemoryAuditSink() });
  const src = source('widen');
  const ro = await grants.add(plan(src), null);
  const rw = await grants.add(plan(src, true), null);
  assert.equal(ro.sandboxPath, rw.sandboxPath);
  assert.equal(rw.write, true);
  writeFileSync(join(folder.dir, 'widen', 'b.txt'), 'B');
  assert.equal(readFileSync(join(src, 'b.txt'), 'utf8'), 'B');
  // Same folder name from elsewhere: a different, stable path.
  const other = await grants.add(plan(source('x')), null);
  assert.equal(other.sandboxPath, '/run/cordon/grants/x');
  const clash = await grants.add(plan(source('widen2')), null);
  mkdirSync(join(root, 'elsewhere', 'widen'), { recursive: true });
  const clashName = await grants.add(plan(join(root, 'elsewhere', 'widen')), null);
  assert.equal(clash.sandboxPath, '/run/cordon/grants/widen2');
  assert.equal(clashName.sandboxPath, '/run/cordon/grants/widen-2');
  await grants.close();

  // gVisor: never writable.
  const sessionDir3 = join(root, 's3');
  mkdirSync(sessionDir3);
  const folder3 = await prepareGrantsFolder(sessionDir3);
  const gvisor = new SessionGrants({ sessionId: 's3', dir: folder3.dir, stage: folder3.stage, mechanism: folder3.mechanism, writable: false, audit: new MemoryAuditSink() });
  const g = await gvisor.add(plan(source('gv'), true), null);
  assert.equal(g.write, false);
  assert.throws(() => writeFileSync(join(folder3.dir, 'gv', 'c.txt'), 'x'), /EROFS/);
  await gvisor.close();
});

test('a copy grant is a snapshot, removed without touching the source; over the bounds it is refused', async () => {
  const dir = join(root, 's4', 'grants');
  mkdirSync(dir, { recursive: true });
  const grants = new SessionGrants({ sessionId: 's4', dir, stage: null, mechanism: 'copy', writable: true, audit: new MemoryAuditSink() });
  const src = source('copied', { 'x.txt': 'X' });
  const g = await grants.add(plan(src, true), null);
  assert.equal(g.mechanism, 'copy');
  assert.equal(g.write, false, 'a copy is never writable');
  assert.equal(readFileSync(join(dir, 'copied', 'x.txt'), 'utf8'), 'X');
  writeFileSync(join(src, 'x.txt'), 'changed');
  assert.equal(readFileSync(join(dir, 'copied', 'x.txt'), 'utf8'), 'X', 'a copy does not follow the source');
  await grants.revoke(src, 'user');
  assert.ok(!existsSync(join(dir, 'copied')));
  assert.equal(readFileSync(join(src, 'x.txt'), 'utf8'), 'changed');
  const big = source('big');
  for (let i = 0; i <= COPY_LIMITS.maxEntries / 1000; i++) {
    mkdirSync(join(big, `d${i}`));
    for (let j = 0; j < 1000; j++) writeFileSync(join(big, `d${i}`, `f${j}`), '');
  }
  await assert.rejects(grants.add(plan(big), null), /too large to copy/);
  assert.ok(!existsSync(join(dir, 'big')));
});

test('a session folder with a grant still mounted under it is not deleted', { skip: canMount ? false : 'needs root on Linux to mount' }, async () => {
  const store = new SessionStore(join(root, 'sessions'));
  const id = 'abcdefabcdef';
  store.create({ id, kind: 'exec', profile: 'standard', runtime: 'runc', owner: { pid: 1, start: 'x' }, createdAt: new Date().toISOString(), containerId: null, workspaces: [], placeholders: [] });
  const folder = await prepareGrantsFolder(store.sessionDir(id));
  const grants = new SessionGrants({ sessionId: id, dir: folder.dir, stage: folder.stage, mechanism: folder.mechanism, writable: true, audit: new MemoryAuditSink() });
  const precious = source('precious', { 'thesis.tex': 'years of work' });
  await grants.add(plan(precious, true), null);
  assert.equal(store.delete(id), false);
  assert.ok(existsSync(store.sessionDir(id)));
  assert.equal(readFileSync(join(precious, 'thesis.tex'), 'utf8'), 'years of work');
  await grants.close();
  assert.equal(store.delete(id), true);
  assert.equal(readFileSync(join(precious, 'thesis.tex'), 'utf8'), 'years of work');
});
