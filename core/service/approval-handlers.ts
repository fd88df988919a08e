/**
 * The app's side of the approval queue (issue 17, item 5): `approvals.list`
 * and `approvals.answer` for the UI's prompt, and the `approvals.changed`
 * event derived from the queue's audit records. The same queue and the same
 * answer function as `cordon approvals` (core/approvals/answer-approval.ts).
 *
 * Roles: anyone at the desk may see the queue and deny or allow once or for
 * a while (a deny must always be possible; the requests are the user's own
 * sessions'); "always" writes the user's settings, so it needs the role's
 * `changeSettings`, like `cordon policy set`.
 */
import type { ApiEvent, ApiResponse, AuditRecordView } from '../api/cordon-api.js';
import type { ApprovalAnswerRequest, ApprovalView } from '../api/approvals-contract.js';
import { ApiFailure, type ApiHandlers } from '../api/api-dispatch.js';
import { approvalEnd } from '../approvals/approval-duration.js';
import { alwaysUnavailable, answerApproval, type AnswerContext } from '../approvals/answer-approval.js';
import type { ApprovalAnswerInput, ApprovalRecord, ApprovalStore } from '../approvals/approval-store.js';

/** The list's bound: a flood of requests (the store rate-limits, but across sessions) cannot grow an answer without end. */
export const MAX_LISTED_PENDING = 100;
export const MAX_LISTED_SETTLED = 50;
/** Longest grant an ISO `until` may ask for: the same week as `cordon approvals allow --for`. */
const MAX_UNTIL_MS = 7 * 24 * 60 * 60 * 1000;

export interface ApprovalHandlerDeps {
  readonly approvals: () => ApprovalStore;
  /** Policy and role as of the call: "always" is decided against them. */
  readonly answerContext: () => AnswerContext;
  readonly now?: () => number;
}

export function approvalHandlers(deps: ApprovalHandlerDeps): Pick<ApiHandlers, 'approvals.list' | 'approvals.answer'> {
  const now = deps.now ?? Date.now;
  return {
    'approvals.list': () => {
      const ctx = deps.answerContext();
      return boundedList(deps.approvals().list(), (r) => approvalView(r, ctx));
    },
    'approvals.answer': (req) => {
      const input = answerInput(req, new Date(now()));
      if (!input.ok) throw new ApiFailure('invalid_request', input.message);
      const ctx = deps.answerContext();
      const res = answerApproval(deps.approvals(), req.id, input.answer, ctx);
      if (res.kind === 'deny') throw new ApiFailure(res.reason === 'unknown_request' ? 'not_found' : 'failed', res.message);
      return approvalView(res.value, ctx);
    },
  };
}

/**
 * The store's answer for a request the contract already parsed, or why it
 * cannot be one: `for`/`until` only with scope 'duration', which needs exactly
 * one of them; an ISO `until` must lie in the future and within a week.
 */
export function answerInput(req: ApprovalAnswerRequest, now: Date): { ok: true; answer: ApprovalAnswerInput } | { ok: false; message: string } {
  if (req.decision === 'deny') return { ok: true, answer: { decision: 'deny' } };
  const write = req.write === true;
  if (req.scope !== 'duration') {
    if (req.for !== undefined || req.until !== undefined) return { ok: false, message: `"for" and "until" go only with scope "duration", not "${req.scope}"` };
    return { ok: true, answer: { decision: 'allow', scope: req.scope, write } };
  }
  if ((req.for === undefined) === (req.until === undefined)) return { ok: false, message: 'an answer for a duration needs exactly one of "for" (1h, end-of-day) or "until"' };
  let until: Date | null;
  if (req.for !== undefined) until = approvalEnd(req.for === '1h' ? '1h' : 'today', now);
  else {
    until = new Date(req.until ?? '');
    const ms = until.getTime() - now.getTime();
    if (!(ms > 0)) return { ok: false, message: '"until" is not in the future' };
    if (ms > MAX_UNTIL_MS) return { ok: false, message: '"until" is more than a week away: answer "always" for a lasting grant' };
  }
  if (until === null) return { ok: false, message: 'the end of the duration could not be computed' };
  return { ok: true, answer: { decision: 'allow', scope: 'duration', until, write } };
}

/** A record as the UI sees it, with whether "always" is available on it now. */
export function approvalView(r: ApprovalRecord, ctx: AnswerContext): ApprovalView {
  return {
    id: r.id,
    session: r.session,
    kind: r.kind,
    target: r.target,
    reason: r.reason,
    detail: { ...r.detail },
    write: r.write,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    status: r.status,
    answer: r.answer === null ? null : { ...r.answer },
    alwaysUnavailable: r.status === 'pending' ? alwaysUnavailable(r, ctx) : null,
  };
}

/** Keeps the oldest pending and the newest settled within their bounds (the store's order is already that). */
export function boundedList(records: readonly ApprovalRecord[], view: (r: ApprovalRecord) => ApprovalView): ApiResponse<'approvals.list'> {
  const pending = records.filter((r) => r.status === 'pending');
  const settled = records.filter((r) => r.status !== 'pending');
  const kept = [...pending.slice(0, MAX_LISTED_PENDING), ...settled.slice(0, MAX_LISTED_SETTLED)];
  return { requests: kept.map(view), omitted: records.length - kept.length };
}

const CHANGE_BY_KIND: Readonly<Record<string, 'request' | 'answer' | 'rate_limited'>> = {
  'approval.request': 'request',
  'approval.answer': 'answer',
  'approval.rate_limited': 'rate_limited',
};

/**
 * The `approvals.changed` event for an audit record of the queue, or null.
 * It carries only what the UI needs to refetch: the record is not trusted
 * as a description of the request (the list is read from the queue itself).
 */
export function approvalEventFor(record: AuditRecordView): ApiEvent | null {
  const change = Object.hasOwn(CHANGE_BY_KIND, record.kind) ? CHANGE_BY_KIND[record.kind] : undefined;
  if (change === undefined) return null;
  const id = record.details['id'];
  return { type: 'approvals.changed', change, id: typeof id === 'string' && /^[0-9a-f]{16}$/.test(id) ? id : null, sessionId: record.sessionId };
}
