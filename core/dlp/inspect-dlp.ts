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
// - a git push (`application/x-git-receive-pack-request`) is parsed
//   (git-pack.ts) and every object it carries is scanned; a finding whose
//   action is not `allow` blocks the push: a pack cannot be redacted, since
//   each object's id is the hash of its content (and the commits name those
//   ids). A pack that does not parse, is over its limits, or holds a delta
//   whose base is not in it (a thin pack) is refused as unscannable.
// Audit records carry detector, category, count and action; never a value.

import { isUtf8 } from 'node:buffer';
import type { AuditSink } from '../audit/audit-event.js';
import { allow, deny } from '../decision.js';
import type { FilterResult, ModelRequest, RequestFilter } from '../egress/model-route.js';
import type { FindingSummary } from './apply.js';
import { decodeContentEncoding } from './content-encoding.js';
import { printableStrings } from './encoded-runs.js';
import { DEFAULT_PACK_LIMITS, parseReceivePack, type PackLimits, type ReadableObject } from './git-pack.js';
import { BLOCK_STATUS, dlpAuditEvent } from './model-route-dlp.js';
import type { CompiledDlpPolicy } from './policy.js';
import { createModelRequestFilter, rewrittenBodyBytes, type DlpBlockReason, type DlpRequestFilter } from './request-filter.js';

export interface InspectDlpOptions {
  readonly sessionId: string;
  readonly policy: CompiledDlpPolicy;
  readonly audit: AuditSink;
  /**
   * Header names a filter ahead of DLP wrote (a swapped service credential):
   * not scanned, since they hold the real value Cordon put there.
   */
  readonly unscannedHeaders?: (request: ModelRequest) => readonly string[];
  /** Bounds on a git push's pack; DEFAULT_PACK_LIMITS when absent. */
  readonly packLimits?: PackLimits;
}

export interface InspectDlp {
  /** The request filter, named `dlp`; register it after the credential swap, whose headers `unscannedHeaders` names. */
  readonly filter: RequestFilter;
  setPolicy(policy: CompiledDlpPolicy): void;
}

const STATUS = BLOCK_STATUS;

/** git's smart-HTTP push body; git http-backend refuses a push under any other type (415), so this names every pack. */
const GIT_PUSH_TYPE = 'application/x-git-receive-pack-request';
/** Text per DLP run when a pack is scanned: many small objects share a run, each run keeps its own time budget. */
const PACK_SCAN_CHUNK = 1024 * 1024;

/** What DLP can match in one object: text as UTF-8, anything binary (and every tree) as its printable strings. */
function objectText(o: ReadableObject): string {
  return o.kind !== 'tree' && isUtf8(o.content) ? o.content.toString('utf8') : printableStrings(o.content);
}

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
      // No outcome cache: it pays on the model route, where every turn re-sends
      // the conversation, but uploads to other hosts seldom repeat, and hashing
      // every string of every body cost a third of what scanning it does.
      run = createModelRequestFilter({ policy, destination: key, vault: null, malformedJson: 'text', cacheChars: 0 });
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
      if ((contentType ?? '').split(';')[0]?.trim().toLowerCase() === GIT_PUSH_TYPE) return Promise.resolve(gitPush(req, run, key, scanned));
      const d = run({ body: req.body, headers: scanned, path: req.path, ...(contentType !== undefined ? { contentType } : {}), ...(contentEncoding !== undefined ? { contentEncoding } : {}) });
      if (d.kind === 'deny' && d.reason === 'undecodable_body') return Promise.resolve(binaryBody(req, run, key));
      if (d.findings.length > 0 || d.kind === 'deny') record(req, d.kind === 'deny', d.findings, d.kind === 'deny' ? reasonCode(d.reason) : null, key);
      switch (d.kind) {
        case 'allow':
          return Promise.resolve(allow());
        case 'rewrite': {
          // Headers DLP did not see go on as they were.
          const headers = d.headers === undefined ? undefined : { ...d.headers, ...Object.fromEntries([...skip].filter((k) => req.headers[k] !== undefined).map((k) => [k, req.headers[k] as string])) };
          return Promise.resolve({ kind: 'rewrite', body: rewrittenBodyBytes(d), ...(headers ? { headers } : {}), ...(d.path !== undefined ? { path: d.path } : {}), note: d.findings.length > 0 ? `dlp: ${d.findings.map((f) => `${f.detector}×${f.count} ${f.action}`).join(', ')}` : 'dlp: body decoded' });
        }
        case 'deny':
          return Promise.resolve(deny(reasonCode(d.reason), d.message, { status: STATUS[d.reason], ...(d.path !== undefined ? { path: d.path } : {}) }));
      }
    },
  };

  /**
   * A git push: the URL, headers, ref updates and every readable object are
   * scanned; anything to act on blocks (see the file's header for why).
   */
  function gitPush(req: ModelRequest, run: DlpRequestFilter, key: string, headers: Record<string, string>): FilterResult {
    const limits = options.packLimits ?? DEFAULT_PACK_LIMITS;
    const undone = decodeContentEncoding(req.body, req.headers['content-encoding'], limits.maxInflatedBytes);
    if (!undone.ok) {
      record(req, true, [], 'dlp_undecodable_body', key);
      return deny('dlp_undecodable_body', 'Cordon DLP blocked this push: its body is not valid for its Content-Encoding and cannot be scanned.', { status: 400 });
    }
    const pack = parseReceivePack(Buffer.from(undone.body.buffer, undone.body.byteOffset, undone.body.byteLength), limits);
    if (!pack.ok) {
      const reason = `dlp_${pack.reason}`;
      record(req, true, [], reason, key);
      return deny(reason, `Cordon DLP blocked this git push: ${pack.detail}, so its contents cannot be scanned.`, { status: pack.reason === 'pack_too_large' ? 413 : 400 });
    }
    // Texts in runs of about PACK_SCAN_CHUNK; the first run also carries the URL and headers.
    const texts = [pack.commands, ...pack.objects.map(objectText), ...pack.deltaInserts.map((b) => printableStrings(b))];
    const found = new Map<string, FindingSummary>();
    let chunk: string[] = [];
    let size = 0;
    let first = true;
    const flush = (): FilterResult | null => {
      const d = run({ body: chunk.join('\n'), contentType: 'text/plain', ...(first ? { headers, path: req.path } : {}) });
      first = false;
      chunk = [];
      size = 0;
      for (const f of d.findings) {
        const k = `${f.detector}\0${f.action}`;
        const had = found.get(k);
        found.set(k, had ? { ...had, count: had.count + f.count } : f);
      }
      if (d.kind === 'deny' && d.reason !== 'blocked_by_rule') {
        record(req, true, [...found.values()], reasonCode(d.reason), key);
        return deny(reasonCode(d.reason), d.message, { status: STATUS[d.reason] });
      }
      return null;
    };
    for (const t of texts) {
      chunk.push(t);
      size += t.length;
      if (size >= PACK_SCAN_CHUNK) {
        const stop = flush();
        if (stop) return stop;
      }
    }
    if (size > 0 || first) {
      const stop = flush();
      if (stop) return stop;
    }
    const findings = [...found.values()];
    const acting = findings.filter((f) => f.action !== 'allow');
    if (acting.length > 0) {
      record(req, true, findings, 'dlp_blocked', key);
      const names = acting.map((f) => `${f.detector} (${f.count})`).join(', ');
      return deny('dlp_blocked', `Cordon DLP blocked this git push: it carries data policy does not let leave unchanged (${names}). A pack cannot be redacted (object ids are hashes of their content): remove the secret from the commits and push again.`, { status: 403 });
    }
    if (findings.length > 0) record(req, false, findings, null, key);
    if (pack.unreadableDeltas > 0) {
      record(req, true, [], 'dlp_pack_unscannable', key);
      return deny('dlp_pack_unscannable', `Cordon DLP blocked this git push: ${pack.unreadableDeltas} object(s) are deltas against objects that are not in the pack, so their contents cannot be scanned. Push with \`git push --no-thin\`.`, { status: 403 });
    }
    return allow();
  }

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
