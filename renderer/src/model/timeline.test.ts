import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditRecordView } from '../../../core/api/cordon-api.js';
import { CappedLog, KIND_GROUPS, detectorCounts, filterByGroups, kindGroup, summarize, type KindGroup } from './timeline.js';

function rec(seq: number, kind: string, details: Record<string, unknown> = {}, time = seq * 1000): AuditRecordView {
  return { seq, time, kind, sessionId: 'ab12', outcome: 'success', severity: 'informational', message: `m${seq}`, details };
}

test('kinds map to groups by their first segment', () => {
  assert.equal(kindGroup('egress.would_deny'), 'egress');
  assert.equal(kindGroup('key.phantom_rejected'), 'keys');
  assert.equal(kindGroup('policy.reload_rejected'), 'policy');
  assert.equal(kindGroup('sessionx.start'), 'other');
  assert.equal(kindGroup(''), 'other');
});

test('filtering keeps only the chosen groups', () => {
  const records = [rec(1, 'session.start'), rec(2, 'egress.deny'), rec(3, 'dlp.findings'), rec(4, 'weird.kind')];
  const only = (...g: KindGroup[]) => filterByGroups(records, new Set(g)).map((r) => r.seq);
  assert.deepEqual(only('egress'), [2]);
  assert.deepEqual(only('session', 'dlp'), [1, 3]);
  assert.deepEqual(only(...KIND_GROUPS), [1, 2, 3, 4]);
  assert.deepEqual(only(), []);
});

test('egress rows show host, decision and rule as the proxy writes them', () => {
  const s = summarize(rec(1, 'egress.deny', { host: 'evil.example', port: 443, decision: 'deny', rule: { rule: 'deny_list', pattern: '*.example' } }));
  assert.deepEqual(s, { type: 'egress', host: 'evil.example:443', decision: 'deny', rule: 'deny_list *.example' });
  const a = summarize(rec(2, 'egress.deny', { host: '10.0.0.1', rule: { rule: 'address', category: 'private' } }));
  assert.deepEqual(a, { type: 'egress', host: '10.0.0.1', decision: 'deny', rule: 'address private' });
  assert.deepEqual(summarize(rec(3, 'egress.allow', { rule: null })), { type: 'egress', host: null, decision: null, rule: null });
});

test('DLP rows carry detector names and counts and nothing else', () => {
  const details = { findings: [{ detector: 'aws-key', category: 'credential', count: 2, action: 'redact', value: 'AKIASECRET' }, { detector: 'aws-key', count: 1 }, { detector: 'email', count: 3 }, { count: 9 }] };
  const s = summarize(rec(1, 'dlp.findings', details));
  assert.deepEqual(s, { type: 'dlp', detectors: [{ detector: 'aws-key', count: 3 }, { detector: 'email', count: 3 }] });
  assert.ok(!JSON.stringify(s).includes('AKIASECRET'));
  assert.deepEqual(detectorCounts('nope'), []);
});

test('the capped log keeps the newest records in seq order, without duplicates', () => {
  const log = new CappedLog(3);
  assert.equal(log.add([rec(1, 'a.b'), rec(2, 'a.b')]), true);
  assert.equal(log.add([rec(2, 'a.b')]), false);
  log.add([rec(4, 'a.b'), rec(3, 'a.b'), rec(5, 'a.b')]);
  assert.deepEqual(log.records.map((r) => r.seq), [3, 4, 5]);
  // A trimmed record may come back (a late overlap) without being lost from dedup forever.
  log.add([rec(6, 'a.b')]);
  assert.deepEqual(log.records.map((r) => r.seq), [4, 5, 6]);
  assert.throws(() => new CappedLog(0));
});

test('the capped log stays bounded under a large burst', () => {
  const log = new CappedLog(50_000);
  const burst = Array.from({ length: 120_000 }, (_, i) => rec(i, 'egress.allow'));
  log.add(burst);
  assert.equal(log.records.length, 50_000);
  assert.equal(log.records[0]?.seq, 70_000);
});
