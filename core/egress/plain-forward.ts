/**
 * Plain HTTP in absolute form (`GET http://host/path`): decide the host,
 * forward to a checked address with the Host header rebuilt from the checked
 * URL, and refuse a request that carries a session credential in its URL,
 * headers or body (`credential_leak`).
 */
import http from 'node:http';
import { pipeline, Transform } from 'node:stream';
import type { Outcome } from '../decision.js';
import type { MatchedRule } from './destination-decision.js';
import { authority, denyMessage, STATUS } from './deny-messages.js';
import type { DenyReason } from './host-match.js';
import { formatIp, type AddressCategory } from './ip-address.js';
import { endToEndHeaders, refuseResponse } from './proxy-answers.js';
import type { RequestContext } from './request-context.js';

/** Watches one request body on its way out, chunk by chunk, with bounded memory. */
export interface BodyGuard {
  /**
   * `allow`: `value` is the bytes (of this chunk and any held back before) that may go out now.
   * `deny`: the request must be refused; `message` says what was found (never the value itself).
   */
  push(chunk: Buffer): Outcome<Buffer, 'credential_leak'>;
  /** The bytes still held back, at the end of the body. */
  end(): Buffer;
}

/** What the plain-HTTP forwarder uses of its proxy. */
export interface ForwardContext extends RequestContext {
  /** The pooled agent for direct and upstream-proxy requests (replaced when policy changes). */
  readonly httpAgent: () => http.Agent;
  /** See `EgressProxyOptions.credentialGuard`. */
  readonly credentialGuard: ((url: string, rawHeaders: readonly string[]) => string | null) | undefined;
  /** See `EgressProxyOptions.bodyGuard`. */
  readonly bodyGuard: (() => BodyGuard) | undefined;
}

/** A body guard's refusal, carried through the body's stream as its error; the message is the guard's (value-free) reason. */
class BodyRefused extends Error {}

export async function handleForward(ctx: ForwardContext, req: http.IncomingMessage, res: http.ServerResponse, rawUrl: string): Promise<void> {
  const started = ctx.now();
  const refuse = (host: string, port: number, reason: DenyReason, detail = '', address: string | null = null, category: AddressCategory | null = null, matched: MatchedRule | null = null): void => {
    const message = denyMessage(reason, authority(host, port), detail);
    ctx.audit.deny('http', { host, port, reason, address, category, matched }, message, started);
    refuseResponse(res, STATUS[reason], reason, message);
    req.resume(); // drain the body so the keep-alive connection stays usable
  };
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    refuse(rawUrl.slice(0, 100), 0, 'bad_target', 'not a URL');
    return;
  }
  if (url.protocol !== 'http:') {
    refuse(url.hostname, 0, 'bad_target', `${url.protocol} is not forwarded; use CONNECT for https`);
    return;
  }
  if (url.username !== '' || url.password !== '') {
    refuse(url.hostname, 0, 'bad_target', 'credentials in the URL are not forwarded');
    return;
  }
  const port = url.port === '' ? 80 : Number(url.port);
  if (!ctx.rate.take()) {
    refuse(url.hostname, port, 'rate_limited');
    return;
  }
  const v = await ctx.destination(url.hostname, port, 'http');
  if (v.kind === 'deny') {
    refuse(v.host, v.port, v.reason, v.detail, v.address, v.category, v.matched);
    return;
  }
  const leak = ctx.credentialGuard?.(rawUrl, req.rawHeaders);
  if (leak) {
    refuse(v.host, v.port, 'credential_leak', leak);
    return;
  }
  const headers = endToEndHeaders(req.rawHeaders, ['host']);
  // The Host header is rebuilt from the checked URL: a different Host on the
  // same address could reach another virtual host (domain fronting).
  headers.unshift(['Host', port === 80 ? (v.host.includes(':') ? `[${v.host}]` : v.host) : authority(v.host, port)]);
  const path = `${url.pathname}${url.search}`;
  let upstreamReq: http.ClientRequest;
  if (v.route.kind === 'direct') {
    upstreamReq = http.request({ host: formatIp(v.route.address), port, method: req.method ?? 'GET', path, headers: headers.flat(), setHost: false, agent: ctx.httpAgent() });
  } else {
    const ep = v.route.endpoint;
    if (ep.authorization) headers.push(['Proxy-Authorization', ep.authorization]);
    upstreamReq = http.request({ host: ep.host, port: ep.port, method: req.method ?? 'GET', path: `http://${v.route.target}${path}`, headers: headers.flat(), setHost: false, agent: ctx.httpAgent() });
  }
  let bytesUp = 0;
  let bytesDown = 0;
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    ctx.audit.close('http', req.socket, v, bytesUp, bytesDown, started, { method: req.method ?? '', status: res.statusCode });
  };
  req.on('data', (c: Buffer) => (bytesUp += c.length));
  upstreamReq.on('error', (e: NodeJS.ErrnoException) => {
    if (done) return;
    if (!res.headersSent) {
      const message = denyMessage('upstream_failed', authority(v.host, v.port), e.code ?? 'connection failed');
      ctx.audit.deny('http', { host: v.host, port: v.port, reason: 'upstream_failed' }, message, started);
      refuseResponse(res, 502, 'upstream_failed', message);
      done = true;
    } else {
      res.destroy();
    }
  });
  upstreamReq.on('response', (upRes: http.IncomingMessage) => {
    res.writeHead(upRes.statusCode ?? 502, endToEndHeaders(upRes.rawHeaders).flat());
    upRes.on('data', (c: Buffer) => (bytesDown += c.length));
    pipeline(upRes, res, () => finish());
  });
  res.once('close', () => {
    if (!res.writableFinished) upstreamReq.destroy();
    finish();
  });
  // A client that vanishes mid-body must abort the upstream request, not crash the proxy.
  req.once('error', () => upstreamReq.destroy());
  const guard = ctx.bodyGuard?.();
  if (guard === undefined) {
    req.pipe(upstreamReq);
    return;
  }
  const watched = new Transform({
    transform(chunk: Buffer, _encoding, cb) {
      const decision = guard.push(chunk);
      if (decision.kind === 'allow') cb(null, decision.value);
      else cb(new BodyRefused(decision.message));
    },
    flush(cb) {
      cb(null, guard.end());
    },
  });
  watched.once('error', (e) => {
    // Refuse (and audit) before the upstream request is aborted, so its
    // error finds the exchange done; the connection closes with the answer,
    // so the rest of the upload is never read.
    done = true;
    req.unpipe(watched);
    const message = denyMessage('credential_leak', authority(v.host, v.port), e instanceof BodyRefused ? e.message : 'request body');
    ctx.audit.deny('http', { host: v.host, port: v.port, reason: 'credential_leak' }, message, started);
    refuseResponse(res, 403, 'credential_leak', message, true);
    upstreamReq.destroy();
  });
  req.pipe(watched).pipe(upstreamReq);
}
