/**
 * One audit record per transfer through the gate (issue 18, item 5):
 * direction, channel, size, SHA-256, findings (detector, count and the dlp
 * action; never a value or a position), decision and reason. Never the
 * content: not the text, not a file's name inside the sandbox beyond the
 * path the user named, not a preview.
 */
import type { AuditSink } from '../audit/audit-event.js';
import type { GateDecision, TransferChannel, TransferDirection } from './gate-decision.js';

/** What is known about a transfer once it was decided (and, for an ask, answered). */
export interface TransferRecord {
  readonly sessionId: string | null;
  readonly direction: TransferDirection;
  readonly channel: TransferChannel;
  readonly contentType: string;
  readonly size: number;
  /** Hex SHA-256 of the content as offered (before any redaction). */
  readonly sha256: string;
  readonly decision: GateDecision;
  /** Files: the host path (source of a drop, destination of a take) and the path in the sandbox. */
  readonly hostPath?: string;
  readonly sandboxPath?: string;
  /** Hex SHA-256 of what was delivered, when it differs from what was offered (a redaction). */
  readonly deliveredSha256?: string;
}

/** Audit event kinds: `gate.allow`, `gate.redact`, `gate.deny`. */
export type GateAuditKind = `gate.${'allow' | 'redact' | 'deny'}`;

/** Appends the record for one transfer. An `ask` never reaches here: it is recorded once answered. */
export function auditTransfer(audit: AuditSink, r: TransferRecord): void {
  const d = r.decision;
  const kind: GateAuditKind = d.kind === 'deny' || d.kind === 'ask' ? 'gate.deny' : d.kind === 'redact' ? 'gate.redact' : 'gate.allow';
  const refused = kind === 'gate.deny';
  audit.record({
    kind,
    ocsfClass: 'data_security_finding',
    activity: { id: 1, name: 'Create' },
    outcome: refused ? 'failure' : 'success',
    severity: refused ? 'medium' : d.findings.length > 0 ? 'low' : 'informational',
    message: d.message,
    ...(r.sessionId !== null ? { sessionId: r.sessionId } : {}),
    details: {
      direction: r.direction,
      channel: r.channel,
      content_type: r.contentType,
      size: r.size,
      sha256: r.sha256,
      decision: d.kind === 'ask' ? 'deny' : d.kind,
      reason: d.reason,
      mode: d.mode,
      findings: d.findings.map((f) => ({ detector: f.detector, category: f.category, count: f.count, action: f.action })),
      ...(r.hostPath !== undefined ? { host_path: r.hostPath } : {}),
      ...(r.sandboxPath !== undefined ? { sandbox_path: r.sandboxPath } : {}),
      ...(r.deliveredSha256 !== undefined ? { delivered_sha256: r.deliveredSha256 } : {}),
    },
  });
}
