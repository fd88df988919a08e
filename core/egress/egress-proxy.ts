/**
 * The sandbox's only way out (issue 3): an HTTP forward proxy with CONNECT
 * tunnels and a model route, listening on a Unix socket that the session
 * bind-mounts into the sandbox.
 *
 * Every destination goes through one pipeline: normalise the host, check the
 * allow/deny rules, resolve the name once (pins first), check every address,
 * then dial exactly a checked address. Dialling an address rather than a name
 * is what makes DNS rebinding useless: there is no second lookup to win.
 */
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import { pipeline, Transform } from 'node:stream';
import tls from 'node:tls';
import type { AuditEventInput, AuditSink } from '../audit/audit-event.js';
import { ConnectionGate } from './connection-gate.js';
import { vendorHosts, type CompiledEgressPolicy, type ProviderConfig, type Providers } from './egress-policy.js';
import { decideHost, normaliseHost, splitHostPort, type DenyReason } from './host-match.js';
import { addressesOfInterfaces, checkAddress, formatIp, type AddressCategory, type IpAddress, parseIp } from './ip-address.js';
import { runFilterChain, type FilterTrace, type ModelRequest, type RequestFilter, type ResponseTransformFactory } from './model-route.js';
import { canHandOff, stopReading, TunnelSplicer } from './tunnel-splicer.js';
import {
  httpProxyFor,
  openTunnelVia,
  tunnelProxyFor,
  type ProxyEndpoint,
  type UpstreamProxyConfig,
} from './upstream-proxy.js';

/** Per-proxy (per-session) limits. Exceeding one is answered with a status and a reason code. */
export interface EgressLimits {
  /** Open CONNECT tunnels at once; the next one gets 503 `too_many_tunnels`. */
  readonly maxConcurrentTunnels: number;
  /** Sustained new requests/tunnels per second; beyond the burst, 429 `rate_limited`. */
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /** Largest request head accepted; larger gets 431 `headers_too_large`. */
  readonly maxHeaderBytes: number;
  /** Largest model-route request body read into memory for the filters; larger gets 413 `body_too_large`. */
  readonly maxInspectedBodyBytes: number;
  /** Time allowed to send a complete request head (slowloris guard); then 408 `header_timeout`. */
  readonly headerTimeoutMs: number;
  /** Time allowed to send a complete request including its body. */
  readonly requestTimeoutMs: number;
  /** Client connections held at once (each is a file descriptor). Extra ones are closed. */
  readonly maxClientConnections: number;
  /** Time allowed for resolving and connecting to a destination. */
  readonly upstreamConnectTimeoutMs: number;
}

/** Defaults sized for one interactive agent session. */
export const DEFAULT_EGRESS_LIMITS: EgressLimits = {
  maxConcurrentTunnels: 256,
  requestsPerSecond: 100,
  requestBurst: 200,
  maxHeaderBytes: 16 * 1024,
  maxInspectedBodyBytes: 32 * 1024 * 1024,
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  maxClientConnections: 1024,
  upstreamConnectTimeoutMs: 10_000,
};

/** Resolution outcome. `why` is a short error code, never a secret. */
export type ResolveOutcome = { readonly ok: true; readonly addresses: readonly IpAddress[] } | { readonly ok: false; readonly why: string };

/** Resolves a host name to every address (the proxy then checks all of them). */
export type HostResolver = (host: string) => Promise<ResolveOutcome>;

/** The system resolver (getaddrinfo via `dns.lookup`, every address, in resolver order). */
export const systemResolver: HostResolver = async (host) => {
  try {
    const found = await dns.promises.lookup(host, { all: true, verbatim: true });
    const addresses = found.map((f) => parseIp(f.address)).filter((a): a is IpAddress => a !== null);
    return addresses.length > 0 ? { ok: true, addresses } : { ok: false, why: 'no addresses' };
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'lookup failed';
    return { ok: false, why: code };
  }
};

/** Everything an {@link EgressProxy} needs. I/O edges are injectable for tests. */
export interface EgressProxyOptions {
  /** Unix socket path to listen on; a stale socket there is replaced, any other file is an error. */
  readonly socketPath: string;
  /** File mode of the socket; the sandbox user must be able to connect (default 0o600). */
  readonly socketMode?: number;
  /**
   * A gate already listening on socketPath, holding the connections that
   * arrived before the proxy was ready; the proxy takes it over (and closes it
   * on stop). Without one, start() binds socketPath itself.
   */
  readonly gate?: ConnectionGate;
  readonly policy: CompiledEgressPolicy;
  /** Providers reachable at `/model/<name>/`; empty means the model route answers 404. */
  readonly providers?: Providers;
  readonly audit: AuditSink;
  readonly sessionId?: string;
  readonly limits?: Partial<EgressLimits>;
  /** Defaults to {@link systemResolver}. */
  readonly resolver?: HostResolver;
  /** The host's own addresses, refused as destinations. Defaults to `os.networkInterfaces()`, re-read every 5 s. */
  readonly hostAddresses?: () => readonly IpAddress[];
  /** Host corporate proxy to chain through (see `upstreamProxyFromEnv`); null or absent = connect directly. */
  readonly upstreamProxy?: UpstreamProxyConfig | null;
  readonly filters?: readonly RequestFilter[];
  readonly responseTransforms?: readonly ResponseTransformFactory[];
  /** Extra CA certificates (PEM) trusted for every provider, besides the system store and each `caFile`. */
  readonly extraCa?: readonly string[];
  /**
   * Looks at a plain-HTTP request to an ordinary host (URL and raw headers) and
   * returns a reason when it carries a session credential, such as a phantom
   * token, that must only ever go to the model route. The request is refused
   * with 403 `credential_leak`. (Inside CONNECT tunnels the proxy sees nothing.)
   */
  readonly credentialGuard?: (url: string, rawHeaders: readonly string[]) => string | null;
  /**
   * The same for the body of a plain-HTTP request to an ordinary host: called
   * once per request, it watches the body as it streams out (see
   * {@link BodyGuard}). On a refusal the upstream request is aborted before
   * the credential's bytes leave, the agent gets 403 `credential_leak` and
   * the refusal is audited. CONNECT tunnels stay opaque: their bytes are TLS
   * the proxy does not terminate.
   */
  readonly bodyGuard?: () => BodyGuard;
  /**
   * host:port forms under which the sandbox reaches this proxy (the relay's
   * address, e.g. "127.0.0.1:3128"); absolute-form requests to them are served
   * like origin-form ones (model route), never forwarded.
   */
  readonly selfAuthorities?: readonly string[];
  /** Milliseconds clock; injectable for rate-limit tests. */
  readonly now?: () => number;
  /**
   * Path of a built `cordon-splice` (see `ensureSpliceHelper`). When set, the
   * bytes of established CONNECT tunnels move host-side by splice(2) in that
   * helper instead of through Node; null or absent = Node relays them. If the
   * helper fails, tunnels fall back to Node and `notice` says so once.
   */
  readonly spliceHelper?: string | null;
  /**
   * Bytes (both directions together) a tunnel carries through Node before it
   * moves to the splice helper; default {@link DEFAULT_SPLICE_AFTER_BYTES}.
   * Handing over costs a few cross-process round trips, so short tunnels stay
   * with Node and only bulk ones move. 0 = hand over as soon as established.
   */
  readonly spliceAfterBytes?: number;
  /** Operational notices (a fallback to the slower path); defaults to one line on stderr. */
  readonly notice?: (message: string) => void;
  /**
   * The listener handoff socket of a runc session: the in-sandbox relay offers
   * its listening TCP socket (127.0.0.1:`port`) there, once, before the agent
   * starts. The proxy has the splice helper receive and check it, then accepts
   * the sandbox's connections itself, so they skip the relay's hop. The gate
   * must not read its connections (`pauseOnConnect`). The first connection is
   * the only one looked at; the gate closes after it. Without the helper, or
   * when the offer is not a valid listener, the relay keeps relaying.
   */
  readonly handoff?: { readonly gate: ConnectionGate; readonly port: number };
  /**
   * A second socket, for the sandbox's connect shim (`cordon-connect`): a
   * dynamically linked program's connect() to the proxy's loopback port lands
   * here instead, skipping the loopback TCP hop. Served like the main socket;
   * audit records say `clientPath: "shim"`. Closed on stop.
   */
  readonly shim?: ConnectionGate;
}

/** Watches one request body on its way out, chunk by chunk, with bounded memory. */
export interface BodyGuard {
  /** The bytes (of this chunk and any held back before) that may go out now, or why the request must be refused. */
  push(chunk: Buffer): { readonly ok: true; readonly release: Buffer } | { readonly ok: false; readonly reason: string };
  /** The bytes still held back, at the end of the body. */
  end(): Buffer;
}

/** Where a checked destination is dialled. */
/** `direct`: `addresses` are every resolved address, all checked; they are tried in order, `address` first. */
type Route = { readonly kind: 'direct'; readonly address: IpAddress; readonly addresses: readonly IpAddress[] } | { readonly kind: 'proxy'; readonly endpoint: ProxyEndpoint; readonly target: string; readonly address: IpAddress | null };

type Channel = 'connect' | 'http' | 'model';

type TargetVerdict =
  | { readonly ok: true; readonly host: string; readonly port: number; readonly route: Route; readonly wouldDeny: DenyReason | null; readonly category: AddressCategory | null }
  | { readonly ok: false; readonly host: string; readonly port: number; readonly reason: DenyReason; readonly address: string | null; readonly category: AddressCategory | null; readonly detail: string };

const STATUS: Record<DenyReason, number> = {
  host_not_allowed: 403,
  host_denied: 403,
  port_not_allowed: 403,
  address_blocked: 403,
  bad_target: 400,
  resolve_failed: 502,
  upstream_failed: 502,
  rate_limited: 429,
  too_many_tunnels: 503,
  body_too_large: 413,
  headers_too_large: 431,
  header_timeout: 408,
  unknown_provider: 404,
  filter_rejected: 403,
  credential_leak: 403,
  model_route_only: 403,
  proxy_error: 500,
};

/** One line the agent (or the person reading its output) can act on. */
function denyMessage(reason: DenyReason, target: string, detail: string): string {
  const tail = detail ? ` (${detail})` : '';
  switch (reason) {
    case 'host_not_allowed':
      return `Cordon blocked ${target}: the host is not in this session's egress allow list.`;
    case 'host_denied':
      return `Cordon blocked ${target}: the host is on the egress deny list.`;
    case 'port_not_allowed':
      return `Cordon blocked ${target}: the host is allowed, but not on this port.`;
    case 'address_blocked':
      return `Cordon blocked ${target}: it resolves to a local, private or metadata address${tail}.`;
    case 'bad_target':
      return `Cordon refused the request: malformed or unsupported target${tail}.`;
    case 'resolve_failed':
      return `Cordon could not resolve ${target}${tail}.`;
    case 'upstream_failed':
      return `Cordon could not connect to ${target}${tail}.`;
    case 'rate_limited':
      return 'Cordon refused the request: too many requests per second; retry shortly.';
    case 'too_many_tunnels':
      return 'Cordon refused the connection: too many open connections in this session.';
    case 'body_too_large':
      return 'Cordon refused the request: the body is larger than the inspection limit.';
    case 'headers_too_large':
      return 'Cordon refused the request: the request headers are too large.';
    case 'header_timeout':
      return 'Cordon closed the connection: the request headers did not arrive in time.';
    case 'unknown_provider':
      return `Cordon has no model provider named ${target}.`;
    case 'credential_leak':
      return `Cordon refused to send a session credential to ${target}${tail}; credentials only go to the model route.`;
    case 'filter_rejected':
      return `Cordon's request filter refused the request${tail}.`;
    case 'model_route_only':
      return `Cordon blocked ${target}: it is a model vendor's API host, reached only through Cordon's model route (http://127.0.0.1:3128/model/<provider>/, what ANTHROPIC_BASE_URL points at), where requests are scanned and carry this session's key.`;
    case 'proxy_error':
      return `Cordon's proxy could not handle the request${tail}.`;
  }
}

/** A body guard's refusal, carried through the body's stream as its error; the message is the guard's (value-free) reason. */
class BodyRefused extends Error {}

/** Tunnel bytes relayed in Node before a tunnel moves to the splice helper; see `spliceAfterBytes`. */
export const DEFAULT_SPLICE_AFTER_BYTES = 256 * 1024;

/** True once the stream has seen EOF, even if its 'end' event is still pending. */
function readEnded(s: net.Socket): boolean {
  const state: unknown = (s as unknown as { _readableState?: unknown })._readableState;
  return s.readableEnded || (typeof state === 'object' && state !== null && 'ended' in state && state.ended === true);
}

const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');

/** Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus proxy credentials. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Copies raw header pairs, dropping hop-by-hop ones and those the Connection header names. */
function endToEndHeaders(raw: readonly string[], drop: readonly string[] = []): [string, string][] {
  const named = new Set(drop);
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === 'connection') for (const t of (raw[i + 1] ?? '').split(',')) named.add(t.trim().toLowerCase());
  }
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push([name, raw[i + 1] ?? '']);
  }
  return out;
}

/** A token bucket shared by every client of one proxy. */
class RateLimiter {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.last = now();
  }
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * A `lookup` that answers only with already-checked addresses, so the socket
 * layer never asks DNS again (and cannot be handed a rebound answer).
 */
function pinnedLookup(addrs: readonly IpAddress[]): net.LookupFunction {
  const all = addrs.map((a) => ({ address: formatIp(a), family: a.family }));
  const first = all[0] ?? { address: '0.0.0.0', family: 4 };
  return (_host, options, callback) => {
    if (options.all) callback(null, all);
    else callback(null, first.address, first.family);
  };
}

/** `host:port` with IPv6 bracketed, for messages and CONNECT lines. */
function authority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Reads the system CA bundle once; Node 20's `tls.rootCertificates` is only Mozilla's list. */
function systemCas(): string[] {
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

/**
 * Per-session egress proxy. Create, `start()`, hand the socket path to the
 * sandbox, `setPolicy()` whenever policy changes, `stop()` at session end.
 */
export class EgressProxy {
  private policy: CompiledEgressPolicy;
  private providers: Providers;
  /** The vendors' API hosts, derived from `providers`: refused outside the model route. */
  private vendors: ReadonlySet<string>;
  private readonly limits: EgressLimits;
  private readonly audit: AuditSink;
  private readonly resolver: HostResolver;
  private readonly hostAddressSource: () => readonly IpAddress[];
  private readonly upstream: UpstreamProxyConfig | null;
  private readonly filters: RequestFilter[];
  private readonly transforms: ResponseTransformFactory[];
  private readonly now: () => number;
  private readonly rate: RateLimiter;
  private readonly sockets = new Set<net.Socket>();
  private httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
  private providerAgents = new Map<string, https.Agent>();
  private caCache: string[] | null = null;
  private server: http.Server | null = null;
  private gate: ConnectionGate | null = null;
  private splicer: TunnelSplicer | null = null;
  private activeTunnels = 0;
  private handoffGate: ConnectionGate | null = null;
  /** The relay's listener, once handed over: the sandbox's connections arrive here. */
  private listener: net.Server | null = null;
  private shimGate: ConnectionGate | null = null;
  /** Connections accepted on that listener or on the shim's socket; the rest came through the proxy socket (the relay). */
  private readonly arrivedVia = new WeakMap<net.Socket, 'listener' | 'shim'>();
  private readonly notice: (message: string) => void;

  constructor(private readonly options: EgressProxyOptions) {
    this.policy = options.policy;
    this.providers = options.providers ?? {};
    this.vendors = vendorHosts(this.providers);
    this.limits = { ...DEFAULT_EGRESS_LIMITS, ...options.limits };
    this.audit = options.audit;
    this.resolver = options.resolver ?? systemResolver;
    this.upstream = options.upstreamProxy ?? null;
    this.filters = [...(options.filters ?? [])];
    this.transforms = [...(options.responseTransforms ?? [])];
    this.now = options.now ?? Date.now;
    this.rate = new RateLimiter(this.limits.requestsPerSecond, this.limits.requestBurst, this.now);
    this.notice = options.notice ?? ((m: string) => process.stderr.write(`cordon: egress: ${m}\n`));
    if (options.hostAddresses) {
      this.hostAddressSource = options.hostAddresses;
    } else {
      let cached: readonly IpAddress[] = [];
      let at = -Infinity;
      this.hostAddressSource = () => {
        const t = Date.now();
        if (t - at > 5000) {
          cached = addressesOfInterfaces(os.networkInterfaces());
          at = t;
        }
        return cached;
      };
    }
  }

  /** The Unix socket path the proxy listens on. */
  get socketPath(): string {
    return this.options.socketPath;
  }

  /** Number of CONNECT tunnels currently open. */
  get openTunnels(): number {
    return this.activeTunnels;
  }

  /** Where established tunnel bytes flow now: `splice` (host-side helper) or `node`. */
  get tunnelDataPath(): 'splice' | 'node' {
    return this.splicer?.available ? 'splice' : 'node';
  }

  /**
   * How the sandbox's connections reach the proxy: `relay` (through the
   * in-sandbox relay and the proxy socket) or `listener` (the relay handed its
   * listening socket over and the proxy accepts them itself).
   */
  get clientPath(): 'relay' | 'listener' {
    return this.listener ? 'listener' : 'relay';
  }

  /**
   * True while the proxy serves the sandbox: started, not stopped, and the
   * handed-over listener (if any) still listening.
   */
  get serving(): boolean {
    return this.server !== null && (this.listener === null || this.listener.listening);
  }

  /** Process id of the splice helper while it runs, else null. */
  get spliceHelperPid(): number | null {
    return this.splicer?.pid ?? null;
  }

  /**
   * Replaces the egress policy. New connections and requests use it at once;
   * open tunnels keep running, and pooled keep-alive connections are dropped so
   * a changed pin or range cannot be bypassed by reusing an old socket.
   */
  setPolicy(policy: CompiledEgressPolicy): void {
    this.policy = policy;
    this.retireAgents();
  }

  /** Replaces the provider table of the model route (new requests only). */
  setProviders(providers: Providers): void {
    this.providers = providers;
    this.vendors = vendorHosts(providers);
    this.retireAgents();
  }

  /** Appends a model-route request filter; filters run in the order added. */
  addRequestFilter(filter: RequestFilter): void {
    this.filters.push(filter);
  }

  /** Appends a model-route response transform factory; transforms are chained in the order added. */
  addResponseTransform(factory: ResponseTransformFactory): void {
    this.transforms.push(factory);
  }

  /** Starts listening. Rejects if the socket path is taken by something that is not a socket. */
  async start(): Promise<void> {
    if (this.server) return;
    const l = this.limits;
    const gate = this.options.gate ?? (await ConnectionGate.listen(this.options.socketPath, { mode: this.options.socketMode ?? 0o600 }));
    if (gate.path !== this.options.socketPath) throw new Error(`egress proxy: the gate listens on ${gate.path}, not ${this.options.socketPath}`);
    gate.limitConnections(l.maxClientConnections);
    // The gate owns the listening socket; the HTTP server only parses the
    // connections it is handed.
    const server = http.createServer({
      maxHeaderSize: l.maxHeaderBytes,
      headersTimeout: l.headerTimeoutMs,
      requestTimeout: Math.max(l.requestTimeoutMs, l.headerTimeoutMs),
      // How often Node checks the two timeouts above; a slowloris client is cut within this much extra.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(l.headerTimeoutMs / 4))),
      keepAliveTimeout: 5000,
      noDelay: true,
    });
    server.on('connection', (s: net.Socket) => this.track(s));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.onRequest(req, res).catch(() => this.failResponse(res));
    });
    server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      this.onConnect(req, socket, head).catch(() => socket.destroy());
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => this.onClientError(err, socket));
    // The HTTP server never listens itself, so start its header/request timeout
    // checks (what cuts slowloris clients) the way listening would.
    server.emit('listening');
    this.server = server;
    const helper = this.options.spliceHelper;
    if (helper) {
      this.splicer = new TunnelSplicer(helper, this.notice);
      this.splicer.start();
    }
    // Last: from here on connections (and any the gate held) are served.
    this.gate = gate;
    const serve = (socket: net.Socket): void => {
      socket.setNoDelay(true);
      server.emit('connection', socket);
    };
    gate.open(serve);
    const shim = this.options.shim;
    if (shim) {
      shim.limitConnections(l.maxClientConnections);
      this.shimGate = shim;
      shim.open((socket) => {
        this.arrivedVia.set(socket, 'shim');
        serve(socket);
      });
    }
    const handoff = this.options.handoff;
    if (handoff) this.takeListener(handoff.gate, handoff.port, serve);
  }

  /** See `EgressProxyOptions.handoff`. Never throws; every failure leaves the relay relaying. */
  private takeListener(gate: ConnectionGate, port: number, serve: (socket: net.Socket) => void): void {
    this.handoffGate = gate;
    const splicer = this.splicer;
    if (!splicer?.available) {
      void gate.close(); // the relay hears EOF and goes on relaying
      return;
    }
    let taken = false;
    gate.open((conn) => {
      if (taken) {
        conn.destroy();
        return;
      }
      taken = true;
      void gate.close(); // one offer per session, from the relay, before the agent runs
      conn.on('error', () => conn.destroy());
      splicer.adoptListener(conn, port, (r) => {
        const fallBack = (why: string): void => {
          conn.destroy();
          // A proxy that is stopping has nothing to report: its session is ending.
          if (this.server) this.notice(`the relay's listener was not taken over (${why}); the sandbox's connections keep going through the relay`);
        };
        if (!this.server) {
          if (r.ok) (r.handle as { close?: () => void }).close?.();
          return fallBack('the proxy stopped');
        }
        if (!r.ok) return fallBack(r.reason);
        const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
          this.arrivedVia.set(socket, 'listener');
          serve(socket);
        });
        listener.maxConnections = this.limits.maxClientConnections;
        let listening = false;
        listener.on('error', (e) => {
          // Before listening: the relay still has its listener and goes on.
          // After: an accept failed (out of descriptors); Node keeps accepting.
          if (!listening) fallBack(e.message);
        });
        try {
          listener.listen(r.handle, () => {
            if (!this.server) {
              listener.close();
              return fallBack('the proxy stopped');
            }
            listening = true;
            this.listener = listener;
            // The relay stops accepting and closes its copy once it reads this.
            conn.end('A');
          });
        } catch (e) {
          fallBack(e instanceof Error ? e.message : String(e));
        }
      });
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    const gate = this.gate;
    this.server = null;
    this.gate = null;
    if (!server) return;
    // The handed-over listener first: once it is closed the sandbox's
    // connections are refused (no relay accepts them any more).
    const listener = this.listener;
    this.listener = null;
    const listenerClosed = listener ? new Promise<void>((r) => listener.close(() => r())) : Promise.resolve();
    void this.handoffGate?.close();
    this.handoffGate = null;
    const shimClosed = this.shimGate?.close() ?? Promise.resolve();
    this.shimGate = null;
    // Stop listening first: from here on the relay's connections fail (closed).
    const closed = gate?.close() ?? Promise.resolve();
    // Then the splice helper, so every spliced tunnel is audited before we return.
    await this.splicer?.stop();
    this.splicer = null;
    server.close();
    for (const s of this.sockets) s.destroy();
    this.httpAgent.destroy();
    for (const a of this.providerAgents.values()) a.destroy();
    await closed;
    await shimClosed;
    await listenerClosed;
  }

  // ---- plumbing ------------------------------------------------------------

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private retireAgents(): void {
    const retire = (a: http.Agent): void => {
      for (const list of Object.values(a.freeSockets)) for (const s of list ?? []) s.destroy();
    };
    retire(this.httpAgent);
    this.httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
    for (const a of this.providerAgents.values()) retire(a);
    this.providerAgents = new Map();
    this.caCache = null;
  }

  private record(event: Omit<AuditEventInput, 'sessionId'>): void {
    const sessionId = this.options.sessionId;
    try {
      this.audit.record(sessionId === undefined ? event : { ...event, sessionId });
    } catch {
      // The sink owns durability and its own failure reporting; a failing sink must not crash the proxy.
    }
  }

  private recordDeny(channel: Channel, v: { host: string; port: number; reason: string; address?: string | null; category?: AddressCategory | null }, message: string, started: number): void {
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
        mode: this.policy.mode,
        host: v.host,
        port: v.port,
        address: v.address ?? null,
        reason: v.reason,
        addressCategory: v.category ?? null,
        bytesUp: 0,
        bytesDown: 0,
        durationMs: this.now() - started,
      },
    });
  }

  private recordClose(channel: Channel, client: net.Socket, v: { host: string; port: number; route: Route; wouldDeny: DenyReason | null; category: AddressCategory | null }, bytesUp: number, bytesDown: number, started: number, extra: Record<string, unknown> = {}): void {
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
        mode: this.policy.mode,
        host: v.host,
        port: v.port,
        address,
        reason: would,
        addressCategory: v.category,
        upstreamProxy: v.route.kind === 'proxy' ? v.route.endpoint.display : null,
        bytesUp,
        bytesDown,
        durationMs: this.now() - started,
        // How this connection reached the proxy (see clientPath).
        clientPath: this.arrivedVia.get(client) ?? 'relay',
        ...extra,
      },
    });
  }

  /** Writes a raw HTTP refusal on a socket that is not (or no longer) an http response. */
  private refuseSocket(socket: net.Socket, reason: DenyReason, message: string): void {
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = `${message}\n`;
    const status = STATUS[reason];
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nX-Cordon-Deny: ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    // A client that never reads or closes must not hold the descriptor.
    socket.setTimeout(2000, () => socket.destroy());
  }

  private refuseResponse(res: http.ServerResponse, status: number, reason: string, message: string, close = false): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = `${message}\n`;
    const headers: http.OutgoingHttpHeaders = {
      'X-Cordon-Deny': reason,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    };
    if (close) headers['Connection'] = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  private failResponse(res: http.ServerResponse): void {
    this.refuseResponse(res, 500, 'proxy_error', denyMessage('proxy_error', '', ''), true);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    const started = this.now();
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      socket.destroy();
      return;
    }
    const reason: DenyReason =
      err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'header_timeout' : 'bad_target';
    const detail = reason === 'bad_target' ? 'unparseable HTTP request' : '';
    const message = denyMessage(reason, '', detail);
    this.recordDeny('http', { host: '', port: 0, reason }, message, started);
    this.refuseSocket(socket, reason, message);
  }

  // ---- destination pipeline ------------------------------------------------

  /**
   * Normalise → host rules → resolve once → check every address → pick the
   * route. `checkHostRules` is false for the model route, whose destination is
   * the policy's own provider URL (its addresses are still checked).
   */
  private async evaluate(rawHost: string, port: number, checkHostRules: boolean, forPlainHttp: boolean): Promise<TargetVerdict> {
    const policy = this.policy; // one snapshot for the whole decision
    const enforce = policy.mode === 'enforce';
    const norm = normaliseHost(rawHost);
    if (!norm.ok) return { ok: false, host: rawHost.slice(0, 255), port, reason: 'bad_target', address: null, category: null, detail: norm.why };
    const host = norm.host;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return { ok: false, host, port, reason: 'bad_target', address: null, category: null, detail: 'port out of range' };
    }
    let wouldDeny: DenyReason | null = null;
    if (checkHostRules) {
      // Before the allow list and in report mode too: a tunnel to a vendor
      // would carry an outside API key past the phantom check and DLP.
      if (this.vendors.has(host)) return { ok: false, host, port, reason: 'model_route_only', address: null, category: null, detail: '' };
      const d = decideHost(policy, host, port);
      if (d.verdict === 'deny') {
        if (enforce) return { ok: false, host, port, reason: d.reason, address: null, category: null, detail: '' };
        wouldDeny = d.reason;
      }
    }
    const proxy = forPlainHttp ? httpProxyFor(this.upstream, host, port) : tunnelProxyFor(this.upstream, host, port);
    let addresses: readonly IpAddress[];
    const literal = norm.isIp ? parseIp(host) : null;
    const pinned = policy.resolve.get(host);
    if (literal) addresses = [literal];
    else if (pinned && pinned.length > 0) addresses = pinned;
    else {
      const r = await this.withTimeout(this.resolver(host));
      if (!r.ok) {
        // Behind a corporate proxy the host often cannot resolve public names
        // itself; the proxy does, and it applies its own address policy.
        if (proxy) return { ok: true, host, port, route: { kind: 'proxy', endpoint: proxy, target: authority(host, port), address: null }, wouldDeny, category: null };
        return { ok: false, host, port, reason: 'resolve_failed', address: null, category: null, detail: r.why };
      }
      addresses = r.addresses;
    }
    const ctx = { allowRanges: policy.allowRanges, hostAddresses: this.hostAddressSource() };
    let category: AddressCategory | null = null;
    for (const a of addresses) {
      const c = checkAddress(a, ctx);
      if (c.verdict === 'deny') {
        // Report mode never opens cloud metadata: it hands out credentials.
        if (enforce || c.category === 'cloud_metadata') {
          return { ok: false, host, port, reason: 'address_blocked', address: formatIp(a), category: c.category, detail: `${formatIp(a)} is ${c.category.replace('_', ' ')}` };
        }
        wouldDeny ??= 'address_blocked';
        category ??= c.category;
      }
    }
    const first = addresses[0];
    if (!first) return { ok: false, host, port, reason: 'resolve_failed', address: null, category: null, detail: 'no addresses' };
    if (proxy) {
      // Pinned names and literals go to the upstream proxy as the checked address.
      const target = literal || pinned ? authority(formatIp(first), port) : authority(host, port);
      return { ok: true, host, port, route: { kind: 'proxy', endpoint: proxy, target, address: first }, wouldDeny, category };
    }
    return { ok: true, host, port, route: { kind: 'direct', address: first, addresses }, wouldDeny, category };
  }

  private withTimeout(p: Promise<ResolveOutcome>): Promise<ResolveOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ResolveOutcome>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, why: 'timeout' }), this.limits.upstreamConnectTimeoutMs);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  /** Opens a TCP stream to a checked route: its addresses in order (dual-stack hosts), or a tunnel through the upstream proxy. */
  /** `dialled`: the address connected to, when Cordon dialled it itself (not through an upstream proxy). */
  private async dial(route: Route, port: number): Promise<{ ok: true; socket: net.Socket; head: Buffer; dialled?: string } | { ok: false; why: string }> {
    if (route.kind === 'proxy') return openTunnelVia(route.endpoint, route.target, this.limits.upstreamConnectTimeoutMs);
    let why = 'no addresses';
    for (const address of route.addresses) {
      const r = await this.dialOne(address, port);
      if (r.ok) return r;
      why = r.why;
    }
    return { ok: false, why };
  }

  private dialOne(address: IpAddress, port: number): Promise<{ ok: true; socket: net.Socket; head: Buffer; dialled: string } | { ok: false; why: string }> {
    return new Promise((resolve) => {
      const dialled = formatIp(address);
      // Half-open allowed: a server that finished sending may still be reading the upload.
      const socket = net.connect({ host: dialled, port, noDelay: true, allowHalfOpen: true });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ ok: false, why: 'connect timeout' });
      }, this.limits.upstreamConnectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve({ ok: true, socket, head: Buffer.alloc(0), dialled });
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({ ok: false, why: e.code ?? 'connect failed' });
      });
    });
  }

  // ---- CONNECT tunnels -----------------------------------------------------

  private async onConnect(req: http.IncomingMessage, client: net.Socket, head: Buffer): Promise<void> {
    const started = this.now();
    client.on('error', () => client.destroy());
    client.setNoDelay(true);
    const refuse = (host: string, port: number, reason: DenyReason, detail = '', address: string | null = null, category: AddressCategory | null = null): void => {
      const message = denyMessage(reason, authority(host, port), detail);
      this.recordDeny('connect', { host, port, reason, address, category }, message, started);
      this.refuseSocket(client, reason, message);
    };
    const target = splitHostPort(req.url ?? '');
    const port = target?.port && /^\d{1,5}$/.test(target.port) ? Number(target.port) : NaN;
    if (!target || target.host === '' || !(port >= 1 && port <= 65535)) {
      refuse((req.url ?? '').slice(0, 255), 0, 'bad_target', 'CONNECT needs host:port');
      return;
    }
    if (!this.rate.take()) {
      refuse(target.host, port, 'rate_limited');
      return;
    }
    if (this.activeTunnels >= this.limits.maxConcurrentTunnels) {
      refuse(target.host, port, 'too_many_tunnels');
      return;
    }
    // Reserve the slot before any await so concurrent CONNECTs cannot overshoot the cap.
    this.activeTunnels++;
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        this.activeTunnels--;
      }
    };
    try {
      const v = await this.evaluate(target.host, port, true, false);
      if (!v.ok) {
        release();
        refuse(v.host, v.port, v.reason, v.detail, v.address, v.category);
        return;
      }
      const up = await this.dial(v.route, port);
      if (!up.ok) {
        release();
        refuse(v.host, v.port, 'upstream_failed', up.why);
        return;
      }
      const upstream = up.socket;
      this.track(upstream);
      // The client gave up, or the proxy was stopped, while we were dialling.
      if (client.destroyed || !this.server) {
        upstream.destroy();
        client.destroy();
        release();
        return;
      }
      upstream.setNoDelay(true);
      upstream.on('error', () => upstream.destroy());
      // The address actually connected to (a dual-stack host may have fallen back to its second one).
      const dialled = v.route.kind === 'direct' ? (up.dialled ?? null) : null;
      const splicedDone = (bytesUp: number, bytesDown: number, extra: Record<string, unknown>): void => {
        release();
        this.recordClose('connect', client, v, bytesUp, bytesDown, started, { ...(dialled ? { address: dialled } : {}), ...extra });
      };
      const splicer = this.splicer;
      const spliceAfter = this.options.spliceAfterBytes ?? DEFAULT_SPLICE_AFTER_BYTES;
      if (splicer?.available && spliceAfter <= 0 && canHandOff(client) && canHandOff(upstream)) {
        this.spliceTunnel(splicer, client, upstream, [ESTABLISHED, up.head], [head], splicedDone);
        return;
      }
      let closed = 0;
      const onClose = (other: net.Socket) => (hadError: boolean): void => {
        if (hadError) {
          other.destroy();
        } else if (!other.destroyed) {
          // Let the other side flush what it still buffers, but do not let a
          // peer that never closes hold the tunnel slot forever.
          other.end();
          setTimeout(() => other.destroy(), 10_000).unref();
        }
        if (++closed === 2) {
          release();
          // The address actually dialled (a dual-stack host may have fallen back to its second address).
          this.recordClose('connect', client, v, upstream.bytesWritten, upstream.bytesRead, started, { ...(dialled ? { address: dialled } : {}), dataPath: 'node' });
        }
      };
      // The server finished sending: the client gets the same grace as after a close.
      upstream.once('end', () => {
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, 10_000).unref();
      });
      const onClientClose = onClose(upstream);
      const onUpstreamClose = onClose(client);
      client.once('close', onClientClose);
      upstream.once('close', onUpstreamClose);
      client.write(ESTABLISHED);
      if (up.head.length > 0) client.write(up.head);
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      upstream.resume();
      if (!splicer?.available) return;
      // Node relays the first bytes; a tunnel that turns out to carry bulk data
      // moves to the splice helper. A short tunnel (a TLS handshake and one
      // request) then never waits on the handoff's cross-process round trips.
      let seen = 0;
      const watch = (c: Buffer): void => {
        seen += c.length;
        if (seen < spliceAfter) return;
        client.removeListener('data', watch);
        upstream.removeListener('data', watch);
        // A side that already ended or closed stays with Node, which handles its close.
        if (closed > 0 || client.destroyed || upstream.destroyed || !splicer.available) return;
        if (readEnded(client) || readEnded(upstream) || client.writableEnded || upstream.writableEnded) return;
        if (!canHandOff(client) || !canHandOff(upstream)) return;
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        client.removeListener('close', onClientClose);
        upstream.removeListener('close', onUpstreamClose);
        // Out of the 'data' dispatch before reading the sockets' buffers; nothing
        // is read from the kernel before a next tick runs.
        process.nextTick(() => this.spliceTunnel(splicer, client, upstream, [], [], splicedDone));
      };
      client.on('data', watch);
      upstream.on('data', watch);
    } catch {
      release();
      client.destroy();
    }
  }

  /**
   * Hands both sockets of a tunnel to the splice helper. What Node still
   * owes each side (`toClient`/`toUpstream`: the 200 answer, the CONNECT's
   * `head`, the upstream proxy's extra bytes; then anything in either
   * socket's read buffer, and writes still queued) is written first,
   * and the handoff waits until they are flushed: a write still queued in Node
   * when the descriptor leaves would be lost. `done` runs once, with the bytes
   * written each way.
   */
  private spliceTunnel(splicer: TunnelSplicer, client: net.Socket, upstream: net.Socket, toClient: readonly Buffer[], toUpstream: readonly Buffer[], done: (bytesUp: number, bytesDown: number, extra: Record<string, unknown>) => void): void {
    const fromClient = stopReading(client);
    const fromUpstream = stopReading(upstream);
    const giveUp = (): void => {
      client.destroy();
      upstream.destroy();
      done(upstream.bytesWritten, upstream.bytesRead, { dataPath: 'node' });
    };
    if (!fromClient || !fromUpstream) {
      giveUp();
      return;
    }
    const pending: Promise<void>[] = [];
    const writeAll = (s: net.Socket, chunks: readonly Buffer[]): void => {
      for (const c of chunks) if (c.length > 0) s.write(c);
      // Writes the kernel took at once have already left Node's queue; for the
      // rest, an empty write's callback runs once everything before it is out.
      if (s.writableLength > 0) pending.push(new Promise((resolve) => s.write(Buffer.alloc(0), () => resolve())));
    };
    writeAll(client, [...toClient, ...fromUpstream]);
    writeAll(upstream, [...toUpstream, ...fromClient]);
    const handOff = (): void => {
      if (client.destroyed || upstream.destroyed || !splicer.available) {
        giveUp();
        return;
      }
      // Node's share of the counts; the helper reports the rest.
      const up = upstream.bytesWritten;
      const down = upstream.bytesRead;
      splicer.handOff(client, upstream, (end) => done(up + end.up, down + end.down, end.complete ? { dataPath: 'splice' } : { dataPath: 'splice', bytesComplete: false }));
    };
    // Usually every write went straight to the kernel: hand over in this tick, adding no latency.
    if (pending.length === 0) handOff();
    else void Promise.all(pending).then(handOff);
  }

  // ---- plain HTTP and the model route --------------------------------------

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Aborted uploads surface as 'error' on the request; with no listener that would be fatal.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const url = this.originForm(req.url ?? '');
    if (url.startsWith('/')) {
      const m = /^\/model\/([^/?#]+)(\/[^#]*)?$/.exec(url);
      if (m?.[1]) {
        await this.onModel(req, res, m[1], m[2] ?? '/');
        return;
      }
      if ((req.method === 'HEAD' || req.method === 'GET') && (url === '/' || url.startsWith('/?'))) {
        // Agents probe their base URL's origin before the first call (Claude Code sends HEAD /).
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 21 });
        res.end(req.method === 'HEAD' ? undefined : 'Cordon egress proxy\r\n');
        return;
      }
      const message = denyMessage('bad_target', url.slice(0, 100), 'send proxy requests with an absolute http:// URL, or CONNECT for https');
      this.recordDeny('http', { host: '', port: 0, reason: 'bad_target' }, message, this.now());
      this.refuseResponse(res, 400, 'bad_target', message);
      return;
    }
    await this.onForward(req, res, url);
  }

  /**
   * Inside the sandbox the proxy variables point at the relay and NO_PROXY is
   * empty, so a client sends even its model-route calls (ANTHROPIC_BASE_URL =
   * http://127.0.0.1:PORT/model/…) to the proxy in absolute form. A request
   * addressed to the proxy's own in-sandbox authority is therefore served as if
   * it had been sent directly.
   */
  private originForm(url: string): string {
    const self = this.options.selfAuthorities ?? [];
    if (self.length === 0 || !url.startsWith('http://')) return url;
    const slash = url.indexOf('/', 7);
    const auth = (slash < 0 ? url.slice(7) : url.slice(7, slash)).toLowerCase();
    return self.includes(auth) ? (slash < 0 ? '/' : url.slice(slash)) : url;
  }

  private async onForward(req: http.IncomingMessage, res: http.ServerResponse, rawUrl: string): Promise<void> {
    const started = this.now();
    const refuse = (host: string, port: number, reason: DenyReason, detail = '', address: string | null = null, category: AddressCategory | null = null): void => {
      const message = denyMessage(reason, authority(host, port), detail);
      this.recordDeny('http', { host, port, reason, address, category }, message, started);
      this.refuseResponse(res, STATUS[reason], reason, message);
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
    if (!this.rate.take()) {
      refuse(url.hostname, port, 'rate_limited');
      return;
    }
    const v = await this.evaluate(url.hostname, port, true, true);
    if (!v.ok) {
      refuse(v.host, v.port, v.reason, v.detail, v.address, v.category);
      return;
    }
    const leak = this.options.credentialGuard?.(rawUrl, req.rawHeaders);
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
      upstreamReq = http.request({ host: formatIp(v.route.address), port, method: req.method ?? 'GET', path, headers: headers.flat(), setHost: false, agent: this.httpAgent });
    } else {
      const ep = v.route.endpoint;
      if (ep.authorization) headers.push(['Proxy-Authorization', ep.authorization]);
      upstreamReq = http.request({ host: ep.host, port: ep.port, method: req.method ?? 'GET', path: `http://${v.route.target}${path}`, headers: headers.flat(), setHost: false, agent: this.httpAgent });
    }
    let bytesUp = 0;
    let bytesDown = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.recordClose('http', req.socket, v, bytesUp, bytesDown, started, { method: req.method ?? '', status: res.statusCode });
    };
    req.on('data', (c: Buffer) => (bytesUp += c.length));
    upstreamReq.on('error', (e: NodeJS.ErrnoException) => {
      if (done) return;
      if (!res.headersSent) {
        const message = denyMessage('upstream_failed', authority(v.host, v.port), e.code ?? 'connection failed');
        this.recordDeny('http', { host: v.host, port: v.port, reason: 'upstream_failed' }, message, started);
        this.refuseResponse(res, 502, 'upstream_failed', message);
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
    const guard = this.options.bodyGuard?.();
    if (guard === undefined) {
      req.pipe(upstreamReq);
      return;
    }
    const watched = new Transform({
      transform(chunk: Buffer, _encoding, cb) {
        const verdict = guard.push(chunk);
        if (verdict.ok) cb(null, verdict.release);
        else cb(new BodyRefused(verdict.reason));
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
      this.recordDeny('http', { host: v.host, port: v.port, reason: 'credential_leak' }, message, started);
      this.refuseResponse(res, 403, 'credential_leak', message, true);
      upstreamReq.destroy();
    });
    req.pipe(watched).pipe(upstreamReq);
  }

  private providerCa(cfg: ProviderConfig): string[] {
    this.caCache ??= systemCas();
    const extra = this.options.extraCa ?? [];
    // caFile is read per agent (once per provider per policy version), so a rotated file is picked up on setProviders.
    return cfg.caFile ? [...this.caCache, ...extra, readFileSync(cfg.caFile, 'utf8')] : [...this.caCache, ...extra];
  }

  private providerAgent(name: string, cfg: ProviderConfig): https.Agent {
    let agent = this.providerAgents.get(name);
    if (!agent) {
      // One secure context per provider: passing `ca` per connection would re-parse
      // hundreds of certificates each time and put them all in the agent's pool key.
      const secureContext = tls.createSecureContext({ ca: this.providerCa(cfg) });
      agent = new https.Agent({ keepAlive: true, maxFreeSockets: 16, secureContext });
      this.providerAgents.set(name, agent);
    }
    return agent;
  }

  /** Reads a model-route body up to the inspection limit; null once it is exceeded (without reading the rest). */
  private readBody(req: http.IncomingMessage): Promise<Buffer | null> {
    const max = this.limits.maxInspectedBodyBytes;
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

  private async onModel(req: http.IncomingMessage, res: http.ServerResponse, provider: string, rest: string): Promise<void> {
    const started = this.now();
    const method = req.method ?? 'GET';
    const refuse = (status: number, reason: string, message: string, host = provider, port = 0, close = false): void => {
      this.recordDeny('model', { host, port, reason }, message, started);
      this.refuseResponse(res, status, reason, message, close);
      if (!close) req.resume();
    };
    const cfg = Object.hasOwn(this.providers, provider) ? this.providers[provider] : undefined;
    if (!cfg) {
      refuse(404, 'unknown_provider', denyMessage('unknown_provider', provider.slice(0, 64), ''));
      return;
    }
    if (!this.rate.take()) {
      refuse(429, 'rate_limited', denyMessage('rate_limited', provider, ''));
      return;
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > this.limits.maxInspectedBodyBytes) {
      refuse(413, 'body_too_large', denyMessage('body_too_large', provider, ''), provider, 0, true);
      return;
    }
    const body = await this.readBody(req);
    if (!body) {
      refuse(413, 'body_too_large', denyMessage('body_too_large', provider, ''), provider, 0, true);
      return;
    }
    const base = new URL(cfg.baseUrl);
    const basePath = base.pathname.replace(/\/$/, '');
    const upstreamPath = `${basePath}${rest}`;
    // Records name the path relative to the provider and without the query,
    // as the filters left it: a value DLP found in the path is replaced there too.
    const recordedPath = (p: string): string => (p.startsWith(basePath) ? p.slice(basePath.length) : p).split('?')[0] || '/';
    const headers: Record<string, string> = {};
    for (const [name, value] of endToEndHeaders(req.rawHeaders, ['host', 'content-length'])) {
      const k = name.toLowerCase();
      headers[k] = headers[k] === undefined ? value : `${headers[k]}, ${value}`;
    }
    const request: ModelRequest = { provider, host: base.hostname.toLowerCase(), method, path: upstreamPath, headers, body, sessionId: this.options.sessionId };
    const chain = await runFilterChain(this.filters, request);
    const filterTrace = (t: readonly FilterTrace[]): FilterTrace[] => [...t];
    if (!chain.ok) {
      this.record({
        kind: 'egress.deny',
        ocsfClass: 'http_activity',
        activity: { id: 5, name: 'Refuse' },
        outcome: 'failure',
        severity: 'medium',
        message: chain.message,
        details: { channel: 'model', provider, method, path: recordedPath(chain.path), reason: chain.reason, filters: filterTrace(chain.trace), durationMs: this.now() - started },
      });
      this.refuseResponse(res, chain.status, chain.reason, chain.message);
      return;
    }
    const final = chain.request;
    const port = base.port === '' ? 443 : Number(base.port);
    const v = await this.evaluate(base.hostname, port, false, false);
    if (!v.ok) {
      refuse(STATUS[v.reason], v.reason, denyMessage(v.reason, authority(v.host, v.port), v.detail), v.host, v.port);
      return;
    }
    const outHeaders: Record<string, string | number> = { ...final.headers, host: base.host, 'content-length': final.body.length };
    // Transforms (DLP rehydration) need plain bytes, so ask the provider not to compress.
    if (this.transforms.length > 0) outHeaders['accept-encoding'] = 'identity';
    let upstreamReq: http.ClientRequest;
    try {
      const common = { method: final.method, path: final.path, headers: outHeaders, setHost: false };
      if (v.route.kind === 'direct') {
        upstreamReq = https.request({ ...common, host: v.host, port, servername: net.isIP(v.host) ? '' : v.host, lookup: pinnedLookup(v.route.addresses), agent: this.providerAgent(provider, cfg) });
      } else {
        const tunnel = await openTunnelVia(v.route.endpoint, v.route.target, this.limits.upstreamConnectTimeoutMs);
        if (!tunnel.ok) {
          refuse(502, 'upstream_failed', denyMessage('upstream_failed', authority(v.host, v.port), tunnel.why), v.host, v.port);
          return;
        }
        this.track(tunnel.socket);
        const tlsSocket = tls.connect({ socket: tunnel.socket, servername: net.isIP(v.host) ? '' : v.host, ca: this.providerCa(cfg), checkServerIdentity: (_h, cert) => tls.checkServerIdentity(v.host, cert) });
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
      this.recordClose('model', req.socket, v, final.body.length, bytesDown, started, { provider, method, path: recordedPath(final.path), status: res.statusCode, filters: filterTrace(chain.trace) });
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
      for (const factory of this.transforms) {
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
}
