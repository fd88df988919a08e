/**
 * A person's answer to a request, as every front end gives it (issue 17):
 * `cordon approvals allow|deny|watch` and the app's prompt call this, so
 * "always" is refused in one place and for the same reasons everywhere.
 *
 * The store enforces what it can see (unknown id, already settled, write not
 * requested, first answer wins); this adds what needs policy: "always" is
 * refused up front where managed policy locks `egress.allow` or the role may
 * not change settings, and the request then stays pending for another answer.
 * Writing the host to `egress.allow` is the asking session's job once it sees
 * the answer (core/session/egress-approvals.ts).
 */
import { deny, type Outcome } from '../decision.js';
import type { PolicyLoadResult } from '../policy/policy-loader.js';
import type { RoleFeatures } from '../policy/role-features.js';
import { alwaysRefusalFor } from './always-answer.js';
import type { AnswerRefusal, ApprovalAnswerInput, ApprovalRecord, ApprovalStore } from './approval-store.js';

export type ApprovalAnswerRefusal = AnswerRefusal | 'always_refused';

/** What deciding "always" needs: the policy as loaded now and this machine's role. */
export interface AnswerContext {
  readonly policy: PolicyLoadResult;
  readonly role: RoleFeatures;
}

/** Null when "always" may be given on REQUEST now; else why not, as a person reads it. */
export function alwaysUnavailable(request: Pick<ApprovalRecord, 'kind'>, ctx: AnswerContext): string | null {
  return alwaysRefusalFor(request.kind, ctx.policy.ok ? ctx.policy.provenance : null, ctx.role);
}

/** Answers request ID as the user; see the file comment for what is refused. */
export function answerApproval(store: ApprovalStore, id: string, answer: ApprovalAnswerInput, ctx: AnswerContext): Outcome<ApprovalRecord, ApprovalAnswerRefusal> {
  if (answer.decision === 'allow' && answer.scope === 'always') {
    const rec = store.get(id);
    // An unknown or settled request falls through: the store's message says which it is.
    const why = rec === null || rec.status !== 'pending' ? null : alwaysUnavailable(rec, ctx);
    if (why !== null) return deny('always_refused', why);
  }
  return store.answer(id, answer, 'user');
}
