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

/** Compiled search for the case-sensitive and the case-insensitive anchors together. */
export interface AnchorSearch {
  /**
   * Every anchor occurrence in `text`: `[case-sensitive hits,
   * case-insensitive hits]`, entry indexes into the respective entry lists.
   */
  find(text: string, ticker: BudgetTicker): [AnchorHits, AnchorHits];
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

/** The hits of one entry set while a search runs. */
class HitList {
  readonly pos: number[] = [];
  readonly entry: number[] = [];
  // Each trigger's hits come in position order, give or take an anchor's
  // length; `runs` marks where each trigger's hits start so they can be put
  // in order and merged without a full sort.
  readonly runs: number[] = [0];
  sorted = true;
  lastPos = -1;
  lastEntry = -1;

  startRun(): void {
    if (this.pos.length > (this.runs[this.runs.length - 1] as number)) this.runs.push(this.pos.length);
  }

  push(pos: number, entry: number): void {
    if (pos < this.lastPos || (pos === this.lastPos && entry < this.lastEntry)) this.sorted = false;
    this.lastPos = pos;
    this.lastEntry = entry;
    this.pos.push(pos);
    this.entry.push(entry);
  }

  result(): AnchorHits {
    const hits = { pos: Int32Array.from(this.pos), entry: Uint8Array.from(this.entry) };
    if (this.sorted) return hits;
    this.runs.push(this.pos.length);
    return mergeRuns(hits, this.runs);
  }
}

/**
 * Compiles the trigger plan for case-sensitive and case-insensitive entries
 * (as returned by `anchorEntries`). Both sets share one pass per trigger.
 */
export function compileAnchorSearch(csEntries: readonly AnchorEntry[], ciEntries: readonly AnchorEntry[]): AnchorSearch {
  const byLiteral = new Map<string, TriggerTarget[]>();
  const rest: { side: 0 | 1; entry: number; anchor: string }[][] = [[], []];
  const plan = (entries: readonly AnchorEntry[], side: 0 | 1): void => {
    const ci = side === 1;
    const prefs = ci ? CASE_INSENSITIVE_TRIGGERS : CASE_SENSITIVE_TRIGGERS;
    entries.forEach((e, entry) => {
      const trigger = prefs.find((t) => e.anchor.includes(ci ? t.toLowerCase() : t));
      if (trigger === undefined) {
        rest[side]?.push({ side, entry, anchor: e.anchor });
        return;
      }
      const t = ci ? trigger.toLowerCase() : trigger;
      // Prefer an occurrence with a character before it: that character picks the bucket.
      const later = e.anchor.indexOf(t, 1);
      const offset = later > 0 ? later : e.anchor.indexOf(t);
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

  return {
    find(text, ticker) {
      const lists: readonly [HitList, HitList] = [new HitList(), new HitList()];
      // One small function per pass: each is optimized on its own after a few
      // calls, instead of one long-running function that V8 must optimize
      // mid-loop and throws back to the interpreter when a later pass starts.
      for (const trig of literals) literalPass(text, trig, lists, ticker);
      for (let side = 0; side < 2; side++) {
        const re = restRes[side];
        if (re !== null && re !== undefined) regexPass(text, re, rest[side] ?? [], side === 1, lists[side === 0 ? 0 : 1], ticker);
      }
      return [lists[0].result(), lists[1].result()];
    },
  };
}

/** Every hit of one literal trigger, checked against the anchors it may belong to. */
function literalPass(text: string, trig: LiteralTrigger, lists: readonly [HitList, HitList], ticker: BudgetTicker): void {
  lists[0].startRun();
  lists[1].startRun();
  const { literal, atStart, byPrev } = trig;
  for (let h = text.indexOf(literal); h >= 0; h = text.indexOf(literal, h + 1)) {
    // Every hit, not every 256th: the ticker counts for itself, and a call
    // site first reached deep into a large input would throw V8 out of
    // optimized code there.
    ticker.tick();
    if (atStart.length > 0) checkTargets(text, h, atStart, lists);
    if (h > 0) {
      const p = text.charCodeAt(h - 1);
      const bucket = p < 128 ? byPrev[p >= 65 && p <= 90 ? p | 32 : p] : undefined;
      if (bucket !== undefined) checkTargets(text, h, bucket, lists);
    }
  }
}

function checkTargets(text: string, h: number, targets: readonly TriggerTarget[], lists: readonly [HitList, HitList]): void {
  for (let k = 0; k < targets.length; k++) {
    const t = targets[k] as TriggerTarget;
    const pos = h - t.offset;
    if (pos >= 0 && anchorAt(text, pos, t.anchor, t.side === 1)) lists[t.side].push(pos, t.entry);
  }
}

/** Every match of the alternation of anchors that have no trigger character. */
function regexPass(
  text: string,
  re: RegExp,
  targets: readonly { entry: number; anchor: string }[],
  caseInsensitive: boolean,
  list: HitList,
  ticker: BudgetTicker,
): void {
  list.startRun();
  // The scan is synchronous, so reusing the compiled regex (and its lastIndex) is safe.
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    ticker.tick();
    const pos = m.index;
    for (const r of targets) if (anchorAt(text, pos, r.anchor, caseInsensitive)) list.push(pos, r.entry);
    // Anchors can overlap (`secret` inside `client_secret` is its own entry).
    re.lastIndex = pos + 1;
  }
}

/** Whether hit `i` of (p, e) sorts after hit `j` of (q, f). */
function after(p: Int32Array, e: Uint8Array, i: number, q: Int32Array, f: Uint8Array, j: number): boolean {
  const a = p[i] as number;
  const b = q[j] as number;
  return a > b || (a === b && (e[i] as number) > (f[j] as number));
}

/**
 * Sorts hits made of consecutive runs (`bounds` holds each run's start, then
 * the end) that are each nearly sorted (a hit is out of place by at most the
 * hits within one anchor's length): insertion sort inside each run, then
 * pairwise merges. Linear in practice, where a comparison sort of all hits
 * would not be.
 */
function mergeRuns(hits: AnchorHits, bounds: readonly number[]): AnchorHits {
  const { pos, entry } = hits;
  for (let r = 0; r + 1 < bounds.length; r++) {
    const lo = bounds[r] as number;
    const hi = bounds[r + 1] as number;
    for (let i = lo + 1; i < hi; i++) {
      const p = pos[i] as number;
      const e = entry[i] as number;
      let j = i - 1;
      while (j >= lo && ((pos[j] as number) > p || ((pos[j] as number) === p && (entry[j] as number) > e))) {
        pos[j + 1] = pos[j] as number;
        entry[j + 1] = entry[j] as number;
        j--;
      }
      pos[j + 1] = p;
      entry[j + 1] = e;
    }
  }
  let src: AnchorHits = hits;
  let dst: AnchorHits = { pos: new Int32Array(pos.length), entry: new Uint8Array(pos.length) };
  let b = [...bounds];
  while (b.length > 2) {
    const next: number[] = [0];
    const sp = src.pos;
    const se = src.entry;
    const dp = dst.pos;
    const de = dst.entry;
    for (let r = 0; r + 1 < b.length; r += 2) {
      const lo = b[r] as number;
      const mid = b[r + 1] as number;
      const hi = r + 2 < b.length ? (b[r + 2] as number) : mid;
      let i = lo;
      let j = mid;
      let o = lo;
      while (i < mid || j < hi) {
        const fromRight = i >= mid || (j < hi && after(sp, se, i, sp, se, j));
        const k = fromRight ? j++ : i++;
        dp[o] = sp[k] as number;
        de[o] = se[k] as number;
        o++;
      }
      next.push(hi);
    }
    [src, dst] = [dst, src];
    b = next;
  }
  return src;
}

/**
 * The reference: tries every anchor at every position. Quadratic in spirit
 * (positions x anchors) and only for tests, which check that
 * `compileAnchorSearch(...).find` returns exactly this.
 */
export function exhaustiveAnchorHits(text: string, entries: readonly AnchorEntry[], caseInsensitive: boolean): AnchorHits {
  const list = new HitList();
  for (let pos = 0; pos < text.length; pos++) {
    entries.forEach((e, entry) => {
      if (anchorAt(text, pos, e.anchor, caseInsensitive)) list.push(pos, entry);
    });
  }
  return list.result();
}
