// Turning findings plus per-finding actions into the text that is sent.
// Overlapping findings (a marker inside a secret, a custom pattern over a
// built-in one) are merged into one span handled by the strictest action.

import { ACTION_STRICTNESS, BUILTIN_DETECTOR_IDS, type DetectorId, type DlpAction, type DlpCategory, type Finding } from './types.js';
import type { TokenVault } from './vault.js';

/** A finding and the action the policy chose for it. */
export interface DecidedFinding {
  readonly finding: Finding;
  readonly action: DlpAction;
}

/**
 * Audit-safe summary of a body's findings: how many times each detector fired
 * and what was done. Never carries the matched value or its position.
 */
export interface FindingSummary {
  readonly detector: DetectorId;
  readonly category: DlpCategory;
  readonly count: number;
  readonly action: DlpAction;
}

/** The text after actions, and whether any finding demands a block. */
export interface AppliedText {
  readonly text: string;
  readonly changed: boolean;
  readonly blocked: boolean;
}

// Built once: a dense body has one label per finding (90,000 in the
// benchmark's 50 MB), and building each anew was measurable.
const BUILTIN_LABELS: ReadonlyMap<string, string> = new Map(BUILTIN_DETECTOR_IDS.map((id) => [id, `[REDACTED:${id}]`]));

/** The label a redacted span is replaced with. */
export function redactionLabel(detector: DetectorId): string {
  return BUILTIN_LABELS.get(detector) ?? `[REDACTED:${detector}]`;
}

/**
 * Applies decided findings to `text`. `tokenize` falls back to `redact` when
 * there is no vault or the vault refuses (expired, full): losing
 * reversibility is acceptable, sending the value is not. A `block` finding
 * still has its span redacted in the returned text, so a caller that ignores
 * `blocked` does not leak it either.
 */
export function applyDecisions(text: string, decided: readonly DecidedFinding[], vault: TokenVault | null): AppliedText {
  // Built with `+=`, which V8 turns into a rope (a tree of the pieces, made
  // in time linear in their number) instead of an array of slices for
  // join(): a 50 MB body with 90,000 findings has 180,000 pieces, and join
  // measured about a quarter slower than the rope plus its one flattening.
  let out = '';
  let cursor = 0;
  let changed = false;
  const blocked = forEachReplacement(text, decided, vault, (start, end, replacement) => {
    out += text.slice(cursor, start) + replacement;
    cursor = end;
    changed = true;
  });
  if (!changed) return { text, changed: false, blocked };
  return { text: flattened(out + text.slice(cursor)), changed: true, blocked };
}

/** A stretch of a text, by UTF-16 index, and what replaces it. */
export interface TextSplice {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/**
 * `applyDecisions` for a text whose UTF-8 bytes are at hand (a request
 * body): the result as bytes too, built by `spliceUtf8`. Its `text` is left
 * unflattened, so a caller that sends the bytes never pays for a second
 * copy of the body as a string (for a body with one character past ASCII,
 * a string twice its size).
 */
export function applyDecisionsToBytes(
  text: string,
  bytes: Uint8Array,
  decided: readonly DecidedFinding[],
  vault: TokenVault | null,
): AppliedText & { readonly bytes: Buffer | null } {
  const splices: TextSplice[] = [];
  let out = '';
  let cursor = 0;
  const blocked = forEachReplacement(text, decided, vault, (start, end, replacement) => {
    splices.push({ start, end, text: replacement });
    out += text.slice(cursor, start) + replacement;
    cursor = end;
  });
  if (splices.length === 0) return { text, changed: false, blocked, bytes: null };
  return { text: out + text.slice(cursor), changed: true, blocked, bytes: spliceUtf8(text, bytes, splices) };
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * The UTF-8 bytes of `text` with `splices` (in text order, disjoint)
 * applied, where `bytes` is the UTF-8 encoding of `text`: the stretches
 * between splices are copied from `bytes`, so no string of the whole result
 * is made. The same bytes as `Buffer.from(<text spliced>, 'utf8')`; a
 * splice edge between the two halves of a surrogate pair (no byte offset
 * matches it) is handled by exactly that.
 */
export function spliceUtf8(text: string, bytes: Uint8Array, splices: readonly TextSplice[]): Buffer {
  const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Byte offsets of each splice's edges, counted over the stretches between them.
  const edges: number[] = [];
  let char = 0;
  let byte = 0;
  let size = source.length;
  for (const s of splices) {
    for (const at of [s.start, s.end]) {
      if (at > 0 && at < text.length && isHighSurrogate(text.charCodeAt(at - 1)) && isLowSurrogate(text.charCodeAt(at))) return spliced(text, splices);
    }
    // Slices of a flat string share its characters: measuring them copies nothing.
    const start = byte + Buffer.byteLength(text.slice(char, s.start), 'utf8');
    byte = start + Buffer.byteLength(text.slice(s.start, s.end), 'utf8');
    edges.push(start, byte);
    size += Buffer.byteLength(s.text, 'utf8') - (byte - start);
    char = s.end;
  }
  const out = Buffer.allocUnsafe(size);
  let from = 0;
  let at = 0;
  splices.forEach((s, k) => {
    const start = edges[2 * k] as number;
    at += source.copy(out, at, from, start);
    at += out.write(s.text, at, 'utf8');
    from = edges[2 * k + 1] as number;
  });
  source.copy(out, at, from);
  return out;
}

/** The slow way `spliceUtf8` must agree with. */
function spliced(text: string, splices: readonly TextSplice[]): Buffer {
  return Buffer.from(spliceText(text, splices), 'utf8');
}

/** `text` with `splices` (in text order, disjoint) applied, as a rope: nothing is copied until someone reads it. */
export function spliceText(text: string, splices: readonly TextSplice[]): string {
  let out = '';
  let cursor = 0;
  for (const s of splices) {
    out += text.slice(cursor, s.start) + s.text;
    cursor = s.end;
  }
  return out + text.slice(cursor);
}

/**
 * `s` with its characters copied into one string now. Reading a character
 * makes V8 flatten a rope; doing it here keeps that copy (one allocation the
 * size of the body) inside the DLP step, under its time budget and in the
 * benchmark's figure, rather than in whoever reads the body next.
 */
export function flattened(s: string): string {
  void s.charCodeAt(0);
  return s;
}

/** One span of a text and what it becomes. */
interface Replacement {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/**
 * Calls `visit` with each span `decided` replaces in `text`, in text order:
 * overlapping findings merge into one span handled by the strictest action.
 * `escape` rewrites each replacement for the place it goes (percent-encoding
 * in a URL). Returns whether any finding demands a block.
 */
function forEachReplacement(
  text: string,
  decided: readonly DecidedFinding[],
  vault: TokenVault | null,
  visit: (start: number, end: number, replacement: string) => void,
  escape?: (s: string) => string,
): boolean {
  const active = decided.filter((d) => d.action !== 'allow');
  const blocked = active.some((d) => d.action === 'block');
  // The scanner hands findings over in text order; sort only when they are not.
  const sorted = inTextOrder(active) ? active : active.sort((a, b) => a.finding.start - b.finding.start || b.finding.end - a.finding.end);
  let cursor = 0;
  let i = 0;
  while (i < sorted.length) {
    const first = sorted[i] as DecidedFinding;
    let end = first.finding.end;
    let lead = first;
    i++;
    // Merge every finding that overlaps the span so far.
    while (i < sorted.length && (sorted[i] as DecidedFinding).finding.start < end) {
      const d = sorted[i] as DecidedFinding;
      end = Math.max(end, d.finding.end);
      if (ACTION_STRICTNESS[d.action] > ACTION_STRICTNESS[lead.action]) lead = d;
      i++;
    }
    const start = Math.max(first.finding.start, cursor);
    const r = replacement(text, start, end, lead, vault);
    visit(start, end, escape === undefined ? r : escape(r));
    cursor = end;
  }
  return blocked;
}

function inTextOrder(decided: readonly DecidedFinding[]): boolean {
  for (let k = 1; k < decided.length; k++) {
    const a = (decided[k - 1] as DecidedFinding).finding;
    const b = (decided[k] as DecidedFinding).finding;
    if (a.start > b.start || (a.start === b.start && a.end < b.end)) return false;
  }
  return true;
}

/**
 * Applies decided findings to the parts of one text that were scanned
 * together (content blocks joined, `name: value` header lines): `ranges` are
 * the parts' spans in `text`, in order and disjoint; the answer is each part
 * rewritten. A replacement that straddles parts goes whole into the first
 * part it touches and the rest of the value is removed from the others: a
 * key split "AKIA" | "Q3EG…" across two blocks becomes one token, not two
 * halves of one.
 */
export function applyToRanges(
  text: string,
  ranges: readonly { readonly start: number; readonly end: number }[],
  decided: readonly DecidedFinding[],
  vault: TokenVault | null,
  escape?: (s: string) => string,
): { readonly parts: readonly string[]; readonly changed: boolean; readonly blocked: boolean } {
  const replacements: Replacement[] = [];
  const blocked = forEachReplacement(text, decided, vault, (start, end, r) => replacements.push({ start, end, text: r }), escape);
  const plan = { replacements, blocked };
  const placed = new Array<boolean>(replacements.length).fill(false);
  const parts: string[] = [];
  let changed = false;
  let first = 0;
  for (const range of ranges) {
    while (first < plan.replacements.length && (plan.replacements[first] as Replacement).end <= range.start) first++;
    let out = '';
    let cursor = range.start;
    for (let k = first; k < plan.replacements.length; k++) {
      const r = plan.replacements[k] as Replacement;
      if (r.start >= range.end) break;
      if (r.start > cursor) out += text.slice(cursor, r.start);
      if (!placed[k]) out += r.text;
      placed[k] = true;
      cursor = Math.min(r.end, range.end);
    }
    const part = out + text.slice(cursor, range.end);
    if (part !== text.slice(range.start, range.end)) changed = true;
    parts.push(part);
  }
  return { parts, changed, blocked: plan.blocked };
}

/** What `text[start, end)` becomes under `lead`'s action; the value itself is read only for a vault. */
function replacement(text: string, start: number, end: number, lead: DecidedFinding, vault: TokenVault | null): string {
  switch (lead.action) {
    case 'tokenize': {
      if (vault !== null) {
        const r = vault.tokenize(text.slice(start, end), lead.finding.detector);
        if (r.ok) return r.token;
      }
      return redactionLabel(lead.finding.detector);
    }
    case 'redact':
    case 'block':
      return redactionLabel(lead.finding.detector);
    case 'allow':
      // Unreachable: allow-only spans are filtered out, and a merged span takes its strictest action.
      return text.slice(start, end);
  }
}

/** Folds decided findings into per-(detector, action) counts. */
export function summarize(decided: readonly DecidedFinding[], into: Map<string, FindingSummary> = new Map()): Map<string, FindingSummary> {
  // Counted per detector first: a body with 90,000 findings has a handful of
  // detectors, so the keyed map below is touched a handful of times.
  const counts = new Map<DetectorId, { category: DlpCategory; byAction: Map<DlpAction, number> }>();
  for (const d of decided) {
    let c = counts.get(d.finding.detector);
    if (c === undefined) {
      c = { category: d.finding.category, byAction: new Map() };
      counts.set(d.finding.detector, c);
    }
    c.byAction.set(d.action, (c.byAction.get(d.action) ?? 0) + 1);
  }
  for (const [detector, c] of counts) {
    for (const [action, count] of c.byAction) {
      const key = `${detector}\u0000${action}`;
      into.set(key, { detector, category: c.category, action, count: (into.get(key)?.count ?? 0) + count });
    }
  }
  return into;
}
