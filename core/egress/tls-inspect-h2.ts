/**
 * HTTP/2 inside inspected tunnels (issue 19, item 2): when the client picks
 * `h2` on Cordon's leaf, node:http2 (nghttp2) serves the connection and each
 * stream becomes one `InspectedExchange` for `InspectServer.forward`, which
 * reads it whole, runs the same filters as HTTP/1.1 and sends it to the real
 * server as HTTP/1.1 on the tunnel's pooled, verified connection. The agent's
 * frames never reach the server: the request that leaves is written from
 * Cordon's own record of it, with a fresh Content-Length.
 *
 * What this file adds against HTTP/2's own abuses (threats I16–I20 in
 * docs/threat-model-inspection.md): tight SETTINGS (100 concurrent streams,
 * the HTTP/1.1 header bound as the header-list limit, a 4 KiB HPACK table, no
 * push, no extended CONNECT), CONNECT streams refused, and a per-connection
 * budget of streams the client resets (rapid reset) beyond which the
 * connection is closed with ENHANCE_YOUR_CALM and audited `http2_flood`.
 */
import http2 from 'node:http2';
import { PassThrough, type Writable } from 'node:stream';
import type tls from 'node:tls';
import { endToEndHeaders } from './proxy-answers.js';
import type { EgressLimits } from './connection-limits.js';
import { mergeHeaders, type ExchangeForwarder, type Tunnel } from './inspected-exchange.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** Concurrent streams one inspected connection may hold (HTTP/2 clients open far fewer; browsers use 100). */
export const H2_MAX_CONCURRENT_STREAMS = 100;
/** Client-reset streams one connection may spend at once, and how many come back a second (CVE-2023-44487). */
export const H2_RESET_BURST = 200;
export const H2_RESET_PER_SECOND = 20;

/** Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2): dropped from an HTTP/1.1 server's answer. */
const H2_CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'te']);

interface SessionState {
  readonly tunnel: Tunnel;
  /** Resets the client may still make now (a token bucket). */
  resets: number;
  at: number;
  flagged: boolean;
}

/** The HTTP/2 side of one proxy's inspected tunnels. */
export class InspectH2 {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Map<http2.ServerHttp2Session, SessionState>();
  /** The tunnel of the connection being handed to the server (the session is made synchronously on `connection`). */
  private pending: Tunnel | null = null;

  constructor(
    private readonly inspect: ExchangeForwarder,
    private readonly ctx: { readonly limits: EgressLimits; readonly now: () => number },
  ) {
    const l = ctx.limits;
    this.server = http2.createServer({
      settings: {
        maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
        // The same bound as an HTTP/1.1 head; nghttp2 and Node reset a stream whose header list is larger.
        maxHeaderListSize: l.maxHeaderBytes,
        headerTableSize: 4096,
        enablePush: false,
        // Never announced, so `:protocol` (WebSocket over HTTP/2) is malformed.
        enableConnectProtocol: false,
      },
      maxHeaderListPairs: 128,
      maxSessionMemory: 10,
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      peerMaxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
    });
    this.server.on('session', (session: http2.ServerHttp2Session) => this.onSession(session));
    this.server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
      stream.on('error', () => undefined);
      const state = this.sessions.get(stream.session as http2.ServerHttp2Session);
      if (!state) {
        stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
      }
      this.onStream(state, stream, headers, raw).catch(() => refuseStream(stream, 500, 'proxy_error', 'Cordon could not inspect the request.', true));
    });
    // Frames nghttp2 could not accept end the connection; the tunnel's close is audited as usual, this names why.
    this.server.on('sessionError', (_err: Error, session: http2.ServerHttp2Session) => {
      const state = this.sessions.get(session);
      if (state && !state.flagged) {
        state.flagged = true;
        this.inspect.refusal(state.tunnel, 'not_http', 'Cordon closed an inspected HTTP/2 connection: it sent frames that are not valid HTTP/2.', ctx.now(), { httpVersion: '2' });
      }
      session.destroy();
    });
  }

  /** Serves one tunnel whose client chose `h2`. */
  serve(secure: tls.TLSSocket, tunnel: Tunnel): void {
    this.pending = tunnel;
    // What tls.Server does before 'secureConnection': node:http2 waits for a 'secureConnect' (a client's event) while this is set.
    (secure as unknown as { secureConnecting: boolean }).secureConnecting = false;
    try {
      this.server.emit('connection', secure);
    } finally {
      this.pending = null;
    }
  }

  /** Ends every HTTP/2 connection (the proxy stops). */
  close(): void {
    for (const s of this.sessions.keys()) s.destroy();
    this.sessions.clear();
  }

  private onSession(session: http2.ServerHttp2Session): void {
    const tunnel = this.pending;
    if (!tunnel) {
      session.destroy();
      return;
    }
    const state: SessionState = { tunnel, resets: H2_RESET_BURST, at: this.ctx.now(), flagged: false };
    this.sessions.set(session, state);
    session.on('error', () => undefined);
    session.once('close', () => this.sessions.delete(session));
    // No frame for the header timeout: the connection closes gracefully (open streams finish). This also ends a connection
    // nghttp2 has sent GOAWAY on for a protocol error: Node stops reading it then, and would keep it until the process ends.
    session.setTimeout(this.ctx.limits.headerTimeoutMs, () => session.close());
  }

  /** Spends one of the connection's resets; false (and the connection closed) when it has none left. */
  private spendReset(session: http2.ServerHttp2Session, state: SessionState): void {
    const now = this.ctx.now();
    state.resets = Math.min(H2_RESET_BURST, state.resets + ((now - state.at) / 1000) * H2_RESET_PER_SECOND);
    state.at = now;
    state.resets -= 1;
    if (state.resets >= 0 || state.flagged) return;
    state.flagged = true;
    this.inspect.refusal(state.tunnel, 'http2_flood', 'Cordon closed an inspected HTTP/2 connection: it reset too many streams (rapid reset).', now, { httpVersion: '2' });
    session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  }

  private async onStream(state: SessionState, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, raw: readonly string[]): Promise<void> {
    const session = stream.session as http2.ServerHttp2Session;
    let sent = 0;
    // A stream that ends with an error code was reset (by the client, or by Cordon cutting or timing it out): that spends the budget.
    stream.once('close', () => {
      if (stream.rstCode !== NGHTTP2_NO_ERROR && this.sessions.has(session)) this.spendReset(session, state);
    });
    stream.setTimeout(Math.max(this.ctx.limits.requestTimeoutMs, this.ctx.limits.headerTimeoutMs), () => stream.close(NGHTTP2_CANCEL));
    // HTTP/1.1's bound on a request head, counted as RFC 9113 §6.5.2 does (name, value and 32 bytes per field): nghttp2 leaves the check to us.
    let size = 0;
    for (let i = 0; i + 1 < raw.length; i += 2) size += (raw[i] ?? '').length + (raw[i + 1] ?? '').length + 32;
    if (size > this.ctx.limits.maxHeaderBytes) {
      this.inspect.refusal(state.tunnel, 'headers_too_large', 'Cordon refused an HTTP/2 request whose headers are larger than the limit.', this.ctx.now(), { httpVersion: '2', method: String(headers[':method'] ?? ''), status: 431 });
      refuseStream(stream, 431, 'headers_too_large', 'Cordon refused the request: its headers are larger than the limit.', true);
      return;
    }
    const plain: string[] = [];
    // Pseudo-headers are HTTP/2's own; Host and Content-Length are written afresh; Expect is answered here.
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i] ?? '';
      if (name.startsWith(':') || name === 'host' || name === 'content-length' || name === 'expect') continue;
      plain.push(name, raw[i + 1] ?? '');
    }
    const method = String(headers[':method'] ?? 'GET');
    const hostHeader = typeof headers.host === 'string' ? headers.host : null;
    const authority = typeof headers[':authority'] === 'string' ? headers[':authority'] : (hostHeader ?? '');
    const declared = Number(headers['content-length'] ?? '0');
    if (String(headers.expect ?? '').toLowerCase() === '100-continue' && !stream.readableEnded && !stream.destroyed && !stream.closed) stream.additionalHeaders({ ':status': 100 });
    await this.inspect.forward(state.tunnel, {
      version: '2',
      method,
      // CONNECT has no :path; forward refuses it before the path matters.
      path: String(headers[':path'] ?? ''),
      scheme: String(headers[':scheme'] ?? ''),
      authority,
      hostHeader: typeof headers[':authority'] === 'string' ? hostHeader : null,
      headers: mergeHeaders(endToEndHeaders(plain)),
      declaredLength: Number.isFinite(declared) ? declared : 0,
      body: stream,
      aborted: () => stream.destroyed,
      refuse: (status, reason, message, close) => refuseStream(stream, status, reason, message, close),
      respond: (status, pairs): Writable => {
        sent = status;
        const out: http2.OutgoingHttpHeaders = { ':status': status };
        for (const [k, v] of pairs) {
          const n = k.toLowerCase();
          if (H2_CONNECTION_HEADERS.has(n)) continue;
          const prev = out[n];
          if (prev === undefined) out[n] = v;
          else if (n === 'set-cookie') out[n] = [...(Array.isArray(prev) ? prev : [String(prev)]), v];
          else out[n] = `${String(prev)}, ${v}`;
        }
        // The client may have reset the stream while the server answered; a head Node will not send cuts the stream instead of the proxy.
        let sendable = !stream.destroyed && !stream.closed;
        if (sendable) {
          try {
            stream.respond(out);
          } catch {
            sendable = false;
            stream.close(NGHTTP2_INTERNAL_ERROR);
          }
        }
        // Node ends the stream itself for HEAD, 204 and 304: what the server sends after that (nothing) goes nowhere.
        if (!sendable || stream.writableEnded) {
          const sink = new PassThrough();
          sink.resume();
          return sink;
        }
        return stream;
      },
      headersSent: () => stream.headersSent,
      status: () => sent,
      cut: () => stream.close(NGHTTP2_INTERNAL_ERROR),
      onClose: (cb) => stream.once('close', () => cb(stream.writableFinished && stream.rstCode === NGHTTP2_NO_ERROR)),
    });
  }
}

/** Answers a refusal on a stream with `x-cordon-deny`; `close` resets the stream afterwards (its body was not read). */
function refuseStream(stream: http2.ServerHttp2Stream, status: number, reason: string, message: string, close: boolean): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  const body = `${message}\n`;
  stream.respond({ ':status': status, 'x-cordon-deny': reason, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  if (stream.writableEnded) return;
  // RFC 9113 §8.1: a complete answer, then RST_STREAM NO_ERROR tells the client to stop sending the body.
  if (close) stream.end(body, () => stream.close(NGHTTP2_NO_ERROR));
  else {
    stream.end(body);
    stream.resume();
  }
}
