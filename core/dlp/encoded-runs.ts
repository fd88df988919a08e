// Finding and decoding encoded runs — base64 / base64url, hex,
// percent-encoding and backslash escapes — so the scanner can look at what
// they hide. An agent told to exfiltrate a key can send `echo $KEY | base64`
// as easily as the key itself; a scanner that matches only plain text misses
// it (gitleaks-class scanners do by default).
//
// Pure and linear: each finder walks the text once, and a run is decoded at
// most twice (hex, then base64). What comes out is reduced to its printable
// ASCII strings, so a secret inside binary (or behind a few junk bytes that
// make the whole invalid UTF-8) is still seen, while random bytes (hashes,
// images, ciphertext) almost never yield a string long enough to keep.

import type { EncodingKind } from './types.js';

/** A span of text, end exclusive. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** One encoded run of a text and the printable text it decodes to. */
export interface EncodedRun extends Span {
  readonly kind: EncodingKind;
  /** Printable ASCII strings of the decoded bytes, joined by newlines; never empty. */
  readonly decoded: string;
}

/** Fewest characters of a base64 run worth decoding: 12 bytes, e.g. a base64 SSN; a shorter run hides nothing a detector finds. */
export const MIN_BASE64_CHARS = 16;
/** Fewest characters of a hex run worth decoding (12 bytes). */
export const MIN_HEX_CHARS = 24;
/** Shortest printable string kept from decoded bytes; random bytes seldom give one this long, and no detector matches fewer characters than 6. */
export const MIN_DECODED_STRING = 8;

// Lookup tables for the characters of each alphabet (ASCII only).
const B64 = charTable('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-');
const HEX = charTable('0123456789abcdefABCDEF');
// Characters a percent-encoded value keeps as they are (RFC 3986 unreserved, plus '+' for spaces in forms).
const PCT_PLAIN = charTable('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+');
// Characters an escaped string may carry unescaped between its escapes.
const ESC_PLAIN = charTable('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=:');

// Tables cover every UTF-16 code unit, so a lookup needs no range check
// (charCodeAt of an index past the end is NaN, which reads as undefined).
function charTable(chars: string): Uint8Array {
  const t = new Uint8Array(65536);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

function isIn(table: Uint8Array, code: number): boolean {
  return table[code] === 1;
}

/**
 * Answers "is this span inside one of `covered`?" for spans asked in
 * increasing start order. `covered` must be sorted by start; spans may
 * overlap. Amortised O(1) per question.
 */
class CoverCheck {
  #next = 0;
  #maxEnd = -1;
  constructor(private readonly covered: readonly Span[]) {}

  covers(start: number, end: number): boolean {
    return this.reach(start) >= end;
  }

  /** The furthest end of the spans starting at or before `pos` (-1 if none). */
  reach(pos: number): number {
    while (this.#next < this.covered.length && (this.covered[this.#next] as Span).start <= pos) {
      this.#maxEnd = Math.max(this.#maxEnd, (this.covered[this.#next] as Span).end);
      this.#next++;
    }
    return this.#maxEnd;
  }
}

/**
 * The printable ASCII strings (bytes 0x20–0x7e, tab, CR, LF) of at least
 * MIN_DECODED_STRING characters in `bytes`, joined by newlines: the text a
 * detector could match. Empty when there is none.
 */
export function printableStrings(bytes: Uint8Array): string {
  const parts: string[] = [];
  let start = -1;
  const n = bytes.length;
  for (let i = 0; i <= n; i++) {
    const b = i < n ? (bytes[i] as number) : 0;
    const printable = (b >= 0x20 && b <= 0x7e) || b === 0x09 || b === 0x0a || b === 0x0d;
    if (printable) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start >= MIN_DECODED_STRING) parts.push(Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start).toString('latin1'));
      start = -1;
    }
  }
  return parts.join('\n');
}

/**
 * Every encoded run of `text` that decodes to printable strings, in order of
 * kind then position. Runs lying wholly inside a `covered` span (already a
 * finding: its text is replaced whatever it hides) are not decoded.
 * `tick` is called once per bounded step, so a time budget can stop the walk
 * by throwing. `precheck: false` decodes every base64/hex candidate instead
 * of first checking, without allocating, whether it can yield anything: the
 * reference the tests compare the checked walk against.
 */
export function findEncodedRuns(text: string, covered: readonly Span[], tick: () => void, options: { readonly precheck?: boolean } = {}): EncodedRun[] {
  const out: EncodedRun[] = [];
  findBase64AndHexRuns(text, covered, tick, out, options.precheck ?? true);
  // No `includes` first: findEscapedRuns's own indexOf answers as fast when
  // the trigger is absent, and code, where it is present, was read twice.
  for (const syntax of [PERCENT, BACKSLASH]) findEscapedRuns(text, syntax, new CoverCheck(covered), tick, out);
  return out;
}

/**
 * Base64 (standard or URL-safe, padded or not, wrapped into lines of a
 * multiple of four characters as `base64` and PEM write it) and hex runs.
 * A run of at least MIN_BASE64_CHARS alphabet characters always contains a
 * position that is a multiple of MIN_BASE64_CHARS, so only those positions
 * are looked at first, and from each only the word through it: in prose and
 * code words are short, which makes this pass several times faster than a
 * regex.
 */
function findBase64AndHexRuns(text: string, covered: readonly Span[], tick: () => void, out: EncodedRun[], precheck: boolean): void {
  const n = text.length;
  const step = MIN_BASE64_CHARS;
  const cover = new CoverCheck(covered);
  // A second reader of the same spans, for positions ahead of the runs asked about.
  const ahead = new CoverCheck(covered);
  const anyCovered = covered.length > 0;
  let i = step - 1;
  // The hot loop reads the table directly and lets charCodeAt past either
  // end (NaN, not in the table) stop the scans: a fifth faster on prose.
  while (i < n) {
    if (B64[text.charCodeAt(i)] !== 1) {
      i += step;
      continue;
    }
    // Inside a finding (a key is one long run): skip it whole. A run that
    // goes on for a whole step beyond the finding is still reached from its
    // far side.
    if (anyCovered) {
      const reach = ahead.reach(i);
      if (reach > i) {
        i = reach + step - 1;
        continue;
      }
    }
    let a = i;
    while (B64[text.charCodeAt(a - 1)] === 1) a--;
    let b = i + 1;
    while (B64[text.charCodeAt(b)] === 1) b++;
    if (b - a < step) {
      // A word of prose or code: the usual case, kept cheap.
      i = b + step;
      continue;
    }
    tick();
    const lineEnd = b;
    b = wrappedEnd(text, a, b);
    let end = b;
    // Padding belongs to the run: redacting the run must not leave a stray '='.
    while (end < n && end - b < 2 && text.charCodeAt(end) === 0x3d) end++;
    // Most long words of code (identifiers, paths) decode to bytes with no
    // printable string in them: that is checked first, without allocating.
    if (!cover.covers(a, end) && (!precheck || mayHideText(text, a, lineEnd, end))) decodeAlphabetRun(text, a, lineEnd, end, out, tick);
    i = end + step;
  }
}

/** Shortest line of wrapped base64 (PEM wraps at 64, MIME and `base64` at 76). */
const MIN_WRAPPED_LINE = 48;

/**
 * Extends a base64 run over line breaks when it is wrapped: each line before
 * the last has a length that is a multiple of 4, at least MIN_WRAPPED_LINE.
 */
function wrappedEnd(text: string, start: number, end: number): number {
  const n = text.length;
  let lineStart = start;
  let b = end;
  for (;;) {
    const lineLength = b - lineStart;
    if (lineLength < MIN_WRAPPED_LINE || lineLength % 4 !== 0) return b;
    let next = b;
    if (text.charCodeAt(next) === 0x0d) next++;
    if (text.charCodeAt(next) !== 0x0a) return b;
    next++;
    if (next >= n || !isIn(B64, text.charCodeAt(next))) return b;
    lineStart = next;
    b = next;
    while (b < n && isIn(B64, text.charCodeAt(b))) b++;
  }
}

/**
 * Decodes a run as hex if [start, end) is hex (one line: hex is not
 * wrapped), otherwise as base64 up to `padded`, which takes in the lines
 * after a wrapped first line and '=' padding.
 */
function decodeAlphabetRun(text: string, start: number, end: number, padded: number, out: EncodedRun[], tick: () => void): void {
  const hex = text.slice(start, end);
  if (hex.length >= MIN_HEX_CHARS && hex.length % 2 === 0 && allIn(HEX, hex)) {
    const decoded = printableStrings(Buffer.from(hex, 'hex'));
    tick();
    if (decoded !== '') {
      out.push({ start, end, kind: 'hex', decoded });
      return;
    }
  }
  end = padded;
  const run = text.slice(start, end);
  // Node's base64 decoder takes both alphabets and skips line breaks.
  const decoded = printableStrings(Buffer.from(run, 'base64'));
  tick();
  if (decoded !== '') {
    out.push({ start, end, kind: 'base64', decoded });
    return;
  }
  // A URL path is one run of base64 characters ('/' is one of them), so a
  // base64 segment in it decodes misaligned: try each segment on its own.
  if (!run.includes('/')) return;
  let segStart = 0;
  for (let k = 0; k <= run.length; k++) {
    if (k < run.length && run.charCodeAt(k) !== 0x2f) continue;
    if (k - segStart >= MIN_BASE64_CHARS && k - segStart < run.length) {
      const seg = printableStrings(Buffer.from(run.slice(segStart, k), 'base64'));
      tick();
      if (seg !== '') out.push({ start: start + segStart, end: start + k, kind: 'base64', decoded: seg });
    }
    segStart = k + 1;
  }
}

// Each base64 character's 6-bit value, both alphabets (as Node's decoder
// reads them); -1 for anything else.
const B64_VALUE = ((): Int8Array => {
  const t = new Int8Array(65536).fill(-1);
  const std = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let v = 0; v < 64; v++) t[std.charCodeAt(v)] = v;
  t[0x2d] = 62; // '-'
  t[0x5f] = 63; // '_'
  return t;
})();

function isPrintableByte(b: number): boolean {
  return (b >= 0x20 && b <= 0x7e) || b === 0x09 || b === 0x0a || b === 0x0d;
}

/**
 * Whether `decodeAlphabetRun(text, start, end, padded)` would find anything:
 * the same decodes (hex, base64, each '/'-separated segment) done byte by
 * byte without allocating, each asking only whether a printable string of
 * MIN_DECODED_STRING bytes appears, which is exactly when printableStrings
 * returns one. Base64 is decoded as Node decodes it: alphabet characters in
 * order, anything else (a wrapped run's line breaks) skipped, '=' ends it, a
 * last lone character gives no byte.
 */
function mayHideText(text: string, start: number, end: number, padded: number): boolean {
  const length = end - start;
  if (length >= MIN_HEX_CHARS && length % 2 === 0 && hexHoldsText(text, start, end)) return true;
  if (base64HoldsText(text, start, padded)) return true;
  // The URL path case: each segment of the run decoded on its own.
  let segStart = start;
  for (let k = start; k <= padded; k++) {
    if (k < padded && text.charCodeAt(k) !== 0x2f) continue;
    if (k - segStart >= MIN_BASE64_CHARS && k - segStart < padded - start && base64HoldsText(text, segStart, k)) return true;
    segStart = k + 1;
  }
  return false;
}

/** [start, end) is all hex digits and decodes to bytes holding a printable string of MIN_DECODED_STRING. */
function hexHoldsText(text: string, start: number, end: number): boolean {
  let run = 0;
  let found = false;
  for (let k = start; k < end; k += 2) {
    const hi = hexValue(text.charCodeAt(k));
    const lo = hexValue(text.charCodeAt(k + 1));
    if (hi < 0 || lo < 0) return false;
    if (isPrintableByte(hi * 16 + lo)) {
      if (++run >= MIN_DECODED_STRING) found = true;
    } else run = 0;
  }
  return found;
}

/** The base64 decode of [start, end) holds a printable string of MIN_DECODED_STRING bytes. */
function base64HoldsText(text: string, start: number, end: number): boolean {
  let acc = 0;
  let bits = 0;
  let run = 0;
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c === 0x3d) break;
    const v = B64_VALUE[c] as number;
    if (v < 0) continue;
    acc = ((acc << 6) | v) & 0xfff;
    bits += 6;
    if (bits < 8) continue;
    bits -= 8;
    if (isPrintableByte((acc >> bits) & 0xff)) {
      if (++run >= MIN_DECODED_STRING) return true;
    } else run = 0;
  }
  return false;
}

function allIn(table: Uint8Array, s: string): boolean {
  for (let k = 0; k < s.length; k++) if (!isIn(table, s.charCodeAt(k))) return false;
  return true;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/** Length of a `%XX` escape at `i`, or 0. */
function percentEscapeLength(text: string, i: number): number {
  return text.charCodeAt(i) === 0x25 && hexValue(text.charCodeAt(i + 1)) >= 0 && hexValue(text.charCodeAt(i + 2)) >= 0 ? 3 : 0;
}

/** Length of a `\uXXXX` or `\xHH` escape at `i`, or 0. */
function backslashEscapeLength(text: string, i: number): number {
  if (text.charCodeAt(i) !== 0x5c) return 0;
  const c = text.charCodeAt(i + 1);
  const digits = c === 0x75 ? 4 : c === 0x78 ? 2 : 0;
  if (digits === 0) return 0;
  for (let k = 0; k < digits; k++) if (hexValue(text.charCodeAt(i + 2 + k)) < 0) return 0;
  return 2 + digits;
}

/** How one kind of escaped run is written: the character that starts an escape, what an escape is, and what may stand between escapes. */
interface EscapeSyntax {
  readonly kind: 'percent' | 'escape';
  readonly trigger: string;
  readonly plain: Uint8Array;
  /** Length of an escape at `i`, or 0; its value is the hex digits that end it (`%XX`: 2, `\xHH`: 2, `\uXXXX`: 4). */
  readonly escapeLength: (text: string, i: number) => number;
}

/**
 * Percent-encoded runs: unreserved characters and `%XX` escapes, with at
 * least one escape (`AKIA%51…` defeats a plain-text detector as surely as a
 * fully escaped value). Query parameters and path segments end at `=`, `&`
 * and `/`, so each value is its own run.
 */
const PERCENT: EscapeSyntax = { kind: 'percent', trigger: '%', plain: PCT_PLAIN, escapeLength: percentEscapeLength };

/**
 * Runs holding `\uXXXX` or `\xHH` escapes, as JSON, JavaScript and Python
 * write them: outside a parsed JSON string they are text a model reads
 * fluently, and `\u0041KIA…` hides an AWS key id from every plain-text
 * detector.
 */
const BACKSLASH: EscapeSyntax = { kind: 'escape', trigger: '\\', plain: ESC_PLAIN, escapeLength: backslashEscapeLength };

/**
 * Runs of `syntax`: maximal stretches of plain characters and escapes that
 * hold at least one escape, each decoded and kept when it yields a
 * printable string.
 */
function findEscapedRuns(text: string, syntax: EscapeSyntax, cover: CoverCheck, tick: () => void, out: EncodedRun[]): void {
  const n = text.length;
  let from = 0;
  for (let p = text.indexOf(syntax.trigger, from); p >= 0; p = text.indexOf(syntax.trigger, from)) {
    if (syntax.escapeLength(text, p) === 0) {
      from = p + 1;
      continue;
    }
    tick();
    // Earlier escapes of this run were found first, so only plain characters lie to the left.
    let a = p;
    while (a > 0 && isIn(syntax.plain, text.charCodeAt(a - 1))) a--;
    const codes: number[] = [];
    for (let k = a; k < p; k++) codes.push(text.charCodeAt(k));
    let b = p;
    while (b < n) {
      const len = syntax.escapeLength(text, b);
      if (len > 0) {
        let value = 0;
        for (let k = b + len - (len === 6 ? 4 : 2); k < b + len; k++) value = value * 16 + hexValue(text.charCodeAt(k));
        // Anything outside printable ASCII ends a printable string, like an unprintable byte.
        codes.push(value > 0x7e ? 0 : value);
        b += len;
      } else if (isIn(syntax.plain, text.charCodeAt(b))) {
        codes.push(text.charCodeAt(b));
        b++;
      } else {
        break;
      }
    }
    from = b;
    if (cover.covers(a, b)) continue;
    const decoded = printableStrings(Uint8Array.from(codes));
    if (decoded !== '') out.push({ start: a, end: b, kind: syntax.kind, decoded });
  }
}
