/**
 * An answer policy gave without filing a request (a pre-approval or a
 * never-allow entry): no request id, shaped like the queue's
 * `approval.answer`, so a reader of the audit log sees one kind of record
 * for every decision whoever made it.
 */
import type { AuditSink } from '../audit/audit-event.js';
import type { ApprovalKind } from './approval-store.js';

export function auditPolicyAnswer(
  audit: AuditSink,
  a: {
    readonly session: string;
    readonly kind: ApprovalKind;
    readonly target: string;
    readonly decision: 'allow' | 'deny';
    readonly write: boolean;
    /** Why, for the message: the rule that matched or the refusal. */
    readonly why: string;
    readonly extra: Readonly<Record<string, string>>;
  },
): void {
  audit.record({
    kind: 'approval.answer',
    ocsfClass: 'api_activity',
    activity: { id: 3, name: 'Update' },
    outcome: a.decision === 'allow' ? 'success' : 'failure',
    message: `${a.kind} access to ${a.target} for session ${a.session}: ${a.why}`,
    sessionId: a.session,
    details: {
      id: null,
      request_kind: a.kind,
      target: a.target,
      decision: a.decision,
      scope: a.decision === 'allow' ? 'once' : null,
      until: null,
      write: a.decision === 'allow' && a.write,
      by: 'policy',
      status: a.decision === 'allow' ? 'allowed' : 'denied',
      ...a.extra,
    },
  });
}
