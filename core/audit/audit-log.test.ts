import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AuditEventInput } from './audit-event.js';
import { AUDIT_FILE, FileAuditLog, HEAD_FILE } from './audit-log.js';
import { verifyAuditLog } from './audit-verify.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cordon-audit-'));
  dirs.push(d);
  return d;
}
const ev = (i: number): AuditEventInput => ({
  kind: 'test.event',
  ocsfClass: 'process_activity',
  activity: { id: 1, name: 'Launch' },
  outcome: 'success',
  message: `event ${i}`,
  sessionId: 'abcdefabcdef',
  details: { i },
});
function writeLog(n: number): string {
  const dir = freshDir();
  const log = new FileAuditLog({ dir, productVersion: '0.0.0-test' });
  for (let i = 1; i <= n; i++) log.record(ev(i));
  return dir;
}
const lines = (dir: string): string[] => readFileSync(join(dir, AUDIT_FILE), 'utf8').trimEnd().split('\n');
const put = (dir: string, ls: string[]): void => writeFileSync(join(dir, AUDIT_FILE), ls.join('\n') + '\n');

test('records are OCSF-shaped and chained', () => {
  const dir = writeLog(3);
  const recs = lines(dir).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(recs.length, 3);
  assert.equal(recs[0]?.['class_uid'], 1007);
  assert.equal(recs[0]?.['class_name'], 'Process Activity');
  assert.equal(recs[0]?.['type_uid'], 100701);
  assert.equal(recs[0]?.['prev_hash'], '0'.repeat(64));
  assert.equal(recs[1]?.['prev_hash'], recs[0]?.['hash']);
  assert.equal(recs[2]?.['seq'], 3);
  assert.deepEqual(verifyAuditLog(dir), { ok: true, records: 3, lastHash: recs[2]?.['hash'] });
});

test('an edited record is named by its own line', () => {
  const dir = writeLog(5);
  const ls = lines(dir);
  ls[2] = (ls[2] as string).replace('event 3', 'event X');
  put(dir, ls);
  const r = verifyAuditLog(dir);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.line, 3);
    assert.match(r.reason, /edited/);
  }
});

test('a removed record is caught where the gap is', () => {
  const dir = writeLog(5);
  const ls = lines(dir);
  ls.splice(1, 1);
  put(dir, ls);
  const r = verifyAuditLog(dir);
  assert.ok(!r.ok && r.line === 2 && /missing/.test(r.reason), JSON.stringify(r));
});

test('reordered records are caught', () => {
  const dir = writeLog(5);
  const ls = lines(dir);
  [ls[1], ls[2]] = [ls[2] as string, ls[1] as string];
  put(dir, ls);
  const r = verifyAuditLog(dir);
  assert.ok(!r.ok && r.line === 2, JSON.stringify(r));
});

test('records cut from the end are caught through the head file', () => {
  const dir = writeLog(5);
  put(dir, lines(dir).slice(0, 3));
  const r = verifyAuditLog(dir);
  assert.ok(!r.ok && /removed from the end/.test(r.reason), JSON.stringify(r));
});

test('a recomputed hash does not hide an edit: the next record still points at the old one', () => {
  const dir = writeLog(3);
  const ls = lines(dir);
  const rec = JSON.parse(ls[0] as string) as Record<string, unknown>;
  rec['message'] = 'forged';
  delete rec['hash'];
  const body = JSON.stringify(rec);
  const { createHash } = require_crypto();
  const hash = createHash('sha256').update(body).digest('hex');
  ls[0] = `${body.slice(0, -1)},"hash":"${hash}"}`;
  put(dir, ls);
  const r = verifyAuditLog(dir);
  assert.ok(!r.ok && r.line === 2 && /chain broken/.test(r.reason), JSON.stringify(r));
});

test('a missing head file is reported', () => {
  const dir = writeLog(2);
  rmSync(join(dir, HEAD_FILE));
  assert.equal(verifyAuditLog(dir).ok, false);
});

test('a corrupt last record stops appends with a clear error instead of forking the chain', () => {
  const dir = writeLog(2);
  writeFileSync(join(dir, AUDIT_FILE), readFileSync(join(dir, AUDIT_FILE), 'utf8') + '{"broken\n');
  const log = new FileAuditLog({ dir, productVersion: 't' });
  assert.throws(() => log.record(ev(9)), /malformed record; run `cordon audit verify`/);
});

test('concurrent writers in separate processes keep one intact chain', async () => {
  const dir = freshDir();
  const mod = join(fileURLToPath(new URL('.', import.meta.url)), 'audit-log.js');
  const writer = `import { FileAuditLog } from ${JSON.stringify(mod)};
    const log = new FileAuditLog({ dir: process.argv[1], productVersion: 't' });
    for (let i = 0; i < 40; i++) log.record({ kind: 'w', ocsfClass: 'api_activity', activity: { id: 1, name: 'Create' }, outcome: 'success', message: 'w' + i });`;
  await Promise.all(
    [1, 2, 3, 4].map(
      () =>
        new Promise<void>((resolve, reject) => {
          const p = spawn(process.execPath, ['--input-type=module', '-e', writer, dir], { stdio: 'inherit' });
          p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${String(code)}`))));
        }),
    ),
  );
  const r = verifyAuditLog(dir);
  assert.deepEqual(r.ok && r.records, 160);
});

import { createRequire } from 'node:module';
function require_crypto(): typeof import('node:crypto') {
  return createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
}
