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

export type AlertKind = 'egress' | 'dlp' | 'approval';

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

/**
 * A request in the approval queue: someone must answer it. The text is the
 * kind and target core established (the proxy's normalised host and port, a
 * path), never the agent's reason: a notification is no place for its words
 * (threat model, item 21). Not from `alertFor`: the main process shows these
 * only while no window is focused, and on their own coalescer.
 */
export function approvalAlertFor(record: AuditRecordView): Alert | null {
  if (record.kind !== 'approval.request') return null;
  const kind = record.details['request_kind'];
  const target = record.details['target'];
  if (typeof kind !== 'string' || typeof target !== 'string') return null;
  const session = record.sessionId === null ? 'A session' : `Session ${record.sessionId.slice(0, 12)}`;
  const write = record.details['write'] === true ? ' (write)' : '';
  // eslint-disable-next-line no-control-regex
  const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '?').slice(0, 200);
  return { kind: 'approval', sessionId: record.sessionId, text: `${session} asks for ${clean(kind)} access to ${clean(target)}${write}` };
}

const TITLES: Readonly<Record<AlertKind, string>> = {
  egress: 'Cordon blocked a connection',
  dlp: 'Cordon blocked a model request',
  approval: 'An agent is waiting for your answer',
};

const MORE: Readonly<Record<AlertKind, readonly [string, string]>> = {
  egress: ['block', 'blocks'],
  dlp: ['block', 'blocks'],
  approval: ['request', 'requests'],
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
  const [one, many] = MORE[first.kind];
  return { title, body: more === 0 ? first.text : `${first.text} — and ${more} more ${more === 1 ? one : many} since` };
}
