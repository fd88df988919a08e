/**
 * The gate over text: scan with the DLP engine, decide, and apply the
 * decision (redaction) to the text. Pure apart from the clock the scanner's
 * time budget reads. Used by terminal paste, `cordon drop`/`take` for text
 * files, and the clipboard tools (issue 18, item 2).
 *
 * DLP actions come from the `dlp` section for the destination "gate"
 * (`dlp.destinations.gate` overrides them for the gate alone). A `tokenize`
 * action becomes a redaction unless the caller passes a vault: a session's
 * model-route vault would rehydrate the token in a model response, handing
 * the value to the agent after all.
 */
import { createHash } from 'node:crypto';
import { applyDecisions, compileDlpPolicy, createScanner, resolveAction, type DecidedFinding, type DetectorId, type DlpPolicy, type Finding, type Scanner, type TokenVault } from '../dlp/index.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import { decide, decideBeforeScan, type GateDecision, type GateFinding, type TransferChannel, type TransferDirection, type TransferScan } from './gate-decision.js';

/** The destination name gate scans resolve DLP actions for. */
export const GATE_DLP_DESTINATION = 'gate';

/**
 * Time budget for one gate scan: the larger of the dlp section's and this.
 * A person waits on a paste or a drop, not a model request in flight, and
 * a refused 20 MB file because a busy laptop took 600 ms would be wrong.
 */
const GATE_MIN_SCAN_MILLIS = 5_000;

/** A scan's audit-safe result plus the positions redaction needs (never leave this module's callers). */
export interface GateScanResult {
  readonly scan: TransferScan;
  readonly raw: readonly Finding[];
}

/** Scans text for the gate under one effective policy; build once per policy. */
export interface GateScanner {
  scan(text: string): GateScanResult;
}

/**
 * A scanner for the gate under POLICY: the dlp section's detectors,
 * patterns and allowlists; its input limit is the largest any gate channel
 * accepts (sizes are judged by `decide`, not by the scanner).
 */
export function createGateScanner(policy: Pick<EffectivePolicy, 'dlp' | 'gates'>): GateScanner {
  const compiled = compileDlpPolicy(policy.dlp);
  const maxInputChars = Math.max(policy.gates.clipboard.maxBytes, policy.gates.dragDrop.maxBytes);
  const scanner: Scanner = createScanner({
    ...compiled.scanner,
    budget: { maxInputChars, maxScanMillis: Math.max(policy.dlp.budget.maxScanMillis, GATE_MIN_SCAN_MILLIS) },
  });
  const enabled = policy.dlp.enabled;
  return {
    scan(text: string): GateScanResult {
      // dlp.enabled false turns scanning off everywhere: nothing is found.
      if (!enabled) return { scan: { status: 'complete', findings: [] }, raw: [] };
      const r = scanner.scan(text);
      if (r.status === 'budget_exceeded') return { scan: { status: 'incomplete', reason: r.reason.replace(/_/g, ' ') }, raw: [] };
      return { scan: { status: 'complete', findings: summarizeFindings(r.findings, policy.dlp) }, raw: r.findings };
    },
  };
}

/** Per-detector counts with the dlp section's action for the gate; never a value or a position. */
export function summarizeFindings(findings: readonly Finding[], dlp: DlpPolicy): GateFinding[] {
  const by = new Map<DetectorId, GateFinding>();
  for (const f of findings) {
    const prev = by.get(f.detector);
    by.set(f.detector, prev ? { ...prev, count: prev.count + 1 } : { detector: f.detector, category: f.category, count: 1, action: resolveAction(dlp, f.detector, f.category, GATE_DLP_DESTINATION) });
  }
  return [...by.values()];
}

/**
 * TEXT as DECISION lets it through: unchanged for an allow, with the
 * decision's detectors redacted for a redact, null (nothing passes) for a
 * deny or an unanswered ask. RAW are the scan's findings for this text.
 */
export function applyToText(text: string, decision: GateDecision, raw: readonly Finding[], vault: TokenVault | null = null): string | null {
  switch (decision.kind) {
    case 'allow':
      return text;
    case 'redact': {
      const chosen = new Set<string>(decision.redact);
      const decided: DecidedFinding[] = raw.map((finding) => ({ finding, action: chosen.has(finding.detector) ? (vault === null ? 'redact' : 'tokenize') : 'allow' }));
      return applyDecisions(text, decided, vault).text;
    }
    case 'ask':
    case 'deny':
      return null;
  }
}

/** A text transfer to judge. */
export interface TextTransfer {
  readonly text: string;
  readonly direction: TransferDirection;
  readonly channel: Exclude<TransferChannel, 'file'>;
  readonly contentType?: string;
  /** Clipboard: transfers in the last minute, this one excluded. */
  readonly recentTransfers?: number;
}

/** A judged text transfer: the decision, what passes (null: nothing), and the audit facts. */
export interface TextGateResult {
  readonly decision: GateDecision;
  readonly output: string | null;
  readonly size: number;
  readonly sha256: string;
}

/**
 * Decides and applies; the text is scanned only when the decision depends
 * on it (not under mode allow, nor when a size or type rule already refuses).
 */
export function judgeText(t: TextTransfer, policy: Pick<EffectivePolicy, 'gates'>, scanner: GateScanner): TextGateResult {
  const bytes = Buffer.from(t.text, 'utf8');
  const base = {
    direction: t.direction,
    channel: t.channel,
    contentType: t.contentType ?? 'text/plain',
    size: bytes.length,
    form: 'text' as const,
    ...(t.recentTransfers !== undefined ? { recentTransfers: t.recentTransfers } : {}),
  };
  // A deny rule or mode allow needs no scan: an oversized paste is never scanned.
  const early = decideBeforeScan(base, policy.gates);
  let decision: GateDecision;
  let raw: readonly Finding[] = [];
  if (early !== null) {
    decision = early;
  } else {
    const s = scanner.scan(t.text);
    raw = s.raw;
    decision = decide({ ...base, scan: s.scan }, policy.gates);
  }
  return { decision, output: applyToText(t.text, decision, raw), size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}
