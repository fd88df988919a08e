/**
 * What policy says about one approval request before anyone is asked (issue
 * 17): `approvals.neverAllow` refuses it, `approvals.fileAccess: "deny"`
 * refuses a file request, a matching `approvals.preApproved` entry allows it,
 * or the person must be asked. Pure: the caller hands in realpaths, the
 * effective policy and the user's home folder.
 *
 * Matching:
 * - Files: `req.target` must be a host realpath (absolute, no "." or ".."
 *   segments, symlinks already resolved). Nothing is resolved here: a policy
 *   path is expanded ("~/" → HOME) and compared as a path prefix on segment
 *   boundaries, so "/a/b" covers "/a/b" and "/a/b/c" but not "/a/bc". A target
 *   that is not absolute and normalised is refused (`file_access_denied`): it
 *   cannot be compared honestly, so no rule can be trusted to have missed it.
 *   Comparison is case-sensitive (a case-insensitive volume on macOS needs the
 *   policy written in the folder's real case).
 * - Network: `req.target` is `host:port` (`[v6]:port`), as the egress proxy
 *   files it. Entries use `egress.allow` syntax (core/egress/host-match.ts):
 *   `*.example.com` covers subdomains only; a pre-approval without a port
 *   covers 443 and 80 (as an allow entry does), a neverAllow entry without a
 *   port covers every port (as a deny entry does).
 * - Clipboard and file-transfer requests have no policy entries: always asked.
 *
 * Order: neverAllow → deny. Then a pre-approval that matches (kind, target,
 * workspace scope) and grants what was asked → allow. A read-only
 * pre-approval does not answer a write request: that is asked, because the
 * user may still grant write (or, under `fileAccess: "deny"`, refused). Then a
 * file request under `fileAccess: "deny"` → deny. Anything else → ask.
 */
import { posix } from 'node:path';
import { DEFAULT_ALLOWED_PORTS, hostMatches, normaliseHost, parseHostPattern, splitHostPort, type HostPattern } from '../egress/host-match.js';
import type { EffectivePolicy, NeverAllowEntry, PreApproval } from '../policy/policy-schema.js';

export type ApprovalPolicyVerdict =
  | { readonly kind: 'ask' }
  /** `write`: whether write access is granted (only ever true for a write request); `rule`: the pre-approval that matched, in words. */
  | { readonly kind: 'allow'; readonly write: boolean; readonly rule: string }
  | { readonly kind: 'deny'; readonly reason: 'never_allow' | 'file_access_denied'; readonly message: string };

/** One request as policy sees it. `sessionWorkspaces`: the asking session's workspaces, as host realpaths. */
export interface ApprovalPolicyRequest {
  readonly kind: 'file' | 'network' | 'clipboard' | 'file-transfer';
  readonly target: string;
  readonly write: boolean;
  readonly sessionWorkspaces: readonly string[];
}

/** Decides REQ by POLICY alone; HOME expands "~/" in policy paths. See the file comment for the rules. */
export function decideByPolicy(req: ApprovalPolicyRequest, policy: EffectivePolicy['approvals'], home: string): ApprovalPolicyVerdict {
  switch (req.kind) {
    case 'clipboard':
    case 'file-transfer':
      return { kind: 'ask' };
    case 'file':
      return decideFile(req, policy, home);
    case 'network':
      return decideNetwork(req, policy, home);
  }
}

function decideFile(req: ApprovalPolicyRequest, policy: EffectivePolicy['approvals'], home: string): ApprovalPolicyVerdict {
  const target = normalisedRealpath(req.target);
  if (target === null) {
    return { kind: 'deny', reason: 'file_access_denied', message: `${JSON.stringify(req.target.slice(0, 200))} is not an absolute, normalised path; it cannot be checked against policy` };
  }
  const never = policy.neverAllow.find((e) => e.kind === 'file' && pathCovers(expandPolicyPath(e.target, home), target));
  if (never) return neverAllowDeny(never, target);
  const pre = matchPreApproval(req, policy.preApproved, home, (e) => e.kind === 'file' && pathCovers(expandPolicyPath(e.target, home), target));
  if (pre.kind === 'allow') return pre;
  if (policy.fileAccess === 'deny') {
    const readOnly = pre.readOnlyMatch ? ` (${pre.readOnlyMatch} is read-only)` : '';
    return { kind: 'deny', reason: 'file_access_denied', message: `policy denies ${req.write ? 'write' : 'read'} access to ${target} outside the workspaces (approvals.fileAccess is "deny")${readOnly}` };
  }
  return { kind: 'ask' };
}

function decideNetwork(req: ApprovalPolicyRequest, policy: EffectivePolicy['approvals'], home: string): ApprovalPolicyVerdict {
  const dest = parseDestination(req.target);
  // No entry can be matched against a target that is not host:port; a person can still judge it.
  if (dest === null) return { kind: 'ask' };
  const covers = (e: NeverAllowEntry, portless: readonly number[] | 'any'): boolean => {
    if (e.kind !== 'network') return false;
    const p = compiledPattern(e.target);
    if (p === null || !hostMatches(p, dest.host)) return false;
    if (p.port !== null) return p.port === dest.port;
    return portless === 'any' || portless.includes(dest.port);
  };
  const never = policy.neverAllow.find((e) => covers(e, 'any'));
  if (never) return neverAllowDeny(never, req.target);
  const pre = matchPreApproval(req, policy.preApproved, home, (e) => covers(e, DEFAULT_ALLOWED_PORTS));
  return pre.kind === 'allow' ? pre : { kind: 'ask' };
}

function neverAllowDeny(e: NeverAllowEntry, target: string): ApprovalPolicyVerdict {
  return { kind: 'deny', reason: 'never_allow', message: `policy never allows ${e.kind === 'file' ? 'access to' : 'connections to'} ${target} (approvals.neverAllow "${e.target}")` };
}

/**
 * The first pre-approval that matches TARGETMATCH and the session's scope and
 * grants what was asked; else `none`, naming a read-only entry that matched a
 * write request (for the refusal message).
 */
function matchPreApproval(
  req: ApprovalPolicyRequest,
  entries: readonly PreApproval[],
  home: string,
  targetMatch: (e: PreApproval) => boolean,
): Extract<ApprovalPolicyVerdict, { kind: 'allow' }> | { readonly kind: 'none'; readonly readOnlyMatch: string | null } {
  let readOnlyMatch: string | null = null;
  for (const e of entries) {
    if (!targetMatch(e) || !inScope(e, req.sessionWorkspaces, home)) continue;
    // Network entries have no read/write distinction; a file entry grants write only when it says so.
    const grantsWrite = e.kind === 'network' || e.write === true;
    if (req.write && !grantsWrite) {
      readOnlyMatch ??= `"${e.target}"`;
      continue;
    }
    return { kind: 'allow', write: req.write && e.kind === 'file', rule: describePreApproval(e) };
  }
  return { kind: 'none', readOnlyMatch };
}

/** Absent scope: every session. Otherwise one of the session's workspaces is a scope folder or lies inside one. */
function inScope(e: PreApproval, sessionWorkspaces: readonly string[], home: string): boolean {
  if (e.workspaces === undefined) return true;
  const scopes = e.workspaces.map((w) => expandPolicyPath(w, home));
  return sessionWorkspaces.some((ws) => {
    const w = normalisedRealpath(ws);
    return w !== null && scopes.some((s) => pathCovers(s, w));
  });
}

/** The entry in words, for the verdict's `rule` and audit records. */
export function describePreApproval(e: PreApproval): string {
  const access = e.kind === 'file' ? (e.write === true ? ' (read-write)' : ' (read-only)') : '';
  const scope = e.workspaces === undefined ? '' : `, for sessions in ${e.workspaces.join(', ')}`;
  return `approvals.preApproved ${e.kind} "${e.target}"${access}${scope}`;
}

/** "~" and "~/x" against HOME; then normalised without a trailing slash. Policy paths hold no ".." (the schema refuses them). */
function expandPolicyPath(p: string, home: string): string {
  const expanded = p === '~' ? home : p.startsWith('~/') ? posix.join(home, p.slice(2)) : p;
  return stripTrailingSlashes(posix.normalize(expanded));
}

/** TARGET without trailing slashes, or null when it is not absolute or has "." / ".." / empty segments. */
function normalisedRealpath(target: string): string | null {
  const t = stripTrailingSlashes(target);
  if (!t.startsWith('/')) return null;
  if (t === '/') return t;
  const segments = t.slice(1).split('/');
  return segments.some((s) => s === '' || s === '.' || s === '..') ? null : t;
}

function stripTrailingSlashes(p: string): string {
  const t = p.replace(/\/+$/, '');
  return t === '' && p.startsWith('/') ? '/' : t;
}

/** True when FOLDER is TARGET or one of its ancestors, on segment boundaries. */
function pathCovers(folder: string, target: string): boolean {
  if (folder === '/') return true;
  return target === folder || target.startsWith(`${folder}/`);
}

function parseDestination(target: string): { host: string; port: number } | null {
  const parts = splitHostPort(target);
  if (parts === null || parts.port === null || !/^\d{1,5}$/.test(parts.port)) return null;
  const port = Number(parts.port);
  const host = normaliseHost(parts.host);
  return host.ok && port >= 1 && port <= 65535 ? { host: host.host, port } : null;
}

/** Entries were validated at load; one that does not compile (never expected) matches nothing. */
function compiledPattern(entry: string): HostPattern | null {
  const r = parseHostPattern(entry);
  return r.ok ? r.pattern : null;
}
