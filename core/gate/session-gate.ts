/**
 * The gate wired to a session's surroundings: the policy loader, the audit
 * log and the approval queue. The CLI's `cordon launch` and the service's
 * hosted terminals get their paste gate here, so both are one adapter.
 */
import type { Transform } from 'node:stream';
import type { AuditSink } from '../audit/audit-event.js';
import type { ApprovalKind, ApprovalRecord, ApprovalRequest } from '../approvals/approval-store.js';
import type { PolicyLoadResult } from '../policy/policy-loader.js';
import { createPasteGate } from './paste-gate.js';

/** The part of the approval queue the gate uses. */
export interface GateApprovals {
  ask(req: ApprovalRequest, signal?: AbortSignal): Promise<ApprovalRecord>;
}

/**
 * Asks the user about one transfer; true only for an allow. No session
 * (nothing to file it under) or a failing queue is a refusal.
 */
export async function askTransfer(
  approvals: () => GateApprovals,
  q: { readonly session: string | null; readonly kind: Extract<ApprovalKind, 'clipboard' | 'file-transfer'>; readonly target: string; readonly reason: string; readonly detail: Readonly<Record<string, string>> },
): Promise<boolean> {
  if (q.session === null) return false;
  try {
    const r = await approvals().ask({ session: q.session, kind: q.kind, target: q.target, reason: q.reason, detail: q.detail });
    return r.status === 'allowed';
  } catch {
    return false;
  }
}

export interface SessionPasteGateOptions {
  readonly loadPolicy: () => PolicyLoadResult;
  readonly audit: AuditSink;
  readonly approvals: () => GateApprovals;
  readonly sessionId: () => string | null;
  readonly notify: (message: string) => void;
}

/** A paste gate reading the policy at each paste (an edit reaches the next paste), asking through the queue. */
export function sessionPasteGate(o: SessionPasteGateOptions): Transform {
  return createPasteGate({
    policy: () => {
      const r = o.loadPolicy();
      return r.ok ? r.policy : null;
    },
    sessionId: o.sessionId,
    audit: o.audit,
    notify: o.notify,
    ask: (question) => askTransfer(o.approvals, { session: o.sessionId(), kind: 'clipboard', target: 'terminal paste', reason: question.reason, detail: question.detail }),
  });
}
