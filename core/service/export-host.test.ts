/**
 * ExportHost.serve (issue 20): a long-lived process delivers with no session,
 * and a policy change to `audit.export` moves delivery to the new
 * destinations (each from its own cursor); an invalid change keeps the last
 * good policy with one notice. Real log, real file destinations; the policy
 * watch is handed in, so the test fires it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileAuditLog } from '../audit/audit-log.js';
import { systemClock } from '../keys/clock.js';
import { MemoryKeyStore } from '../keys/key-store.js';
import { DEFAULT_POLICY, type EffectivePolicy } from '../policy/policy-schema.js';
import type { PolicyChange } from '../policy/policy-watch.js';
import { waitUntil } from '../testing/wait-until.js';
import { ExportHost } from './export-host.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-export-host-'));
after(() => rmSync(root, { recursive: true, force: true }));

const withFile = (name: string, path: string): EffectivePolicy => ({ ...DEFAULT_POLICY, audit: { export: { destinations: [{ type: 'file', name, path }], maxBacklogRecords: 1000 } } });
const seqs = (path: string): number[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq) : []);

test('serve: delivers with no session; a changed audit.export moves delivery; an invalid change keeps the last good one', async () => {
  const auditDir = join(root, 'audit');
  const log = new FileAuditLog({ dir: auditDir, productVersion: 'test' });
  const add = (n: number): void => {
    for (let i = 0; i < n; i++) log.record({ kind: 'test.event', ocsfClass: 'api_activity', activity: { id: 1, name: 'Create' }, outcome: 'success', message: `e${i}` });
  };
  const notices: string[] = [];
  const host = new ExportHost({ auditDir, home: root, audit: log, keyStore: () => new MemoryKeyStore(systemClock), version: 'test', notify: (m) => notices.push(m) });
  let fire: (c: PolicyChange) => void = () => undefined;
  let watching = false;
  const a = join(root, 'a.jsonl');
  const b = join(root, 'b.jsonl');
  add(5);
  const stop = host.serve(withFile('a', a), (onChange) => {
    fire = onChange;
    watching = true;
    return () => (watching = false);
  });
  try {
    await waitUntil('the first destination has every record', () => seqs(a).length === 5);
    // An unchanged reload (the watch's first look) restarts nothing.
    fire({ ok: true, policy: withFile('a', a) });
    add(2);
    await waitUntil('a gets records written later, no session anywhere', () => seqs(a).length === 7);
    fire({ ok: true, policy: withFile('b', b) });
    await waitUntil('b, from its own cursor, gets the whole log', () => seqs(b).length >= 7, 10_000);
    add(1);
    fire({ ok: false, issues: [] });
    await waitUntil('the last good policy still delivers', () => seqs(b).at(-1) === 8, 10_000);
    assert.deepEqual(seqs(a), [1, 2, 3, 4, 5, 6, 7], 'a no longer receives');
    assert.deepEqual(seqs(b), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(notices.filter((n) => /invalid/.test(n)).length, 1);
    // A session hosted meanwhile neither starts a second delivery nor ends this one when it ends.
    const c = join(root, 'c.jsonl');
    const release = host.hold(withFile('c', c));
    add(1);
    await release();
    add(1);
    await waitUntil('delivery outlives the session', () => seqs(b).at(-1) === 10, 10_000);
    assert.equal(existsSync(c), false, 'the session\'s own policy did not start another delivery');
  } finally {
    await stop();
  }
  assert.equal(watching, false, 'the policy watch stops with it');
  assert.equal(existsSync(join(auditDir, 'export', 'b.lease')), false, 'the lease is released');
});
