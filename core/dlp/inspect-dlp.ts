// DLP on inspected requests (issue 19, item 3): the one adapter from the DLP
// engine to the inspection filter chain, as every session that inspects runs
// it. It is the model route's engine (`createModelRequestFilter`): the URL,
// the agent's headers and the body (gzip/deflate/br undone, JSON rewritten
// structure-aware, form values decoded by the encoded-run pass, multipart as
// text), with `destination` = the host, so `dlp.destinations` can name hosts
// ("gist.github.com", "*.example.com") beside model routes.
//
// Differences from the model route, and why:
// - `tokenize` becomes `redact`: nothing rehydrates a third party's answers
//   into a model conversation, and a token would only confuse the server.
// - a body that is not UTF-8 (an image in a multipart upload, a tarball) is
//   scanned as its printable strings; a finding there whose action is not
//   `allow` blocks, since binary bytes cannot be redacted in place.
// - a block answers 403 `dlp_blocked` (the model route says
//   `dlp_blocked_by_rule`); the other refusals keep their `dlp_<reason>` codes.
// Audit records carry detector, category, count and action; never a value.

import type { AuditSink } from '../audit/audit-event.js';
import { allow, deny } from '../decision.js';
import type { FilterResult, ModelRequest, RequestFilter } from '../egress/model-route.js';
import type { FindingSummary } from './apply.js';
import { decodeContentEncoding } from './content-encoding.js';
import { printableStrings } from './encoded-runs.js';
import { BLOCK_STATUS, dlpAuditEvent } from './model-route-dlp.js';
import type { CompiledDlpPolicy } from './policy.js';
import { createModelRequestFilter, type DlpBlockReason, type DlpRequestFilter } from './request-filter.js';

export interface InspectDlpOptions {
  readonly sessionId: string;
  readonly policy: CompiledDlpPolicy;
  readonly audit: AuditSink;
  /**
   * Header names a filter ahead of DLP wrote (a swapped service credential):
   * not scanned, since they hold the real value Cordon put there.
   */
  readonly unscannedHeaders?: (request: ModelRequest) => readonly string[];
}

export interface InspectDlp {
  /** The request filter, named `dlp`; register it after the credential swap, whose headers `unscannedHeaders` names. */
  readonly filter: RequestFilter;
  setPolicy(policy: CompiledDlpPolicy): void;
}

const STATUS = BLOCK_STATUS;

/**
 * The `dlp.destinations` key that applies to HOST: the host itself, else the
 * longest `*.suffix` key it lies under, else null (the global rules).
 */
export function destinationKeyFor(host: string, keys: readonly string[]): string | null {
  if (keys.includes(host)) return host;
  let best: string | null = null;
  for (const k of keys) {
    if (!k.startsWith('*.')) continue;
    const suffix = k.slice(1);
    if (host.endsWith(suffix) && host.length > suffix.length && (best === null || k.length > best.length)) best = k;
  }
  return best;
}

function reasonCode(reason: DlpBlockReason): string {
  return reason === 'blocked_by_rule' ? 'dlp_blocked' : `dlp_${reason}`;
}

export function createInspectDlp(options: InspectDlpOptions): InspectDlp {
  let policy = options.policy;
  const filters = new Map<string, DlpRequestFilter>();
  // One compiled filter per destination key in force (null: the global rules), rebuilt on a policy change.
  const filterFor = (host: string): { key: string; run: DlpRequestFilter } => {
    const key = destinationKeyFor(host, Object.keys(policy.rules.destinations)) ?? '';
    let run = filters.get(key);
    if (run === undefined) {
      // The model route's destinations are provider names; '' names none of them.
      run = createModelRequestFilter({ policy, destination: key, vault: null, malformedJson: 'text' });
      filters.set(key, run);
    }
    return { key, run };
  };

  const record = (req: ModelRequest, blocked: boolean, findings: readonly FindingSummary[], reason: string | null, destination: string): void => {
    options.audit.record(dlpAuditEvent({ sessionId: options.sessionId, blocked, subject: `inspected request to ${req.host}`, reason, findings, details: { channel: 'inspect', host: req.host, destinationRule: destination === '' ? null : destination } }));
  };

  const filter: RequestFilter = {
    name: 'dlp',
    apply(req: ModelRequest): Promise<FilterResult> {
      const { key, run } = filterFor(req.host);
      const skip = new Set(options.unscannedHeaders?.(req) ?? []);
      const scanned: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (!skip.has(k)) scanned[k] = v;
      const contentType = req.headers['content-type'];
      const contentEncoding = req.headers['content-encoding'];
      const d = run({ body: req.body, headers: scanned, path: req.path, ...(contentType !== undefined ? { contentType } : {}), ...(contentEncoding !== undefined ? { contentEncoding } : {}) });
      if (d.kind === 'deny' && d.reason === 'undecodable_body') return Promise.resolve(binaryBody(req, run, key));
      if (d.findings.length > 0 || d.kind === 'deny') record(req, d.kind === 'deny', d.findings, d.kind === 'deny' ? reasonCode(d.reason) : null, key);
      switch (d.kind) {
        case 'allow':
          return Promise.resolve(allow());
        case 'rewrite': {
          // Headers DLP did not see go on as they were.
          const headers = d.headers === undefined ? undefined : { ...d.headers, ...Object.fromEntries([...skip].filter((k) => req.headers[k] !== undefined).map((k) => [k, req.headers[k] as string])) };
          return Promise.resolve({ kind: 'rewrite', body: Buffer.from(d.body, 'utf8'), ...(headers ? { headers } : {}), ...(d.path !== undefined ? { path: d.path } : {}), note: d.findings.length > 0 ? `dlp: ${d.findings.map((f) => `${f.detector}×${f.count} ${f.action}`).join(', ')}` : 'dlp: body decoded' });
        }
        case 'deny':
          return Promise.resolve(deny(reasonCode(d.reason), d.message, { status: STATUS[d.reason], ...(d.path !== undefined ? { path: d.path } : {}) }));
      }
    },
  };

  /** A body that is not UTF-8: its printable strings are scanned; anything to act on blocks (binary cannot be redacted in place). */
  function binaryBody(req: ModelRequest, run: DlpRequestFilter, key: string): FilterResult {
    const undone = decodeContentEncoding(req.body, req.headers['content-encoding'], policy.rules.budget.maxInputBytes);
    if (!undone.ok) {
      record(req, true, [], 'dlp_undecodable_body', key);
      return deny('dlp_undecodable_body', 'Cordon DLP blocked this request: its body is not valid for its Content-Encoding and cannot be scanned.', { status: 400 });
    }
    const d = run({ body: printableStrings(undone.body), contentType: 'text/plain' });
    const acting = d.findings.filter((f) => f.action !== 'allow');
    if (d.findings.length > 0) record(req, acting.length > 0 || d.kind === 'deny', d.findings, acting.length > 0 ? 'dlp_blocked' : d.kind === 'deny' ? reasonCode(d.reason) : null, key);
    if (d.kind === 'deny' && d.reason !== 'blocked_by_rule') return deny(reasonCode(d.reason), d.message, { status: STATUS[d.reason] });
    if (acting.length > 0) {
      const names = acting.map((f) => `${f.detector} (${f.count})`).join(', ');
      return deny('dlp_blocked', `Cordon DLP blocked this request: its binary body holds data policy does not let leave unchanged, which cannot be redacted in place: ${names}.`, { status: 403 });
    }
    return allow();
  }

  return {
    filter,
    setPolicy: (next) => {
      policy = next;
      filters.clear();
    },
  };
}
