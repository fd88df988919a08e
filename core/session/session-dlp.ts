import type { AuditSink } from '../audit/audit-event.js';
import { createModelRequestFilter } from '../dlp/request-filter.js';
import { createResponseRehydrator } from '../dlp/sse-rehydrate.js';
import { TokenVault } from '../dlp/vault.js';
import type { RequestFilter, ResponseTransformFactory } from '../egress/model-route.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';

/**
 * DLP on the model route (issue 5): every request body is scanned before it
 * leaves; findings are redacted, tokenized into a session vault held only on
 * this host, or block the request. Responses are rehydrated on the way back,
 * so the agent sees its own values while the vendor never does. Audit records
 * carry detector, category, count and action; never a value.
 */
export interface SessionDlp {
  readonly filter: RequestFilter;
  readonly rehydrate: ResponseTransformFactory;
  /** Applies a changed DLP policy to the next request (live reload); the vault keeps its tokens. */
  setPolicy(dlp: EffectivePolicy['dlp']): void;
  /** Forgets every tokenized value (session end). */
  dispose(): void;
}

export function setupSessionDlp(opts: { readonly sessionId: string; readonly policy: EffectivePolicy; readonly audit: AuditSink }): SessionDlp {
  let dlp = opts.policy.dlp;
  const vault = new TokenVault({ ttlMillis: dlp.tokenTtlSeconds * 1000 });
  // One compiled filter per model route, built on first use.
  const filters = new Map<string, ReturnType<typeof createModelRequestFilter>>();
  const filterFor = (provider: string): ReturnType<typeof createModelRequestFilter> => {
    let f = filters.get(provider);
    if (!f) {
      f = createModelRequestFilter({ policy: dlp, destination: provider, vault });
      filters.set(provider, f);
    }
    return f;
  };
  const filter: RequestFilter = {
    name: 'dlp',
    apply: (req) => {
      const decision = filterFor(req.provider)({ body: req.body, ...(req.headers['content-type'] !== undefined ? { contentType: req.headers['content-type'] } : {}) });
      if (decision.findings.length > 0 || decision.action === 'block') {
        opts.audit.record({
          kind: decision.action === 'block' ? 'dlp.block' : 'dlp.findings',
          ocsfClass: 'data_security_finding',
          activity: { id: 1, name: 'Create' },
          outcome: decision.action === 'block' ? 'failure' : 'success',
          severity: decision.action === 'block' ? 'high' : 'medium',
          message:
            decision.action === 'block'
              ? `model request to ${req.provider} blocked by DLP (${decision.reason})`
              : `model request to ${req.provider}: ${decision.findings.map((f) => `${f.count} ${f.detector} ${f.action}`).join(', ')}`,
          sessionId: opts.sessionId,
          details: { provider: req.provider, action: decision.action, findings: decision.findings },
        });
      }
      switch (decision.action) {
        case 'allow':
          return Promise.resolve({ action: 'allow' as const });
        case 'rewrite':
          return Promise.resolve({ action: 'rewrite' as const, body: Buffer.from(decision.body, 'utf8') });
        case 'block':
          return Promise.resolve({ action: 'reject' as const, status: 403, reason: `dlp_${decision.reason}`, message: decision.message });
      }
    },
  };
  return {
    filter,
    // SSE-aware for streams: models spread one token over several delta events.
    rehydrate: (ctx) => {
      const ct = ctx.headers['content-type'];
      return createResponseRehydrator(vault, Array.isArray(ct) ? ct[0] : ct);
    },
    setPolicy: (next) => {
      dlp = next;
      filters.clear();
    },
    dispose: () => vault.dispose(),
  };
}
