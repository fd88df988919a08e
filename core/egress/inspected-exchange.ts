/**
 * One request inside an inspected tunnel, whichever HTTP version carried it:
 * the shape HTTP/1.1 (tls-inspect.ts) and HTTP/2 (tls-inspect-h2.ts) hand to
 * `InspectServer.forward`, and the per-tunnel state both look up.
 */
import type https from 'node:https';
import type { Readable, Writable } from 'node:stream';
import type { AllowDecision } from './destination-decision.js';

/** Per-tunnel state the HTTP servers look up by socket (HTTP/1.1) or session (HTTP/2). */
export interface Tunnel {
  readonly v: AllowDecision;
  readonly port: number;
  readonly pattern: string;
  readonly agent: https.Agent;
  requests: number;
}

/** What an HTTP version's adapter needs of the inspection server. */
export interface ExchangeForwarder {
  /** Inspects one request and sends it on (or refuses it); resolves when it has been handed upstream or refused. */
  forward(t: Tunnel, x: InspectedExchange): Promise<void>;
  /** Audits a refusal that is the connection's, not one request's (`egress.deny`, `inspected: true`). */
  refusal(t: Tunnel | undefined, reason: string, message: string, started: number, extra?: Record<string, unknown>): void;
}

/**
 * One request inside an inspected tunnel, as its HTTP version's adapter
 * presents it to `InspectServer.forward`.
 */
export interface InspectedExchange {
  readonly version: '1.1' | '2';
  readonly method: string;
  /** Origin-form path with query, as sent. */
  readonly path: string;
  /** `Host` (HTTP/1.1) or `:authority` (HTTP/2), as sent. */
  readonly authority: string;
  /** `:scheme` (HTTP/2); always `https` for HTTP/1.1 inside TLS. */
  readonly scheme: string;
  /** A `host` header sent beside `:authority` (HTTP/2), which must agree with it; null for HTTP/1.1. */
  readonly hostHeader: string | null;
  /** End-to-end headers, lower-case names, repeated ones joined; no Host, no Content-Length, no pseudo-headers. */
  readonly headers: Record<string, string>;
  /** The declared body length (0 when none was declared). */
  readonly declaredLength: number;
  readonly body: Readable & { readonly complete?: boolean };
  /** True once the client gave the request up (an HTTP/2 stream reset): nothing more is answered. */
  aborted(): boolean;
  /** Answers a refusal; `close` when the unread body must not be read (HTTP/1.1 closes, HTTP/2 resets the stream after the answer). */
  refuse(status: number, reason: string, message: string, close: boolean): void;
  /** Sends the response head and returns where the body goes; `flush` sends the head at once (event streams). */
  respond(status: number, pairs: ReadonlyArray<readonly [string, string]>, flush: boolean): Writable;
  headersSent(): boolean;
  /** The status sent (for the audit record). */
  status(): number;
  /** Cuts a response already under way. */
  cut(): void;
  /** Called once when the response ends; `complete` is false when it was cut or the client left. */
  onClose(cb: (complete: boolean) => void): void;
}

/** Joins header pairs into the filters' record: lower-case names, repeated ones joined (`cookie` with "; ", RFC 9113 §8.2.3; others with ", "). */
export function mergeHeaders(pairs: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of pairs) {
    const k = name.toLowerCase();
    const prev = headers[k];
    headers[k] = prev === undefined ? value : `${prev}${k === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const BAD_VALUE = /[\0\r\n]/;

/** The first header name that is not a lower-case token, or whose value holds CR, LF or NUL; null when all are sound. */
export function malformedHeader(headers: Readonly<Record<string, string>>): string | null {
  for (const [k, value] of Object.entries(headers)) if (!TOKEN.test(k) || BAD_VALUE.test(value)) return JSON.stringify(k);
  return null;
}
