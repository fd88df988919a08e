/**
 * A running session asks for a folder it was not launched with (issue 17):
 * `cordon-request-access PATH [--write] [--reason TEXT]` inside the sandbox,
 * or the user pushes one (`cordon approvals grant`). The launch-time mount
 * rules decide first — credential stores, system areas, the home folder,
 * Cordon's state and policy-denied folders are never grantable, whatever
 * anyone answers — then policy's pre-approvals and never-allow lists, then
 * the user, through the approval queue. An allow becomes a grant
 * (session-grants.ts).
 */
import { realpathSync, statSync } from 'node:fs';
import { normalize } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import type { ApprovalPolicyVerdict } from '../approvals/approval-policy.js';
import { auditPolicyAnswer } from '../approvals/policy-answer-audit.js';
import { decideMount, isInside, type MountRuleContext } from '../workspace/mount-rules.js';
import { checkWorkspaceAccess, expandPath, planMounts, type PlannedWorkspace } from '../workspace/mount-plan.js';
import type { GrantPlan, SessionGrants } from './session-grants.js';

/** Longest path a request may name. */
const MAX_PATH_CHARS = 1024;

export type FileAccessRefusal =
  /** Bad request: not an absolute path, too long, control characters. */
  | 'bad_request'
  /** No such folder on the host, or not a folder. */
  | 'missing'
  /** A launch-time mount rule (credential store, system area, home, Cordon's state, policy deny, allowlist). */
  | 'never_grantable'
  /** Policy answered (never-allow list, `approvals.fileAccess: deny`). */
  | 'policy'
  | 'denied'
  | 'timeout'
  | 'rate_limited'
  | 'session_ended'
  /** The grant could not be made (a mount failed, a copy too large). */
  | 'grant_failed';

export type FileAccessResult =
  | {
      readonly ok: true;
      readonly sandboxPath: string;
      readonly write: boolean;
      readonly mechanism: 'workspace' | 'live' | 'copy';
      readonly by: 'workspace' | 'grant' | 'policy' | 'user';
    }
  | { readonly ok: false; readonly code: FileAccessRefusal; readonly message: string };

export interface FileAccessRequest {
  /** As the agent wrote it: absolute, or `~/…` (the host user's home). */
  readonly path: string;
  readonly write: boolean;
  readonly reason: string | null;
}

/** The approval queue as seen from here (ApprovalStore.ask). */
export interface FileApprovals {
  ask(
    req: {
      readonly session: string;
      readonly kind: 'file';
      readonly target: string;
      readonly reason: string | null;
      readonly write: boolean;
      readonly detail: Readonly<Record<string, string>>;
    },
    signal?: AbortSignal,
  ): Promise<{
    readonly status: 'pending' | 'allowed' | 'denied' | 'expired';
    readonly answer: { readonly decision: 'allow' | 'deny'; readonly scope: 'once' | 'duration' | 'always' | null; readonly until: string | null; readonly write: boolean; readonly by: string } | null;
  }>;
}

export interface FileAccessContext {
  readonly sessionId: string;
  readonly home: string;
  readonly rules: MountRuleContext;
  /** Workspace-relative entries kept read-only inside a writable grant (as at launch). */
  readonly writeProtected: readonly string[];
  /** The sandbox's uid:gid: a folder it could not open is refused up front. */
  readonly sandboxUser: { readonly uid: number; readonly gid: number };
  /** The session's workspaces, which appear at their host paths inside. */
  readonly workspaces: readonly PlannedWorkspace[];
  readonly grants: SessionGrants;
  readonly approvals: FileApprovals;
  /** Policy's verdict before anyone is asked (approvals.preApproved / neverAllow / fileAccess). */
  readonly policy: (req: { readonly target: string; readonly write: boolean }) => ApprovalPolicyVerdict;
  /** "Always": remember the folder in the user's policy; a refusal (managed policy locks it) is a notice, the grant still holds for this session. */
  readonly allowAlways?: (target: string, write: boolean) => { ok: true } | { ok: false; message: string };
  readonly notify: (message: string) => void;
  readonly audit: AuditSink;
  /** Aborts when the session ends: a pending question is then denied. */
  readonly signal?: AbortSignal;
}

/**
 * Decides a request and, on an allow, makes the grant. `asker` says who
 * asked: the agent (through the sandbox) or the user (who is not asked again).
 */
export async function requestFileAccess(req: FileAccessRequest, ctx: FileAccessContext, asker: 'agent' | 'user', until: number | null = null): Promise<FileAccessResult> {
  const checked = checkRequestPath(req.path, ctx.home);
  if (!checked.ok) return refuse(ctx, req, checked.code, checked.message);
  const lexical = decideMount(checked.path, ctx.rules);
  // Before the path is resolved: a credential store is refused without
  // telling the agent whether anything is there.
  if (lexical.kind === 'deny') return refuse(ctx, req, 'never_grantable', lexical.message);
  let real: string;
  try {
    real = realpathSync(checked.path);
    if (!statSync(real).isDirectory()) return refuse(ctx, req, 'missing', `${checked.path} is not a folder; ask for the folder that holds it`);
  } catch {
    return refuse(ctx, req, 'missing', `${checked.path} does not exist on the host`);
  }

  const inWorkspace = ctx.workspaces.find((w) => (real === w.realPath || isInside(real, w.realPath)) && (w.mode === 'rw' || !req.write));
  if (inWorkspace) return { ok: true, sandboxPath: real, write: inWorkspace.mode === 'rw', mechanism: 'workspace', by: 'workspace' };

  const plan = planMounts([{ path: real, mode: req.write ? 'rw' : 'ro' }], ctx.rules, ctx.writeProtected, '/');
  if (!plan.ok) return refuse(ctx, req, plan.refusals.some((r) => r.rule === 'missing' || r.rule === 'not_a_directory') ? 'missing' : 'never_grantable', plan.refusals.map((r) => r.message).join('; '));
  const unreachable = checkWorkspaceAccess(plan.workspaces, ctx.sandboxUser);
  if (unreachable.length > 0) return refuse(ctx, req, 'never_grantable', unreachable.map((r) => r.message).join('; '));

  const held = ctx.grants.find(real);
  if (held && (held.write || !req.write)) return { ok: true, sandboxPath: held.sandboxPath, write: held.write, mechanism: held.mechanism, by: 'grant' };

  const live = ctx.grants.mechanism === 'live';
  const grantPlan = { source: real, write: false, mounts: plan.mounts.filter((m) => m.kind !== 'workspace'), placeholders: plan.placeholders };
  if (asker === 'user') return grant(ctx, { ...grantPlan, write: req.write }, until, 'user');

  const verdict = ctx.policy({ target: real, write: req.write });
  if (verdict.kind !== 'ask') {
    const allow = verdict.kind === 'allow';
    auditPolicyAnswer(ctx.audit, {
      session: ctx.sessionId,
      kind: 'file',
      target: real,
      decision: allow ? 'allow' : 'deny',
      write: allow && verdict.write,
      why: allow ? `allowed by policy: ${verdict.rule}` : verdict.message,
      extra: allow ? { rule: verdict.rule } : { reason: verdict.reason },
    });
    if (!allow) return { ok: false, code: 'policy', message: verdict.message };
    return grant(ctx, { ...grantPlan, write: verdict.write }, null, 'policy');
  }

  const settled = await ctx.approvals.ask(
    {
      session: ctx.sessionId,
      kind: 'file',
      target: real,
      reason: req.reason,
      write: req.write,
      detail: {
        classification: 'outside the session\'s workspaces',
        mechanism: live ? 'live' : 'copy',
        sandboxPath: ctx.grants.sandboxPathFor(real),
        ...(live ? {} : { note: 'a read-only copy: changes inside are not written back' }),
        ...(live && req.write && !ctx.grants.writable ? { note: 'read-only: this sandbox (gVisor) cannot keep write-protected paths safe in a folder added after start' } : {}),
      },
    },
    ctx.signal,
  );
  const a = settled.answer;
  if (a === null || a.decision === 'deny') {
    const by = a?.by ?? 'timeout';
    const code = by === 'rate_limit' ? 'rate_limited' : by === 'timeout' ? 'timeout' : by === 'session_ended' ? 'session_ended' : by === 'policy' ? 'policy' : 'denied';
    return { ok: false, code, message: refusalText(code, real) };
  }
  if (a.scope === 'always' && ctx.allowAlways) {
    const kept = ctx.allowAlways(real, a.write);
    if (!kept.ok) ctx.notify(`${real} is granted for this session only: ${kept.message}`);
  }
  return grant(ctx, { ...grantPlan, write: a.write }, a.scope === 'duration' && a.until ? Date.parse(a.until) : null, 'user');
}

async function grant(
  ctx: FileAccessContext,
  plan: GrantPlan,
  until: number | null,
  by: 'policy' | 'user',
): Promise<FileAccessResult> {
  try {
    const g = await ctx.grants.add(plan, until);
    return { ok: true, sandboxPath: g.sandboxPath, write: g.write, mechanism: g.mechanism, by };
  } catch (err) {
    return { ok: false, code: 'grant_failed', message: `${plan.source} was allowed but could not be made reachable: ${(err as Error).message}` };
  }
}

/** The requested path, `~/` expanded and normalised, or why it cannot be one. */
export function checkRequestPath(path: string, home: string): { ok: true; path: string } | { ok: false; code: 'bad_request'; message: string } {
  if (path.length === 0 || path.length > MAX_PATH_CHARS) return { ok: false, code: 'bad_request', message: `give a folder path of 1 to ${MAX_PATH_CHARS} characters` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return { ok: false, code: 'bad_request', message: 'the path holds control characters' };
  if (!path.startsWith('/') && path !== '~' && !path.startsWith('~/')) {
    return { ok: false, code: 'bad_request', message: `${path} is not absolute: give the folder's full path on the host (or ~/… for the user's home)` };
  }
  return { ok: true, path: normalize(expandPath(path, home, '/')) };
}

function refuse(ctx: FileAccessContext, req: FileAccessRequest, code: FileAccessRefusal, message: string): FileAccessResult {
  // Refusals that never reach the queue are audited here (the queue audits its own).
  ctx.audit.record({
    kind: 'approval.refused',
    ocsfClass: 'api_activity',
    activity: { id: 1, name: 'Create' },
    outcome: 'failure',
    message: `session ${ctx.sessionId} asked for ${req.write ? 'write' : 'read'} access to ${req.path.slice(0, 200)}: refused without asking (${message})`,
    sessionId: ctx.sessionId,
    details: { request_kind: 'file', target: req.path.slice(0, MAX_PATH_CHARS), write: req.write, reason_code: code },
  });
  return { ok: false, code, message };
}

function refusalText(code: 'timeout' | 'rate_limited' | 'session_ended' | 'policy' | 'denied', path: string): string {
  switch (code) {
    case 'timeout':
      return `nobody answered the request for ${path} in time`;
    case 'rate_limited':
      return 'too many requests from this session; wait a minute before asking again';
    case 'session_ended':
      return 'the session is ending';
    case 'policy':
      return `policy denies access to ${path}`;
    case 'denied':
      return `the user denied access to ${path}`;
  }
}
