/**
 * The proxy's audit records: `egress.deny` when a request or tunnel is
 * refused, `egress.allow` / `egress.would_deny` when an allowed one closes.
 * Each names the rule that decided it (`rule`, see {@link MatchedRule}).
 */
import type net from 'node:net';
import type { AuditEventInput, AuditSink } from '../audit/audit-event.js';
import { authority } from './deny-messages.js';
import type { AllowDecision, Channel, MatchedRule } from './destination-decision.js';
import { formatIp, type AddressCategory } from './ip-address.js';

/** How a connection reached the proxy: through the relay's hop (or the proxy socket directly), the handed-over listener, or the connect shim. */
export type ClientPath = 'relay' | 'listener' | 'shim';

/** What a refusal record shows. `matched` is absent for refusals no destination rule made (rate limits, bad requests …). */
export interface DenyRecord {
  readonly host: string;
  readonly port: number;
  readonly reason: string;
  readonly address?: string | null;
  readonly category?: AddressCategory | null;
  readonly matched?: MatchedRule | null;
}

/** Writes one proxy's audit records; a failing sink never reaches the proxy. */
export class EgressAudit {
  constructor(
    private readonly sink: AuditSink,
    private readonly sessionId: string | undefined,
    private readonly now: () => number,
    /** The policy mode in force when the record is written. */
    private readonly mode: () => 'enforce' | 'report' | 'ask',
    private readonly clientPath: (client: net.Socket) => ClientPath,
  ) {}

  record(event: Omit<AuditEventInput, 'sessionId'>): void {
    const sessionId = this.sessionId;
    try {
      this.sink.record(sessionId === undefined ? event : { ...event, sessionId });
    } catch {
      // The sink owns durability and its own failure reporting; a failing sink must not crash the proxy.
    }
  }

  deny(channel: Channel, v: DenyRecord, message: string, started: number): void {
    this.record({
      kind: 'egress.deny',
      ocsfClass: channel === 'model' ? 'http_activity' : 'network_activity',
      activity: { id: 5, name: 'Refuse' },
      outcome: 'failure',
      severity: 'medium',
      message,
      details: {
        channel,
        decision: 'deny',
        mode: this.mode(),
        host: v.host,
        port: v.port,
        address: v.address ?? null,
        reason: v.reason,
        addressCategory: v.category ?? null,
        rule: v.matched ?? null,
        bytesUp: 0,
        bytesDown: 0,
        durationMs: this.now() - started,
      },
    });
  }

  close(channel: Channel, client: net.Socket, v: AllowDecision, bytesUp: number, bytesDown: number, started: number, extra: Record<string, unknown> = {}): void {
    const address = v.route.address ? formatIp(v.route.address) : null;
    const would = v.wouldDeny;
    this.record({
      kind: would ? 'egress.would_deny' : 'egress.allow',
      ocsfClass: channel === 'model' ? 'http_activity' : 'network_activity',
      activity: { id: 2, name: 'Close' },
      outcome: 'success',
      severity: would ? 'low' : 'informational',
      message: would
        ? `Report mode let ${authority(v.host, v.port)} through although policy would deny it (${would}).`
        : `Connection to ${authority(v.host, v.port)} allowed and closed.`,
      details: {
        channel,
        decision: 'allow',
        mode: this.mode(),
        host: v.host,
        port: v.port,
        address,
        reason: would,
        addressCategory: v.category,
        // The allow entry that let it through; in report mode, the rule that would have refused it.
        rule: v.matched,
        upstreamProxy: v.route.kind === 'proxy' ? v.route.endpoint.display : null,
        bytesUp,
        bytesDown,
        durationMs: this.now() - started,
        // How this connection reached the proxy (see clientPath).
        clientPath: this.clientPath(client),
        ...extra,
      },
    });
  }
}
