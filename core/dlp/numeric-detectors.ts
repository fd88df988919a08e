// Numeric PII detectors: payment cards, US SSNs, phone numbers, IBANs and
// corporate IPs. They have no literal anchor, so the scanner makes one linear
// pass that finds "digit runs" (digit groups joined by short separators) and
// hands only runs with enough digits to these checks. Every pattern here is
// sticky or runs on a run (at most MAX_RUN characters), and bounded. IPv6
// has its own colon-anchored pass (detectIpv6), run only with IPv6 CIDRs.

import type { Candidate } from './detectors.js';
import { inAnyCidr, parseDottedQuad, parseIpv6, type Cidr } from '../net/ip-address.js';
import { cardIssuer, ibanLength, ibanValid, luhnValid, ssnValid } from './validators.js';

/** Longest digit run we examine; longer runs are split (numeric tables, hex dumps). */
export const MAX_RUN = 96;

/** A maximal stretch of digit groups separated by at most two separator characters. */
export interface DigitRun {
  readonly start: number;
  readonly end: number;
  readonly digits: number;
  readonly hasDot: boolean;
}

const ssnRe = /(?<![0-9-])([0-9]{3})(?:-([0-9]{2})-|[ ]([0-9]{2})[ ])([0-9]{4})(?![0-9]|-[0-9])/g;
const ssnBareRe = /(?<![0-9])([0-9]{3})([0-9]{2})([0-9]{4})(?![0-9])/y;
const ssnContextRe = /\b(?:ssn|social security(?: number| no\.?)?|ss#)[^A-Za-z0-9]{0,6}$/i;
const nanpRe =
  /(?<![0-9+])(?:\+?1[ .-]?)?(?:\([2-9][0-9]{2}\)[ ]?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}(?![0-9]|[.-][0-9])/g;
// Every group starts with a separator or '(' so there is one way to split the digits.
const intlRe = /(?<![0-9])\+[1-9][0-9]{0,3}(?:[ .-]?\([0-9]{1,5}\)|[ .-][0-9]{1,6}){1,6}(?![0-9]|[.-][0-9])/g;
const e164CompactRe = /(?<![0-9])\+[1-9][0-9]{7,14}(?![0-9])/g;
const nationalRe = /(?<![0-9.])0[1-9][0-9]{1,4}[ -][0-9]{3,4}[ -]?[0-9]{3,4}(?![0-9]|[.-][0-9])/g;
const ipv4Re = /(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])/g;
const ibanRe = /[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){1,8}(?:[ ]?[A-Z0-9]{1,3})?/y;

const ipv6FinderRe = /:[0-9A-Fa-f:]/g;

/** Every pattern this module runs; the ReDoS test checks each one. */
export const NUMERIC_PATTERNS: readonly RegExp[] = [
  ssnRe, ssnBareRe, ssnContextRe, nanpRe, intlRe, e164CompactRe, nationalRe, ipv4Re, ibanRe, ipv6FinderRe,
];

/** Which numeric detectors are on, and the corporate networks for `corporate_ip`. */
export interface NumericConfig {
  readonly card: boolean;
  readonly ssn: boolean;
  readonly phone: boolean;
  readonly iban: boolean;
  /** IPv4 networks only; IPv6 ones go to {@link detectIpv6}. */
  readonly cidrs: readonly Cidr[];
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}
function isSeparator(c: number): boolean {
  // space, ( ) + - . /
  return c === 32 || c === 40 || c === 41 || c === 43 || c === 45 || c === 46 || c === 47;
}

/**
 * Receives digit runs as plain numbers (no object per run: most runs are a
 * year or a pixel size and need no look). An object rather than a callback so
 * the hot call site keeps one target across scans.
 */
export interface DigitRunVisitor {
  visit(start: number, end: number, digits: number, hasDot: boolean): void;
}

/**
 * Calls `visitor.visit` for each digit run in `text`, in order. A run starts at a
 * digit (or a `+`/`(` right before one) and continues while digit groups are
 * separated by at most two separator characters. Runs whose groups are all
 * one digit long may be skipped (every detector needs a group of two or more
 * digits), except that with `singleDigits` a digit followed by a dot counts,
 * for dotted IPv4 addresses.
 */
export function forEachDigitRun(text: string, singleDigits: boolean, visitor: DigitRunVisitor): void {
  const n = text.length;
  // The regex engine skips non-digits far faster than a charCodeAt loop
  // (Boyer-Moore over the fixed-length class), so it drives the outer loop.
  // With corporate CIDRs, a digit followed by a dot also starts a run (`8.8.8.8`).
  const finder = singleDigits ? /[0-9][0-9.]/g : /[0-9]{2}/g;
  let lastEnd = 0;
  // test() rather than exec(): the match is always two characters, so its
  // position is lastIndex - 2, and no match array is allocated per run.
  while (finder.test(text)) {
    const found = finder.lastIndex - 2;
    // Walk back over digits and separators that connect to this group.
    let i = found;
    while (i > lastEnd && found - i < MAX_RUN) {
      const p = text.charCodeAt(i - 1);
      if (isDigit(p)) i--;
      else if (isSeparator(p) && i - 2 >= lastEnd && isDigit(text.charCodeAt(i - 2))) i -= 2;
      else if (isSeparator(p) && isSeparator(text.charCodeAt(i - 2)) && i - 3 >= lastEnd && isDigit(text.charCodeAt(i - 3))) i -= 3;
      else break;
    }
    let start = i;
    if (start > lastEnd) {
      const p = text.charCodeAt(start - 1);
      if (p === 43 || p === 40) start--;
    }
    let digits = 0;
    let hasDot = false;
    let end = i;
    let j = i;
    while (j < n && j - start < MAX_RUN) {
      const c = text.charCodeAt(j);
      if (isDigit(c)) {
        digits++;
        j++;
        end = j;
        continue;
      }
      // Up to two separators, then a digit, keep the run going.
      if (isSeparator(c)) {
        const c1 = text.charCodeAt(j + 1);
        if (isDigit(c1)) {
          if (c === 46) hasDot = true;
          j++;
          continue;
        }
        if (isSeparator(c1) && isDigit(text.charCodeAt(j + 2))) {
          j += 2;
          continue;
        }
      }
      break;
    }
    visitor.visit(start, end, digits, hasDot);
    lastEnd = end;
    finder.lastIndex = Math.max(end, found + 1);
  }
}

function isAlnum(c: number): boolean {
  return isDigit(c) || isUpper(c) || (c >= 97 && c <= 122);
}

/**
 * True when [start, end) is not glued to surrounding alphanumerics, directly
 * or through a single `-`/`.`: digits inside a UUID, a hash or a version
 * string are not phone or card numbers. Checks the full text, because the
 * patterns only see the digit run.
 */
function isolated(text: string, start: number, end: number): boolean {
  const b1 = text.charCodeAt(start - 1);
  if (isAlnum(b1) || ((b1 === 45 || b1 === 46) && isAlnum(text.charCodeAt(start - 2)))) return false;
  const a1 = text.charCodeAt(end);
  if (isAlnum(a1) || ((a1 === 45 || a1 === 46) && isAlnum(text.charCodeAt(end + 1)))) return false;
  return true;
}

/** Splits a card-shaped stretch into digit groups; null when separators are mixed. */
function cardGroups(s: string): { digits: string; groups: number[] } | null {
  let sep = '';
  let digits = '';
  const groups: number[] = [];
  let cur = 0;
  for (let k = 0; k < s.length; k++) {
    const ch = s[k] ?? '';
    if (ch >= '0' && ch <= '9') {
      digits += ch;
      cur++;
    } else {
      if (sep === '') sep = ch;
      else if (ch !== sep) return null;
      groups.push(cur);
      cur = 0;
    }
  }
  groups.push(cur);
  return { digits, groups };
}

/** Card formats people actually write: one block, 4-4-4-4(-3), 4-6-5 (Amex), 4-6-4 (Diners). */
function plausibleGrouping(groups: number[]): boolean {
  if (groups.length === 1) return true;
  const first = groups[0];
  if (groups.length === 3 && first === 4 && groups[1] === 6 && (groups[2] === 5 || groups[2] === 4)) return true;
  for (let k = 0; k < groups.length - 1; k++) if (groups[k] !== 4) return false;
  const last = groups[groups.length - 1] ?? 0;
  return last >= 1 && last <= 4;
}

function detectCards(text: string, run: DigitRun, out: Candidate[]): void {
  // Windows over the run's groups: every start group, extended while the
  // separator stays a single space or dash and digits stay within 12..19.
  const s = text.slice(run.start, run.end);
  const groupStarts: number[] = [];
  const groupEnds: number[] = [];
  for (let k = 0; k < s.length; ) {
    if (!isDigit(s.charCodeAt(k))) {
      k++;
      continue;
    }
    groupStarts.push(k);
    while (k < s.length && isDigit(s.charCodeAt(k))) k++;
    groupEnds.push(k);
  }
  let g = 0;
  while (g < groupStarts.length) {
    let best: { end: number; g2: number } | null = null;
    for (let g2 = g; g2 < groupStarts.length && g2 < g + 6; g2++) {
      const a = groupStarts[g] ?? 0;
      const b = groupEnds[g2] ?? 0;
      if (g2 > g) {
        const gap = s.slice(groupEnds[g2 - 1] ?? 0, groupStarts[g2] ?? 0);
        if (gap !== ' ' && gap !== '-') break;
      }
      const piece = s.slice(a, b);
      const parsed = cardGroups(piece);
      if (parsed === null) break;
      const len = parsed.digits.length;
      if (len > 19) break;
      if (len < 12) continue;
      // The stretch must not continue with more digits glued by the same separator we rejected.
      if (plausibleGrouping(parsed.groups) && luhnValid(parsed.digits) && cardIssuer(parsed.digits) !== null) {
        best = { end: b, g2 };
      }
    }
    if (best !== null && isolated(text, run.start + (groupStarts[g] ?? 0), run.start + best.end)) {
      out.push({ detector: 'credit_card', start: run.start + (groupStarts[g] ?? 0), end: run.start + best.end, confidence: 0.97 });
      g = best.g2 + 1;
    } else {
      g++;
    }
  }
}

function detectSsn(text: string, run: DigitRun, out: Candidate[]): void {
  const s = text.slice(run.start, run.end);
  ssnRe.lastIndex = 0;
  for (let m = ssnRe.exec(s); m !== null; m = ssnRe.exec(s)) {
    const area = m[1] ?? '';
    const group = m[2] ?? m[3] ?? '';
    const serial = m[4] ?? '';
    if (ssnValid(area, group, serial) && isolated(text, run.start + m.index, run.start + m.index + m[0].length)) {
      out.push({ detector: 'us_ssn', start: run.start + m.index, end: run.start + m.index + m[0].length, confidence: 0.9 });
    }
  }
  // Nine bare digits are an SSN only when labelled as one.
  if (run.digits === 9 && run.end - run.start === 9) {
    ssnBareRe.lastIndex = 0;
    const m = ssnBareRe.exec(s);
    if (m !== null && ssnValid(m[1] ?? '', m[2] ?? '', m[3] ?? '')) {
      const before = text.slice(Math.max(0, run.start - 32), run.start);
      if (ssnContextRe.test(before)) {
        out.push({ detector: 'us_ssn', start: run.start, end: run.end, confidence: 0.85 });
      }
    }
  }
}

function countDigits(s: string): number {
  let d = 0;
  for (let k = 0; k < s.length; k++) if (isDigit(s.charCodeAt(k))) d++;
  return d;
}

function detectPhones(text: string, run: DigitRun, out: Candidate[]): void {
  const s = text.slice(run.start, run.end);
  const push = (re: RegExp, min: number, max: number, confidence: number): void => {
    re.lastIndex = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      let end = m.index + m[0].length;
      // A dangling '(' of the next group is not part of the number.
      while (end > m.index && !isDigit(s.charCodeAt(end - 1))) end--;
      const d = countDigits(s.slice(m.index, end));
      if (d >= min && d <= max && isolated(text, run.start + m.index, run.start + end)) out.push({ detector: 'phone', start: run.start + m.index, end: run.start + end, confidence });
    }
  };
  push(nanpRe, 10, 11, 0.85);
  push(e164CompactRe, 8, 15, 0.8);
  push(intlRe, 8, 15, 0.8);
  push(nationalRe, 10, 12, 0.7);
}

function detectIps(text: string, run: DigitRun, cidrs: readonly Cidr[], out: Candidate[]): void {
  const s = text.slice(run.start, run.end);
  ipv4Re.lastIndex = 0;
  for (let m = ipv4Re.exec(s); m !== null; m = ipv4Re.exec(s)) {
    const ip = parseDottedQuad(m[0]);
    if (ip !== null && inAnyCidr(ip, cidrs) && isolated(text, run.start + m.index, run.start + m.index + m[0].length)) {
      out.push({ detector: 'corporate_ip', start: run.start + m.index, end: run.start + m.index + m[0].length, confidence: 1 });
    }
  }
}

function detectIban(text: string, run: DigitRun, out: Candidate[]): number {
  // An IBAN's digit run starts right after its two-letter country code.
  const at = run.start - 2;
  if (at < 0 || !isUpper(text.charCodeAt(at)) || !isUpper(text.charCodeAt(at + 1))) return -1;
  if (at > 0) {
    const p = text.charCodeAt(at - 1);
    if (isDigit(p) || isUpper(p) || (p >= 97 && p <= 122)) return -1;
  }
  const expected = ibanLength(text.slice(at, at + 2));
  if (expected === undefined) return -1;
  ibanRe.lastIndex = at;
  const m = ibanRe.exec(text);
  if (m === null) return -1;
  // Take exactly the country's length in alphanumerics; the match may have run into the next word.
  let compact = '';
  let k = 0;
  const raw = m[0];
  while (k < raw.length && compact.length < expected) {
    const ch = raw[k] ?? '';
    if (ch !== ' ') compact += ch;
    k++;
  }
  if (compact.length !== expected) return -1;
  const after = text.charCodeAt(at + k);
  if (isDigit(after) || isUpper(after) || (after >= 97 && after <= 122)) return -1;
  if (!ibanValid(compact)) return -1;
  out.push({ detector: 'iban', start: at, end: at + k, confidence: 1 });
  return at + k;
}

const IPV6_CHARS = /[0-9A-Fa-f:.]/;

/**
 * Finds IPv6 addresses inside `cidrs`. Anchored on a colon followed by a hex
 * digit or another colon; from there the candidate is extended over hex,
 * colons and dots (at most 45 characters each way) and parsed strictly. The
 * search resumes after the candidate, so the pass is linear.
 */
export function detectIpv6(text: string, cidrs: readonly Cidr[], out: Candidate[]): void {
  if (cidrs.length === 0) return;
  const finder = ipv6FinderRe;
  finder.lastIndex = 0;
  for (let m = finder.exec(text); m !== null; m = finder.exec(text)) {
    let start = m.index;
    while (start > 0 && m.index - start < 45 && IPV6_CHARS.test(text[start - 1] ?? '')) start--;
    let end = m.index + 1;
    while (end < text.length && end - m.index < 45 && IPV6_CHARS.test(text[end] ?? '')) end++;
    finder.lastIndex = end;
    // Trailing punctuation (`fd00::1.` at a sentence end, `…:` before a port) is not part of it.
    let e = end;
    while (e > start && (text[e - 1] === '.' || (text[e - 1] === ':' && text[e - 2] !== ':'))) e--;
    const b = text.charCodeAt(start - 1);
    // `std::vector`: a candidate glued to letters is an identifier, not an address.
    if (isAlnum(b) || isAlnum(text.charCodeAt(e))) continue;
    const ip = parseIpv6(text.slice(start, e));
    if (ip !== null && inAnyCidr(ip, cidrs)) out.push({ detector: 'corporate_ip', start, end: e, confidence: 1 });
  }
}

/**
 * Whether `detectInRun` could find anything in the run: the same entry
 * conditions it checks, without building the run. Most digit runs in prose
 * and code (years, sizes, counts) fail all of them.
 */
export function runMayMatch(text: string, start: number, digits: number, hasDot: boolean, cfg: NumericConfig): boolean {
  if (digits >= 8) return true;
  if (cfg.cidrs.length > 0 && hasDot && digits >= 4) return true;
  // An IBAN's digits follow its two-letter country code.
  return cfg.iban && digits >= 2 && start >= 2 && isUpper(text.charCodeAt(start - 2)) && isUpper(text.charCodeAt(start - 1));
}

/** Runs the enabled numeric detectors on one digit run, appending candidates to `out`. */
export function detectInRun(text: string, run: DigitRun, cfg: NumericConfig, out: Candidate[]): void {
  if (cfg.iban && run.digits >= 2) detectIban(text, run, out);
  if (cfg.cidrs.length > 0 && run.hasDot && run.digits >= 4) detectIps(text, run, cfg.cidrs, out);
  if (run.digits < 8) return;
  if (cfg.card && run.digits >= 12) detectCards(text, run, out);
  if (cfg.ssn && run.digits >= 9) detectSsn(text, run, out);
  if (cfg.phone) detectPhones(text, run, out);
}
