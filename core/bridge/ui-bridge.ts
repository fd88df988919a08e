/**
 * The `cordon ui` server (issue 15): the built renderer over HTTP and one
 * authenticated WebSocket at BRIDGE_PATH, on 127.0.0.1 only. Every request
 * passes decideBridgeRequest first; every frame is parsed and validated, and
 * calls go to the same dispatcher as the Electron IPC. Threats and answers:
 * ./README.md.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, realpathSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ApiDispatcher, ApiEventSource } from '../api/api-dispatch.js';
import { invalid } from '../api/api-dispatch.js';
import type { ApiEvent, ApiError } from '../api/cordon-api.js';
import { BRIDGE_SUBPROTOCOL, BridgeCallSchema, TOKEN_HEADER, type BridgeMessage } from '../api/bridge-protocol.js';
import { BRIDGE_HOST, decideBridgeRequest, requestPath, type GuardDecision, type GuardRequest } from './bridge-guard.js';
import { lookupStatic } from './static-files.js';

export interface UiBridgeOptions {
  readonly dispatch: ApiDispatcher;
  readonly events: ApiEventSource;
  /** The built renderer (index.html and its assets). */
  readonly staticDir: string;
  /** 0 or absent: any free port. */
  readonly port?: number;
  /** Loopback only, by type: the bridge is never reachable from another machine. */
  readonly host: typeof BRIDGE_HOST;
  /** Limits, for tests; the defaults are what `cordon ui` uses. */
  readonly limits?: Partial<BridgeLimits>;
  /**
   * Called each time a page (an HTML file) has been sent: the browser now
   * parses it in its own process and asks for its scripts, and calls come
   * only after those ran. `cordon ui` loads its service then.
   */
  readonly onPageSent?: () => void;
}

export interface BridgeLimits {
  /** Largest frame accepted; larger ones close the socket (1009). */
  readonly maxPayload: number;
  /** A socket whose unsent data passes this is closed (1013) rather than buffered further. */
  readonly maxBufferedBytes: number;
  /** Calls one socket may have waiting for an answer. */
  readonly maxInFlight: number;
  /** Ping interval; a socket that has not answered the previous ping is terminated. */
  readonly pingMs: number;
  /** Time a client gets to send its request headers (slowloris). */
  readonly headersTimeoutMs: number;
}

const DEFAULT_LIMITS: BridgeLimits = { maxPayload: 1024 * 1024, maxBufferedBytes: 4 * 1024 * 1024, maxInFlight: 32, pingMs: 30_000, headersTimeoutMs: 10_000 };

export interface UiBridge {
  /** `http://127.0.0.1:<port>/`, without the token. */
  readonly url: string;
  readonly port: number;
  /** 64 hex digits; the caller prints it once (in the URL fragment) and nowhere else. */
  readonly token: string;
  /** Closes every socket and the server. */
  close(): Promise<void>;
}

/** Starts the bridge; rejects with the listen error (e.g. EADDRINUSE) when the port cannot be bound. */
export async function startUiBridge(opts: UiBridgeOptions): Promise<UiBridge> {
  const limits: BridgeLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const root = realpathSync(opts.staticDir);
  const token = randomBytes(32).toString('hex');
  let port = 0;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxPayload,
    // Select cordon.v1 only, so the token subprotocol is never echoed back.
    handleProtocols: (offered) => (offered.has(BRIDGE_SUBPROTOCOL) ? BRIDGE_SUBPROTOCOL : false),
    perMessageDeflate: false,
  });

  // Node enforces the timeouts below only when it sweeps its connections
  // (every 30 s by default): sweep often enough for them to mean what they say.
  const server = createServer({ connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs) }, (req, res) => {
    serveHttp(req, res, { port, token }, root, opts.onPageSent);
  });
  // Slowloris: a client gets 10 s to send its headers and 30 s for the whole request.
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = Math.max(30_000, limits.headersTimeoutMs);
  server.keepAliveTimeout = 5_000;
  server.maxConnections = 64;
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    socket.destroy();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const decision = decideBridgeRequest(guardRequest(req, 'upgrade'), { port, token });
    if (decision.kind === 'deny') {
      refuseUpgrade(socket, decision);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, opts, limits));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port ?? 0, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the bridge did not bind a TCP port');
  port = address.port;

  return {
    url: `http://${BRIDGE_HOST}:${port}/`,
    port,
    token,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function guardRequest(req: IncomingMessage, kind: GuardRequest['kind']): GuardRequest {
  return {
    kind,
    method: req.method ?? '',
    url: req.url ?? '',
    host: req.headers.host,
    origin: req.headers.origin,
    subprotocols: req.headers['sec-websocket-protocol'],
    tokenHeader: single(req.headers[TOKEN_HEADER]),
  };
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/** The headers of every HTTP answer, including refusals. */
function securityHeaders(port: number): Record<string, string> {
  return {
    'Content-Security-Policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      "font-src 'self'",
      `connect-src 'self' ws://${BRIDGE_HOST}:${port}`,
      "base-uri 'none'",
      "frame-ancestors 'none'",
      "form-action 'none'",
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

function serveHttp(req: IncomingMessage, res: ServerResponse, cfg: { port: number; token: string }, root: string, onPageSent?: () => void): void {
  const headers = securityHeaders(cfg.port);
  const plain = (status: number, body: string): void => {
    res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const decision = decideBridgeRequest(guardRequest(req, 'http'), cfg);
  if (decision.kind === 'deny') {
    plain(decision.status, `${decision.message}\n`);
    return;
  }
  const found = lookupStatic(root, requestPath(req.url ?? '/'));
  if (found.kind === 'refused') {
    // One answer for every refusal: a prober learns nothing about what lies outside.
    plain(404, 'not found\n');
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': found.contentType });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(found.file);
  stream.on('error', () => res.destroy());
  if (onPageSent !== undefined && found.contentType.startsWith('text/html')) res.once('finish', onPageSent);
  stream.pipe(res);
}

function refuseUpgrade(socket: Socket, decision: Extract<GuardDecision, { kind: 'deny' }>): void {
  const body = `${decision.message}\n`;
  const reason = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 426: 'Upgrade Required' }[decision.status];
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${decision.status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** One authenticated socket: calls in, answers and events out. */
function serveSocket(ws: WebSocket, opts: UiBridgeOptions, limits: BridgeLimits): void {
  let inFlight = 0;
  let alive = true;

  const send = (message: BridgeMessage): void => {
    if (ws.readyState !== ws.OPEN) return;
    // A client that stops reading must not make us hold its backlog forever.
    if (ws.bufferedAmount > limits.maxBufferedBytes) {
      ws.close(1013, 'too far behind');
      return;
    }
    ws.send(JSON.stringify(message));
  };
  const refuse = (id: number | null, error: ApiError): void => send({ id, ok: false, error });

  const unsubscribe = opts.events.subscribe((event: ApiEvent) => send({ event }));
  const pinger = setInterval(() => {
    if (!alive) {
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
  }, limits.pingMs);
  pinger.unref();
  ws.on('pong', () => {
    alive = true;
  });
  ws.on('close', () => {
    clearInterval(pinger);
    unsubscribe();
  });
  // Oversize frames and protocol errors arrive here; ws closes the socket itself.
  ws.on('error', () => ws.terminate());

  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (isBinary) {
      refuse(null, { code: 'invalid_request', message: 'frames are JSON text, not binary' });
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(rawText(data));
    } catch {
      refuse(null, { code: 'invalid_request', message: 'the frame is not JSON' });
      return;
    }
    const call = BridgeCallSchema.safeParse(raw);
    if (!call.success) {
      refuse(idOf(raw), invalid(call.error));
      return;
    }
    const { id, method, params } = call.data;
    if (inFlight >= limits.maxInFlight) {
      refuse(id, { code: 'unavailable', message: `more than ${limits.maxInFlight} calls are waiting; wait for answers first` });
      return;
    }
    inFlight++;
    void opts
      .dispatch(method, params)
      .then(
        (result) => send(result.ok ? { id, ok: true, value: result.value } : { id, ok: false, error: result.error }),
        (err: unknown) => refuse(id, { code: 'failed', message: (err as Error).message || 'the call failed' }),
      )
      .finally(() => {
        inFlight--;
      });
  });
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** The frame's own id when it has a usable one, so the client can match the refusal. */
function idOf(raw: unknown): number | null {
  if (typeof raw !== 'object' || raw === null || !('id' in raw)) return null;
  const id = raw.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : null;
}
