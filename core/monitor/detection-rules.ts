/**
 * Detection rules (issue 20, item 4): pure functions over the audit event
 * stream. Each event feeds at most one rule; a rule fires when its count in a
 * sliding window reaches the policy's threshold, and then stays quiet for the
 * rest of that window (threat W3: one alert, not a flood). Thresholds come from
 * `monitoring` in policy.
 */
import type { MonitoringPolicy } from '../policy/policy-schema.js';
import type { Severity } from '../audit/audit-event.js';

export type RuleName = 'egress_denial_burst' | 'dlp_finding_burst' | 'model_request_spike' | 'phantom_misuse' | 'mass_change' | 'sensitive_file' | 'clipboard_burst';

/** The part of an audit event the rules read. */
export interface RuleEvent {
  readonly kind: string;
  readonly sessionId: string | null;
  /** Epoch ms. */
  readonly at: number;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface Alert {
  readonly rule: RuleName;
  readonly sessionId: string;
  readonly severity: Severity;
  readonly count: number;
  readonly seconds: number;
  readonly message: string;
}

/** Which rule an event counts toward, and how much (a DLP record carries several findings). */
export function ruleOf(e: RuleEvent): { rule: RuleName; weight: number } | null {
  switch (e.kind) {
    case 'egress.deny':
      return e.details['channel'] === 'model' ? { rule: 'model_request_spike', weight: 1 } : { rule: 'egress_denial_burst', weight: 1 };
    case 'egress.allow':
    case 'egress.would_deny':
      return e.details['channel'] === 'model' ? { rule: 'model_request_spike', weight: 1 } : null;
    case 'dlp.findings':
    case 'dlp.block': {
      // `findings`: [{ detector, count, action }] (core/dlp/apply.ts).
      const f = e.details['findings'];
      const n = Array.isArray(f) ? f.reduce((s: number, x: unknown) => s + (Number((x as { count?: unknown }).count) || 1), 0) : 1;
      return { rule: 'dlp_finding_burst', weight: n > 0 ? n : 1 };
    }
    case 'key.phantom_rejected':
      return { rule: 'phantom_misuse', weight: 1 };
    case 'monitor.file_changed':
      return { rule: 'mass_change', weight: 1 };
    // The gate's records (core/gate/transfer-audit.ts): every clipboard transfer, allowed or refused, counts.
    case 'gate.allow':
    case 'gate.redact':
    case 'gate.deny':
      return e.details['channel'] === 'clipboard' ? { rule: 'clipboard_burst', weight: 1 } : null;
    default:
      return null;
  }
}

const SEVERITY: Readonly<Record<RuleName, Severity>> = {
  egress_denial_burst: 'medium',
  dlp_finding_burst: 'high',
  model_request_spike: 'medium',
  phantom_misuse: 'high',
  mass_change: 'high',
  sensitive_file: 'high',
  clipboard_burst: 'medium',
};

function threshold(rule: RuleName, p: MonitoringPolicy): { count: number; seconds: number } {
  switch (rule) {
    case 'egress_denial_burst':
      return p.egressDenials;
    case 'dlp_finding_burst':
      return p.dlpFindings;
    case 'model_request_spike':
      return p.modelRequests;
    case 'phantom_misuse':
      return p.phantomMisuse;
    case 'mass_change':
      return p.massChange;
    case 'clipboard_burst':
      return p.clipboardTransfers;
    case 'sensitive_file':
      // Not counted: the watcher alerts on every sensitive file itself (session-monitor.ts).
      return { count: 1, seconds: 1 };
  }
}

/** Sliding windows per session and rule. Feed events in time order; returns the alerts they raise. */
export class RuleWindows {
  private readonly hits = new Map<string, Array<{ at: number; weight: number }>>();
  private readonly quietUntil = new Map<string, number>();

  constructor(private policy: MonitoringPolicy) {}

  setPolicy(p: MonitoringPolicy): void {
    this.policy = p;
  }

  observe(e: RuleEvent): Alert | null {
    if (!this.policy.alerts || e.sessionId === null) return null;
    const r = ruleOf(e);
    if (!r) return null;
    const { count, seconds } = threshold(r.rule, this.policy);
    const key = `${e.sessionId}\0${r.rule}`;
    const windowMs = seconds * 1000;
    const list = (this.hits.get(key) ?? []).filter((h) => h.at > e.at - windowMs);
    list.push({ at: e.at, weight: r.weight });
    this.hits.set(key, list);
    const total = list.reduce((s, h) => s + h.weight, 0);
    if (total < count || (r.rule !== 'sensitive_file' && (this.quietUntil.get(key) ?? -Infinity) > e.at)) return null;
    this.quietUntil.set(key, e.at + windowMs);
    const what = `${total} ${describe(r.rule)} within ${seconds} s (threshold ${count})`;
    return { rule: r.rule, sessionId: e.sessionId, severity: SEVERITY[r.rule], count: total, seconds, message: `session ${e.sessionId}: ${r.rule.replace(/_/g, ' ')}: ${what}` };
  }
}

function describe(rule: RuleName): string {
  switch (rule) {
    case 'egress_denial_burst':
      return 'refused egress connections';
    case 'dlp_finding_burst':
      return 'DLP findings';
    case 'model_request_spike':
      return 'model requests';
    case 'phantom_misuse':
      return 'refused phantom uses';
    case 'mass_change':
      return 'workspace files modified or deleted';
    case 'sensitive_file':
      return 'sensitive files';
    case 'clipboard_burst':
      return 'clipboard transfers';
  }
}
