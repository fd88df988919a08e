/**
 * Which audit records become a system notification, and how many: a
 * sandboxed agent that hammers a blocked host would otherwise raise a
 * notification per request. At most one notification per interval; what
 * arrives in between is counted and shown once the interval ends as one
 * summary ("… and 7 more").
 *
 * Pure: the caller passes the time in and schedules a timer for `dueAt()`.
 */
import type { AuditRecordView } from '../core/api/cordon-api.js';

export type AlertKind = 'egress' | 'dlp';

export interface Alert {
  readonly kind: AlertKind;
  readonly sessionId: string | null;
  /** One line a person can read; from the audit message, which never holds secret values. */
  readonly text: string;
}

export interface SystemNotification {
  readonly title: string;
  readonly body: string;
}

/**
 * Egress denials (`egress.deny`) and DLP blocks (`dlp.*` that failed or
 * whose action was block) are worth interrupting someone for; findings
 * that were only redacted, and every allow, are not.
 */
export function alertFor(record: AuditRecordView): Alert | null {
  if (record.kind === 'egress.deny') return { kind: 'egress', sessionId: record.sessionId, text: record.message };
  if (record.kind.startsWith('dlp.') && (record.outcome === 'failure' || record.details['action'] === 'block')) {
    return { kind: 'dlp', sessionId: record.sessionId, text: record.message };
  }
  return null;
}

const TITLES: Readonly<Record<AlertKind, string>> = {
  egress: 'Cordon blocked a connection',
  dlp: 'Cordon blocked a model request',
};

/** At most one notification per INTERVAL_MS; the rest are coalesced into the next one. */
export class NotificationCoalescer {
  private lastShownAt: number | null = null;
  private pending: Alert[] = [];

  constructor(private readonly intervalMs: number) {
    if (!(intervalMs > 0)) throw new Error('the notification interval must be positive');
  }

  /**
   * Offers one alert at time NOW (ms). Returns the notification to show now,
   * or null when it was held back (then `dueAt()` says when to `flush`).
   */
  offer(alert: Alert, now: number): SystemNotification | null {
    this.pending.push(alert);
    return this.flush(now);
  }

  /** The notification for everything held back, if the interval has passed; else null. */
  flush(now: number): SystemNotification | null {
    if (this.pending.length === 0) return null;
    if (this.lastShownAt !== null && now - this.lastShownAt < this.intervalMs) return null;
    const shown = summarize(this.pending);
    this.pending = [];
    this.lastShownAt = now;
    return shown;
  }

  /** When held-back alerts may be shown (ms), or null when none are held back. */
  dueAt(): number | null {
    if (this.pending.length === 0) return null;
    return this.lastShownAt === null ? 0 : this.lastShownAt + this.intervalMs;
  }
}

/** One notification for ALERTS (at least one): the first in full, the rest counted. */
export function summarize(alerts: readonly Alert[]): SystemNotification {
  const first = alerts[0];
  if (first === undefined) throw new Error('summarize needs at least one alert');
  const kinds = new Set(alerts.map((a) => a.kind));
  const title = kinds.size === 1 ? TITLES[first.kind] : 'Cordon blocked connections and model requests';
  const more = alerts.length - 1;
  return { title, body: more === 0 ? first.text : `${first.text} — and ${more} more ${more === 1 ? 'block' : 'blocks'} since` };
}
