/**
 * `cordon audit export` and `cordon audit verify` through bin/cordon (issue 20).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FileAuditLog } from '../core/audit/audit-log.js';
import { parseCefStrict } from '../core/testing/cef-strict-parser.js';
import { TestEnv } from './test-harness.js';

const t = new TestEnv('audit-cli');
after(() => t.cleanup());
const auditDir = join(t.cordonHome, 'audit');
const log = new FileAuditLog({ dir: auditDir, productVersion: 'test' });
function add(n: number): void {
  for (let i = 0; i < n; i++) log.record({ kind: 'test.event', ocsfClass: 'api_activity', activity: { id: 1, name: 'Create' }, outcome: 'success', message: `event ${i}` });
}

describe('cordon audit export', () => {
  test('--since and both formats; each record keeps OCSF class, seq and hash', async () => {
    add(5);
    const json = await t.run(['audit', 'export', '--since', '2']);
    assert.equal(json.code, 0, json.stderr);
    const recs = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string; class_uid: number });
    assert.deepEqual(recs.map((r) => r.seq), [3, 4, 5]);
    assert.ok(recs.every((r) => r.class_uid === 6003 && /^[0-9a-f]{64}$/.test(r.hash)));
    const sys = await t.run(['audit', 'export', '--format', 'syslog']);
    assert.equal(sys.code, 0, sys.stderr);
    const lines = sys.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    assert.match(lines[0] ?? '', /^<110>1 \S+ \S+ cordon - test\.event \[cordon@32473 seq="1" hash="[0-9a-f]{64}" class_uid="6003"\] \{/);
    const bad = await t.run(['audit', 'export', '--format', 'xml']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--format is ocsf-json, syslog, cef/);
  });

  test('--format cef: one CEF line a record, seq and hash kept; --follow refuses one-off options and a policy without destinations', async () => {
    const cef = await t.run(['audit', 'export', '--since', '3', '--format', 'cef']);
    assert.equal(cef.code, 0, cef.stderr);
    const lines = cef.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    const recs = lines.map(parseCefStrict);
    assert.deepEqual(recs.map((r) => r.ext.get('cn1')), ['4', '5']);
    assert.ok(recs.every((r) => r.signatureId === '600301' && r.name === 'test.event' && /^[0-9a-f]{64}$/.test(r.ext.get('cs2') ?? '')));
    const mixed = await t.run(['audit', 'export', '--follow', '--since', '1']);
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /--since and --format are for a one-off export/);
    const none = await t.run(['audit', 'export', '--follow']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no audit\.export destinations/);
  });
});

describe('cordon audit verify with checkpoints', () => {
  test('a cut end of the log with a rewritten head: exit 1, names the last verified record', async () => {
    const { loadSigningKey } = await import('../core/keys/signing-key.js');
    const { writeCheckpoint } = await import('../core/audit/checkpoints.js');
    const { readFileSync, writeFileSync } = await import('node:fs');
    add(10);
    const key = await loadSigningKey({ keyStore: null, keysDir: join(t.cordonHome, 'keys') });
    assert.ok(key.ok);
    assert.ok(writeCheckpoint(auditDir, key.key, log));
    add(3);
    const good = await t.run(['audit', 'verify']);
    assert.equal(good.code, 0, good.stdout);
    assert.match(good.stdout, /intact: .*signed checkpoint\(s\) match/);
    const file = join(auditDir, 'audit.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const keep = lines.slice(0, 8);
    writeFileSync(file, keep.join('\n') + '\n');
    const last = JSON.parse(keep[7] as string) as { seq: number; hash: string };
    writeFileSync(join(auditDir, 'audit.head'), JSON.stringify({ seq: last.seq, hash: last.hash }) + '\n');
    const bad = await t.run(['audit', 'verify']);
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stdout, /TAMPERED: .*log ends at seq 8 .*last verified record: seq 8 /);
  });
});
