/**
 * The session timeline's logic: which group an audit kind belongs to, what a
 * row shows, and a log that keeps only the newest records.
 *
 * Row text uses only fields core writes for display (core/egress/egress-audit.ts,
 * core/dlp/model-route-dlp.ts); DLP rows show detector names and counts, never
 * anything else a finding might carry.
 */
import type { AuditRecordView } from '../../../core/api/cordon-api.js';

export const KIND_GROUPS = ['session', 'mount', 'egress', 'dlp', 'policy', 'keys'] as const;
export type KindGroup = (typeof KIND_GROUPS)[number] | 'other';

/** The group of an audit kind by its first segment; `key.*` and `keys.*` are both keys. */
export function kindGroup(kind: string): KindGroup {
  const dot = kind.indexOf('.');
  const head = dot === -1 ? kind : kind.slice(0, dot);
  switch (head) {
    case 'session':
    case 'mount':
    case 'egress':
    case 'dlp':
    case 'policy':
    case 'keys':
      return head;
    case 'key':
      return 'keys';
    default:
      return 'other';
  }
}

/** Records whose group is in `shown`; `other` records show only when every group is shown. */
export function filterByGroups(records: readonly AuditRecordView[], shown: ReadonlySet<KindGroup>): AuditRecordView[] {
  const all = KIND_GROUPS.every((g) => shown.has(g));
  return records.filter((r) => {
    const g = kindGroup(r.kind);
    return g === 'other' ? all || shown.has('other') : shown.has(g);
  });
}

/** What one timeline row shows besides time and kind. */
export type RowSummary =
  | { readonly type: 'egress'; readonly host: string | null; readonly decision: string | null; readonly rule: string | null }
  | { readonly type: 'dlp'; readonly detectors: readonly { readonly detector: string; readonly count: number }[] }
  | { readonly type: 'message'; readonly text: string };

export function summarize(record: AuditRecordView): RowSummary {
  const g = kindGroup(record.kind);
  if (g === 'egress') {
    const d = record.details;
    const host = typeof d['host'] === 'string' ? d['host'] : null;
    const port = typeof d['port'] === 'number' ? d['port'] : null;
    return {
      type: 'egress',
      host: host === null ? null : port === null ? host : `${host}:${port}`,
      decision: typeof d['decision'] === 'string' ? d['decision'] : record.kind === 'egress.deny' ? 'deny' : null,
      rule: ruleText(d['rule']),
    };
  }
  if (g === 'dlp') return { type: 'dlp', detectors: detectorCounts(record.details['findings']) };
  return { type: 'message', text: record.message };
}

/** A MatchedRule as text: `allow_list *.github.com`, `address loopback`, `default_deny`. */
function ruleText(rule: unknown): string | null {
  if (typeof rule !== 'object' || rule === null) return null;
  const r = rule as Record<string, unknown>;
  if (typeof r['rule'] !== 'string') return null;
  const extra = typeof r['pattern'] === 'string' ? r['pattern'] : typeof r['category'] === 'string' ? r['category'] : null;
  return extra === null ? r['rule'] : `${r['rule']} ${extra}`;
}

/** Detector names with summed counts, in first-seen order; entries without a name or count are skipped. */
export function detectorCounts(findings: unknown): { detector: string; count: number }[] {
  if (!Array.isArray(findings)) return [];
  const counts = new Map<string, number>();
  for (const f of findings as unknown[]) {
    if (typeof f !== 'object' || f === null) continue;
    const o = f as Record<string, unknown>;
    const detector = o['detector'];
    const count = o['count'];
    if (typeof detector !== 'string' || typeof count !== 'number' || !Number.isFinite(count)) continue;
    counts.set(detector, (counts.get(detector) ?? 0) + count);
  }
  return [...counts].map(([detector, count]) => ({ detector, count }));
}

/** DLP finding counts by category of one record (`findings[].category`), for the chart. */
export function categoryCounts(record: AuditRecordView): Map<string, number> {
  const out = new Map<string, number>();
  const findings = record.details['findings'];
  if (kindGroup(record.kind) !== 'dlp' || !Array.isArray(findings)) return out;
  for (const f of findings as unknown[]) {
    if (typeof f !== 'object' || f === null) continue;
    const o = f as Record<string, unknown>;
    const category = typeof o['category'] === 'string' ? o['category'] : 'other';
    const count = typeof o['count'] === 'number' && Number.isFinite(o['count']) ? o['count'] : 0;
    out.set(category, (out.get(category) ?? 0) + count);
  }
  return out;
}

/**
 * Audit records in `seq` order, at most `cap` of them (the newest). A record
 * whose seq is already held is ignored: `audit.recent` and the live `audit`
 * events overlap when the page subscribes.
 */
export class CappedLog {
  private items: AuditRecordView[] = [];
  private readonly seen = new Set<number>();

  constructor(readonly cap: number) {
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError('cap must be a positive integer');
  }

  get records(): readonly AuditRecordView[] {
    return this.items;
  }

  /** Adds records; answers whether anything changed. */
  add(records: readonly AuditRecordView[]): boolean {
    let changed = false;
    let outOfOrder = false;
    for (const r of records) {
      if (this.seen.has(r.seq)) continue;
      const last = this.items.at(-1);
      if (last !== undefined && r.seq < last.seq) outOfOrder = true;
      this.items.push(r);
      this.seen.add(r.seq);
      changed = true;
    }
    if (outOfOrder) this.items.sort((a, b) => a.seq - b.seq);
    // Trim in one splice once over the cap, so a burst costs one copy, not one per record.
    if (this.items.length > this.cap) {
      const removed = this.items.splice(0, this.items.length - this.cap);
      for (const r of removed) this.seen.delete(r.seq);
    }
    return changed;
  }
}
