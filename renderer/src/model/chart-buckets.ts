/**
 * Turns audit records into time buckets for the session charts: allowed vs
 * denied egress, and DLP findings by category.
 */
import type { AuditRecordView } from '../../../core/api/cordon-api.js';
import { categoryCounts, kindGroup } from './timeline.js';

export interface EgressBucket {
  /** Bucket start, ms since the epoch. */
  readonly start: number;
  allowed: number;
  denied: number;
}

export interface DlpBucket {
  readonly start: number;
  readonly byCategory: Map<string, number>;
}

/** 10 s buckets for the first ten minutes of activity, one-minute buckets beyond. */
export function chooseBucketMs(spanMs: number): number {
  return spanMs <= 10 * 60_000 ? 10_000 : 60_000;
}

/**
 * The last `maxBuckets` buckets of `bucketMs` ending with the one holding `now`,
 * every bucket present (zero when nothing happened) so the x axis is even.
 * `egress.allow` and `egress.would_deny` count as allowed (the request went
 * out), `egress.deny` as denied.
 */
export function egressBuckets(records: readonly AuditRecordView[], bucketMs: number, now: number, maxBuckets: number): EgressBucket[] {
  const { first, buckets } = frame(bucketMs, now, maxBuckets, (start): EgressBucket => ({ start, allowed: 0, denied: 0 }));
  for (const r of records) {
    if (kindGroup(r.kind) !== 'egress') continue;
    const b = buckets[Math.floor((r.time - first) / bucketMs)];
    if (b === undefined) continue;
    if (r.kind === 'egress.deny') b.denied++;
    else if (r.kind === 'egress.allow' || r.kind === 'egress.would_deny') b.allowed++;
  }
  return buckets;
}

export function dlpBuckets(records: readonly AuditRecordView[], bucketMs: number, now: number, maxBuckets: number): DlpBucket[] {
  const { first, buckets } = frame(bucketMs, now, maxBuckets, (start): DlpBucket => ({ start, byCategory: new Map() }));
  for (const r of records) {
    if (kindGroup(r.kind) !== 'dlp') continue;
    const b = buckets[Math.floor((r.time - first) / bucketMs)];
    if (b === undefined) continue;
    for (const [cat, n] of categoryCounts(r)) b.byCategory.set(cat, (b.byCategory.get(cat) ?? 0) + n);
  }
  return buckets;
}

function frame<B>(bucketMs: number, now: number, maxBuckets: number, make: (start: number) => B): { first: number; buckets: B[] } {
  if (bucketMs <= 0 || maxBuckets < 1) throw new RangeError('bucketMs and maxBuckets must be positive');
  const last = Math.floor(now / bucketMs) * bucketMs;
  const first = last - (maxBuckets - 1) * bucketMs;
  const buckets: B[] = [];
  for (let i = 0; i < maxBuckets; i++) buckets.push(make(first + i * bucketMs));
  return { first, buckets };
}
