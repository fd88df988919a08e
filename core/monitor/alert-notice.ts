/**
 * Which audit records the app shows as a notification (issue 20: "an alert …
 * shows as a notification in the app"): detection findings the rules and the
 * watcher raise, export outages, and quarantines. Pure; the service turns the
 * answer into a `notice` event for every subscriber.
 */
import type { AuditRecordView } from '../api/cordon-api.js';

export function alertNotice(r: Pick<AuditRecordView, 'kind' | 'severity' | 'message'>): { readonly level: 'warn' | 'error'; readonly message: string } | null {
  const alerting = (r.kind.startsWith('monitor.') && r.kind !== 'monitor.neutralised') || r.kind === 'audit.export_failed' || r.kind === 'audit.export_spool_full' || r.kind === 'quarantine.contained';
  if (!alerting) return null;
  const level = r.severity === 'High' || r.severity === 'Critical' ? 'error' : 'warn';
  return { level, message: `Cordon alert: ${r.message}` };
}
