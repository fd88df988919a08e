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
 * A hit is encoded as one number, `position * ENTRY_SLOTS + entry index`, so
 * a typed-array sort orders hits by position and, at one position, by entry
 * order (the order detectors are listed in).
 */
export const ENTRY_SLOTS = 256;

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
  if (entries.length >= ENTRY_SLOTS) throw new Error(`too many DLP anchors (${entries.length})`);
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

/** Compiled search for the case-sensitive and the case-insensitive anchors together. */
export interface AnchorSearch {
  /**
   * Every anchor occurrence in `text`, as sorted hit codes (see ENTRY_SLOTS):
   * `[case-sensitive hits, case-insensitive hits]`, entry indexes into the
   * respective entry lists. `tick` is called every 256 trigger hits so a
   * caller can enforce a time budget.
   */
  find(text: string, tick: () => void): [Float64Array, Float64Array];
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

/** Hit codes of one entry set while a search runs. */
class HitList {
  readonly keys: number[] = [];
  // Each trigger's hits come in position order, give or take an anchor's
  // length; `runs` marks where each trigger's hits start so they can be put
  // in order and merged without a full sort.
  readonly runs: number[] = [0];
  sorted = true;
  last = -1;

  startRun(): void {
    if (this.keys.length > (this.runs[this.runs.length - 1] as number)) this.runs.push(this.keys.length);
  }

  push(key: number): void {
    if (key < this.last) this.sorted = false;
    this.last = key;
    this.keys.push(key);
  }

  result(): Float64Array {
    const out = Float64Array.from(this.keys);
    if (this.sorted) return out;
    this.runs.push(this.keys.length);
    return mergeRuns(out, this.runs);
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
    find(text, tick) {
      const lists = [new HitList(), new HitList()] as const;
      let hits = 0;
      for (const trig of literals) {
        lists[0].startRun();
        lists[1].startRun();
        const lit = trig.literal;
        const { atStart, byPrev } = trig;
        for (let h = text.indexOf(lit); h >= 0; h = text.indexOf(lit, h + 1)) {
          if ((++hits & 255) === 0) tick();
          let bucket: readonly TriggerTarget[] | undefined = undefined;
          if (h > 0) {
            const p = text.charCodeAt(h - 1);
            if (p < 128) bucket = byPrev[p >= 65 && p <= 90 ? p | 32 : p];
          }
          for (let round = 0; round < 2; round++) {
            const targets = round === 0 ? atStart : bucket;
            if (targets === undefined) continue;
            for (let k = 0; k < targets.length; k++) {
              const t = targets[k] as TriggerTarget;
              const pos = h - t.offset;
              if (pos >= 0 && anchorAt(text, pos, t.anchor, t.side === 1)) lists[t.side].push(pos * ENTRY_SLOTS + t.entry);
            }
          }
        }
      }
      for (let side = 0; side < 2; side++) {
        const re = restRes[side];
        const list = lists[side === 0 ? 0 : 1];
        const targets = rest[side] ?? [];
        if (re === null || re === undefined) continue;
        list.startRun();
        // find() is synchronous, so reusing the compiled regex (and its lastIndex) is safe.
        re.lastIndex = 0;
        for (let m = re.exec(text); m !== null; m = re.exec(text)) {
          tick();
          const pos = m.index;
          for (const r of targets) if (anchorAt(text, pos, r.anchor, side === 1)) list.push(pos * ENTRY_SLOTS + r.entry);
          // Anchors can overlap (`secret` inside `client_secret` is its own entry).
          re.lastIndex = pos + 1;
        }
      }
      return [lists[0].result(), lists[1].result()];
    },
  };
}

/**
 * Sorts `keys`, made of consecutive runs (`bounds` holds each run's start,
 * then the end) that are each nearly sorted (an element is out of place by at
 * most the hits of one anchor's length): insertion sort inside each run, then
 * pairwise merges. Linear in practice; a full comparison sort of a large
 * Float64Array costs far more.
 */
function mergeRuns(keys: Float64Array, bounds: readonly number[]): Float64Array {
  for (let r = 0; r + 1 < bounds.length; r++) {
    const lo = bounds[r] as number;
    const hi = bounds[r + 1] as number;
    for (let i = lo + 1; i < hi; i++) {
      const v = keys[i] as number;
      let j = i - 1;
      while (j >= lo && (keys[j] as number) > v) {
        keys[j + 1] = keys[j] as number;
        j--;
      }
      keys[j + 1] = v;
    }
  }
  let src: Float64Array = keys;
  let dst: Float64Array = new Float64Array(keys.length);
  let b = [...bounds];
  while (b.length > 2) {
    const next: number[] = [0];
    for (let r = 0; r + 1 < b.length; r += 2) {
      const lo = b[r] as number;
      const mid = b[r + 1] as number;
      const hi = r + 2 < b.length ? (b[r + 2] as number) : mid;
      let i = lo;
      let j = mid;
      let o = lo;
      while (i < mid && j < hi) dst[o++] = (src[i] as number) <= (src[j] as number) ? (src[i++] as number) : (src[j++] as number);
      while (i < mid) dst[o++] = src[i++] as number;
      while (j < hi) dst[o++] = src[j++] as number;
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
export function exhaustiveAnchorHits(text: string, entries: readonly AnchorEntry[], caseInsensitive: boolean): Float64Array {
  const keys: number[] = [];
  for (let pos = 0; pos < text.length; pos++) {
    entries.forEach((e, entry) => {
      if (anchorAt(text, pos, e.anchor, caseInsensitive)) keys.push(pos * ENTRY_SLOTS + entry);
    });
  }
  return Float64Array.from(keys);
}
