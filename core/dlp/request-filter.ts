// The DLP step of the model route's request-filter chain: scan everything a
// request carries before it leaves — the body (its Content-Encoding undone
// first), the headers the agent set, the URL path and query — and decide
// allow / rewrite / block. For JSON bodies (the Messages API) only string
// values change, so the vendor still receives valid JSON with every number,
// key order and structure untouched; the text of adjacent content blocks is
// scanned as the one text the model reads.

import type { Allow, Deny } from '../decision.js';
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { applyDecisions, applyDecisionsToBytes, applyToRanges, flattened, spliceText, spliceUtf8, summarize, type DecidedFinding, type FindingSummary, type TextSplice } from './apply.js';
import { decodeContentEncoding, type BodyDecodeFailure } from './content-encoding.js';
import { adjacentTextBlocks, jsonStringLiterals, type JsonStringLiteral } from './json-strings.js';
import { resolveAction, type CompiledDlpPolicy } from './policy.js';
import { createScanner, type Scanner } from './scanner.js';
import type { DetectorId, DlpAction } from './types.js';
import type { TokenVault } from './vault.js';

/** A request as the proxy has it. */
export interface DlpRequest {
  /** The body: a string, or raw bytes that must be UTF-8 once `contentEncoding` is undone. */
  readonly body: string | Uint8Array;
  /** The Content-Type header, if any; `json` in it selects structure-aware handling. */
  readonly contentType?: string;
  /**
   * The Content-Encoding header, if any: gzip, deflate and br are decoded
   * before the scan (and the decision then carries the decoded body, to be
   * sent without the encoding); any other coding is refused.
   */
  readonly contentEncoding?: string;
  /** Request headers (lower-case names), scanned too; see `unscannedHeaders`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The URL path and query string, scanned too. */
  readonly path?: string;
}

/** Why a request is blocked. */
export type DlpBlockReason =
  /** A finding whose action is `block`. */
  | 'blocked_by_rule'
  /** The body was too large to scan (also once decompressed): it is unscanned, so it does not leave. */
  | 'scan_budget_exceeded'
  /**
   * The scan ran out of its time budget (`dlp.budget.maxScanMillis`): unscanned, so it
   * does not leave either, but a busy machine is a passing condition, so the answer
   * is one a client retries (503), not "too large" (413).
   */
  | 'scan_time_exceeded'
  /** The bytes are not UTF-8, or not valid for their Content-Encoding, so they cannot be scanned. */
  | 'undecodable_body'
  /** The body claims to be (or looks like) JSON but JSON.parse rejects it. */
  | 'invalid_json'
  /** A Content-Encoding Cordon does not decode. */
  | 'unsupported_encoding';

/**
 * The filter's decision. `findings` is audit-safe (detector, category,
 * count, action — never a value). `message` on a block is safe to show the
 * agent. A rewrite's `body` is what to send (decoded if the request was
 * compressed, rewritten if it had findings); `headers`, when present, is the
 * complete header map to send instead of the request's (a value rewritten, a
 * header dropped, Content-Encoding removed); `path`, when present, replaces
 * the request's path and query.
 */
export type DlpRequestDecision =
  | Allow<{ readonly findings: readonly FindingSummary[] }>
  | {
      readonly kind: 'rewrite';
      readonly body: string;
      /**
       * `body` as UTF-8, when the filter had the request's bytes (a body sent
       * as bytes): send these rather than encoding `body` again. The parts
       * the filter did not change are the request's own bytes, and `body`
       * is then left unflattened for a caller that never reads it.
       */
      readonly bodyBytes?: Uint8Array;
      readonly headers?: Readonly<Record<string, string>>;
      readonly path?: string;
      readonly findings: readonly FindingSummary[];
    }
  | Deny<
      DlpBlockReason,
      {
        readonly findings: readonly FindingSummary[];
        /** The request's path with its findings replaced, when it had any: what a record of the refusal may show. */
        readonly path?: string;
      }
    >;

/** The bytes a rewrite sends: its `bodyBytes` when it has them, else its `body` as UTF-8. */
export function rewrittenBodyBytes(d: { readonly body: string; readonly bodyBytes?: Uint8Array }): Buffer {
  return d.bodyBytes !== undefined ? Buffer.from(d.bodyBytes.buffer, d.bodyBytes.byteOffset, d.bodyBytes.byteLength) : Buffer.from(d.body, 'utf8');
}

/** A compiled request filter for one destination. */
export type DlpRequestFilter = (request: DlpRequest) => DlpRequestDecision;

/** Options for `createModelRequestFilter`. */
export interface ModelRequestFilterOptions {
  /** The policy and its scanner configuration, compiled once (compileDlpPolicy). */
  readonly policy: CompiledDlpPolicy;
  /** The model route's name (e.g. "anthropic"); selects `policy.destinations[destination]`. */
  readonly destination: string;
  /** The session's vault for `tokenize`; null makes tokenize fall back to redact. */
  readonly vault: TokenVault | null;
  /** Monotonic milliseconds for the whole-body time budget; defaults to performance.now. */
  readonly clock?: () => number;
  /** Size of the per-filter cache of scan outcomes, in characters; 0 disables it. Default 8 Mi. */
  readonly cacheChars?: number;
  /**
   * Header names (lower-case) whose values Cordon itself set before this
   * filter runs — the credential header the key swap writes — and which are
   * therefore not scanned: the real key would be tokenized into a request
   * the vendor refuses. `host`, `content-length` and `content-encoding` (set
   * or undone by Cordon) are never scanned.
   */
  readonly unscannedHeaders?: readonly string[];
  /**
   * A body that looks like JSON (`{` or `[` first) but does not parse, when
   * its Content-Type does not say JSON: `refuse` (the default; the model
   * route's APIs take only JSON) or `text` (scanned as text, as `cordon dlp
   * redact` does for a log line that starts with `[`). A body whose
   * Content-Type says JSON and does not parse is always refused.
   */
  readonly malformedJson?: 'refuse' | 'text';
}

/** Headers whose values Cordon writes or undoes itself; never scanned. */
const STRUCTURAL_HEADERS: readonly string[] = ['host', 'content-length', 'content-encoding'];

/** A remembered outcome for one text: its decided findings and, if it changed, the parts sent instead. */
interface CachedOutcome {
  readonly decided: readonly DecidedFinding[];
  readonly blocked: boolean;
  readonly output: readonly string[] | null;
}

/** Strings shorter than this are rescanned: hashing them would cost about as much. */
const CACHE_MIN_CHARS = 256;

/** A text's cache key; for a text scanned in parts, the parts' spans are part of the key. */
function cacheKey(text: string, ranges: readonly Span[] | null): string {
  const h = createHash('sha256').update(text, 'utf8');
  if (ranges !== null) h.update(`\u0000${ranges.map((r) => `${r.start}-${r.end}`).join(',')}`);
  return h.digest('base64');
}

/**
 * Scans a text once and answers its parts (null: the whole text) with the
 * policy applied. `bytes`, the text's UTF-8 when at hand (whole text only),
 * lets a change be written as bytes too (see `bodyBytes`).
 */
type ProcessParts = (text: string, ranges: readonly Span[] | null, escape?: (s: string) => string, bytes?: Uint8Array) => readonly string[] | typeof OVER_BUDGET;

/** Where a part of a jointly scanned text lies in it. */
interface Span {
  readonly start: number;
  readonly end: number;
}

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
  const { destination, vault } = options;
  const policy = options.policy.rules;
  const clock = options.clock ?? (() => performance.now());
  const maxCacheChars = options.cacheChars ?? 8 * 1024 * 1024;
  const unscanned = new Set([...STRUCTURAL_HEADERS, ...(options.unscannedHeaders ?? []).map((h) => h.toLowerCase())]);
  const malformedJson = options.malformedJson ?? 'refuse';
  const scanner: Scanner | null = policy.enabled ? createScanner({ ...options.policy.scanner, clock }) : null;
  // A detector's action is fixed for this filter (one policy, one destination; the category follows from the detector).
  const actions = new Map<DetectorId, DlpAction>();

  // Agents re-send the whole conversation every turn, so most of a request's
  // strings were scanned before. Outcomes are cached per filter (one vault,
  // one destination) under a SHA-256 of the string, so the cache holds only
  // rewritten text (what was sent), never an original value; tokenization is
  // deterministic per vault, so a cached output is exactly what a new scan
  // would produce.
  const cache = new Map<string, CachedOutcome>();
  let cachedChars = 0;
  const sizeOf = (key: string, outcome: CachedOutcome): number => key.length + (outcome.output?.reduce((n, p) => n + p.length, 0) ?? 0) + 64;
  const remember = (key: string, outcome: CachedOutcome): void => {
    const size = sizeOf(key, outcome);
    if (size > maxCacheChars) return;
    cache.set(key, outcome);
    cachedChars += size;
    for (const [k, v] of cache) {
      if (cachedChars <= maxCacheChars) break;
      cache.delete(k);
      cachedChars -= sizeOf(k, v);
    }
  };

  return (request) => {
    if (scanner === null) return { kind: 'allow', findings: [] };
    if (vault?.expired === true && cache.size > 0) {
      cache.clear();
      cachedChars = 0;
    }
    const started = clock();
    const overTime = (): boolean => clock() - started > policy.budget.maxScanMillis;
    const decide = (f: DecidedFinding['finding']): DlpAction => {
      let action = actions.get(f.detector);
      if (action === undefined) {
        action = resolveAction(policy, f.detector, f.category, destination);
        actions.set(f.detector, action);
      }
      return action;
    };
    const summaries = new Map<string, FindingSummary>();
    let blocked = false;
    // The bytes of the last whole text processParts changed with `bytes` given.
    let changedBytes: Buffer | null = null;

    /**
     * Scans `text` once and returns each of `ranges` (its parts, in order)
     * with the policy applied; null ranges mean the whole text. `escape`
     * (for a URL) bypasses the cache, whose outputs are unescaped.
     */
    const processParts: ProcessParts = (text, ranges, escape, bytes) => {
      changedBytes = null;
      const whole = (): readonly string[] => (ranges === null ? [text] : ranges.map((r) => text.slice(r.start, r.end)));
      const key = maxCacheChars > 0 && escape === undefined && text.length >= CACHE_MIN_CHARS ? cacheKey(text, ranges) : null;
      const hit = key === null ? undefined : cache.get(key);
      if (hit !== undefined && key !== null) {
        // Refresh its place in the LRU order.
        cache.delete(key);
        cache.set(key, hit);
        summarize(hit.decided, summaries);
        if (hit.blocked) blocked = true;
        return hit.output ?? whole();
      }
      const result = scanner.scan(text);
      if (result.status === 'budget_exceeded') return OVER_BUDGET;
      const decided = result.findings.map((finding) => ({ finding, action: decide(finding) }));
      summarize(decided, summaries);
      let output: readonly string[] | null = null;
      if (decided.length > 0 && ranges === null && escape === undefined && bytes !== undefined) {
        const applied = applyDecisionsToBytes(text, bytes, decided, vault);
        if (applied.blocked) blocked = true;
        if (applied.changed) output = [applied.text];
        changedBytes = applied.bytes;
      } else if (decided.length > 0) {
        const applied =
          ranges === null && escape === undefined
            ? wholeText(applyDecisions(text, decided, vault))
            : applyToRanges(text, ranges ?? [{ start: 0, end: text.length }], decided, vault, escape);
        if (applied.blocked) blocked = true;
        if (applied.changed) output = applied.parts;
      }
      if (key !== null) remember(key, { decided, blocked: decided.some((d) => d.action === 'block'), output });
      return output ?? whole();
    };
    const processText = (text: string): string | typeof OVER_BUDGET => {
      const out = processParts(text, null);
      return out === OVER_BUDGET ? OVER_BUDGET : (out[0] ?? text);
    };

    // Headers and the URL first: they are small, a finding there decides as
    // surely as one in the body, and a refusal's record needs the path with
    // its findings replaced whatever becomes of the body.
    const headers = request.headers === undefined ? null : rewriteHeaders(request.headers, unscanned, processParts);
    const pathParts = request.path === undefined || request.path.length < MIN_SCANNABLE ? null : processParts(request.path, null, encodeURIComponent);
    const newPath = pathParts === null || pathParts === OVER_BUDGET || pathParts[0] === request.path ? null : (pathParts[0] ?? null);
    const block = (reason: DlpBlockReason, message: string): DlpRequestDecision => ({
      kind: 'deny',
      reason,
      message,
      findings: [...summaries.values()],
      ...(newPath !== null ? { path: newPath } : {}),
    });
    const overBudget = (): DlpRequestDecision =>
      overTime()
        ? block('scan_time_exceeded', `Cordon DLP could not finish scanning this request within its time budget (${policy.budget.maxScanMillis} ms), so it was not sent; the machine may be busy: retry.`)
        : block('scan_budget_exceeded', 'Cordon DLP blocked this request: it is too large to scan within the policy budget.');
    if (headers === OVER_BUDGET || pathParts === OVER_BUDGET) return overBudget();

    const undone = decodeBody(request, policy.budget.maxInputBytes);
    if (!undone.ok) {
      switch (undone.failure) {
        case 'too_large':
          return overBudget();
        case 'unsupported_encoding':
          return block('unsupported_encoding', 'Cordon DLP blocked this request: its Content-Encoding cannot be decoded for scanning; send it uncompressed, or as gzip, deflate or br.');
        case 'undecodable_body':
          return block('undecodable_body', `Cordon DLP blocked this request: ${undone.why} and cannot be scanned.`);
      }
    }
    const body = undone.text;
    let out: string | typeof OVER_BUDGET = body;
    // The bytes to send when they differ from the request's: the body's changed, or its decoded ones.
    let outBytes: Uint8Array | null = undone.decoded ? undone.bytes : null;
    if (body.length > 0) {
      switch (bodyShape(request.contentType, body, malformedJson)) {
        case 'json': {
          const json = rewriteJson(body, undone.bytes, processParts, processText, overTime);
          if (json === OVER_BUDGET) out = OVER_BUDGET;
          else {
            out = json.text;
            if (json.bytes !== null) outBytes = json.bytes;
            else if (out !== body) outBytes = null;
          }
          break;
        }
        case 'text': {
          const parts = processParts(body, null, undefined, undone.bytes ?? undefined);
          out = parts === OVER_BUDGET ? OVER_BUDGET : (parts[0] ?? body);
          if (changedBytes !== null) outBytes = changedBytes;
          else if (out !== body) outBytes = null;
          break;
        }
        case 'malformed_json':
          // Refused, not scanned as text: the sender says (or shows) it is
          // JSON, so the vendor will read it as JSON, in a dialect we cannot
          // know — NaN and comments accepted, "\x41" or "\u0041" escapes
          // decoded — and the structure-aware rewrite needs a parse. A
          // conforming client never sends it.
          return block('invalid_json', 'Cordon DLP blocked this request: its body is declared or shaped as JSON but is not valid JSON, so it cannot be checked the way the vendor would read it.');
      }
    }
    if (out === OVER_BUDGET || overTime()) return overBudget();
    const findings = [...summaries.values()];
    if (blocked) {
      const names = findings.filter((f) => f.action === 'block').map((f) => `${f.detector} (${f.count})`);
      return block('blocked_by_rule', `Cordon DLP blocked this request: it contains data policy never lets leave this machine: ${names.join(', ')}.`);
    }
    // A compressed body goes on decoded, without its encoding: the vendor must read exactly what was scanned.
    const newHeaders = undone.decoded ? withoutEncoding(headers ?? request.headers ?? {}) : headers;
    if (out === body && newPath === null && newHeaders === null) return { kind: 'allow', findings };
    return {
      kind: 'rewrite',
      body: out,
      ...(outBytes !== null ? { bodyBytes: outBytes } : {}),
      ...(newHeaders !== null ? { headers: newHeaders } : {}),
      ...(newPath !== null ? { path: newPath } : {}),
      findings,
    };
  };
}

function wholeText(applied: { readonly text: string; readonly changed: boolean; readonly blocked: boolean }): { readonly parts: readonly string[]; readonly changed: boolean; readonly blocked: boolean } {
  return { parts: [applied.text], changed: applied.changed, blocked: applied.blocked };
}


/** The body as text, its Content-Encoding undone; or why it cannot be had. */
function decodeBody(
  request: DlpRequest,
  maxBytes: number,
): { readonly ok: true; readonly text: string; readonly decoded: boolean; readonly bytes: Uint8Array | null } | { readonly ok: false; readonly failure: BodyDecodeFailure; readonly why: string } {
  const coding = request.contentEncoding?.trim().toLowerCase() ?? '';
  const encoded = coding !== '' && coding !== 'identity';
  if (typeof request.body === 'string' && !encoded) {
    return request.body.length > maxBytes ? { ok: false, failure: 'too_large', why: '' } : { ok: true, text: request.body, decoded: false, bytes: null };
  }
  const bytes = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body;
  if (bytes.byteLength > maxBytes) return { ok: false, failure: 'too_large', why: '' };
  const undone = decodeContentEncoding(bytes, request.contentEncoding, maxBytes);
  if (!undone.ok) return { ok: false, failure: undone.failure, why: 'its body is not valid for its Content-Encoding' };
  // isUtf8 (simdutf) refuses exactly what a fatal TextDecoder does (overlong
  // forms, surrogates, truncated sequences, past U+10FFFF) at several GB/s;
  // the fatal TextDecoder ran at about 200 MB/s, slower than the scan itself.
  // Buffer's decoder keeps a leading BOM in the text (as ignoreBOM did), so
  // re-encoding gives back the very bytes that came in.
  const body = undone.body;
  if (!isUtf8(body)) return { ok: false, failure: 'undecodable_body', why: 'its body is not valid UTF-8' };
  return { ok: true, text: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'), decoded: undone.decoded, bytes: body };
}

function withoutEncoding(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k !== 'content-encoding') out[k] = v;
  return out;
}

/**
 * Scans the headers as `name: value` lines, one text (so `x-password: …`
 * has its context), except the unscanned ones. A changed value is sent
 * changed; a header whose name held a finding is dropped (a name cannot be
 * redacted into something a server accepts). Null when nothing changed.
 */
function rewriteHeaders(headers: Readonly<Record<string, string>>, unscanned: ReadonlySet<string>, processParts: ProcessParts): Record<string, string> | null | typeof OVER_BUDGET {
  const names = Object.keys(headers).filter((h) => !unscanned.has(h));
  if (names.length === 0) return null;
  const ranges: Span[] = [];
  let text = '';
  for (const name of names) {
    ranges.push({ start: text.length, end: text.length + name.length });
    text += `${name}: `;
    const value = headers[name] ?? '';
    ranges.push({ start: text.length, end: text.length + value.length });
    text += `${value}\n`;
  }
  const parts = processParts(text, ranges);
  if (parts === OVER_BUDGET) return OVER_BUDGET;
  let changed = false;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const k = names.indexOf(name);
    if (k < 0) {
      out[name] = value;
      continue;
    }
    const newName = parts[2 * k] ?? name;
    const newValue = parts[2 * k + 1] ?? value;
    if (newName !== name) {
      changed = true;
      continue;
    }
    if (newValue !== value) changed = true;
    out[name] = newValue;
  }
  return changed ? out : null;
}

type BodyShape = 'json' | 'text' | 'malformed_json';

function bodyShape(contentType: string | undefined, body: string, malformedJson: 'refuse' | 'text'): BodyShape {
  const declared = contentType !== undefined && /\bjson\b/i.test(contentType);
  const looks = /^\uFEFF?\s*[[{]/.test(body);
  if (!declared && !looks) return 'text';
  try {
    JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body);
    return 'json';
  } catch {
    return declared || malformedJson === 'refuse' ? 'malformed_json' : 'text';
  }
}

/**
 * Rewrites every string literal (keys and values) of a valid JSON text with
 * the policy applied to its decoded value. The text of adjacent content
 * blocks is scanned joined, as one text. Unchanged strings keep their
 * original spelling (escapes included); changed ones are re-encoded by
 * JSON.stringify, so the result is valid JSON. With `bytes` (the JSON's
 * UTF-8) the result comes as bytes too, the unchanged stretches copied from
 * them. OVER_BUDGET as soon as the scan runs out of budget.
 */
function rewriteJson(
  json: string,
  bytes: Uint8Array | null,
  processParts: ProcessParts,
  processText: (s: string) => string | typeof OVER_BUDGET,
  overTime: () => boolean,
): { readonly text: string; readonly bytes: Buffer | null } | typeof OVER_BUDGET {
  const literals = jsonStringLiterals(json);
  const valueOf = (lit: JsonStringLiteral): string => {
    const raw = json.slice(lit.start, lit.end);
    // Most literals (keys, short values) have no escapes: skip the JSON parser for them.
    return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  };
  const replaced = new Map<number, string>();
  const grouped = new Set<number>();
  for (const group of adjacentTextBlocks(literals)) {
    if (overTime()) return OVER_BUDGET;
    const parts = group.map((k) => valueOf(literals[k] as JsonStringLiteral));
    const ranges: Span[] = [];
    let at = 0;
    for (const p of parts) {
      ranges.push({ start: at, end: at + p.length });
      at += p.length;
    }
    const out = processParts(parts.join(''), ranges);
    if (out === OVER_BUDGET) return OVER_BUDGET;
    group.forEach((k, j) => {
      grouped.add(k);
      if (out[j] !== undefined && out[j] !== parts[j]) replaced.set(k, out[j]);
    });
  }
  const splices: TextSplice[] = [];
  for (let k = 0; k < literals.length; k++) {
    const lit = literals[k] as JsonStringLiteral;
    let next = replaced.get(k);
    if (next === undefined && !grouped.has(k)) {
      if (overTime()) return OVER_BUDGET;
      const value = valueOf(lit);
      if (value.length < MIN_SCANNABLE) continue;
      const out = processText(value);
      if (out === OVER_BUDGET) return OVER_BUDGET;
      if (out !== value) next = out;
    }
    if (next === undefined) continue;
    splices.push({ start: lit.start, end: lit.end, text: JSON.stringify(next) });
  }
  if (splices.length === 0) return { text: json, bytes: null };
  // With the bytes at hand they are what is sent, and the text stays a rope nobody flattens.
  const text = spliceText(json, splices);
  return bytes === null ? { text: flattened(text), bytes: null } : { text, bytes: spliceUtf8(json, bytes, splices) };
}

