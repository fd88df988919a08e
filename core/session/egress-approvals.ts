/**
 * Ask mode's answers for one session (issue 17): the egress proxy asks about
 * a destination its host rules do not allow; this files the question in the
 * user's approval queue and turns the answer into the proxy's verdict. A
 * grant "for a duration" is remembered here until it runs out; "always" is
 * written to the user's own policy (`egress.allow`), which the session then
 * reloads like any policy edit, and managed policy locking that field turns it
 * into a grant for this session only.
 *
 * Policy speaks first, on every question (so a neverAllow entry added while
 * the session runs beats a grant it was given earlier): `approvals.neverAllow`
 * refuses at once and `approvals.preApproved` allows without a prompt, each
 * audited as an `approval.answer` by policy; nothing is filed in the queue.
 */
import type { AuditSink } from '../audit/audit-event.js';
import { decideByPolicy } from '../approvals/approval-policy.js';
import type { EgressAsker } from '../egress/destination-dial.js';
import { authority } from '../egress/deny-messages.js';
import { auditPolicyAnswer } from '../approvals/policy-answer-audit.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';

/** What the asker needs of the approval queue. */
export interface NetworkApprovals {
  ask(
    req: { readonly session: string; readonly kind: 'network'; readonly target: string; readonly detail?: Readonly<Record<string, string>> },
    signal?: AbortSignal,
  ): Promise<{
    readonly status: 'pending' | 'allowed' | 'denied' | 'expired';
    readonly answer: { readonly decision: 'allow' | 'deny'; readonly scope: 'once' | 'duration' | 'always' | null; readonly until: string | null; readonly by: string } | null;
  }>;
}

export interface EgressApprovalOptions {
  readonly approvals: NetworkApprovals;
  readonly sessionId: string;
  /** Adds HOSTPORT to the user's `egress.allow`; a refusal (managed policy locks it) says why. */
  readonly allowAlways: (hostPort: string) => { ok: true } | { ok: false; message: string };
  /** Where a grant that could not be kept goes (the session's notices). */
  readonly notify: (message: string) => void;
  /** The `approvals` section in force now (it follows live policy reloads). */
  readonly policy: () => EffectivePolicy['approvals'];
  /** The session's workspaces (host realpaths), for pre-approvals scoped to workspaces. */
  readonly sessionWorkspaces: readonly string[];
  /** The user's home folder, for "~/" in policy. */
  readonly home: string;
  /** Where answers given by policy are recorded. */
  readonly audit: AuditSink;
  /** Ends every pending question when the session ends. */
  readonly signal?: AbortSignal;
  readonly now?: () => number;
}

export function egressApprovals(opts: EgressApprovalOptions): EgressAsker {
  const now = opts.now ?? Date.now;
  /** host:port → until (ms; Infinity for "always" while the policy reload is on its way). */
  const grants = new Map<string, number>();
  return async (q) => {
    const target = authority(q.host, q.port);
    const verdict = decideByPolicy({ kind: 'network', target, write: false, sessionWorkspaces: opts.sessionWorkspaces }, opts.policy(), opts.home);
    switch (verdict.kind) {
      case 'deny':
        auditPolicyAnswer(opts.audit, { session: opts.sessionId, kind: 'network', target, decision: 'deny', write: false, why: verdict.message, extra: { reason: verdict.reason } });
        return 'never_allow';
      case 'allow':
        auditPolicyAnswer(opts.audit, { session: opts.sessionId, kind: 'network', target, decision: 'allow', write: false, why: `allowed by policy: ${verdict.rule}`, extra: { rule: verdict.rule } });
        return 'pre_approved';
      case 'ask':
        break;
    }
    const until = grants.get(target);
    if (until !== undefined && until > now()) return until === Infinity ? 'always' : 'duration';
    const settled = await opts.approvals.ask({ session: opts.sessionId, kind: 'network', target, ...(q.address ? { detail: { address: q.address } } : {}) }, opts.signal);
    const a = settled.answer;
    if (settled.status === 'expired' || a === null) return a?.by === 'rate_limit' ? 'rate_limited' : 'timeout';
    if (a.decision === 'deny') return a.by === 'rate_limit' ? 'rate_limited' : a.by === 'timeout' ? 'timeout' : 'denied';
    if (a.scope === 'duration' && a.until !== null) {
      grants.set(target, Date.parse(a.until));
      return 'duration';
    }
    if (a.scope === 'always') {
      grants.set(target, Infinity);
      const kept = opts.allowAlways(target);
      if (!kept.ok) opts.notify(`${target} is allowed for this session only: ${kept.message}`);
      return 'always';
    }
    return 'once';
  };
}
