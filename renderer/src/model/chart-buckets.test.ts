import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditRecordView } from '../../../core/api/cordon-api.js';
import { chooseBucketMs, dlpBuckets, egressBuckets } from './chart-buckets.js';

function rec(kind: string, time: number, details: Record<string, unknown> = {}): AuditRecordView {
  return { seq: time, time, kind, sessionId: null, outcome: 'success', severity: 'low', message: '', details };
}

test('egress records land in the bucket of their time; other kinds are ignored', () => {
  const now = 100_000; // buckets of 10 s: last starts at 100_000, first at 70_000
  const b = egressBuckets(
    [rec('egress.allow', 70_000), rec('egress.deny', 79_999), rec('egress.would_deny', 95_000), rec('egress.deny', 100_500), rec('session.start', 95_000), rec('egress.allow', 10_000)],
    10_000,
    now,
    4,
  );
  assert.deepEqual(b.map((x) => x.start), [70_000, 80_000, 90_000, 100_000]);
  assert.deepEqual(b.map((x) => [x.allowed, x.denied]), [[1, 1], [0, 0], [1, 0], [0, 1]]);
});

test('DLP findings are summed per category per bucket', () => {
  const b = dlpBuckets(
    [
      rec('dlp.findings', 5_000, { findings: [{ detector: 'aws', category: 'credential', count: 2 }, { detector: 'mail', category: 'pii', count: 1 }] }),
      rec('dlp.block', 6_000, { findings: [{ detector: 'gh', category: 'credential', count: 1 }] }),
      rec('egress.deny', 6_000, { findings: [{ category: 'credential', count: 50 }] }),
    ],
    10_000,
    9_000,
    1,
  );
  assert.deepEqual([...(b[0]?.byCategory ?? [])], [['credential', 3], ['pii', 1]]);
});

test('bucket size follows the span', () => {
  assert.equal(chooseBucketMs(60_000), 10_000);
  assert.equal(chooseBucketMs(3_600_000), 60_000);
  assert.throws(() => egressBuckets([], 0, 0, 1));
});
