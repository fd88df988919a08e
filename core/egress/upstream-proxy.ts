/**
 * Chaining through the host's corporate proxy (issue 3, item 7).
 *
 * When the host has `HTTPS_PROXY`/`HTTP_PROXY` set, direct connections usually
 * do not leave the corporate network, so Cordon opens its tunnels through that
 * proxy instead, honouring the host's `NO_PROXY`. Credentials in the proxy URL
 * become a `Proxy-Authorization: Basic` header and are never logged: the
 * endpoint's `display` form has them removed.
 */
import net from 'node:net';
import { cidrContains, parseCidr, type Cidr } from '../net/ip-address.js';
import { parseIp } from './ip-address.js';

/** One upstream proxy: where it listens and how to authenticate. */
export interface ProxyEndpoint {
  readonly host: string;
  readonly port: number;
  /** Full `Proxy-Authorization` header value, or null. Secret: never log. */
  readonly authorization: string | null;
  /** `http://host:port` without credentials, safe for logs and audit records. */
  readonly display: string;
}

/** One `NO_PROXY` entry. */
type NoProxyRule = { readonly kind: 'all' } | { readonly kind: 'domain'; readonly domain: string; readonly port: number | null } | { readonly kind: 'cidr'; readonly cidr: Cidr };

/** The host's proxy settings. `https` carries CONNECT tunnels and the model route; `http` plain forwarded requests. */
export interface UpstreamProxyConfig {
  readonly https: ProxyEndpoint | null;
  readonly http: ProxyEndpoint | null;
  readonly noProxy: readonly NoProxyRule[];
}

/** Parse outcome; a bad proxy URL is an error the caller reports, not a silent direct connection. */
export type UpstreamProxyResult = { readonly ok: true; readonly config: UpstreamProxyConfig | null } | { readonly ok: false; readonly error: string };

function parseEndpoint(name: string, value: string): ProxyEndpoint | string {
  let url: URL;
  try {
    // curl accepts "host:port" without a scheme; so do we.
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    return `${name} is not a URL`;
  }
  if (url.protocol !== 'http:') return `${name}: only http:// proxies are supported (got ${url.protocol})`;
  const port = url.port === '' ? 80 : Number(url.port);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let authorization: string | null = null;
  if (url.username !== '' || url.password !== '') {
    const creds = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    authorization = `Basic ${Buffer.from(creds, 'utf8').toString('base64')}`;
  }
  return { host, port, authorization, display: `http://${url.host}` };
}

function parseNoProxy(value: string): NoProxyRule[] {
  const rules: NoProxyRule[] = [];
  for (const raw of value.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') {
      rules.push({ kind: 'all' });
      continue;
    }
    const cidr = entry.includes('/') ? parseCidr(entry) : null;
    if (cidr) {
      rules.push({ kind: 'cidr', cidr });
      continue;
    }
    const ip = parseIp(entry.replace(/^\[|\]$/g, ''));
    if (ip) {
      rules.push({ kind: 'cidr', cidr: { base: ip, prefix: ip.family === 4 ? 32 : 128 } });
      continue;
    }
    const m = /^(?:\*?\.)?([^:]+)(?::(\d+))?$/.exec(entry);
    if (m?.[1]) rules.push({ kind: 'domain', domain: m[1].replace(/\.$/, ''), port: m[2] ? Number(m[2]) : null });
  }
  return rules;
}

/**
 * Reads the proxy settings from an environment (normally `process.env`).
 * Lower-case names win over upper-case, as curl does. Returns `config: null`
 * when no proxy is set.
 */
export function upstreamProxyFromEnv(env: Readonly<Record<string, string | undefined>>): UpstreamProxyResult {
  const pick = (lower: string, upper: string): [string, string] | null => {
    const l = env[lower];
    if (l !== undefined && l !== '') return [lower, l];
    const u = env[upper];
    return u !== undefined && u !== '' ? [upper, u] : null;
  };
  const httpsVar = pick('https_proxy', 'HTTPS_PROXY');
  const httpVar = pick('http_proxy', 'HTTP_PROXY');
  if (!httpsVar && !httpVar) return { ok: true, config: null };
  const https = httpsVar ? parseEndpoint(httpsVar[0], httpsVar[1]) : null;
  const http = httpVar ? parseEndpoint(httpVar[0], httpVar[1]) : null;
  if (typeof https === 'string') return { ok: false, error: https };
  if (typeof http === 'string') return { ok: false, error: http };
  const noProxy = parseNoProxy(pick('no_proxy', 'NO_PROXY')?.[1] ?? '');
  return { ok: true, config: { https, http, noProxy } };
}

/** True when the host's `NO_PROXY` says `host:port` (host normalised) must be reached directly. */
export function bypassesProxy(config: UpstreamProxyConfig, host: string, port: number): boolean {
  const ip = parseIp(host);
  return config.noProxy.some((r) => {
    switch (r.kind) {
      case 'all':
        return true;
      case 'cidr':
        return ip !== null && cidrContains(r.cidr, ip);
      case 'domain':
        return (r.port === null || r.port === port) && (host === r.domain || host.endsWith(`.${r.domain}`));
    }
  });
}

/** Endpoint to use for a tunnel (CONNECT or TLS) to `host:port`, or null to connect directly. */
export function tunnelProxyFor(config: UpstreamProxyConfig | null, host: string, port: number): ProxyEndpoint | null {
  if (!config || bypassesProxy(config, host, port)) return null;
  return config.https ?? config.http;
}

/** Endpoint for a plain-HTTP forwarded request to `host:port`, or null to connect directly. */
export function httpProxyFor(config: UpstreamProxyConfig | null, host: string, port: number): ProxyEndpoint | null {
  if (!config || bypassesProxy(config, host, port)) return null;
  return config.http;
}

/** Tunnel outcome: an open socket to the target (plus bytes already read past the proxy's reply), or why not. */
export type TunnelResult = { readonly ok: true; readonly socket: net.Socket; readonly head: Buffer } | { readonly ok: false; readonly why: string };

const MAX_PROXY_REPLY = 16 * 1024;

/**
 * Opens a CONNECT tunnel to `target` ("host:port" or "[v6]:port") through
 * `proxy`. Resolves with the socket once the proxy answered 2xx; never rejects.
 */
export function openTunnelVia(proxy: ProxyEndpoint, target: string, timeoutMs: number): Promise<TunnelResult> {
  return new Promise((resolve) => {
    // Half-open allowed, as for direct tunnels: one side's EOF must not cut the other direction.
    const socket = net.connect({ host: proxy.host, port: proxy.port, allowHalfOpen: true });
    let buffered = Buffer.alloc(0);
    let settled = false;
    const finish = (r: TunnelResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      if (!r.ok) socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, why: `upstream proxy ${proxy.display} did not answer in time` }), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_PROXY_REPLY) finish({ ok: false, why: `upstream proxy ${proxy.display} sent an oversized reply` });
        return;
      }
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(buffered.subarray(0, end).toString('latin1'));
      const code = status?.[1] ? Number(status[1]) : 0;
      if (code >= 200 && code < 300) {
        socket.pause();
        finish({ ok: true, socket, head: buffered.subarray(end + 4) });
      } else {
        finish({ ok: false, why: `upstream proxy ${proxy.display} refused the tunnel (status ${code || 'unreadable'})` });
      }
    };
    socket.on('data', onData);
    socket.once('error', (e: Error) => finish({ ok: false, why: `upstream proxy ${proxy.display}: ${e.message}` }));
    socket.once('close', () => finish({ ok: false, why: `upstream proxy ${proxy.display} closed the connection` }));
    socket.once('connect', () => {
      const auth = proxy.authorization ? `Proxy-Authorization: ${proxy.authorization}\r\n` : '';
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
    });
  });
}
