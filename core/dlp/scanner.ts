// The scan: literal prefilter (anchor-search.ts) -> anchored detectors, one linear pass for
// numeric PII, then policy patterns and markers, then allowlists and overlap
// resolution; then the same again over what encoded runs (encoded-runs.ts)
// decode to. Pure: no I/O; the clock is injectable for the time budget.

import {
  anchorEntries,
  compileAnchorSearch,
  exhaustiveAnchorHits,
  type AnchorEntry,
  type AnchorHitVisitor,
  type BudgetTicker,
} from './anchor-search.js';
import { ANCHORED_DETECTORS, detectorRank, type Candidate } from './detectors.js';
import { checkCustomPattern } from './custom-patterns.js';
import { findEncodedRuns, type Span } from './encoded-runs.js';
import {
  detectInRun,
  detectIpv6,
  forEachDigitRun,
  runMayMatch,
  type DigitRunVisitor,
  type NumericConfig,
} from './numeric-detectors.js';
import {
  VAULT_TOKEN_HEX_LENGTH,
  VAULT_TOKEN_PREFIX,
  type BuiltinDetectorId,
  type DetectorId,
  type DlpCategory,
  type EncodingKind,
  type Finding,
  type ScanResult,
} from './types.js';
import { parseCidr, type Cidr } from '../net/ip-address.js';

const VAULT_TOKEN_RE = new RegExp(`^${VAULT_TOKEN_PREFIX}[0-9a-f]{${VAULT_TOKEN_HEX_LENGTH}}$`);

/**
 * Published example values that are not secrets (AWS's documentation key
 * pair, jwt.io's sample token). Matching one is not a finding.
 */
export const PUBLISHED_EXAMPLE_VALUES: readonly string[] = [
  'AKIAIOSFODNN7EXAMPLE',
  'ASIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
];

/** A policy pattern, already checked by `checkCustomPattern`. */
export interface CustomPatternSpec {
  readonly id: string;
  readonly pattern: string;
  readonly caseInsensitive: boolean;
  /** Literals of which at least one must occur (case-insensitively) before the pattern runs; empty = always run. */
  readonly keywords: readonly string[];
  readonly confidence: number;
}

/** A classification marker such as `CONFIDENTIAL`, matched as whole words. */
export interface MarkerSpec {
  readonly id: string;
  readonly text: string;
  readonly caseSensitive: boolean;
}

/** Per-scan limits. Exceeding either fails closed (`budget_exceeded`). */
export interface ScanBudget {
  /** Largest input, in UTF-16 code units, that will be scanned. */
  readonly maxInputChars: number;
  /** Wall-clock milliseconds a scan may take. */
  readonly maxScanMillis: number;
}

/** Everything a scanner needs; built once per policy and reused for every scan. */
export interface ScannerConfig {
  /** Built-in detectors to skip entirely. */
  readonly disabledDetectors?: ReadonlySet<BuiltinDetectorId>;
  readonly customPatterns?: readonly CustomPatternSpec[];
  readonly markers?: readonly MarkerSpec[];
  /** Case-insensitive substrings: a match whose value contains one is dropped. */
  readonly stopwords?: readonly string[];
  /** Exact values never reported (in addition to PUBLISHED_EXAMPLE_VALUES). */
  readonly allowValues?: readonly string[];
  /** IPv4 and IPv6 CIDRs whose addresses are `corporate_ip` findings; empty = detector off. */
  readonly corporateCidrs?: readonly string[];
  readonly budget?: ScanBudget;
  /** Monotonic milliseconds; defaults to performance.now. */
  readonly clock?: () => number;
  /**
   * How anchors are found. `prefilter` (the default) uses rare-character
   * triggers; `exhaustive` tries every anchor at every position, far slower,
   * and exists as the reference the prefilter is tested against.
   */
  readonly anchorSearch?: 'prefilter' | 'exhaustive';
  /**
   * Levels of encoded runs (base64, hex, percent-encoding, `\u` escapes)
   * decoded and scanned: 1 looks inside each run of the text, 2 also inside
   * runs found in what those decode to. 0 turns the pass off. Default
   * DEFAULT_DECODE_DEPTH. The decoded text counts against the budget: all
   * levels together may hold at most `maxInputChars` characters.
   */
  readonly decodeDepth?: number;
}

/** Encoded runs are decoded this many levels deep unless configured otherwise: base64 of base64 is found, a third layer is not. */
export const DEFAULT_DECODE_DEPTH = 2;

/** Between decoded runs scanned as one text: no single-line detector matches across it. */
const DECODED_SEPARATOR = '\n\n';

/** A compiled scanner. `scan` is safe to call concurrently (no shared mutable state across calls). */
export interface Scanner {
  scan(text: string): ScanResult;
}

/** Defaults sized for model requests: a 16 MiB body in half a second. */
export const DEFAULT_SCAN_BUDGET: ScanBudget = { maxInputChars: 16 * 1024 * 1024, maxScanMillis: 500 };

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

class BudgetExceeded extends Error {
  constructor(readonly reason: 'input_too_large' | 'time_budget' = 'time_budget') {
    super(reason);
  }
}

/**
 * Counts bounded steps of one scan and throws BudgetExceeded past the
 * deadline. A class rather than a per-scan closure: hot loops then call one
 * stable method, which V8 keeps inlined from scan to scan.
 */
class ScanTicker implements BudgetTicker {
  #ticks = 0;
  constructor(
    private readonly clock: () => number,
    private readonly deadline: number,
  ) {}

  tick(): void {
    // Reading the clock is cheap but not free; every 256 steps is plenty
    // because each step does bounded work.
    if ((++this.#ticks & 255) === 0 && this.clock() > this.deadline) throw new BudgetExceeded();
  }
}

/**
 * Runs each anchor's detector at the anchor, for one scan. Anchors inside a
 * whole-structure finding (a private key block, a service-account file)
 * belong to it and are skipped, which keeps a body of repeated BEGIN lines
 * linear; claims are kept per side (case-sensitive anchors, context words).
 */
class AnchorPass implements AnchorHitVisitor {
  readonly candidates: [Candidate[], Candidate[]] = [[], []];
  readonly #claimedUntil = [0, 0];
  readonly #lastAt = [-1, -1];
  readonly #skip = [false, false];

  constructor(
    private readonly text: string,
    private readonly entries: readonly [readonly AnchorEntry[], readonly AnchorEntry[]],
    private readonly disabled: ReadonlySet<BuiltinDetectorId>,
    private readonly ticker: ScanTicker,
  ) {}

  hit(side: 0 | 1, at: number, entry: number): void {
    if (at !== this.#lastAt[side]) {
      // The claim is decided once per position: every anchor at the position
      // that made the claim still gets its look.
      this.#lastAt[side] = at;
      this.#skip[side] = at < (this.#claimedUntil[side] as number);
      this.ticker.tick();
    }
    if (this.#skip[side] === true) return;
    const { detector, anchor } = this.entries[side][entry] as AnchorEntry;
    const c = detector.matchAt(this.text, at, anchor);
    if (c === null || this.disabled.has(c.detector)) return;
    this.candidates[side].push(c);
    if (detectorRank(c.detector) === 5 && c.start === at) {
      this.#claimedUntil[side] = Math.max(this.#claimedUntil[side] as number, c.end);
    }
  }
}

/** Runs the numeric detectors on each digit run of one scan. */
class NumericPass implements DigitRunVisitor {
  constructor(
    private readonly text: string,
    private readonly config: NumericConfig,
    private readonly out: Candidate[],
    private readonly ticker: ScanTicker,
  ) {}

  visit(start: number, end: number, digits: number, hasDot: boolean): void {
    if (digits < 2) return;
    if (runMayMatch(this.text, start, digits, hasDot, this.config)) detectInRun(this.text, { start, end, digits, hasDot }, this.config, this.out);
    this.ticker.tick();
  }
}

interface CompiledCustom {
  readonly id: DetectorId;
  readonly category: DlpCategory;
  readonly re: RegExp;
  readonly keywordRe: RegExp | null;
  readonly confidence: number;
  readonly isMarker: boolean;
}

function compileCustom(spec: CustomPatternSpec): CompiledCustom {
  const check = checkCustomPattern(spec.pattern);
  if (!check.ok) throw new Error(`custom DLP pattern '${spec.id}' rejected: ${check.reason}`);
  return {
    id: `custom:${spec.id}`,
    category: 'custom',
    re: new RegExp(spec.pattern, spec.caseInsensitive ? 'giu' : 'gu'),
    keywordRe: spec.keywords.length > 0 ? new RegExp(spec.keywords.map(escapeRegex).join('|'), 'i') : null,
    confidence: spec.confidence,
    isMarker: false,
  };
}

function compileMarker(spec: MarkerSpec): CompiledCustom {
  // Words of the marker may be separated by any short run of spaces/tabs.
  const body = spec.text.trim().split(/\s+/).map(escapeRegex).join('[ \\t]{1,4}');
  return {
    id: `marker:${spec.id}`,
    category: 'custom',
    re: new RegExp(`(?<![A-Za-z0-9])${body}(?![A-Za-z0-9])`, spec.caseSensitive ? 'g' : 'gi'),
    keywordRe: null,
    confidence: 1,
    isMarker: true,
  };
}

/**
 * Compiles a scanner. Throws if a custom pattern is outside the safe subset
 * or a CIDR is malformed; policy validation reports those first, so this only
 * fires on configurations that bypassed the schema.
 */
export function createScanner(config: ScannerConfig = {}): Scanner {
  const disabled = config.disabledDetectors ?? new Set<BuiltinDetectorId>();
  const enabled = ANCHORED_DETECTORS.filter((d) => d.ids.some((id) => !disabled.has(id)));
  // Case-sensitive anchors first, then context words, each set in position
  // order: the order the findings' tie-breaks and the claims below rely on.
  const entries = [anchorEntries(enabled, false), anchorEntries(enabled, true)] as const;
  const compiled = compileAnchorSearch(entries[0], entries[1]);
  const findAnchors =
    config.anchorSearch === 'exhaustive'
      ? (text: string, _ticker: BudgetTicker, visitor: AnchorHitVisitor): void => {
          for (const side of [0, 1] as const) {
            const { pos, entry } = exhaustiveAnchorHits(text, entries[side], side === 1);
            for (let k = 0; k < pos.length; k++) visitor.hit(side, pos[k] as number, entry[k] as number);
          }
        }
      : (text: string, ticker: BudgetTicker, visitor: AnchorHitVisitor): void => compiled.find(text, ticker, visitor);
  const cidrs: Cidr[] = [];
  const cidrs6: Cidr[] = [];
  for (const c of config.corporateCidrs ?? []) {
    const cidr = c.includes('/') ? parseCidr(c) : null;
    if (cidr === null) throw new Error(`corporate CIDR '${c}' is neither an IPv4 nor an IPv6 CIDR`);
    if (cidr.base.family === 4) cidrs.push(cidr);
    else if (!disabled.has('corporate_ip')) cidrs6.push(cidr);
  }
  const numeric: NumericConfig = {
    card: !disabled.has('credit_card'),
    ssn: !disabled.has('us_ssn'),
    phone: !disabled.has('phone'),
    iban: !disabled.has('iban'),
    cidrs: disabled.has('corporate_ip') ? [] : cidrs,
  };
  const customs = [...(config.customPatterns ?? []).map(compileCustom), ...(config.markers ?? []).map(compileMarker)];
  const allowValues = new Set([...PUBLISHED_EXAMPLE_VALUES, ...(config.allowValues ?? [])]);
  const stopwords = (config.stopwords ?? []).map((s) => s.toLowerCase()).filter((s) => s.length > 0);
  const budget = config.budget ?? DEFAULT_SCAN_BUDGET;
  const clock = config.clock ?? (() => performance.now());

  function allowed(text: string, c: { start: number; end: number; detector: DetectorId }): boolean {
    const value = text.slice(c.start, c.end);
    if (allowValues.has(value)) return true;
    // Our own vault tokens come back in conversation history; they are opaque, not secrets.
    if (VAULT_TOKEN_RE.test(value)) return true;
    // AWS marks every documentation credential with EXAMPLE.
    if ((c.detector === 'aws_access_key_id' || c.detector === 'aws_secret_access_key') && /EXAMPLE/.test(value)) return true;
    if (stopwords.length > 0) {
      const lower = value.toLowerCase();
      for (const w of stopwords) if (lower.includes(w)) return true;
    }
    return false;
  }

  const decodeDepth = config.decodeDepth ?? DEFAULT_DECODE_DEPTH;

  /** Findings in `text` as written, sorted by start. Throws BudgetExceeded past the deadline. */
  function scanPlain(text: string, ticker: ScanTicker, deadline: number): Finding[] {
    const candidates: Candidate[] = [];
    const extra: Finding[] = [];
    const anchors = new AnchorPass(text, entries, disabled, ticker);
    findAnchors(text, ticker, anchors);
    // Case-sensitive candidates first, then context words': the order
    // overlap ties have always been broken in.
    candidates.push(...anchors.candidates[0], ...anchors.candidates[1]);
    detectIpv6(text, cidrs6, candidates);
    forEachDigitRun(text, numeric.cidrs.length > 0, new NumericPass(text, numeric, candidates, ticker));
    for (const cp of customs) {
      if (clock() > deadline) throw new BudgetExceeded();
      if (cp.keywordRe !== null && !cp.keywordRe.test(text)) continue;
      const re = cp.re;
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        const f: Finding = { detector: cp.id, category: cp.category, start: m.index, end: m.index + m[0].length, confidence: cp.confidence };
        if (cp.isMarker || !allowed(text, f)) extra.push(f);
        ticker.tick();
      }
    }
    if (clock() > deadline) throw new BudgetExceeded();
    const kept = resolveOverlaps(candidates.filter((c) => !allowed(text, c)));
    const findings: Finding[] = kept.map((c) => ({
      detector: c.detector,
      category: categoryOf(c.detector),
      start: c.start,
      end: c.end,
      confidence: c.confidence,
    }));
    if (extra.length > 0) {
      findings.push(...extra);
      findings.sort(byPosition);
    }
    return findings;
  }

  /**
   * Findings hidden in encoded runs, each spanning the whole run of `text` it
   * came from. Every level's runs are decoded and scanned together as one
   * text (one scan per level, however many runs), and a finding there is
   * mapped back through the levels to the outermost run.
   */
  function scanEncoded(text: string, direct: readonly Finding[], ticker: ScanTicker, deadline: number): Finding[] {
    const out: Finding[] = [];
    const tick = (): void => ticker.tick();
    let level = text;
    let covered: readonly Span[] = direct;
    // Below the top level: each decoded segment's place in `level`, and the original run it came from.
    let segments: readonly DecodedSegment[] | null = null;
    let decodedChars = 0;
    for (let depth = 1; depth <= decodeDepth; depth++) {
      const runs = findEncodedRuns(level, covered, tick);
      if (runs.length === 0) break;
      const next: DecodedSegment[] = [];
      let at = 0;
      for (const r of runs) {
        const origin = segments === null ? { start: r.start, end: r.end, kind: r.kind } : (segments[segmentAt(segments, r.start)] as DecodedSegment).origin;
        next.push({ start: at, end: at + r.decoded.length, origin });
        at += r.decoded.length + DECODED_SEPARATOR.length;
      }
      const joined = runs.map((r) => r.decoded).join(DECODED_SEPARATOR);
      decodedChars += joined.length;
      if (decodedChars > budget.maxInputChars) throw new BudgetExceeded('input_too_large');
      const inner = scanPlain(joined, ticker, deadline);
      for (const f of inner) {
        for (let k = segmentAt(next, f.start); k < next.length && (next[k] as DecodedSegment).start < f.end; k++) {
          const seg = next[k] as DecodedSegment;
          if (seg.end <= f.start) continue;
          out.push({ detector: f.detector, category: f.category, start: seg.origin.start, end: seg.origin.end, confidence: f.confidence, encoding: seg.origin.kind });
        }
      }
      level = joined;
      covered = inner;
      segments = next;
    }
    return out;
  }

  return {
    scan(text: string): ScanResult {
      if (text.length > budget.maxInputChars) {
        return { status: 'budget_exceeded', reason: 'input_too_large', findings: [] };
      }
      const deadline = clock() + budget.maxScanMillis;
      const ticker = new ScanTicker(clock, deadline);
      try {
        const findings = scanPlain(text, ticker, deadline);
        if (decodeDepth > 0) {
          const hidden = scanEncoded(text, findings, ticker, deadline);
          if (hidden.length > 0) {
            findings.push(...hidden);
            findings.sort(byPosition);
          }
        }
        if (clock() > deadline) return { status: 'budget_exceeded', reason: 'time_budget', findings: [] };
        return { status: 'complete', findings };
      } catch (e) {
        if (e instanceof BudgetExceeded) return { status: 'budget_exceeded', reason: e.reason, findings: [] };
        throw e;
      }
    },
  };
}

/** A decoded run's place in the text of its level, and the run of the scanned text it came from. */
interface DecodedSegment {
  readonly start: number;
  readonly end: number;
  readonly origin: { readonly start: number; readonly end: number; readonly kind: EncodingKind };
}

/** Index of the last segment starting at or before `pos` (segments are in order; 0 if none). */
function segmentAt(segments: readonly DecodedSegment[], pos: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((segments[mid] as DecodedSegment).start <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function byPosition(a: Finding, b: Finding): number {
  return a.start - b.start || b.end - a.end;
}

const PII_IDS = new Set<BuiltinDetectorId>(['credit_card', 'us_ssn', 'iban', 'email', 'phone', 'corporate_ip']);

/** The category of a built-in detector. */
export function categoryOf(id: BuiltinDetectorId): 'secret' | 'pii' {
  return PII_IDS.has(id) ? 'pii' : 'secret';
}

/**
 * Keeps a non-overlapping subset: candidates are grouped into clusters of
 * transitively overlapping spans (linear after sorting), and inside each
 * cluster the highest rank, then longest, span is kept first.
 */
function resolveOverlaps(cands: Candidate[]): Candidate[] {
  if (cands.length <= 1) return cands;
  cands.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Candidate[] = [];
  let cluster: Candidate[] = [];
  let clusterEnd = -1;
  const flush = (): void => {
    if (cluster.length === 1) {
      out.push(cluster[0] as Candidate);
    } else if (cluster.length > 1) {
      const byPref = [...cluster].sort(
        (a, b) => detectorRank(b.detector) - detectorRank(a.detector) || b.end - b.start - (a.end - a.start) || a.start - b.start,
      );
      const chosen: Candidate[] = [];
      for (const c of byPref) if (chosen.every((k) => c.end <= k.start || c.start >= k.end)) chosen.push(c);
      chosen.sort((a, b) => a.start - b.start);
      out.push(...chosen);
    }
    cluster = [];
  };
  for (const c of cands) {
    if (c.start >= clusterEnd) {
      flush();
      clusterEnd = c.end;
    } else if (c.end > clusterEnd) {
      clusterEnd = c.end;
    }
    cluster.push(c);
  }
  flush();
  return out;
}
