/**
 * The gate's decision (issue 18): may this transfer cross the sandbox wall,
 * and in what form? Pure: every fact is in the arguments (the DLP findings
 * were computed by the caller, the source path already classified), so a
 * unit test can call it with plain values.
 *
 * Order, deny first (docs/threat-model-gate.md): a protected source, the
 * channel's `deny` mode, the clipboard rate, the size, a blocked type, a
 * blocked sensitivity label; then `allow` (no scan); then what the scan
 * found: unscanned or unscannable content, a `block` finding; then `ask`;
 * then redaction, refused where the content cannot be rewritten.
 */
import type { DetectorId, DlpAction, DlpCategory } from '../dlp/index.js';
import type { GateMode, GatesPolicy } from '../policy/policy-schema.js';

/** Which way the data moves: host→sandbox or sandbox→host. */
export type TransferDirection = 'toSandbox' | 'fromSandbox';

/** How it moves. `paste` is a bracketed paste into the agent's terminal. */
export type TransferChannel = 'clipboard' | 'paste' | 'file';

/**
 * What the scanned text is, for redaction: `text` is the content itself (it
 * can be rewritten); `extracted` was pulled out of a document (.docx, .pdf),
 * so a finding cannot be redacted in place; `opaque` has no text to scan
 * (an image, an archive, an encrypted document).
 */
export type ContentForm = 'text' | 'extracted' | 'opaque';

/** One detector's findings in a transfer and the action the `dlp` section gives it. Never a value. */
export interface GateFinding {
  readonly detector: DetectorId;
  readonly category: DlpCategory;
  readonly count: number;
  readonly action: DlpAction;
}

/** What the DLP scan said: not run (mode allow), complete, or stopped by its budget (treated as unsafe). */
export type TransferScan =
  | { readonly status: 'not_scanned' }
  | { readonly status: 'complete'; readonly findings: readonly GateFinding[] }
  | { readonly status: 'incomplete'; readonly reason: string };

/** Where a file came from, judged by the launch-time mount rules (see classifySource in file-source.ts). */
export type SourceClass = { readonly kind: 'ok' } | { readonly kind: 'protected'; readonly rule: string; readonly message: string };

/** A Microsoft sensitivity label found on a document (`MSIP_Label_<id>_Name`, enabled). */
export interface SensitivityLabel {
  readonly id: string;
  readonly name: string;
}

/** Everything the gate knows about one transfer. Never the content. */
export interface Transfer {
  readonly direction: TransferDirection;
  readonly channel: TransferChannel;
  /** MIME type as far as known (`text/plain`, `image/png`, `application/vnd.openxmlformats-officedocument.wordprocessingml.document`). */
  readonly contentType: string;
  /** File name (files only), for `blockTypes` extensions. */
  readonly name?: string;
  /** Bytes. */
  readonly size: number;
  readonly form: ContentForm;
  readonly scan: TransferScan;
  /** Files only: the source path's class. */
  readonly source?: SourceClass;
  /** Files only: enabled sensitivity labels. */
  readonly labels?: readonly SensitivityLabel[];
  /** Clipboard only: transfers this session made on this channel and direction in the last minute, this one excluded. */
  readonly recentTransfers?: number;
}

/** Stable reason codes for a refusal; audit records and tests key on them. Add codes, never rename one. */
export type GateDenyReason =
  | 'protected_source'
  | 'policy_deny'
  | 'rate_limited'
  | 'too_large'
  | 'blocked_type'
  | 'blocked_label'
  | 'unscanned'
  | 'unscannable'
  | 'dlp_block'
  | 'cannot_redact'
  | 'not_approved'
  // File transfers that failed before or after the decision (core/gate/file-transfer.ts):
  | 'unreadable_source'
  | 'outside_workspace'
  | 'protected_destination'
  | 'destination_exists'
  | 'no_inbox'
  | 'bad_name'
  | 'write_failed';

/** Why a transfer passed (possibly rewritten). */
export type GateAllowReason = 'mode_allow' | 'clean' | 'findings_allowed' | 'opaque_allowed' | 'approved';

/** The gate's answer. `findings` is what the scan found (empty when not scanned), for the audit record. */
export type GateDecision =
  | { readonly kind: 'deny'; readonly reason: GateDenyReason; readonly message: string; readonly mode: GateMode; readonly findings: readonly GateFinding[] }
  | { readonly kind: 'ask'; readonly reason: 'mode_ask'; readonly message: string; readonly mode: GateMode; readonly findings: readonly GateFinding[] }
  | {
      readonly kind: 'redact';
      readonly reason: 'findings_redacted';
      readonly message: string;
      readonly mode: GateMode;
      readonly findings: readonly GateFinding[];
      /** Detectors whose findings are replaced by `[REDACTED:<detector>]`. */
      readonly redact: readonly DetectorId[];
    }
  | { readonly kind: 'allow'; readonly reason: GateAllowReason; readonly message: string; readonly mode: GateMode; readonly findings: readonly GateFinding[] };

/** The limits that apply to one channel and direction. */
export interface ChannelRules {
  readonly mode: GateMode;
  readonly maxBytes: number;
  /** Null: no rate limit on this channel (paste, files). */
  readonly ratePerMinute: number | null;
  readonly blockTypes: readonly string[];
  readonly blockLabels: readonly string[];
}

/**
 * The rules for a channel. Terminal paste follows the clipboard's
 * `toSandbox` and `maxBytes` (a paste is the clipboard's content: a separate
 * key would let one bypass the other) without the rate limit (a person
 * pastes, not the agent). Files follow `dragDrop`, whose block lists apply in
 * both directions.
 */
export function channelRules(gates: GatesPolicy, channel: TransferChannel, direction: TransferDirection): ChannelRules {
  switch (channel) {
    case 'clipboard':
      return { mode: gates.clipboard[direction], maxBytes: gates.clipboard.maxBytes, ratePerMinute: gates.clipboard.ratePerMinute, blockTypes: [], blockLabels: [] };
    case 'paste':
      // A paste only ever goes into the sandbox; a fromSandbox "paste" is the clipboard's job.
      return { mode: direction === 'toSandbox' ? gates.clipboard.toSandbox : 'deny', maxBytes: gates.clipboard.maxBytes, ratePerMinute: null, blockTypes: [], blockLabels: [] };
    case 'file':
      return { mode: gates.dragDrop[direction], maxBytes: gates.dragDrop.maxBytes, ratePerMinute: null, blockTypes: gates.dragDrop.blockTypes, blockLabels: gates.dragDrop.blockLabels };
  }
}

/** Decides one transfer under `gates`; see the module comment for the order. */
export function decide(t: Transfer, gates: GatesPolicy): GateDecision {
  return decideBeforeScan(t, gates) ?? decideOnContent(t, gates);
}

/**
 * The part of {@link decide} that needs no scan: the deny rules that look
 * only at where, how big and what type, and mode allow. Null: the content
 * decides. Callers use it to skip scanning what is refused anyway.
 */
export function decideBeforeScan(t: Omit<Transfer, 'scan'>, gates: GatesPolicy): GateDecision | null {
  const rules = channelRules(gates, t.channel, t.direction);
  const mode = rules.mode;
  const what = describe(t);
  const no = (reason: GateDenyReason, message: string): GateDecision => ({ kind: 'deny', reason, message, mode, findings: [] });
  if (t.source?.kind === 'protected') return no('protected_source', t.source.message);
  if (mode === 'deny') return no('policy_deny', `${what}: refused by policy (gates.${policyKey(t.channel)}.${t.direction} is "deny")`);
  if (rules.ratePerMinute !== null && (t.recentTransfers ?? 0) >= rules.ratePerMinute) {
    return no('rate_limited', `${what}: more than ${rules.ratePerMinute} clipboard transfers this minute (gates.clipboard.ratePerMinute)`);
  }
  if (t.size > rules.maxBytes) return no('too_large', `${what}: ${t.size} bytes is over the limit of ${rules.maxBytes} (gates.${policyKey(t.channel)}.maxBytes)`);
  const blockedType = matchBlockedType(t, rules.blockTypes);
  if (blockedType !== null) return no('blocked_type', `${what}: type ${blockedType} is blocked by policy (gates.dragDrop.blockTypes)`);
  const label = matchBlockedLabel(t.labels ?? [], rules.blockLabels);
  if (label !== null) return no('blocked_label', `${what}: sensitivity label "${label.name}" is blocked by policy (gates.dragDrop.blockLabels)`);
  if (mode === 'allow') return { kind: 'allow', reason: 'mode_allow', message: `${what}: allowed unscanned (mode allow)`, mode, findings: [] };
  return null;
}

function decideOnContent(t: Transfer, gates: GatesPolicy): GateDecision {
  const mode = channelRules(gates, t.channel, t.direction).mode;
  const findings = t.scan.status === 'complete' ? t.scan.findings : [];
  const what = describe(t);
  const no = (reason: GateDenyReason, message: string): GateDecision => ({ kind: 'deny', reason, message, mode, findings });
  const yes = (reason: GateAllowReason, message: string): GateDecision => ({ kind: 'allow', reason, message, mode, findings });

  if (t.scan.status === 'incomplete') return no('unscanned', `${what}: could not be fully scanned (${t.scan.reason}), so it is refused`);
  if (t.form === 'opaque' || t.scan.status === 'not_scanned') {
    if (mode === 'ask') return { kind: 'ask', reason: 'mode_ask', message: `${what}: has no text to scan; asking`, mode, findings };
    // Toward the sandbox, content the user brings in cannot be scanned but
    // leaves only through egress, which has its own DLP; out of the sandbox
    // nothing checks it after us.
    if (t.direction === 'toSandbox' && mode === 'scan') return yes('opaque_allowed', `${what}: has no text to scan; passed (mode scan)`);
    return no('unscannable', `${what}: has no text to scan, so mode "${mode}" cannot pass it (only "allow" does)`);
  }
  const blocking = findings.filter((f) => f.action === 'block');
  if (blocking.length > 0) return no('dlp_block', `${what}: holds ${listDetectors(blocking)}, which the dlp policy blocks`);
  if (mode === 'ask') {
    return { kind: 'ask', reason: 'mode_ask', message: findings.length === 0 ? `${what}: asking` : `${what}: holds ${listDetectors(findings)}; asking`, mode, findings };
  }
  // scan: the dlp section's action per finding (tokenize counts as redact:
  // the gate has no vault a token could come back through); redact: every finding.
  const toRedact = mode === 'redact' ? findings : findings.filter((f) => f.action === 'redact' || f.action === 'tokenize');
  if (toRedact.length === 0) return findings.length === 0 ? yes('clean', `${what}: nothing sensitive found`) : yes('findings_allowed', `${what}: holds ${listDetectors(findings)}, which the dlp policy allows`);
  if (t.form !== 'text') return no('cannot_redact', `${what}: holds ${listDetectors(toRedact)}, which cannot be redacted inside a document, so it is refused`);
  return { kind: 'redact', reason: 'findings_redacted', message: `${what}: ${listDetectors(toRedact)} redacted`, mode, findings, redact: [...new Set(toRedact.map((f) => f.detector))] };
}

/** The decision once the user answered an `ask`: an allow passes the content as it is; anything else refuses. */
export function afterAnswer(asked: Extract<GateDecision, { kind: 'ask' }>, approved: boolean): GateDecision {
  return approved
    ? { kind: 'allow', reason: 'approved', message: asked.message.replace(/; asking$|: asking$/, ': approved by the user'), mode: asked.mode, findings: asked.findings }
    : { kind: 'deny', reason: 'not_approved', message: asked.message.replace(/; asking$|: asking$/, ': not approved'), mode: asked.mode, findings: asked.findings };
}

function policyKey(channel: TransferChannel): 'clipboard' | 'dragDrop' {
  return channel === 'file' ? 'dragDrop' : 'clipboard';
}

function describe(t: Pick<Transfer, 'channel' | 'direction' | 'name'>): string {
  switch (t.channel) {
    case 'paste':
      return 'paste';
    case 'clipboard':
      return t.direction === 'toSandbox' ? 'clipboard into the sandbox' : 'clipboard out of the sandbox';
    case 'file':
      // JSON-quoted: a name from the sandbox could carry control characters.
      return t.name === undefined ? 'file' : `file ${JSON.stringify(t.name)}`;
  }
}

/** "aws_access_key_id ×2, email" */
function listDetectors(findings: readonly GateFinding[]): string {
  const counts = new Map<string, number>();
  for (const f of findings) counts.set(f.detector, (counts.get(f.detector) ?? 0) + f.count);
  return [...counts].map(([d, n]) => (n > 1 ? `${d} ×${n}` : d)).join(', ');
}

/** The entry of BLOCKED matching the transfer's extension or content type (`image/*` matches any image), or null. */
export function matchBlockedType(t: Pick<Transfer, 'name' | 'contentType'>, blocked: readonly string[]): string | null {
  const name = (t.name ?? '').toLowerCase();
  const type = t.contentType.toLowerCase().split(';')[0]?.trim() ?? '';
  for (const b of blocked) {
    const entry = b.toLowerCase();
    if (entry.startsWith('.')) {
      if (name.endsWith(entry) && name.length > entry.length) return b;
    } else if (entry.endsWith('/*') ? type.startsWith(entry.slice(0, -1)) : type === entry) {
      return b;
    }
  }
  return null;
}

/** The first label whose name or GUID (case-insensitive, braces ignored) is blocked, or null. */
export function matchBlockedLabel(labels: readonly SensitivityLabel[], blocked: readonly string[]): SensitivityLabel | null {
  const norm = (s: string): string => s.trim().replace(/^\{|\}$/g, '').toLowerCase();
  const wanted = new Set(blocked.map(norm));
  return labels.find((l) => wanted.has(norm(l.name)) || wanted.has(norm(l.id))) ?? null;
}
