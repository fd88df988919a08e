/**
 * What an `EgressProxy` is built with. Kept apart from the class so
 * the proxy's own file holds only its wiring.
 */
import type http from 'node:http';
import type { AuditSink } from '../audit/audit-event.js';
import type { ConnectionGate } from './connection-gate.js';
import type { EgressLimits } from './connection-limits.js';
import type { EgressAsker, HostResolver } from './destination-dial.js';
import type { CompiledEgressPolicy, ModelRoutes } from './egress-policy.js';
import type { IpAddress } from './ip-address.js';
import type { ModelRequest, RequestFilter, ResponseTransformFactory } from './model-route.js';
import type { TlsInspection } from './tls-inspect.js';
import type { BodyGuard } from './plain-forward.js';
import type { UpstreamProxyConfig } from './upstream-proxy.js';

/** A handler for one of Cordon's in-sandbox services (see EgressProxyOptions.localRoutes). */
export type LocalRoute = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

/** Everything an `EgressProxy` needs. I/O edges are injectable for tests. */
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
  /** Providers reachable at `/model/<name>/`, compiled once per policy (compileModelRoutes); none: the model route answers 404. */
  readonly modelRoutes?: ModelRoutes;
  readonly audit: AuditSink;
  readonly sessionId?: string;
  readonly limits?: Partial<EgressLimits>;
  /** Defaults to `systemResolver`. */
  readonly resolver?: HostResolver;
  /** Ask mode (`egress.mode: "ask"`): who answers; absent, ask mode refuses what it would ask about. */
  readonly ask?: EgressAsker;
  /** The host's own addresses, refused as destinations. Defaults to `os.networkInterfaces()`, re-read every 5 s. */
  readonly hostAddresses?: () => readonly IpAddress[];
  /** Host corporate proxy to chain through (see `upstreamProxyFromEnv`); null or absent = connect directly. */
  readonly upstreamProxy?: UpstreamProxyConfig | null;
  readonly filters?: readonly RequestFilter[];
  readonly responseTransforms?: readonly ResponseTransformFactory[];
  /**
   * TLS inspection (issue 19): the session's leaf issuer. Without it a CONNECT
   * to a host `egress.inspect` names is refused (`inspection_unavailable`),
   * never tunnelled unseen.
   */
  readonly inspection?: TlsInspection | null;
  /** Filters run on every request inside an inspected tunnel (phantom credentials, DLP); `provider` is '' there. */
  readonly inspectFilters?: readonly RequestFilter[];
  /** Response transforms for inspected requests (a credential echoed back becomes its phantom again). */
  readonly inspectTransforms?: readonly ResponseTransformFactory[];
  /** Rewrites each response header value of an inspected request before the agent sees it. */
  readonly inspectHeaderMask?: (request: ModelRequest, value: string) => string;
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
  /**
   * Cordon's own services for the sandbox, at `/cordon/v1/<name>` on the
   * proxy (origin form, or absolute form to a self authority): the file
   * access requests of `cordon-request-access`, the clipboard. Only the
   * session's sandbox reaches this proxy, so a request here comes from it
   * and is as untrusted as anything else it sends. Unknown names answer 404.
   */
  readonly localRoutes?: Readonly<Record<string, LocalRoute>>;
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
   * moves to the splice helper; default `DEFAULT_SPLICE_AFTER_BYTES`.
   * Handing over costs a few cross-process round trips, so short tunnels stay
   * with Node and only bulk ones move. 0 = hand over as soon as established.
   */
  readonly spliceAfterBytes?: number;
  /**
   * Operational notices (a fallback to the slower path). Core writes to no
   * terminal: the caller shows them; absent = dropped.
   */
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

