/**
 * The sandbox's only way out (issue 3): an HTTP forward proxy with CONNECT
 * tunnels and a model route, listening on a Unix socket that the session
 * bind-mounts into the sandbox.
 *
 * This file wires the parts: the listening sockets (gate, listener handoff,
 * connect shim), the request dispatch, and live policy. Every destination goes
 * through one decision (`destination-decision.ts`, pure; resolution and
 * dialling in `destination-dial.ts`); each kind of request has its handler
 * (`connect-tunnel.ts`, `plain-forward.ts`, `model-route-handler.ts`), which
 * sees only the context object passed to it.
 */
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { DEFAULT_SPLICE_AFTER_BYTES, handleConnect, type ConnectContext } from './connect-tunnel.js';
import { ConnectionGate } from './connection-gate.js';
import { DEFAULT_EGRESS_LIMITS, RateLimiter, TunnelSlots, type EgressLimits } from './connection-limits.js';
import { denyMessage } from './deny-messages.js';
import { decideDestinationLive, systemResolver } from './destination-dial.js';
import { EgressAudit } from './egress-audit.js';
import type { EgressProxyOptions } from './egress-proxy-options.js';
import { modelRoutesOf, type CompiledEgressPolicy, type ModelRoutes } from './egress-policy.js';
import type { DenyReason } from './host-match.js';
import { addressesOfInterfaces, type IpAddress } from './ip-address.js';
import type { RequestFilter, ResponseTransformFactory } from './model-route.js';
import { handleModel, ProviderAgents, type ModelContext } from './model-route-handler.js';
import { handleForward, type ForwardContext } from './plain-forward.js';
import { refuseResponse, refuseSocket } from './proxy-answers.js';
import { TunnelSplicer } from './tunnel-splicer.js';
import { InspectServer, UpstreamTrust, type InspectContext } from './tls-inspect.js';
import { inspectMatch } from './host-match.js';

// The public surface of the proxy, wherever each part now lives.
export { DEFAULT_SPLICE_AFTER_BYTES } from './connect-tunnel.js';
export { DEFAULT_EGRESS_LIMITS, type EgressLimits } from './connection-limits.js';
export { systemResolver, type HostResolver, type ResolveOutcome } from './destination-dial.js';
export type { EgressProxyOptions } from './egress-proxy-options.js';
export type { BodyGuard } from './plain-forward.js';

/** One open client connection when quarantine cut it (see EgressProxy.cutConnections). */
export interface ConnectionSnapshot {
  readonly via: 'relay' | 'listener' | 'shim';
  readonly bytesFromSandbox: number;
  readonly bytesToSandbox: number;
}

/**
 * Per-session egress proxy. Create, `start()`, hand the socket path to the
 * sandbox, `setPolicy()` whenever policy changes, `stop()` at session end.
 */
export class EgressProxy {
  private policy: CompiledEgressPolicy;
  /** The providers' routes and the vendors' hosts (refused outside the model route), compiled by the caller. */
  private modelRoutes: ModelRoutes;
  private readonly limits: EgressLimits;
  private readonly filters: RequestFilter[];
  private readonly transforms: ResponseTransformFactory[];
  private readonly now: () => number;
  private readonly audit: EgressAudit;
  private readonly tunnels: TunnelSlots;
  private readonly sockets = new Set<net.Socket>();
  private httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
  private readonly agents: ProviderAgents;
  private server: http.Server | null = null;
  private gate: ConnectionGate | null = null;
  private splicer: TunnelSplicer | null = null;
  private handoffGate: ConnectionGate | null = null;
  /** The relay's listener, once handed over: the sandbox's connections arrive here. */
  private listener: net.Server | null = null;
  private shimGate: ConnectionGate | null = null;
  /** Connections accepted on that listener or on the shim's socket; the rest came through the proxy socket (the relay). */
  private readonly arrivedVia = new WeakMap<net.Socket, 'listener' | 'shim'>();
  private readonly notice: (message: string) => void;
  /** What the request handlers see of the proxy. */
  private readonly ctx: ConnectContext & ForwardContext & ModelContext & InspectContext;
  private readonly inspectFilters: RequestFilter[];
  private readonly inspectTransforms: ResponseTransformFactory[];
  private readonly upstreamTrust: UpstreamTrust;
  private inspectServer: InspectServer | null = null;

  constructor(private readonly options: EgressProxyOptions) {
    this.policy = options.policy;
    // No providers still keeps the built-in vendors out of tunnels.
    this.modelRoutes = options.modelRoutes ?? modelRoutesOf({});
    this.limits = { ...DEFAULT_EGRESS_LIMITS, ...options.limits };
    this.filters = [...(options.filters ?? [])];
    this.transforms = [...(options.responseTransforms ?? [])];
    this.inspectFilters = [...(options.inspectFilters ?? [])];
    this.inspectTransforms = [...(options.inspectTransforms ?? [])];
    this.upstreamTrust = new UpstreamTrust(() => this.policy.caFile ?? null);
    this.now = options.now ?? Date.now;
    this.tunnels = new TunnelSlots(this.limits.maxConcurrentTunnels);
    this.agents = new ProviderAgents(options.extraCa ?? []);
    this.notice = options.notice ?? (() => undefined);
    this.audit = new EgressAudit(options.audit, options.sessionId, this.now, () => this.policy.mode, (s) => this.arrivedVia.get(s) ?? 'relay');
    let hostAddresses = options.hostAddresses;
    if (!hostAddresses) {
      let cached: readonly IpAddress[] = [];
      let at = -Infinity;
      hostAddresses = () => {
        const t = Date.now();
        if (t - at > 5000) {
          cached = addressesOfInterfaces(os.networkInterfaces());
          at = t;
        }
        return cached;
      };
    }
    const sources = {
      policy: () => this.policy,
      vendors: () => this.modelRoutes.vendorHosts,
      hostAddresses,
      upstream: options.upstreamProxy ?? null,
      resolver: options.resolver ?? systemResolver,
      timeoutMs: this.limits.upstreamConnectTimeoutMs,
      ...(options.ask ? { ask: options.ask } : {}),
    };
    this.ctx = {
      now: this.now,
      rate: new RateLimiter(this.limits.requestsPerSecond, this.limits.requestBurst, this.now),
      limits: this.limits,
      tunnels: this.tunnels,
      audit: this.audit,
      destination: (rawHost, port, channel) => decideDestinationLive(sources, rawHost, port, channel),
      connectTimeoutMs: this.limits.upstreamConnectTimeoutMs,
      track: (s) => this.track(s),
      serving: () => this.server !== null,
      splicer: () => this.splicer,
      spliceAfterBytes: options.spliceAfterBytes ?? DEFAULT_SPLICE_AFTER_BYTES,
      httpAgent: () => this.httpAgent,
      credentialGuard: options.credentialGuard,
      bodyGuard: options.bodyGuard,
      modelRoutes: () => this.modelRoutes,
      agents: this.agents,
      filters: this.filters,
      transforms: this.transforms,
      sessionId: options.sessionId,
      inspectRule: (host, port) => inspectMatch(this.policy.inspect ?? [], host, port),
      inspector: () => (this.inspectServer ??= new InspectServer(this.ctx)),
      inspection: options.inspection ?? null,
      inspectFilters: this.inspectFilters,
      inspectTransforms: this.inspectTransforms,
      inspectHeaderMask: options.inspectHeaderMask,
      upstreamTrust: this.upstreamTrust,
    };
  }

  /** The Unix socket path the proxy listens on. */
  get socketPath(): string {
    return this.options.socketPath;
  }

  /** Number of CONNECT tunnels currently open. */
  get openTunnels(): number {
    return this.tunnels.count;
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

  /** Replaces the model route's providers (new requests only), as compiled from a reloaded policy. */
  setModelRoutes(routes: ModelRoutes): void {
    this.modelRoutes = routes;
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
      this.onRequest(req, res).catch(() => refuseResponse(res, 500, 'proxy_error', denyMessage('proxy_error', '', ''), true));
    });
    server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      handleConnect(this.ctx, req, socket, head).catch(() => socket.destroy());
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
    this.inspectServer?.close();
    server.close();
    for (const s of this.sockets) s.destroy();
    this.httpAgent.destroy();
    this.agents.destroy();
    await closed;
    await shimClosed;
    await listenerClosed;
  }

  /**
   * Quarantine (issue 20): the sandbox's open connections as a table, then
   * every one cut — tunnels (spliced ones too: the splice helper is stopped)
   * and model requests in flight. Connections made later are judged by the
   * policy in force, which quarantine first replaces with one that allows nothing.
   */
  cutConnections(): ConnectionSnapshot[] {
    const table = [...this.sockets].map((s) => ({ via: this.arrivedVia.get(s) ?? ('relay' as const), bytesFromSandbox: s.bytesRead, bytesToSandbox: s.bytesWritten }));
    for (const s of this.sockets) s.destroy();
    const splicer = this.splicer;
    this.splicer = null;
    void splicer?.stop();
    this.retireAgents();
    return table;
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private retireAgents(): void {
    for (const list of Object.values(this.httpAgent.freeSockets)) for (const s of list ?? []) s.destroy();
    this.httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
    this.agents.retire();
    this.upstreamTrust.retire();
  }

  // ---- requests --------------------------------------------------------------

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Aborted uploads surface as 'error' on the request; with no listener that would be fatal.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const url = this.originForm(req.url ?? '');
    if (url.startsWith('/')) {
      const local = /^\/cordon\/v1\/([a-z-]{1,32})(?:\?[^#]*)?$/.exec(url);
      if (local?.[1] !== undefined) {
        const route = Object.hasOwn(this.options.localRoutes ?? {}, local[1]) ? this.options.localRoutes?.[local[1]] : undefined;
        if (route) await route(req, res);
        else refuseResponse(res, 404, 'bad_target', `no Cordon service ${local[1]} in this session`);
        return;
      }
      const m = /^\/model\/([^/?#]+)(\/[^#]*)?$/.exec(url);
      if (m?.[1]) {
        await handleModel(this.ctx, req, res, m[1], m[2] ?? '/');
        return;
      }
      if ((req.method === 'HEAD' || req.method === 'GET') && (url === '/' || url.startsWith('/?'))) {
        // Agents probe their base URL's origin before the first call (Claude Code sends HEAD /).
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 21 });
        res.end(req.method === 'HEAD' ? undefined : 'Cordon egress proxy\r\n');
        return;
      }
      const message = denyMessage('bad_target', url.slice(0, 100), 'send proxy requests with an absolute http:// URL, or CONNECT for https');
      this.audit.deny('http', { host: '', port: 0, reason: 'bad_target' }, message, this.now());
      refuseResponse(res, 400, 'bad_target', message);
      return;
    }
    await handleForward(this.ctx, req, res, url);
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
    this.audit.deny('http', { host: '', port: 0, reason }, message, started);
    refuseSocket(socket, reason, message);
  }
}
