/**
 * `CordonApi` over the `cordon ui` bridge: one WebSocket to `ws://<host>/api`,
 * authenticated at the upgrade by the token from the URL fragment, offered as a
 * subprotocol (browsers cannot set headers on a WebSocket). The token lives
 * only in this object: it is never logged, stored or put anywhere but the
 * upgrade request.
 *
 * If the first connection never opens, the server refused us (wrong or stale
 * token, or no server): the status becomes `refused` and the page explains how
 * to get a fresh URL. A socket that drops after it was open is reopened with
 * backoff; calls in flight at the drop settle as `unavailable`.
 */
import { API_METHODS, type ApiEvent, type ApiMethod, type ApiRequest, type ApiResponse, type ApiResult, type CordonApi } from '../../../core/api/cordon-api.js';
import { BRIDGE_PATH, BRIDGE_SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from '../../../core/api/bridge-protocol.js';
import { CallRouter, reconnectDelay } from '../model/bridge-routing.js';

/**
 * Reconnect attempts (about a minute of backoff) before the page says the
 * bridge is gone: a `cordon ui` restarted since has a new token, which only a
 * fresh address brings.
 */
const MAX_RECONNECTS = 8;

export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'refused';

export interface StatusSource {
  readonly status: ConnectionStatus;
  /** Called on every status change until the returned function is called. */
  onStatus(listener: (status: ConnectionStatus) => void): () => void;
}

export class BridgeClient implements CordonApi, StatusSource {
  private socket: WebSocket | null = null;
  private readonly router = new CallRouter();
  private readonly listeners = new Set<(event: ApiEvent) => void>();
  private readonly statusListeners = new Set<(status: ConnectionStatus) => void>();
  private current: ConnectionStatus = 'connecting';
  private everOpened = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Calls made while the socket is not open wait here and go out when it opens. */
  private queue: string[] = [];

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** The bridge on the page's own origin. */
  static forPage(location: Location, token: string): BridgeClient {
    return new BridgeClient(`ws://${location.host}${BRIDGE_PATH}`, token);
  }

  get status(): ConnectionStatus {
    return this.current;
  }

  start(): void {
    this.open();
  }

  /** Opens a new socket after a refusal (the user asked to try again). */
  retry(): void {
    this.everOpened = false;
    this.attempt = 0;
    this.setStatus('connecting');
    this.open();
  }

  call<M extends ApiMethod>(method: M, request: ApiRequest<M>): Promise<ApiResult<ApiResponse<M>>> {
    // Refuse locally what the server would refuse: the user gets the field at once.
    const parsed = API_METHODS[method].request.safeParse(request);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue ? issue.path.map(String).join('.') : '';
      return Promise.resolve({ ok: false, error: { code: 'invalid_request', message: `${field || 'request'}: ${issue?.message ?? 'invalid'}`, ...(field ? { field } : {}) } });
    }
    if (this.current === 'refused') {
      return Promise.resolve({ ok: false, error: { code: 'unavailable', message: 'not connected to Cordon' } });
    }
    return new Promise((resolve) => {
      const frame = this.router.begin(method, parsed.data, (r) => resolve(r as ApiResult<ApiResponse<M>>));
      const text = JSON.stringify(frame);
      if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(text);
      else this.queue.push(text);
    });
  }

  onEvent(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private open(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url, [BRIDGE_SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + this.token]);
    } catch {
      this.closed();
      return;
    }
    this.socket = ws;
    ws.addEventListener('open', () => {
      // The server must pick cordon.v1; anything else is not the bridge we expect.
      if (ws.protocol !== BRIDGE_SUBPROTOCOL) {
        ws.close(1002);
        return;
      }
      this.everOpened = true;
      this.attempt = 0;
      this.setStatus('open');
      const pending = this.queue;
      this.queue = [];
      for (const text of pending) ws.send(text);
    });
    ws.addEventListener('message', (e: MessageEvent<unknown>) => {
      if (typeof e.data !== 'string') return;
      const routed = this.router.receive(e.data);
      if (routed.kind === 'event') {
        for (const l of [...this.listeners]) l(routed.event);
      } else if (routed.kind === 'server_error') {
        for (const l of [...this.listeners]) l({ type: 'notice', level: 'error', message: routed.error.message });
      }
    });
    ws.addEventListener('close', () => {
      if (this.socket === ws) this.closed();
    });
  }

  private closed(): void {
    this.socket = null;
    this.router.failAll('the connection to Cordon was lost; the call may not have completed');
    this.queue = [];
    if (!this.everOpened || this.attempt >= MAX_RECONNECTS) {
      this.everOpened = false;
      this.setStatus('refused');
      return;
    }
    this.setStatus('reconnecting');
    const delay = reconnectDelay(this.attempt++, Math.random());
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this.current) return;
    this.current = status;
    for (const l of [...this.statusListeners]) l(status);
  }
}
