/**
 * What every request handler (CONNECT tunnel, plain forward, model route)
 * gets from its proxy; each handler's context adds what only it needs.
 */
import type { RateLimiter } from './connection-limits.js';
import type { Channel, DestinationDecision } from './destination-decision.js';
import type { EgressAudit } from './egress-audit.js';

export interface RequestContext {
  /** Milliseconds clock. */
  readonly now: () => number;
  /** Shared by every client of the proxy: one token per request or tunnel. */
  readonly rate: RateLimiter;
  readonly audit: EgressAudit;
  /** The destination decision with the policy in force, resolving when it must. */
  readonly destination: (rawHost: string, port: number, channel: Channel) => Promise<DestinationDecision>;
}
