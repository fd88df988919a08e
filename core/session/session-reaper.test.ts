/**
 * The orphan reaper against the in-memory engine: what a launcher killed
 * without cleaning up (SIGKILL, power loss) leaves behind is removed by the
 * next Cordon process, and a live launcher's session is never touched. The
 * Docker version is in cli/session-lifecycle.docker.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { FakeSandboxEngine } from '../testing/fake-sandbox-engine.js';
import { currentOwner, type OwnerProcess } from './owner-process.js';
import { hasOrphanRecords, reapOrphans } from './session-reaper.js';
import { LABELS } from './session-runner.js';
import { SessionStore, type SessionRecord } from './session-store.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-reaper-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A launcher that has exited: its pid is free (and reaped), so nothing answers for it. */
function deadOwner(): OwnerProcess {
  const child = spawnSync(process.execPath, ['-e', '']);
  assert.ok(child.pid);
  return { pid: child.pid, start: '' };
}

let n = 0;
/** A session folder with one empty placeholder in its workspace and, if CONTAINER, a running sandbox labelled as Cordon's. */
function leaveSession(engine: FakeSandboxEngine, store: SessionStore, owner: OwnerProcess, container: boolean): { id: string; placeholder: string; containerId: string | null } {
  const id = (0xabc000000000 + n++).toString(16);
  const ws = join(root, `ws-${id}`);
  mkdirSync(ws);
  const placeholder = join(ws, '.mcp.json');
  writeFileSync(placeholder, '');
  const sandbox = container
    ? engine.plant({ [LABELS.session]: id, [LABELS.ownerPid]: String(owner.pid), [LABELS.ownerStart]: owner.start, [LABELS.kind]: 'exec' }, `cordon-${id}`)
    : null;
  const rec: SessionRecord = {
    id,
    kind: 'exec',
    profile: 'standard',
    runtime: 'runc',
    owner,
    createdAt: new Date().toISOString(),
    containerId: sandbox?.id ?? null,
    workspaces: [{ path: ws, mode: 'rw' }],
    placeholders: [{ path: placeholder, type: 'file' }],
  };
  store.create(rec);
  return { id, placeholder, containerId: sandbox?.id ?? null };
}

test('a dead launcher\'s container, placeholders and folder are removed and audited; a live one\'s are kept', async () => {
  const engine = new FakeSandboxEngine();
  const store = new SessionStore(join(root, 'sessions-1'));
  const audit = new MemoryAuditSink();
  const dead = leaveSession(engine, store, deadOwner(), true);
  const live = leaveSession(engine, store, currentOwner(), true);
  // Not Cordon's: no session label, so never listed, never removed.
  const stranger = engine.plant({ 'com.example.app': 'web' });
  assert.equal(hasOrphanRecords(store), true);

  const reaped = await reapOrphans(engine, store, audit);

  assert.deepEqual(reaped, [dead.id]);
  assert.ok(dead.containerId && !engine.sandboxes.has(dead.containerId), 'the orphan container is gone');
  assert.ok(!existsSync(dead.placeholder), 'the orphan placeholder is gone');
  assert.ok(!existsSync(store.sessionDir(dead.id)), 'the orphan session folder is gone');
  assert.ok(live.containerId && engine.sandboxes.get(live.containerId)?.state === 'running', 'the live session keeps running');
  assert.ok(existsSync(live.placeholder));
  assert.ok(existsSync(store.sessionDir(live.id)));
  assert.ok(engine.sandboxes.has(stranger.id));
  assert.equal(hasOrphanRecords(store), false);
  const records = audit.events.filter((e) => e.kind === 'session.orphan_removed');
  assert.equal(records.length, 1, 'one record per orphan, not one per place it was found');
  assert.equal(records[0]?.sessionId, dead.id);
  assert.equal(records[0]?.details?.['container_id'], dead.containerId);
});

test('a dead launcher\'s folder whose container never got created is cleaned too', async () => {
  const engine = new FakeSandboxEngine();
  const store = new SessionStore(join(root, 'sessions-2'));
  const audit = new MemoryAuditSink();
  const dead = leaveSession(engine, store, deadOwner(), false);
  const reaped = await reapOrphans(engine, store, audit);
  assert.deepEqual(reaped, [dead.id]);
  assert.ok(!existsSync(dead.placeholder));
  assert.deepEqual(store.ids(), []);
  assert.equal(audit.events.find((e) => e.kind === 'session.orphan_removed')?.details?.['container_id'], null);
});

test('a live pid with another start time is a different process: its session is an orphan', async () => {
  const engine = new FakeSandboxEngine();
  const store = new SessionStore(join(root, 'sessions-3'));
  const audit = new MemoryAuditSink();
  const me = currentOwner();
  assert.notEqual(me.start, '', 'this test needs /proc');
  const reused = leaveSession(engine, store, { pid: me.pid, start: String(Number(me.start) + 1) }, true);
  assert.deepEqual(await reapOrphans(engine, store, audit), [reused.id]);
  assert.equal(engine.sandboxes.size, 0);
});

test('with the engine down the reaper fails loudly and removes nothing', async () => {
  const engine = new FakeSandboxEngine();
  const store = new SessionStore(join(root, 'sessions-4'));
  const audit = new MemoryAuditSink();
  const dead = leaveSession(engine, store, deadOwner(), true);
  engine.missing = 'engine';
  await assert.rejects(reapOrphans(engine, store, audit), { name: 'EngineUnavailableError' });
  assert.ok(existsSync(store.sessionDir(dead.id)), 'the record stays so a later run can still find the container');
  assert.ok(existsSync(dead.placeholder));
  assert.equal(audit.events.length, 0);
});
