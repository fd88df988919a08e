/**
 * The shape of one audit event before it is chained and written.
 *
 * Records follow OCSF (Open Cybersecurity Schema Framework) class names and ids
 * where one fits, so a SIEM can map them without a custom parser. Cordon's own
 * fields live under `cordon` so they never collide with OCSF attributes.
 */

/** OCSF classes Cordon emits, with the ids OCSF 1.3 assigns them. */
export const OCSF_CLASSES = {
  file_activity: { uid: 1001, name: 'File System Activity', category_uid: 1, category_name: 'System Activity' },
  process_activity: { uid: 1007, name: 'Process Activity', category_uid: 1, category_name: 'System Activity' },
  detection_finding: { uid: 2004, name: 'Detection Finding', category_uid: 2, category_name: 'Findings' },
  data_security_finding: { uid: 2006, name: 'Data Security Finding', category_uid: 2, category_name: 'Findings' },
  network_activity: { uid: 4001, name: 'Network Activity', category_uid: 4, category_name: 'Network Activity' },
  http_activity: { uid: 4002, name: 'HTTP Activity', category_uid: 4, category_name: 'Network Activity' },
  config_state: { uid: 5019, name: 'Device Config State Change', category_uid: 5, category_name: 'Discovery' },
  api_activity: { uid: 6003, name: 'API Activity', category_uid: 6, category_name: 'Application Activity' },
} as const;

export type OcsfClassKey = keyof typeof OCSF_CLASSES;

/** OCSF severity_id values. */
export const SEVERITY = { informational: 1, low: 2, medium: 3, high: 4, critical: 5 } as const;
export type Severity = keyof typeof SEVERITY;

/**
 * What a component hands to the audit log. `kind` is Cordon's stable event name
 * (`session.start`, `mount.deny`, `egress.deny`, …) that tests and SIEM rules key on.
 * `details` must never hold a secret value: findings carry detector names and
 * counts, keys carry provider names, never the key.
 */
export interface AuditEventInput {
  readonly kind: string;
  readonly ocsfClass: OcsfClassKey;
  /** OCSF activity_id for the class, with its name (e.g. 1 "Launch", 12 "Mount", 5 "Refuse"). */
  readonly activity: { readonly id: number; readonly name: string };
  readonly outcome: 'success' | 'failure';
  readonly severity?: Severity;
  /** One human sentence; it says what happened and, for a refusal, why. */
  readonly message: string;
  readonly sessionId?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Anything that accepts audit events. The real one is the hash-chained file log. */
export interface AuditSink {
  /** Appends the event durably before returning (the log is fsync'd). */
  record(event: AuditEventInput): void;
}

/** An in-memory sink for pure logic tests. */
export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEventInput[] = [];
  record(event: AuditEventInput): void {
    this.events.push(event);
  }
}
