/**
 * The model route, `/model/<provider>/…`: read the body (bounded), run the
 * request filters (key swap, DLP), check the provider's addresses, send over
 * verified TLS, and pass the response through the response transforms.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { pipeline, type Readable, type Transform } from 'node:stream';
import tls from 'node:tls';
import type { EgressLimits } from './connection-limits.js';
import type { MatchedRule } from './destination-decision.js';
import { authority, denyMessage, STATUS } from './deny-messages.js';
import { pinnedLookup } from './destination-dial.js';
import type { ModelRoutes, ProviderConfig } from './egress-policy.js';
import { runFilterChain, type FilterTrace, type ModelRequest, type RequestFilter, type ResponseTransformFactory } from './model-route.js';
import { endToEndHeaders, refuseResponse } from './proxy-answers.js';
import type { RequestContext } from './request-context.js';
import { openTunnelVia } from './upstream-proxy.js';

/** Reads the system CA bundle once; Node 20's `tls.rootCertificates` is only Mozilla's list. */
export function systemCas(): string[] {
  const out = [...tls.rootCertificates];
  for (const file of ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem']) {
    try {
      out.push(readFileSync(file, 'utf8'));
      break;
    } catch {
      // Not this distribution's path; try the next.
    }
  }
  return out;
}

/** The providers' TLS trust and pooled connections, one agent per provider; retired when policy or providers change. */
export class ProviderAgents {
  private agents = new Map<string, https.Agent>();
  private caCache: string[] | null = null;

  /** @param extraCa PEM certificates trusted for every provider, besides the system store and each `caFile`. */
  constructor(private readonly extraCa: readonly string[]) {}

  ca(cfg: ProviderConfig): string[] {
    this.caCache ??= systemCas();
    // caFile is read per agent (once per provider per policy version), so a rotated file is picked up on setProviders.
    return cfg.caFile ? [...this.caCache, ...this.extraCa, readFileSync(cfg.caFile, 'utf8')] : [...this.caCache, ...this.extraCa];
  }

  agent(name: string, cfg: ProviderConfig): https.Agent {
    let agent = this.agents.get(name);
    if (!agent) {
      // One secure context per provider: passing `ca` per connection would re-parse
      // hundreds of certificates each time and put them all in the agent's pool key.
      const secureContext = tls.createSecureContext({ ca: this.ca(cfg) });
      agent = new https.Agent({ keepAlive: true, maxFreeSockets: 16, secureContext });
      this.agents.set(name, agent);
    }
    return agent;
  }

  /** Drops the pooled idle connections and forgets the trust store: the next request builds afresh. */
  retire(): void {
    for (const a of this.agents.values()) for (const list of Object.values(a.freeSockets)) for (const s of list ?? []) s.destroy();
    this.agents = new Map();
    this.caCache = null;
  }

  destroy(): void {
    for (const a of this.agents.values()) a.destroy();
  }
}

/** What the model route uses of its proxy. */
export interface ModelContext extends RequestContext {
  readonly limits: EgressLimits;
  /** The providers' routes in force, compiled once per policy. */
  readonly modelRoutes: () => ModelRoutes;
  readonly agents: ProviderAgents;
  /** In order; the proxy may add more before it serves. */
  readonly filters: readonly RequestFilter[];
  readonly transforms: readonly ResponseTransformFactory[];
  readonly sessionId: string | undefined;
  /** Keeps a socket to destroy on stop. */
  readonly track: (s: net.Socket) => void;
}

/** Reads a request body (a model-route or inspected request, an HTTP/2 stream too) up to the inspection limit; null once it is exceeded (without reading the rest) or when the stream closes before its end. */
export function readBody(req: Readable & { readonly complete?: boolean }, max: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= max) {
        chunks.push(c);
        return;
      }
      // Over the limit: stop buffering now rather than drain an endless upload.
      req.removeListener('data', onData);
      req.pause();
      resolve(null);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', () => resolve(null));
    req.once('close', () => resolve(req.complete ? Buffer.concat(chunks) : null));
  });
}

export async function handleModel(ctx: ModelContext, req: http.IncomingMessage, res: http.ServerResponse, provider: string, rest: string): Promise<void> {
  const started = ctx.now();
  const method = req.method ?? 'GET';
  const refuse = (status: number, reason: string, message: string, host = provider, port = 0, close = false, matched: MatchedRule | null = null): void => {
    ctx.audit.deny('model', { host, port, reason, matched }, message, started);
    refuseResponse(res, status, reason, message, close);
    if (!close) req.resume();
  };
  const route = ctx.modelRoutes().routes.get(provider);
  if (!route) {
    refuse(404, 'unknown_provider', denyMessage('unknown_provider', provider.slice(0, 64), ''));
    return;
  }
  if (!ctx.rate.take()) {
    refuse(429, 'rate_limited', denyMessage('rate_limited', provider, ''));
    return;
  }
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > ctx.limits.maxInspectedBodyBytes) {
    refuse(413, 'body_too_large', denyMessage('body_too_large', provider, ''), provider, 0, true);
    return;
  }
  const body = await readBody(req, ctx.limits.maxInspectedBodyBytes);
  if (!body) {
    refuse(413, 'body_too_large', denyMessage('body_too_large', provider, ''), provider, 0, true);
    return;
  }
  const cfg = route.config;
  const basePath = route.basePath;
  const upstreamPath = `${basePath}${rest}`;
  // Records name the path relative to the provider and without the query,
  // as the filters left it: a value DLP found in the path is replaced there too.
  const recordedPath = (p: string): string => (p.startsWith(basePath) ? p.slice(basePath.length) : p).split('?')[0] || '/';
  const headers: Record<string, string> = {};
  for (const [name, value] of endToEndHeaders(req.rawHeaders, ['host', 'content-length'])) {
    const k = name.toLowerCase();
    headers[k] = headers[k] === undefined ? value : `${headers[k]}, ${value}`;
  }
  const request: ModelRequest = { provider, host: route.host, method, path: upstreamPath, headers, body, sessionId: ctx.sessionId };
  const chain = await runFilterChain(ctx.filters, request);
  const filterTrace = (t: readonly FilterTrace[]): FilterTrace[] => [...t];
  if (chain.kind === 'deny') {
    ctx.audit.record({
      kind: 'egress.deny',
      ocsfClass: 'http_activity',
      activity: { id: 5, name: 'Refuse' },
      outcome: 'failure',
      severity: 'medium',
      message: chain.message,
      details: { channel: 'model', provider, method, path: recordedPath(chain.path), reason: chain.reason, filters: filterTrace(chain.trace), durationMs: ctx.now() - started },
    });
    refuseResponse(res, chain.status, chain.reason, chain.message);
    return;
  }
  const final = chain.request;
  const port = route.port;
  const v = await ctx.destination(route.dialHost, port, 'model');
  if (v.kind === 'deny') {
    refuse(STATUS[v.reason], v.reason, v.message, v.host, v.port, false, v.matched);
    return;
  }
  const outHeaders: Record<string, string | number> = { ...final.headers, host: route.hostHeader, 'content-length': final.body.length };
  // Transforms (DLP rehydration) need plain bytes, so ask the provider not to compress.
  if (ctx.transforms.length > 0) outHeaders['accept-encoding'] = 'identity';
  let upstreamReq: http.ClientRequest;
  try {
    const common = { method: final.method, path: final.path, headers: outHeaders, setHost: false };
    if (v.route.kind === 'direct') {
      upstreamReq = https.request({ ...common, host: v.host, port, servername: net.isIP(v.host) ? '' : v.host, lookup: pinnedLookup(v.route.addresses), agent: ctx.agents.agent(provider, cfg) });
    } else {
      const tunnel = await openTunnelVia(v.route.endpoint, v.route.target, ctx.limits.upstreamConnectTimeoutMs);
      if (!tunnel.ok) {
        refuse(502, 'upstream_failed', denyMessage('upstream_failed', authority(v.host, v.port), tunnel.why), v.host, v.port);
        return;
      }
      ctx.track(tunnel.socket);
      const tlsSocket = tls.connect({ socket: tunnel.socket, servername: net.isIP(v.host) ? '' : v.host, ca: ctx.agents.ca(cfg), checkServerIdentity: (_h, cert) => tls.checkServerIdentity(v.host, cert) });
      tunnel.socket.resume();
      // No `agent` key at all: with `agent: false` Node builds a fresh agent that
      // ignores createConnection and dials the provider directly, around the corporate proxy.
      upstreamReq = https.request({ ...common, host: v.host, port, createConnection: () => tlsSocket });
    }
  } catch {
    refuse(502, 'proxy_error', denyMessage('proxy_error', provider, 'provider TLS settings unreadable'), v.host, v.port);
    return;
  }
  let bytesDown = 0;
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    ctx.audit.close('model', req.socket, v, final.body.length, bytesDown, started, { provider, method, path: recordedPath(final.path), status: res.statusCode, filters: filterTrace(chain.trace) });
  };
  upstreamReq.on('error', (e: NodeJS.ErrnoException) => {
    if (!res.headersSent) {
      done = true;
      refuse(502, 'upstream_failed', denyMessage('upstream_failed', authority(v.host, v.port), e.code ?? 'request failed'), v.host, v.port);
    } else {
      res.destroy();
    }
  });
  upstreamReq.on('response', (upRes: http.IncomingMessage) => {
    const status = upRes.statusCode ?? 502;
    const stages: Transform[] = [];
    for (const factory of ctx.transforms) {
      const t = factory({ request: final, status, headers: upRes.headers });
      if (t) stages.push(t);
    }
    // A transform may change the length; let Node chunk the response instead.
    const drop = stages.length > 0 ? ['content-length'] : [];
    res.writeHead(status, endToEndHeaders(upRes.rawHeaders, drop).flat());
    // An SSE client waits for the head before the first event: send it now.
    // Other responses go out with their first body chunk (one write, not two).
    if (String(upRes.headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
    upRes.on('data', (c: Buffer) => (bytesDown += c.length));
    const done2 = (): void => finish();
    if (stages.length === 0) pipeline(upRes, res, done2);
    else pipeline([upRes, ...stages, res], done2);
  });
  res.once('close', () => {
    if (!res.writableFinished) upstreamReq.destroy();
    finish();
  });
  upstreamReq.end(final.body);
}
