// Adapters from the DLP engine to the egress proxy's model-route hooks
// (core/egress/model-route.ts): a RequestFilter that scans every request body
// before it leaves, and a ResponseTransformFactory that rehydrates tokens in
// the answer. The session's vault is looked up per request, so one proxy can
// serve several sessions without their tokens meeting.

import type { FilterResult, ModelRequest, RequestFilter, ResponseTransformFactory } from '../egress/model-route.js';
import type { FindingSummary } from './apply.js';
import type { DlpPolicy } from './policy.js';
import { createModelRequestFilter, type DlpBlockReason, type DlpRequestFilter } from './request-filter.js';
import { createResponseRehydrator } from './sse-rehydrate.js';
import type { TokenVault } from './vault.js';

/** What the audit log records for one scanned request: never a value, never a position. */
export interface DlpAuditRecord {
  readonly provider: string;
  readonly sessionId: string | undefined;
  readonly action: 'allow' | 'rewrite' | 'block';
  readonly reason?: DlpBlockReason;
  readonly findings: readonly FindingSummary[];
}

/** Options for the model-route DLP hooks. */
export interface DlpModelRouteOptions {
  readonly policy: DlpPolicy;
  /** The token vault of a request's session; null makes tokenize fall back to redact (and nothing is rehydrated). */
  readonly vaultFor: (sessionId: string | undefined) => TokenVault | null;
  /** Receives every decision that had findings or blocked, for the audit log. Must not throw. */
  readonly onDecision?: (record: DlpAuditRecord) => void;
}

/** HTTP status the agent gets for each block reason. */
const BLOCK_STATUS: Readonly<Record<DlpBlockReason, number>> = {
  blocked_by_rule: 403,
  scan_budget_exceeded: 413,
  undecodable_body: 400,
  invalid_json: 400,
  unsupported_encoding: 415,
};

/** `aws_access_key_id×1 tokenize, credit_card×1 redact`: the filter trace note (audit-safe). */
function note(findings: readonly FindingSummary[]): string {
  return findings.map((f) => `${f.detector}×${f.count} ${f.action}`).join(', ');
}

/**
 * The DLP step of the model route, named `dlp`. The destination for
 * per-destination rules is the request's provider. Bodies are scanned
 * whatever the method; an empty body is allowed without a scan.
 */
export function createDlpRequestFilter(options: DlpModelRouteOptions): RequestFilter {
  // Compiled filters per (vault, provider): compiling a scanner is cheap but not free.
  const byVault = new WeakMap<TokenVault, Map<string, DlpRequestFilter>>();
  const noVault = new Map<string, DlpRequestFilter>();
  const filterFor = (provider: string, vault: TokenVault | null): DlpRequestFilter => {
    let cache = vault === null ? noVault : byVault.get(vault);
    if (cache === undefined) {
      cache = new Map();
      if (vault !== null) byVault.set(vault, cache);
    }
    let f = cache.get(provider);
    if (f === undefined) {
      f = createModelRequestFilter({ policy: options.policy, destination: provider, vault });
      cache.set(provider, f);
    }
    return f;
  };

  return {
    name: 'dlp',
    apply(req: ModelRequest): Promise<FilterResult> {
      if (req.body.length === 0) return Promise.resolve({ action: 'allow' });
      const vault = options.vaultFor(req.sessionId);
      const contentType = req.headers['content-type'];
      const d = filterFor(req.provider, vault)(contentType === undefined ? { body: req.body } : { body: req.body, contentType });
      if (d.findings.length > 0 || d.action === 'block') {
        const base = { provider: req.provider, sessionId: req.sessionId, action: d.action, findings: d.findings };
        options.onDecision?.(d.action === 'block' ? { ...base, reason: d.reason } : base);
      }
      switch (d.action) {
        case 'allow':
          return Promise.resolve({ action: 'allow' });
        case 'rewrite':
          return Promise.resolve({ action: 'rewrite', body: Buffer.from(d.body, 'utf8'), note: `dlp: ${note(d.findings)}` });
        case 'block':
          return Promise.resolve({ action: 'reject', status: BLOCK_STATUS[d.reason], reason: `dlp_${d.reason}`, message: d.message });
      }
    },
  };
}

/**
 * Rehydrates model responses for the request's session: event-aware for SSE,
 * JSON-escaping for JSON, verbatim otherwise. Returns null (response untouched)
 * when the session has no vault or no tokens, or when the response is
 * compressed (the proxy asks upstream for `identity` when transforms exist).
 */
export function createDlpResponseTransform(vaultFor: (sessionId: string | undefined) => TokenVault | null): ResponseTransformFactory {
  return (ctx) => {
    const vault = vaultFor(ctx.request.sessionId);
    if (vault === null || vault.size === 0) return null;
    const encoding = ctx.headers['content-encoding'];
    if (typeof encoding === 'string' && encoding !== '' && encoding.toLowerCase() !== 'identity') return null;
    const ct = ctx.headers['content-type'];
    return createResponseRehydrator(vault, typeof ct === 'string' ? ct : undefined);
  };
}
