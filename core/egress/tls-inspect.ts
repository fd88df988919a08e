/**
 * Inspected CONNECT tunnels (issue 19, item 2): for a host `egress.inspect`
 * names, the proxy answers the CONNECT itself, terminates the sandbox's TLS
 * with a leaf for the CONNECT host (signed by the per-install CA, which only
 * sandboxes trust), reads the HTTP/1.1 requests inside, runs the inspection
 * filters (phantom credentials, DLP) on each, and sends it on over TLS
 * verified against the system store plus `egress.caFile`, to exactly the
 * address the destination decision checked (`dial`).
 *
 * The destination decision is the caller's (`connect-tunnel.ts`): this file
 * runs only for a CONNECT already allowed, so allow/deny, address checks and
 * DNS pinning are the tunnels' own. Threats: docs/threat-model-inspection.md.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { isIP } from 'node:net';
import { pipeline, type Transform } from 'node:stream';
import tls from 'node:tls';
import type { LeafIssuer } from '../inspect/leaf-issuer.js';
import type { EgressLimits } from './connection-limits.js';
import type { AllowDecision } from './destination-decision.js';
import { authority } from './deny-messages.js';
import { dial } from './destination-dial.js';
import { normaliseHost } from './host-match.js';
import { readBody, systemCas } from './model-route-handler.js';
import { runFilterChain, type FilterTrace, type ModelRequest, type RequestFilter, type ResponseTransformFactory } from './model-route.js';
import { endToEndHeaders, refuseResponse } from './proxy-answers.js';
import { malformedHeader, mergeHeaders, type ExchangeForwarder, type InspectedExchange, type Tunnel } from './inspected-exchange.js';
import { InspectH2 } from './tls-inspect-h2.js';
import type { RequestContext } from './request-context.js';

/** What a session gives the proxy to inspect with: the leaves of its CA. */
export interface TlsInspection {
  readonly leaves: LeafIssuer;
}

/** What an inspected tunnel uses of its proxy. */
export interface InspectContext extends RequestContext {
  readonly limits: EgressLimits;
  readonly track: (s: net.Socket) => void;
  /** Null: this session has no inspection CA, so an inspected host is refused (`inspection_unavailable`). */
  readonly inspection: TlsInspection | null;
  /** Run in order on every inspected request (the same chain semantics as the model route's). */
  readonly inspectFilters: readonly RequestFilter[];
  readonly inspectTransforms: readonly ResponseTransformFactory[];
  /** Rewrites a response header value for the agent (a credential echoed back becomes its phantom again). */
  readonly inspectHeaderMask: ((request: ModelRequest, value: string) => string) | undefined;
  readonly upstreamTrust: UpstreamTrust;
  readonly sessionId: string | undefined;
}

/**
 * What the proxy trusts toward inspected hosts: the system store plus
 * `egress.caFile`, one secure context per file (re-read when policy changes).
 */
export class UpstreamTrust {
  private contexts = new Map<string, tls.SecureContext>();
  private system: string[] | null = null;

  constructor(private caFile: () => string | null) {}

  context(): tls.SecureContext {
    const file = this.caFile();
    const key = file ?? '';
    let c = this.contexts.get(key);
    if (!c) {
      this.system ??= systemCas();
      // A caFile that cannot be read leaves only the system store: the failure shows as a refused upstream, never as trusting less checking.
      let extra: string[] = [];
      try {
        extra = file ? [readFileSync(file, 'utf8')] : [];
      } catch {
        extra = [];
      }
      c = tls.createSecureContext({ ca: [...this.system, ...extra] });
      this.contexts.set(key, c);
    }
    return c;
  }

  retire(): void {
    this.contexts = new Map();
    this.system = null;
  }
}

/** Reasons an inspected tunnel or request is refused (beside the filters' own); stable, in `X-Cordon-Deny` and audit records. */
export type InspectRefusal = 'inspection_unavailable' | 'sni_mismatch' | 'host_mismatch' | 'tls_handshake_failed' | 'not_tls' | 'not_http' | 'upgrade_not_inspected' | 'upstream_tls_failed' | 'upstream_failed' | 'body_too_large' | 'rate_limited' | 'malformed_request' | 'http2_flood';

const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');

/** OpenSSL's codes for bytes that are no TLS record (plain HTTP, SSH, anything else). */
const NOT_TLS = /HTTP_REQUEST|WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|PACKET_LENGTH_TOO_LONG|RECORD_LENGTH|UNEXPECTED_RECORD/;

/** Certificate verification failures, as Node names them: told apart from a refused connection. */
/** Idle pooled upstream connections close after this long (the agent's socket timeout). */
const UPSTREAM_IDLE_MS = 15_000;
/** Upstream pools one proxy keeps (distinct checked destinations); the least recently used closes beyond it. */
const MAX_UPSTREAM_POOLS = 64;
const TLS_VERIFY = /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|SIGNATURE|ISSUER|TLS/;


/**
 * The HTTP side of every inspected tunnel of one proxy: one parser setup
 * (Node's llhttp, strict), fed each tunnel's decrypted socket.
 */
export class InspectServer implements ExchangeForwarder {
  private readonly server: http.Server;
  private readonly tunnels = new WeakMap<net.Socket, Tunnel>();
  /** Upstream keep-alive pools by checked destination, least recently used first. */
  private readonly agents = new Map<string, https.Agent>();
  /** The HTTP/2 side, made on the first tunnel that negotiates h2. */
  private h2: InspectH2 | null = null;

  constructor(private readonly ctx: InspectContext) {
    const l = ctx.limits;
    this.server = http.createServer({ maxHeaderSize: l.maxHeaderBytes, headersTimeout: l.headerTimeoutMs, requestTimeout: Math.max(l.requestTimeoutMs, l.headerTimeoutMs), keepAliveTimeout: 5000, noDelay: true });
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.onRequest(req, res).catch(() => refuseResponse(res, 500, 'proxy_error', 'Cordon could not inspect the request.', true));
    });
    // Frames after an upgrade, or a tunnel inside the tunnel, would leave unscanned.
    const noUpgrade = (req: http.IncomingMessage, socket: net.Socket): void => {
      const t = this.tunnels.get(socket);
      const message = `Cordon refused an upgrade (${String(req.headers.upgrade ?? req.method)}) inside an inspected connection: its frames could not be scanned.`;
      this.refusal(t, 'upgrade_not_inspected', message, ctx.now());
      socket.end(`HTTP/1.1 403 Forbidden\r\nX-Cordon-Deny: upgrade_not_inspected\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(message) + 1}\r\nConnection: close\r\n\r\n${message}\n`);
    };
    this.server.on('upgrade', noUpgrade);
    this.server.on('connect', noUpgrade);
    this.server.on('clientError', (_err: Error, socket: net.Socket) => {
      this.refusal(this.tunnels.get(socket), 'not_http', 'Cordon closed an inspected connection: what it carried is not HTTP/1.1.', ctx.now());
      socket.destroy();
    });
  }

  /**
   * Takes over an allowed CONNECT to an inspected host: answers 200, checks
   * the ClientHello, terminates TLS with the host's leaf, and serves the
   * requests inside. `release` frees the tunnel slot once both ends are closed.
   */
  open(client: net.Socket, head: Buffer, v: AllowDecision, port: number, pattern: string, started: number, release: () => void): void {
    const ctx = this.ctx;
    const inspection = ctx.inspection;
    let released = false;
    const done = (): void => {
      if (released) return;
      released = true;
      release();
    };
    if (!inspection) {
      done();
      this.refusal({ v, port, pattern, agent: new https.Agent(), requests: 0 }, 'inspection_unavailable', `Cordon refused ${authority(v.host, port)}: policy inspects this host, but this session has no inspection CA (start a new session).`, started);
      client.end(`HTTP/1.1 403 Forbidden\r\nX-Cordon-Deny: inspection_unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    const leaf = inspection.leaves.leafFor(v.host);
    const tunnel: Tunnel = { v, port, pattern, agent: this.upstreamAgent(v, port), requests: 0 };
    client.write(ESTABLISHED);
    // Bytes the client sent with its CONNECT: the TLS socket reads them first.
    if (head.length > 0) client.unshift(head);
    client.once('close', () => {
      done();
      ctx.audit.close('connect', client, v, client.bytesRead, client.bytesWritten, started, { inspected: true, inspectRule: pattern, requests: tunnel.requests, dataPath: 'inspect' });
    });
    let sniMismatch = false;
    let established = false;
    const secure = new tls.TLSSocket(client, {
      isServer: true,
      secureContext: leaf.context,
      // HTTP/2 is read by node:http2 (tls-inspect-h2.ts) and sent on as HTTP/1.1, so it can be offered whatever the server speaks.
      ALPNProtocols: ['h2', 'http/1.1'],
      // The leaf is for the CONNECT host, which the destination decision checked; a ClientHello naming another host is fronting.
      SNICallback: (servername, cb) => {
        const n = normaliseHost(servername);
        if (n.ok && n.host === v.host) cb(null, leaf.context);
        else {
          sniMismatch = true;
          cb(new Error('sni mismatch'), undefined);
        }
      },
    });
    ctx.track(secure);
    secure.on('error', (e: NodeJS.ErrnoException) => {
      if (!established) {
        const where = authority(v.host, port);
        // OpenSSL names bytes that are no TLS record at all (plain HTTP, SSH) this way.
        if (NOT_TLS.test(e.code ?? '')) this.refusal(tunnel, 'not_tls', `Cordon closed ${where}: policy inspects this host and the connection is not TLS.`, started);
        else if (sniMismatch) this.refusal(tunnel, 'sni_mismatch', `Cordon closed a tunnel to ${where}: its TLS handshake names another host.`, started);
        else this.refusal(tunnel, 'tls_handshake_failed', `Cordon closed ${where}: the client did not accept Cordon's inspection certificate (pinned, or the CA is not trusted).`, started, { tlsError: e.code ?? 'unknown' });
      }
      secure.destroy();
      client.destroy();
    });
    secure.once('secure', () => {
      established = true;
      if (secure.alpnProtocol === 'h2') {
        (this.h2 ??= new InspectH2(this, ctx)).serve(secure, tunnel);
        return;
      }
      this.tunnels.set(secure, tunnel);
      this.server.emit('connection', secure);
    });
  }

  /**
   * The keep-alive pool for one checked destination, shared by every tunnel
   * of this proxy (one session) to it: a new tunnel then reuses a verified
   * upstream connection, or resumes a TLS session, instead of paying a full
   * handshake (issue 19's per-connection target). Keyed by host, port and
   * the route the destination decision checked (its addresses or upstream
   * proxy), so a connection is never reused toward an address another
   * decision did not allow: a re-resolved name gets a new pool.
   */
  private upstreamAgent(v: AllowDecision, port: number): https.Agent {
    const key = `${v.host}\0${port}\0${JSON.stringify(v.route)}`;
    const pooled = this.agents.get(key);
    if (pooled) {
      // Most recently used last, so the first entry is the one to drop.
      this.agents.delete(key);
      this.agents.set(key, pooled);
      return pooled;
    }
    const ctx = this.ctx;
    const servername = isIP(v.host) ? undefined : v.host;
    // Idle upstream sockets close after a while: a pool outliving its use would only hold the server's resources.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 16, maxFreeSockets: 8, timeout: UPSTREAM_IDLE_MS });
    let session: Buffer | undefined;
    const create = (_opts: unknown, cb: (err: Error | null, s?: net.Socket) => void): undefined => {
      void dial(v.route, port, ctx.limits.upstreamConnectTimeoutMs).then((up) => {
        if (!up.ok) {
          cb(Object.assign(new Error(up.why), { code: up.why }));
          return;
        }
        ctx.track(up.socket);
        // Resumption keeps verification: a resumed session is one this agent verified for this host.
        const s = tls.connect({ socket: up.socket, ...(servername ? { servername } : {}), ...(session ? { session } : {}), secureContext: ctx.upstreamTrust.context(), ALPNProtocols: ['http/1.1'], checkServerIdentity: (_h, cert) => tls.checkServerIdentity(v.host, cert) });
        s.on('session', (b: Buffer) => (session = b));
        s.once('secureConnect', () => {
          s.removeAllListeners('error');
          s.on('error', () => s.destroy());
          cb(null, s);
        });
        s.once('error', (e: Error) => {
          session = undefined;
          up.socket.destroy();
          cb(e);
        });
      });
      return undefined;
    };
    (agent as unknown as { createConnection: typeof create }).createConnection = create;
    this.agents.set(key, agent);
    if (this.agents.size > MAX_UPSTREAM_POOLS) {
      const [oldest, old] = this.agents.entries().next().value as [string, https.Agent];
      this.agents.delete(oldest);
      old.destroy();
    }
    return agent;
  }

  /** Closes every pooled upstream connection (the proxy stops). */
  close(): void {
    this.h2?.close();
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  /** Audits a refusal of tunnel T (absent: before a tunnel was known) as `egress.deny` with `inspected: true`. */
  refusal(t: Tunnel | undefined, reason: string, message: string, started: number, extra: Record<string, unknown> = {}): void {
    this.ctx.audit.record({
      kind: 'egress.deny',
      ocsfClass: 'http_activity',
      activity: { id: 5, name: 'Refuse' },
      outcome: 'failure',
      severity: reason === 'credential_leak' || reason === 'dlp_blocked' || reason === 'sni_mismatch' ? 'high' : 'medium',
      message,
      details: { channel: 'connect', inspected: true, decision: 'deny', host: t?.v.host ?? '', port: t?.port ?? 0, reason, inspectRule: t?.pattern ?? null, durationMs: this.ctx.now() - started, ...extra },
    });
  }

  /** An HTTP/1.1 request of a tunnel, as the shared parser hands it over. */
  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const t = this.tunnels.get(req.socket);
    if (!t) {
      res.destroy();
      return;
    }
    const headers = mergeHeaders(endToEndHeaders(req.rawHeaders, ['host', 'content-length']));
    await this.forward(t, {
      version: '1.1',
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      scheme: 'https',
      authority: req.headers.host ?? '',
      // HTTP/1.1 has no second name for the authority.
      hostHeader: null,
      headers,
      declaredLength: Number(req.headers['content-length'] ?? '0'),
      body: req,
      aborted: () => false,
      refuse: (status, reason, message, close) => {
        refuseResponse(res, status, reason, message, close);
        if (!close) req.resume();
      },
      respond: (status, pairs, flush) => {
        // Cordon adds nothing the server did not send: the agent sees the server's own head.
        res.sendDate = false;
        res.writeHead(status, pairs.flat());
        if (flush) res.flushHeaders();
        return res;
      },
      headersSent: () => res.headersSent,
      status: () => res.statusCode,
      cut: () => res.destroy(),
      onClose: (cb) => res.once('close', () => cb(res.writableFinished)),
    });
  }

  /**
   * One inspected request, whichever HTTP version carried it: the Host
   * check, the rate limit, the bounded body, the filters, and the request
   * sent as HTTP/1.1 on the tunnel's pooled upstream connection, its answer
   * streamed back (credentials masked). Used by tls-inspect-h2.ts too.
   */
  async forward(t: Tunnel, x: InspectedExchange): Promise<void> {
    const ctx = this.ctx;
    const started = ctx.now();
    t.requests++;
    const { v, port } = t;
    const { method, path } = x;
    const recorded = path.split('?')[0] ?? '/';
    const httpVersion = x.version;
    const refuse = (status: number, reason: string, message: string, extra: Record<string, unknown> = {}, close = false): void => {
      this.refusal(t, reason, message, started, { method, path: recorded, status, httpVersion, ...extra });
      x.refuse(status, reason, message, close);
    };
    // A tunnel inside the tunnel (CONNECT, HTTP/2's own or extended) would carry bytes no filter reads.
    if (method === 'CONNECT') {
      refuse(403, 'upgrade_not_inspected', 'Cordon refused a CONNECT inside an inspected connection: what it carries could not be scanned.');
      return;
    }
    // The Host must be the tunnel's: another name on the same connection would reach a virtual host nobody checked.
    const expected = port === 443 ? [authority(v.host, 443), v.host.includes(':') ? `[${v.host}]` : v.host] : [authority(v.host, port)];
    const norm = (h: string): string => h.toLowerCase().replace(/\.(?=:|$)/, '');
    if (x.scheme !== 'https') {
      refuse(400, 'malformed_request', `Cordon refused a request with scheme ${JSON.stringify(x.scheme.slice(0, 16))} inside a TLS tunnel.`);
      return;
    }
    if (!expected.includes(norm(x.authority)) || (x.hostHeader !== null && !expected.includes(norm(x.hostHeader))) || !path.startsWith('/')) {
      refuse(421, 'host_mismatch', `Cordon refused a request for ${x.authority.slice(0, 100) || '(no Host)'} inside the tunnel to ${authority(v.host, port)}.`);
      return;
    }
    // Defence in depth behind the parsers (llhttp, nghttp2): the request Cordon writes is HTTP/1.1, where a line break in a header would start a new one.
    const bad = malformedHeader(x.headers);
    if (bad !== null) {
      refuse(400, 'malformed_request', `Cordon refused a request whose header ${bad.slice(0, 64)} cannot be sent on as HTTP/1.1.`);
      return;
    }
    if (!ctx.rate.take()) {
      refuse(429, 'rate_limited', 'Cordon refused the request: too many requests per second; retry shortly.');
      return;
    }
    const body = x.declaredLength > ctx.limits.maxInspectedBodyBytes ? null : await readBody(x.body, ctx.limits.maxInspectedBodyBytes);
    if (x.aborted()) return;
    if (!body) {
      refuse(413, 'body_too_large', 'Cordon refused the request: the body is larger than the inspection limit.', {}, true);
      return;
    }
    const request: ModelRequest = { provider: '', host: v.host, method, path, headers: x.headers, body, sessionId: ctx.sessionId };
    const chain = await runFilterChain(ctx.inspectFilters, request);
    const trace = (y: readonly FilterTrace[]): FilterTrace[] => [...y];
    if (chain.kind === 'deny') {
      refuse(chain.status, chain.reason, chain.message, { path: chain.path.split('?')[0] ?? '/', filters: trace(chain.trace) });
      return;
    }
    if (x.aborted()) return;
    const final = chain.request;
    const outHeaders: Record<string, string | number> = { ...final.headers, host: x.authority, 'content-length': final.body.length };
    const upstreamReq = https.request({ host: v.host, port, method: final.method, path: final.path, headers: outHeaders, setHost: false, agent: t.agent });
    let bytesDown = 0;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      ctx.audit.record({
        kind: 'egress.allow',
        ocsfClass: 'http_activity',
        activity: { id: 2, name: 'Close' },
        outcome: 'success',
        severity: 'informational',
        message: `Inspected request to ${authority(v.host, port)} sent.`,
        details: { channel: 'connect', inspected: true, decision: 'allow', host: v.host, port, method, path: final.path.split('?')[0] ?? '/', status: x.status(), httpVersion, bytesUp: final.body.length, bytesDown, filters: trace(chain.trace), inspectRule: t.pattern, rule: v.matched, durationMs: ctx.now() - started },
      });
    };
    upstreamReq.on('error', (e: NodeJS.ErrnoException) => {
      if (x.headersSent()) {
        x.cut();
        return;
      }
      finished = true;
      const code = e.code ?? e.message;
      if (TLS_VERIFY.test(code)) refuse(502, 'upstream_tls_failed', `Cordon refused ${authority(v.host, port)}: its certificate did not verify (${code}).`, { tlsError: code });
      else refuse(502, 'upstream_failed', `Cordon could not connect to ${authority(v.host, port)} (${code}).`);
    });
    upstreamReq.on('response', (upRes: http.IncomingMessage) => {
      const status = upRes.statusCode ?? 502;
      const stages: Transform[] = [];
      for (const factory of ctx.inspectTransforms) {
        const s = factory({ request: final, status, headers: upRes.headers });
        if (s) stages.push(s);
      }
      const pairs = endToEndHeaders(upRes.rawHeaders, stages.length > 0 ? ['content-length'] : []);
      const mask = ctx.inspectHeaderMask;
      const out = x.respond(status, mask ? pairs.map(([k, val]): [string, string] => [k, mask(final, val)]) : pairs, String(upRes.headers['content-type'] ?? '').startsWith('text/event-stream'));
      upRes.on('data', (c: Buffer) => (bytesDown += c.length));
      if (stages.length === 0) pipeline(upRes, out, finish);
      else pipeline([upRes, ...stages, out], finish);
    });
    x.onClose((complete) => {
      if (!complete) upstreamReq.destroy();
      finish();
    });
    upstreamReq.end(final.body);
  }
}
