// The DLP step of the model route's request-filter chain: scan a request
// body before it leaves, and decide allow / rewrite / block. For JSON bodies
// (the Messages API) only string values change, so the vendor still receives
// valid JSON with every number, key order and structure untouched.

import { createHash } from 'node:crypto';
import { applyDecisions, summarize, type DecidedFinding, type FindingSummary } from './apply.js';
import { resolveAction, scannerConfigFromPolicy, type DlpPolicy } from './policy.js';
import { createScanner, type Scanner } from './scanner.js';
import type { DlpAction } from './types.js';
import type { TokenVault } from './vault.js';

/** A request body as the proxy has it. */
export interface DlpRequest {
  /** The body: a string, or raw bytes that must be UTF-8. */
  readonly body: string | Uint8Array;
  /** The Content-Type header, if any; `json` in it selects structure-aware handling. */
  readonly contentType?: string;
}

/** Why a request is blocked. */
export type DlpBlockReason =
  /** A finding whose action is `block`. */
  | 'blocked_by_rule'
  /** The body was too large or the scan ran out of time: it is unscanned, so it does not leave. */
  | 'scan_budget_exceeded'
  /** The bytes are not UTF-8, so they cannot be scanned. */
  | 'undecodable_body';

/**
 * The filter's decision. `findings` is audit-safe (detector, category,
 * count, action — never a value). `message` on a block is safe to show the
 * agent.
 */
export type DlpRequestDecision =
  | { readonly action: 'allow'; readonly findings: readonly FindingSummary[] }
  | { readonly action: 'rewrite'; readonly body: string; readonly findings: readonly FindingSummary[] }
  | {
      readonly action: 'block';
      readonly reason: DlpBlockReason;
      readonly message: string;
      readonly findings: readonly FindingSummary[];
    };

/** A compiled request filter for one destination. */
export type DlpRequestFilter = (request: DlpRequest) => DlpRequestDecision;

/** Options for `createModelRequestFilter`. */
export interface ModelRequestFilterOptions {
  readonly policy: DlpPolicy;
  /** The model route's name (e.g. "anthropic"); selects `policy.destinations[destination]`. */
  readonly destination: string;
  /** The session's vault for `tokenize`; null makes tokenize fall back to redact. */
  readonly vault: TokenVault | null;
  /** Monotonic milliseconds for the whole-body time budget; defaults to performance.now. */
  readonly clock?: () => number;
  /** Size of the per-filter cache of scan outcomes, in characters; 0 disables it. Default 8 Mi. */
  readonly cacheChars?: number;
}

/** A remembered outcome for one string: its decided findings and, if it changed, the text sent instead. */
interface CachedOutcome {
  readonly decided: readonly DecidedFinding[];
  readonly blocked: boolean;
  readonly output: string | null;
}

/** Strings shorter than this are rescanned: hashing them would cost about as much. */
const CACHE_MIN_CHARS = 256;

function cacheKey(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}

// JSON string literals in already-validated JSON: the two alternatives never
// match the same character, so the pattern is linear.
const JSON_STRING_RE = /"(?:[^"\\]|\\.)*"/g;

/** Sentinel for "the scan ran out of budget" (a symbol, so no string value can be mistaken for it). */
const OVER_BUDGET: unique symbol = Symbol('over-budget');

/** Shortest string worth scanning: no detector matches fewer characters. */
const MIN_SCANNABLE = 5;

/**
 * Builds the DLP request filter for a model route. The scanner is compiled
 * once here; the returned function is synchronous and pure apart from
 * issuing tokens into the vault.
 */
export function createModelRequestFilter(options: ModelRequestFilterOptions): DlpRequestFilter {
  const { policy, destination, vault } = options;
  const clock = options.clock ?? (() => performance.now());
  const maxCacheChars = options.cacheChars ?? 8 * 1024 * 1024;
  const scanner: Scanner | null = policy.enabled ? createScanner({ ...scannerConfigFromPolicy(policy), clock }) : null;

  // Agents re-send the whole conversation every turn, so most of a request's
  // strings were scanned before. Outcomes are cached per filter (one vault,
  // one destination) under a SHA-256 of the string, so the cache holds only
  // rewritten text (what was sent), never an original value; tokenization is
  // deterministic per vault, so a cached output is exactly what a new scan
  // would produce.
  const cache = new Map<string, CachedOutcome>();
  let cachedChars = 0;
  const remember = (key: string, outcome: CachedOutcome): void => {
    const size = key.length + (outcome.output?.length ?? 0) + 64;
    if (size > maxCacheChars) return;
    cache.set(key, outcome);
    cachedChars += size;
    for (const [k, v] of cache) {
      if (cachedChars <= maxCacheChars) break;
      cache.delete(k);
      cachedChars -= k.length + (v.output?.length ?? 0) + 64;
    }
  };

  return (request) => {
    if (scanner === null) return { action: 'allow', findings: [] };
    if (vault?.expired === true && cache.size > 0) {
      cache.clear();
      cachedChars = 0;
    }
    let body: string;
    if (typeof request.body === 'string') {
      body = request.body;
    } else {
      if (request.body.byteLength > policy.budget.maxInputBytes) return budgetBlock([]);
      try {
        body = new TextDecoder('utf-8', { fatal: true }).decode(request.body);
      } catch {
        return {
          action: 'block',
          reason: 'undecodable_body',
          message: 'Cordon DLP blocked this request: its body is not valid UTF-8 and cannot be scanned.',
          findings: [],
        };
      }
    }
    if (body.length > policy.budget.maxInputBytes) return budgetBlock([]);

    const started = clock();
    const decide = (f: DecidedFinding['finding']): DlpAction => resolveAction(policy, f.detector, f.category, destination);
    const summaries = new Map<string, FindingSummary>();
    let blocked = false;
    let changed = false;

    const processText = (text: string): string | typeof OVER_BUDGET => {
      const key = maxCacheChars > 0 && text.length >= CACHE_MIN_CHARS ? cacheKey(text) : null;
      const hit = key === null ? undefined : cache.get(key);
      if (hit !== undefined && key !== null) {
        // Refresh its place in the LRU order.
        cache.delete(key);
        cache.set(key, hit);
        summarize(hit.decided, summaries);
        if (hit.blocked) blocked = true;
        if (hit.output !== null) changed = true;
        return hit.output ?? text;
      }
      const result = scanner.scan(text);
      if (result.status === 'budget_exceeded') return OVER_BUDGET;
      const decided = result.findings.map((finding) => ({ finding, action: decide(finding) }));
      summarize(decided, summaries);
      const applied = decided.length === 0 ? { text, changed: false, blocked: false } : applyDecisions(text, decided, vault);
      if (applied.blocked) blocked = true;
      if (applied.changed) changed = true;
      if (key !== null) remember(key, { decided, blocked: applied.blocked, output: applied.changed ? applied.text : null });
      return applied.text;
    };

    let out: string | typeof OVER_BUDGET;
    if (isJson(request.contentType, body)) {
      out = rewriteJsonStrings(body, (s) => {
        if (clock() - started > policy.budget.maxScanMillis) return OVER_BUDGET;
        return s.length < MIN_SCANNABLE ? s : processText(s);
      });
    } else {
      out = processText(body);
    }
    const findings = [...summaries.values()];
    if (out === OVER_BUDGET || clock() - started > policy.budget.maxScanMillis) return budgetBlock(findings);
    if (blocked) {
      const names = findings.filter((f) => f.action === 'block').map((f) => `${f.detector} (${f.count})`);
      return {
        action: 'block',
        reason: 'blocked_by_rule',
        message: `Cordon DLP blocked this request: it contains data policy never lets leave this machine: ${names.join(', ')}.`,
        findings,
      };
    }
    if (changed) return { action: 'rewrite', body: out, findings };
    return { action: 'allow', findings };
  };
}

function budgetBlock(findings: readonly FindingSummary[]): DlpRequestDecision {
  return {
    action: 'block',
    reason: 'scan_budget_exceeded',
    message: 'Cordon DLP blocked this request: it is too large to scan within the policy budget.',
    findings,
  };
}

function isJson(contentType: string | undefined, body: string): boolean {
  const declared = contentType !== undefined && /\bjson\b/i.test(contentType);
  const looks = /^\s*[[{]/.test(body);
  if (!declared && !looks) return false;
  try {
    JSON.parse(body);
    return true;
  } catch {
    // Invalid JSON is scanned as text: still protected, just not structure-aware.
    return false;
  }
}

/**
 * Rewrites every string literal (keys and values) of a valid JSON text with
 * `fn` applied to its decoded value. Unchanged strings keep their original
 * spelling (escapes included); changed ones are re-encoded by JSON.stringify,
 * so the result is valid JSON. Returns OVER_BUDGET as soon as `fn` does.
 */
function rewriteJsonStrings(json: string, fn: (value: string) => string | typeof OVER_BUDGET): string | typeof OVER_BUDGET {
  const parts: string[] = [];
  let cursor = 0;
  const re = new RegExp(JSON_STRING_RE.source, 'g');
  for (let m = re.exec(json); m !== null; m = re.exec(json)) {
    const literal = m[0];
    // Most literals (keys, short values) have no escapes: skip the JSON parser for them.
    const decoded = literal.includes('\\') ? (JSON.parse(literal) as string) : literal.slice(1, -1);
    const next = fn(decoded);
    if (next === OVER_BUDGET) return OVER_BUDGET;
    if (next !== decoded) {
      parts.push(json.slice(cursor, m.index), JSON.stringify(next));
      cursor = m.index + literal.length;
    }
  }
  if (cursor === 0) return json;
  parts.push(json.slice(cursor));
  return parts.join('');
}
