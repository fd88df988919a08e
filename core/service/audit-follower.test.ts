/**
 * The follower against real files: what a writer appends reaches subscribers,
 * and rotation, truncation, half-written lines and garbage neither lose nor
 * duplicate a record.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileAuditLog, AUDIT_FILE } from '../audit/audit-log.js';
import type { AuditRecordView } from '../api/cordon-api.js';
import { waitUntil } from '../testing/wait-until.js';
import { AuditFollower, auditRecordView } from './audit-follower.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-follow-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function setup(fromEnd: boolean): { dir: string; log: FileAuditLog; follower: AuditFollower; seen: AuditRecordView[] } {
  const dir = join(root, `a${n++}`);
  const log = new FileAuditLog({ dir, productVersion: 'test' });
  const follower = new AuditFollower({ auditDir: dir, fromEnd, pollMs: 50 });
  const seen: AuditRecordView[] = [];
  follower.subscribe((r) => seen.push(r));
  return { dir, log, follower, seen };
}

function record(log: FileAuditLog, kind: string, sessionId = 'abc123abc123'): void {
  log.record({ kind, ocsfClass: 'http_activity', activity: { id: 6, name: 'Traffic' }, outcome: 'failure', message: `${kind} happened`, sessionId, details: { host: 'example.test', rule: 'default_deny' } });
}

test('records appended after start arrive in order, with kind, session and details', async (t) => {
  const { log, follower, seen } = setup(true);
  record(log, 'before.start');
  follower.start();
  t.after(() => follower.close());
  record(log, 'egress.deny');
  record(log, 'egress.allow');
  await waitUntil('two records', () => seen.length >= 2);
  assert.deepEqual(seen.map((r) => r.kind), ['egress.deny', 'egress.allow']);
  const first = seen[0];
  assert.ok(first);
  assert.equal(first.sessionId, 'abc123abc123');
  assert.equal(first.outcome, 'failure');
  assert.equal(first.details['host'], 'example.test');
  assert.equal(first.details['rule'], 'default_deny');
  assert.equal('kind' in first.details, false, 'kind is lifted out of details');
  assert.equal(first.seq, 2);
});

test('from the start, the existing records are delivered too', async (t) => {
  const { log, follower, seen } = setup(false);
  record(log, 'one');
  record(log, 'two');
  follower.start();
  t.after(() => follower.close());
  await waitUntil('two records', () => seen.length >= 2);
  assert.deepEqual(seen.map((r) => r.kind), ['one', 'two']);
});

test('a rotated log: the rest of the old file, then the new one, nothing twice', async (t) => {
  const { dir, log, follower, seen } = setup(true);
  follower.start();
  t.after(() => follower.close());
  record(log, 'a');
  await waitUntil('a', () => seen.length === 1);
  // A writer appends to the old file just before it is renamed away, with no poll in between.
  follower.close();
  const f2 = new AuditFollower({ auditDir: dir, fromEnd: true, pollMs: 50 });
  const seen2: AuditRecordView[] = [];
  f2.subscribe((r) => seen2.push(r));
  f2.start();
  t.after(() => f2.close());
  appendFileSync(join(dir, AUDIT_FILE), JSON.stringify({ seq: 10, time: 1, status: 'Success', message: 'late', cordon: { kind: 'old.tail' } }) + '\n');
  renameSync(join(dir, AUDIT_FILE), join(dir, `${AUDIT_FILE}.1`));
  writeFileSync(join(dir, AUDIT_FILE), JSON.stringify({ seq: 1, time: 2, status: 'Success', message: 'new', cordon: { kind: 'new.head' } }) + '\n');
  f2.poll();
  await waitUntil('both', () => seen2.length >= 2);
  assert.deepEqual(seen2.map((r) => r.kind), ['old.tail', 'new.head']);
});

test('a truncated log is read again from the top', async (t) => {
  const { dir, follower, seen } = setup(true);
  const file = join(dir, AUDIT_FILE);
  writeFileSync(file, JSON.stringify({ seq: 1, time: 1, status: 'Success', message: 'x', cordon: { kind: 'first' } }) + '\n');
  follower.start();
  t.after(() => follower.close());
  truncateSync(file, 0);
  follower.poll();
  appendFileSync(file, JSON.stringify({ seq: 1, time: 2, status: 'Success', message: 'y', cordon: { kind: 'after.truncate' } }) + '\n');
  await waitUntil('after truncate', () => seen.length >= 1);
  assert.deepEqual(seen.map((r) => r.kind), ['after.truncate']);
});

test('a line is delivered only once its newline is written; garbage is skipped and counted', async (t) => {
  const { dir, follower, seen } = setup(true);
  const file = join(dir, AUDIT_FILE);
  writeFileSync(file, '');
  follower.start();
  t.after(() => follower.close());
  const line = JSON.stringify({ seq: 1, time: 1, status: 'Failure', severity: 'High', message: 'm', cordon: { kind: 'split', session_id: 'ffff' } });
  appendFileSync(file, line.slice(0, 20));
  follower.poll();
  assert.equal(seen.length, 0, 'half a line is not delivered');
  appendFileSync(file, line.slice(20) + '\nnot json\n{"seq":"x"}\n');
  follower.poll();
  await waitUntil('split line', () => seen.length >= 1);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.kind, 'split');
  assert.equal(seen[0]?.severity, 'high');
  assert.equal(follower.skippedLines, 2);
});

test('auditRecordView refuses lines that are not audit records', () => {
  assert.equal(auditRecordView('[]'), null);
  assert.equal(auditRecordView('{"seq":1,"time":1}'), null);
  assert.equal(auditRecordView('{"seq":1,"time":1,"cordon":{"kind":3}}'), null);
  assert.equal(auditRecordView('{"seq":1,"time":1,"cordon":{"kind":"k"}}')?.kind, 'k');
});
