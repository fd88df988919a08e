import type { AuditEventInput, AuditSink, Severity } from './audit-event.js';

/**
 * Records an alert (issue 20): an OCSF Detection Finding (class 2004,
 * activity 1 "Create") in the audit log, so it reaches the exporters and the
 * app like any record. KIND names the rule (`audit.export_failed`,
 * `monitor.mass_delete` …); DETAILS must hold no secret.
 */
export function recordDetectionFinding(
  audit: AuditSink,
  finding: { readonly kind: string; readonly severity: Severity; readonly message: string; readonly sessionId?: string; readonly details?: Readonly<Record<string, unknown>> },
): void {
  const event: AuditEventInput = {
    kind: finding.kind,
    ocsfClass: 'detection_finding',
    activity: { id: 1, name: 'Create' },
    outcome: 'failure',
    severity: finding.severity,
    message: finding.message,
    ...(finding.sessionId !== undefined ? { sessionId: finding.sessionId } : {}),
    ...(finding.details !== undefined ? { details: finding.details } : {}),
  };
  audit.record(event);
}
