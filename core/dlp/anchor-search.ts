// Finding every anchor occurrence (`ghp_`, `password`, `@` …) in a text,
// fast. One regex alternation of all anchors makes irregexp test dozens of
// branches at every position (~300 MB/s), so instead each anchor is found
// through a "trigger": one of its characters that is rare in prose and code
// (`_`, `-`, `@`, `K` …). `String.prototype.indexOf` of a single character
// runs at memchr speed (tens of GB/s), and each trigger hit checks only the
// few anchors whose character before the trigger matches. Anchors with no
// rare character (`secret`, `credential` …) share one regex alternation, long
// enough for irregexp's Boyer-Moore skip to work.
//
// The result is exactly the set the whole-alternation search found: every
// (position, anchor) pair where the anchor occurs, case-insensitively for
// context words. `exhaustiveAnchorHits` is the obviously-correct reference the
// tests compare against.

import type { AnchoredDetector } from './detectors.js';

/** One anchor of one detector. For case-insensitive detectors the anchor is lower-cased. */
export interface AnchorEntry {
  readonly detector: AnchoredDetector;
  readonly anchor: string;
}

/**
 * Anchor occurrences in position order and, at one position, in entry order
 * (the order detectors are listed in): `entry[k]` occurs at `pos[k]`.
 * Positions are string indices, so they always fit in an Int32Array.
 */
export interface AnchorHits {
  readonly pos: Int32Array;
  readonly entry: Uint8Array;
}

/** Entry indexes are stored in a byte. */
const MAX_ENTRIES = 256;

/**
 * The anchors of `detectors` with the given case sensitivity, in detector
 * order then anchor order (the order `matchAt` is called at one position).
 */
export function anchorEntries(detectors: readonly AnchoredDetector[], caseInsensitive: boolean): AnchorEntry[] {
  const entries: AnchorEntry[] = [];
  for (const d of detectors) {
    if (d.caseInsensitive !== caseInsensitive) continue;
    for (const a of d.anchors) entries.push({ detector: d, anchor: caseInsensitive ? a.toLowerCase() : a });
  }
  if (entries.length >= MAX_ENTRIES) throw new Error(`too many DLP anchors (${entries.length})`);
  return entries;
}

/**
 * Trigger literals in order of preference, chosen for being rare in prose and
 * code so a single-character indexOf returns seldom. An anchor is found
 * through the first one it contains. For case-insensitive anchors a letter
 * trigger is searched in both cases.
 */
const CASE_SENSITIVE_TRIGGERS: readonly string[] = ['://', '@', '_', '-', 'J', 'K', 'G', 'A', 'k'];
const CASE_INSENSITIVE_TRIGGERS: readonly string[] = ['://', '_', '=', '-', 'k'];

interface TriggerTarget {
  /** 0: case-sensitive set, 1: case-insensitive set. */
  readonly side: 0 | 1;
  readonly entry: number;
  /** Where the trigger sits inside the anchor. */
  readonly offset: number;
  readonly anchor: string;
}

interface LiteralTrigger {
  readonly literal: string;
  /** Targets by the (ASCII-folded) character just before the trigger in the anchor. */
  readonly byPrev: readonly (TriggerTarget[] | undefined)[];
  /** Targets whose trigger starts the anchor: checked at every hit. */
  readonly atStart: readonly TriggerTarget[];
}

/** Called once per bounded step so the caller can enforce a time budget (by throwing); cheap, it reads the clock only now and then. */
export interface BudgetTicker {
  tick(): void;
}

/** Receives anchor occurrences. An object, not a callback, so the hot call site keeps one target across scans. */
export interface AnchorHitVisitor {
  /** Entry `entry` of the case-sensitive (side 0) or case-insensitive (side 1) entry list occurs at `pos`. */
  hit(side: 0 | 1, pos: number, entry: number): void;
}

/** Compiled search for the case-sensitive and the case-insensitive anchors together. */
export interface AnchorSearch {
  /**
   * Reports every anchor occurrence in `text` to `visitor`: on each side in
   * position order and, at one position, in entry order (the order
   * detectors are listed in). The two sides may interleave.
   */
  find(text: string, ticker: BudgetTicker, visitor: AnchorHitVisitor): void;
}

function fold(c: number): number {
  return c >= 65 && c <= 90 ? c | 32 : c;
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/**
 * Whether `anchor` occurs at `pos`. Case-insensitive anchors are lower-case;
 * a JavaScript `/i` regex without the `u` flag folds only ASCII letters onto
 * ASCII, so folding ASCII letters here matches exactly what it matched.
 */
export function anchorAt(text: string, pos: number, anchor: string, caseInsensitive: boolean): boolean {
  const n = anchor.length;
  if (pos < 0 || pos + n > text.length) return false;
  if (!caseInsensitive) {
    // A plain loop: cheaper than startsWith for these short literals.
    for (let k = 0; k < n; k++) if (text.charCodeAt(pos + k) !== anchor.charCodeAt(k)) return false;
    return true;
  }
  for (let k = 0; k < n; k++) {
    const a = anchor.charCodeAt(k);
    const c = text.charCodeAt(pos + k);
    if (c !== a && !(isLetter(a) && (c | 32) === a)) return false;
  }
  return true;
}

/** Every upper/lower-case spelling of `s` (2^letters of them; triggers are one or two characters). */
function caseVariants(s: string): string[] {
  let out = [''];
  for (const ch of s) {
    const alts = ch.toLowerCase() === ch.toUpperCase() ? [ch] : [ch.toLowerCase(), ch.toUpperCase()];
    out = out.flatMap((prefix) => alts.map((a) => prefix + a));
  }
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * Hits of one side not yet reported. Triggers are searched window by window;
 * a hit's anchor starts at most `maxOffset` before the trigger, so once every
 * trigger has been searched to `end`, no later hit can start before
 * `end - maxOffset` and everything before it can be reported in order. Only
 * the hits of one window are ever held, whatever the size of the text.
 */
class PendingHits {
  // Typed buffers reused from window to window (grown by doubling): a body
  // that is one anchor after another costs a few bytes per held hit and no
  // garbage per hit.
  #pos = new Int32Array(64);
  #entry = new Uint8Array(64);
  #length = 0;
  #sorted = true;

  push(pos: number, entry: number): void {
    const n = this.#length;
    if (n > 0) {
      const lastPos = this.#pos[n - 1] as number;
      if (pos < lastPos || (pos === lastPos && entry < (this.#entry[n - 1] as number))) this.#sorted = false;
    }
    if (n === this.#pos.length) this.#grow();
    this.#pos[n] = pos;
    this.#entry[n] = entry;
    this.#length = n + 1;
  }

  #grow(): void {
    const pos = new Int32Array(this.#pos.length * 2);
    pos.set(this.#pos);
    this.#pos = pos;
    const entry = new Uint8Array(this.#entry.length * 2);
    entry.set(this.#entry);
    this.#entry = entry;
  }

  /** Reports, in order, every held hit before `limit`, and keeps the rest. */
  flush(limit: number, side: 0 | 1, visitor: AnchorHitVisitor): void {
    const n = this.#length;
    if (n === 0) return;
    if (!this.#sorted) this.#sort();
    const pos = this.#pos;
    const entry = this.#entry;
    let k = 0;
    for (; k < n && (pos[k] as number) < limit; k++) visitor.hit(side, pos[k] as number, entry[k] as number);
    if (k > 0 && k < n) {
      pos.copyWithin(0, k, n);
      entry.copyWithin(0, k, n);
    }
    this.#length = n - k;
  }

  #sort(): void {
    // Held hits span one window plus an anchor's length, so (pos - min, entry)
    // packs into an int32 and a typed-array sort orders them.
    const n = this.#length;
    const pos = this.#pos;
    const entry = this.#entry;
    let min = Infinity;
    for (let k = 0; k < n; k++) min = Math.min(min, pos[k] as number);
    const keys = new Int32Array(n);
    for (let k = 0; k < n; k++) keys[k] = ((pos[k] as number) - min) * MAX_ENTRIES + (entry[k] as number);
    keys.sort();
    for (let k = 0; k < n; k++) {
      const key = keys[k] as number;
      pos[k] = min + Math.floor(key / MAX_ENTRIES);
      entry[k] = key % MAX_ENTRIES;
    }
    this.#sorted = true;
  }
}

/** Characters searched per window: hits of one window are all that is held at a time. */
const DEFAULT_WINDOW = 1 << 16;

/**
 * Compiles the trigger plan for case-sensitive and case-insensitive entries
 * (as returned by `anchorEntries`). Both sets share one pass per trigger.
 * `window` is how many characters are searched before held hits are
 * reported (tests make it tiny to exercise the window edges).
 */
export function compileAnchorSearch(
  csEntries: readonly AnchorEntry[],
  ciEntries: readonly AnchorEntry[],
  window = DEFAULT_WINDOW,
): AnchorSearch {
  const byLiteral = new Map<string, TriggerTarget[]>();
  const rest: { entry: number; anchor: string }[][] = [[], []];
  let maxOffset = 0;
  const plan = (entries: readonly AnchorEntry[], side: 0 | 1): void => {
    const ci = side === 1;
    const prefs = ci ? CASE_INSENSITIVE_TRIGGERS : CASE_SENSITIVE_TRIGGERS;
    entries.forEach((e, entry) => {
      const trigger = prefs.find((t) => e.anchor.includes(ci ? t.toLowerCase() : t));
      if (trigger === undefined) {
        rest[side]?.push({ entry, anchor: e.anchor });
        return;
      }
      const t = ci ? trigger.toLowerCase() : trigger;
      // Prefer an occurrence with a character before it: that character picks the bucket.
      const later = e.anchor.indexOf(t, 1);
      const offset = later > 0 ? later : e.anchor.indexOf(t);
      maxOffset = Math.max(maxOffset, offset);
      for (const v of ci ? caseVariants(t) : [t]) {
        const list = byLiteral.get(v) ?? [];
        list.push({ side, entry, offset, anchor: e.anchor });
        byLiteral.set(v, list);
      }
    });
  };
  plan(csEntries, 0);
  plan(ciEntries, 1);
  const literals: LiteralTrigger[] = [...byLiteral].map(([literal, targets]) => {
    const byPrev: (TriggerTarget[] | undefined)[] = new Array<TriggerTarget[] | undefined>(128).fill(undefined);
    const atStart: TriggerTarget[] = [];
    for (const t of targets) {
      if (t.offset === 0) {
        atStart.push(t);
        continue;
      }
      const key = fold(t.anchor.charCodeAt(t.offset - 1));
      const list = byPrev[key] ?? [];
      list.push(t);
      byPrev[key] = list;
    }
    return { literal, byPrev, atStart };
  });
  // Anchors with no trigger character share one alternation per case mode.
  // Longest first is not needed for correctness (every such anchor is checked
  // at each hit), only so the alternation is deterministic.
  const restRes = rest.map((list, side) => {
    const anchors = [...new Set(list.map((r) => r.anchor))].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    return anchors.length === 0 ? null : new RegExp(anchors.map(escapeRegex).join('|'), side === 1 ? 'gi' : 'g');
  });
  const step = Math.max(1, window);

  return {
    find(text, ticker, visitor) {
      const held: readonly [PendingHits, PendingHits] = [new PendingHits(), new PendingHits()];
      // Next unsearched hit of each trigger (-1: none left). Each pass resumes
      // where it stopped, so every trigger still reads the text once.
      const nextLiteral = literals.map((t) => text.indexOf(t.literal));
      const nextMatch = restRes.map((re) => firstMatch(re, text, 0));
      for (let end = step; ; end += step) {
        const last = end >= text.length;
        const bound = last ? text.length : end;
        // One small function per pass: each is optimized on its own after a
        // few calls, instead of one long-running function that V8 must
        // optimize mid-loop.
        for (let t = 0; t < literals.length; t++) {
          nextLiteral[t] = literalPass(text, literals[t] as LiteralTrigger, nextLiteral[t] as number, bound, held, ticker);
        }
        for (let side = 0; side < 2; side++) {
          const re = restRes[side];
          if (re === null || re === undefined) continue;
          nextMatch[side] = regexPass(text, re, nextMatch[side] ?? -1, bound, rest[side] ?? [], side === 1, held[side === 0 ? 0 : 1], ticker);
        }
        const limit = last ? Infinity : bound - maxOffset;
        held[0].flush(limit, 0, visitor);
        held[1].flush(limit, 1, visitor);
        if (last) return;
      }
    },
  };
}

function firstMatch(re: RegExp | null | undefined, text: string, from: number): number {
  if (re === null || re === undefined) return -1;
  re.lastIndex = from;
  const m = re.exec(text);
  return m === null ? -1 : m.index;
}

/** Trigger hits from `h` up to `bound`, checked against the anchors each may belong to; returns the next hit. */
function literalPass(
  text: string,
  trig: LiteralTrigger,
  h: number,
  bound: number,
  held: readonly [PendingHits, PendingHits],
  ticker: BudgetTicker,
): number {
  const { literal, atStart, byPrev } = trig;
  for (; h >= 0 && h < bound; h = text.indexOf(literal, h + 1)) {
    // Every hit, not every 256th: the ticker counts for itself, and a call
    // site first reached deep into a large input would throw V8 out of
    // optimized code there.
    ticker.tick();
    if (atStart.length > 0) checkTargets(text, h, atStart, held);
    if (h > 0) {
      const p = text.charCodeAt(h - 1);
      const bucket = p < 128 ? byPrev[p >= 65 && p <= 90 ? p | 32 : p] : undefined;
      if (bucket !== undefined) checkTargets(text, h, bucket, held);
    }
  }
  return h;
}

function checkTargets(text: string, h: number, targets: readonly TriggerTarget[], held: readonly [PendingHits, PendingHits]): void {
  for (let k = 0; k < targets.length; k++) {
    const t = targets[k] as TriggerTarget;
    const pos = h - t.offset;
    if (pos >= 0 && anchorAt(text, pos, t.anchor, t.side === 1)) held[t.side].push(pos, t.entry);
  }
}

/** Matches of the alternation of trigger-less anchors from `at` up to `bound`; returns the next match. */
function regexPass(
  text: string,
  re: RegExp,
  at: number,
  bound: number,
  targets: readonly { entry: number; anchor: string }[],
  caseInsensitive: boolean,
  held: PendingHits,
  ticker: BudgetTicker,
): number {
  while (at >= 0 && at < bound) {
    ticker.tick();
    for (const r of targets) if (anchorAt(text, at, r.anchor, caseInsensitive)) held.push(at, r.entry);
    // Anchors can overlap (`secret` inside `client_secret` is its own entry).
    // The scan is synchronous, so the shared regex's lastIndex is ours here.
    at = firstMatch(re, text, at + 1);
  }
  return at;
}

/**
 * The reference: tries every anchor at every position. Quadratic in spirit
 * (positions x anchors) and only for tests, which check that
 * `compileAnchorSearch(...).find` returns exactly this.
 */
export function exhaustiveAnchorHits(text: string, entries: readonly AnchorEntry[], caseInsensitive: boolean): AnchorHits {
  const pos: number[] = [];
  const entry: number[] = [];
  for (let p = 0; p < text.length; p++) {
    entries.forEach((e, k) => {
      if (anchorAt(text, p, e.anchor, caseInsensitive)) {
        pos.push(p);
        entry.push(k);
      }
    });
  }
  return { pos: Int32Array.from(pos), entry: Uint8Array.from(entry) };
}
