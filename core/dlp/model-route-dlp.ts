// DLP on the model route: the one adapter from the DLP engine to the egress
// proxy's model-route hooks (core/egress/model-route.ts), and the one every
// session runs. Its request filter scans everything a request carries — the
// body (decompressed), the agent's headers, the path and query — before it
// leaves; findings are redacted, tokenized into a session vault held only on
// this host, or block the request. Its response transform rehydrates the
// vault's tokens on the way back, so the agent sees its own values while the
// vendor never does. Audit records carry detector, category, count and
// action; never a value.

import type { AuditEventInput, AuditSink } from '../audit/audit-event.js';
import { allow, deny } from '../decision.js';
import type { FilterResult, ModelRequest, RequestFilter, ResponseTransformFactory } from '../egress/model-route.js';
import type { FindingSummary } from './apply.js';
import type { CompiledDlpPolicy } from './policy.js';
import { createModelRequestFilter, rewrittenBodyBytes, type DlpBlockReason, type DlpRequestFilter } from './request-filter.js';
import { createResponseRehydrator } from './sse-rehydrate.js';
import { TokenVault } from './vault.js';

/** What a session's model route needs for DLP. */
export interface ModelRouteDlpOptions {
  readonly sessionId: string;
  /** Compiled once per effective policy (compileDlpPolicy); every provider's filter shares it. */
  readonly policy: CompiledDlpPolicy;
  readonly audit: AuditSink;
  /**
   * Header names whose values a filter ahead of DLP writes: the key swap's
   * credential headers (`x-api-key`, `authorization`), which then hold the
   * real key. They are not scanned; every other header the agent sent is.
   */
  readonly unscannedHeaders?: readonly string[];
}

/** DLP for one session's model route. */
export interface ModelRouteDlp {
  /** The request filter, named `dlp`; register it after the key swap. */
  readonly filter: RequestFilter;
  /** Rehydrates this session's tokens in responses (event-aware for SSE). */
  readonly rehydrate: ResponseTransformFactory;
  /** Applies a changed DLP policy to the next request (live reload); the vault keeps its tokens. */
  setPolicy(policy: CompiledDlpPolicy): void;
  /** Forgets every tokenized value (session end); tokens then resolve nowhere. */
  dispose(): void;
}

/** HTTP status the agent gets for each block reason. */
export const BLOCK_STATUS: Readonly<Record<DlpBlockReason, number>> = {
  blocked_by_rule: 403,
  scan_budget_exceeded: 413,
  // Retryable: the agent's client backs off and sends it again (Anthropic's SDK retries 5xx).
  scan_time_exceeded: 503,
  undecodable_body: 400,
  invalid_json: 400,
  unsupported_encoding: 415,
};

/**
 * The audit record of one DLP decision with findings or a block: detector,
 * category, count and action of each finding, never a value. `action` keeps
 * the words SIEM rules match on: rewrite, block.
 */
export function dlpAuditEvent(e: { readonly sessionId: string; readonly blocked: boolean; readonly subject: string; readonly reason: string | null; readonly findings: readonly FindingSummary[]; readonly details: Record<string, unknown> }): AuditEventInput {
  return {
    kind: e.blocked ? 'dlp.block' : 'dlp.findings',
    ocsfClass: 'data_security_finding',
    activity: { id: 1, name: 'Create' },
    outcome: e.blocked ? 'failure' : 'success',
    severity: e.blocked ? 'high' : 'medium',
    message: e.blocked ? `${e.subject} blocked by DLP (${e.reason ?? 'blocked'})` : `${e.subject}: ${e.findings.map((f) => `${f.count} ${f.detector} ${f.action}`).join(', ')}`,
    sessionId: e.sessionId,
    details: { ...e.details, action: e.blocked ? 'block' : 'rewrite', ...(e.blocked && e.reason ? { reason: e.reason } : {}), findings: e.findings },
  };
}

/** `aws_access_key_id×1 tokenize, credit_card×1 redact`: the filter trace note (audit-safe). */
function note(findings: readonly FindingSummary[]): string {
  return findings.map((f) => `${f.detector}×${f.count} ${f.action}`).join(', ');
}

/**
 * Sets up DLP for one session: one token vault (living at most
 * `policy.tokenTtlSeconds`), one compiled filter per provider (per-destination
 * rules use the provider's name), rebuilt on a policy change.
 */
export function createModelRouteDlp(options: ModelRouteDlpOptions): ModelRouteDlp {
  let policy = options.policy;
  const vault = new TokenVault({ ttlMillis: policy.rules.tokenTtlSeconds * 1000 });
  const filters = new Map<string, DlpRequestFilter>();
  const filterFor = (provider: string): DlpRequestFilter => {
    let f = filters.get(provider);
    if (f === undefined) {
      f = createModelRequestFilter({ policy, destination: provider, vault, ...(options.unscannedHeaders ? { unscannedHeaders: options.unscannedHeaders } : {}) });
      filters.set(provider, f);
    }
    return f;
  };

  const filter: RequestFilter = {
    name: 'dlp',
    apply(req: ModelRequest): Promise<FilterResult> {
      const contentType = req.headers['content-type'];
      const contentEncoding = req.headers['content-encoding'];
      const d = filterFor(req.provider)({
        body: req.body,
        headers: req.headers,
        path: req.path,
        ...(contentType !== undefined ? { contentType } : {}),
        ...(contentEncoding !== undefined ? { contentEncoding } : {}),
      });
      if (d.findings.length > 0 || d.kind === 'deny') {
        const blocked = d.kind === 'deny';
        options.audit.record(
          dlpAuditEvent({
            sessionId: options.sessionId,
            blocked,
            subject: `model request to ${req.provider}`,
            reason: blocked ? d.reason : null,
            findings: d.findings,
            details: { provider: req.provider },
          }),
        );
      }
      switch (d.kind) {
        case 'allow':
          return Promise.resolve(allow());
        case 'rewrite':
          return Promise.resolve({
            kind: 'rewrite',
            body: rewrittenBodyBytes(d),
            ...(d.headers !== undefined ? { headers: d.headers } : {}),
            ...(d.path !== undefined ? { path: d.path } : {}),
            ...(d.findings.length > 0 ? { note: `dlp: ${note(d.findings)}` } : { note: 'dlp: body decoded' }),
          });
        case 'deny':
          return Promise.resolve(deny(`dlp_${d.reason}`, d.message, { status: BLOCK_STATUS[d.reason], ...(d.path !== undefined ? { path: d.path } : {}) }));
      }
    },
  };

  return {
    filter,
    // Null (response untouched) while the vault holds no token, and for a
    // compressed response (the proxy asks the provider for identity whenever
    // transforms exist, so that is a provider ignoring it).
    rehydrate: (ctx) => {
      if (vault.size === 0) return null;
      const encoding = ctx.headers['content-encoding'];
      if (typeof encoding === 'string' && encoding !== '' && encoding.toLowerCase() !== 'identity') return null;
      const ct = ctx.headers['content-type'];
      return createResponseRehydrator(vault, Array.isArray(ct) ? ct[0] : ct);
    },
    setPolicy: (next) => {
      policy = next;
      filters.clear();
    },
    dispose: () => vault.dispose(),
  };
}
