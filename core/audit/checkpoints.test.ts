import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadSigningKey, type SigningKey } from '../keys/signing-key.js';
import { AUDIT_FILE, FileAuditLog, HEAD_FILE } from './audit-log.js';
import { verifyAuditLog, verifyAuditLogWithCheckpoints } from './audit-verify.js';
import { CHECKPOINT_DIR, writeCheckpoint } from './checkpoints.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-checkpoints-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function key(): Promise<SigningKey> {
  const r = await loadSigningKey({ keyStore: null, keysDir: join(root, 'keys') });
  assert.ok(r.ok);
  return r.key;
}

function log(dir: string, n: number, word = 'event'): FileAuditLog {
  const l = new FileAuditLog({ dir, productVersion: 'test' });
  for (let i = 0; i < n; i++) l.record({ kind: 'test.event', ocsfClass: 'api_activity', activity: { id: 1, name: 'Create' }, outcome: 'success', message: `${word} ${i}` });
  return l;
}

/** The insider's cut: keep the first N lines and rewrite the head to match, so the head check alone passes. */
function cutTo(dir: string, n: number): void {
  const lines = readFileSync(join(dir, AUDIT_FILE), 'utf8').split('\n').slice(0, n);
  writeFileSync(join(dir, AUDIT_FILE), lines.join('\n') + '\n');
  const last = JSON.parse(lines[n - 1] as string) as { seq: number; hash: string };
  writeFileSync(join(dir, HEAD_FILE), JSON.stringify({ seq: last.seq, hash: last.hash }) + '\n');
}

describe('audit checkpoints', () => {
  test('a log cut below its newest checkpoint, head rewritten to match, is caught and the last verified record named', async () => {
    const dir = join(root, 'cut');
    const l = log(dir, 30);
    const cp = writeCheckpoint(dir, await key(), l);
    assert.equal(cp?.seq, 30);
    log(dir, 10);
    assert.equal(writeCheckpoint(dir, await key(), l)?.seq, 41);
    assert.ok(verifyAuditLogWithCheckpoints(dir).ok);
    cutTo(dir, 20);
    assert.ok(verifyAuditLog(dir).ok, 'the chain and head alone cannot see this cut');
    const v = verifyAuditLogWithCheckpoints(dir);
    assert.equal(v.ok, false);
    assert.match(v.ok ? '' : v.reason, /log ends at seq 20 but a checkpoint .* vouches for seq 30: records 21\.\.30/);
    assert.equal(v.ok ? null : v.lastVerified?.seq, 20);
  });

  test('a rewritten history (a whole new chain) fails against the checkpoint; a forged checkpoint signature fails', async () => {
    const dir = join(root, 'rewrite');
    const l = log(dir, 12);
    writeCheckpoint(dir, await key(), l);
    const other = join(root, 'other');
    log(other, 20, 'forged');
    cpSync(join(other, AUDIT_FILE), join(dir, AUDIT_FILE));
    cpSync(join(other, HEAD_FILE), join(dir, HEAD_FILE));
    const v = verifyAuditLogWithCheckpoints(dir);
    assert.match(v.ok ? '' : v.reason, /record 12 differs .* rewritten/);

    const dir2 = join(root, 'forged-sig');
    const l2 = log(dir2, 5);
    writeCheckpoint(dir2, await key(), l2);
    const file = join(dir2, CHECKPOINT_DIR, '000000000005.json');
    const cp = JSON.parse(readFileSync(file, 'utf8')) as { seq: number };
    writeFileSync(file, JSON.stringify({ ...cp, time: '2001-01-01T00:00:00.000Z' }));
    assert.match((verifyAuditLogWithCheckpoints(dir2) as { reason?: string }).reason ?? '', /bad signature/);
  });

  test('no new records, no new checkpoint (its own record does not count)', async () => {
    const dir = join(root, 'idle');
    const l = log(dir, 3);
    assert.ok(writeCheckpoint(dir, await key(), l));
    assert.equal(writeCheckpoint(dir, await key(), l), null);
  });
});
