import type { EgressAsker } from '../egress/destination-dial.js';
import { chmodSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import { ConnectionGate } from '../egress/connection-gate.js';
import type { CompiledEgressPolicy } from '../egress/egress-policy.js';
import { ensureHelperBuilt, type HelperBuild } from '../egress/helper-build.js';
import type { EgressProxy } from '../egress/egress-proxy.js';
import type { EgressProxyOptions, LocalRoute } from '../egress/egress-proxy-options.js';
import { SANDBOX_GRANTS_DIR } from '../grants/grant-mounts.js';
import type { RequestFilter, ResponseTransformFactory } from '../egress/model-route.js';
import { PHANTOM_IN_TEXT, PhantomStreamScanner } from '../keys/phantom.js';
import { upstreamProxyFromEnv, type UpstreamProxyConfig } from '../egress/upstream-proxy.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import { BUILTIN_PROFILE_DIR } from '../profiles/profile-loader.js';
import type { PlannedMount } from '../workspace/mount-plan.js';
import { SANDBOX_HOME_SEED } from './agent-home.js';
import { Lifeline } from './session-lifeline.js';

/**
 * The sandbox's only way out (issue 3): a per-session egress proxy on a Unix
 * socket in the session's private folder, bind-mounted into the sandbox, and
 * the static `cordon-relay` as the container's PID 1, relaying
 * 127.0.0.1:RELAY_PORT inside the sandbox to that socket. Works in any image
 * (the relay is static and mounted from the host) and under gVisor
 * (`--host-uds=open`). Dynamically linked programs also preload the connect
 * shim, which takes their connections to that port straight to a second proxy
 * socket, skipping the loopback TCP hop.
 */

/** Loopback port the relay listens on inside every sandbox (each has its own network namespace). */
export const RELAY_PORT = 3128;
/** Where the proxy socket and the relay appear inside the sandbox. */
export const SANDBOX_SOCKET_DIR = '/run/cordon/egress';
export const SANDBOX_SOCKET = `${SANDBOX_SOCKET_DIR}/proxy.sock`;
/** Where a runc sandbox's relay offers its listening socket to the proxy (see EgressProxyOptions.handoff). */
export const SANDBOX_HANDOFF_SOCKET = `${SANDBOX_SOCKET_DIR}/handoff.sock`;
/** The launcher's lifeline, which the relay holds and ends the sandbox when it breaks (see Lifeline). */
export const SANDBOX_LIFELINE_SOCKET = `${SANDBOX_SOCKET_DIR}/lifeline.sock`;
export const SANDBOX_RELAY = '/run/cordon/cordon-relay';
/** Cordon's tools inside every sandbox (`cordon-request-access` …), first on the command's PATH. */
export const SANDBOX_TOOLS_DIR = '/run/cordon/bin';
/** Where they are shipped. */
export const BUILTIN_TOOLS_DIR = join(BUILTIN_PROFILE_DIR, 'tools');
/**
 * The connect shim's own proxy socket, and the shim itself (see
 * ensureConnectShim). The shim recognises its socket by this file name (see
 * cordon-connect.c), so it is one nothing else uses.
 */
export const SHIM_SOCKET_NAME = 'cordon-shim.sock';
export const SANDBOX_SHIM_SOCKET = `${SANDBOX_SOCKET_DIR}/${SHIM_SOCKET_NAME}`;
export const SANDBOX_SHIM = '/run/cordon/cordon-connect.so';
/** Unix socket paths are limited to 108 bytes on Linux (104 on macOS). */
const MAX_SOCKET_PATH = 100;

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/**
 * Returns the path of a built relay, building it into the cache from the
 * shipped source when missing (rebuilt when its source or build script changes).
 */
export function ensureRelay(cacheDir: string, sourceDir: string = join(BUILTIN_PROFILE_DIR, 'relay')): HelperBuild {
  // World-readable: the sandbox's unprivileged user runs it through a bind mount.
  return ensureHelperBuilt({ name: 'cordon-relay', what: 'in-sandbox relay', sourceDir, cacheDir: join(cacheDir, 'relay'), mode: 0o755 });
}

/**
 * Returns the path of the built connect shim, a preload library that sends a
 * dynamically linked program's connect() to the proxy's loopback port to the
 * proxy's Unix socket instead (sandbox-profiles/connect-shim). Optional: a
 * session without it keeps the relay's TCP port, which every program can use.
 */
export function ensureConnectShim(cacheDir: string, sourceDir: string = join(BUILTIN_PROFILE_DIR, 'connect-shim')): HelperBuild {
  // World-readable: every process of the sandbox's user loads it.
  return ensureHelperBuilt({ name: 'cordon-connect', what: 'connect shim', sourceDir, cacheDir: join(cacheDir, 'connect-shim'), mode: 0o755 });
}

/** How the sandbox is wired to its proxy; the proxy itself starts later (startSessionEgress). */
export interface EgressWiring {
  readonly mounts: readonly PlannedMount[];
  readonly env: Readonly<Record<string, string>>;
  /** The relay as PID 1, followed by the command. */
  readonly entrypoint: readonly string[];
}

/**
 * The session's egress, checked and bound but not yet serving: the policy is
 * compiled, the host's proxy settings parsed, and the socket is listening
 * behind a gate that holds connections until the proxy takes it over.
 */
export interface PreparedEgress extends EgressWiring {
  readonly socketPath: string;
  readonly policy: CompiledEgressPolicy;
  readonly upstream: UpstreamProxyConfig | null;
  readonly gate: ConnectionGate;
  /** runc only: where the relay offers its listener; null under gVisor, whose sockets cannot leave the sandbox. */
  readonly handoff: ConnectionGate | null;
  /** The connect shim's socket; null when the session has no shim. */
  readonly shim: ConnectionGate | null;
  /** This process's end of the sandbox's lifeline: the sandbox ends when it closes. */
  readonly lifeline: Lifeline;
  /**
   * Closes every gate (a no-op for a gate the proxy already closed) and the
   * lifeline: call it once the container is gone, or the relay ends the
   * sandbox on its own.
   */
  close(): Promise<void>;
}

export interface SessionEgress extends EgressWiring {
  readonly proxy: EgressProxy;
  /** True while the proxy accepts connections on its socket (what the relay dials). */
  isServing(): Promise<boolean>;
  stop(): Promise<void>;
}

/** Probes a Unix socket the way the relay uses it: a connection that opens. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (up: boolean): void => {
      s.destroy();
      resolve(up);
    };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Everything about the session's egress that can fail, done before the
 * sandbox exists: the proxy socket is bound (a connection that arrives before
 * the proxy is loaded waits, it is not refused) and the wiring is known.
 */
export async function prepareSessionEgress(opts: {
  readonly sessionDir: string;
  /** The session's policy, compiled once (compilePolicy); its egress rules go to the proxy as they are. */
  readonly policy: CompiledPolicy;
  readonly relayPath: string;
  /**
   * The session's grants folder (grant-mounts.ts), mounted at
   * SANDBOX_GRANTS_DIR: `live` with slave propagation, `copy` read-only. Absent: no grants folder.
   */
  readonly grants?: { readonly dir: string; readonly mechanism: 'live' | 'copy' } | null;
  /**
   * Built connect shim (ensureConnectShim), preloaded into every dynamically
   * linked program of the sandbox; null or absent = no shim, every connection
   * takes the relay's TCP port.
   */
  readonly shimPath?: string | null;
  /**
   * The sandbox's runtime. Under runc the relay's sockets are host kernel
   * sockets: it may splice both ways and hand its listener to the proxy, so
   * the sandbox's connections skip its hop. Under gVisor (runsc) neither is
   * possible: splicing out of the host socket corrupts bytes there, and its
   * sockets live in the sandbox's own network stack. Default: runsc's rules.
   */
  readonly runtime?: 'runc' | 'runsc' | 'microvm';
  /**
   * Host folder holding the agent's first-run files (agent-home.ts): mounted
   * read-only and copied into $HOME by the relay before the command starts.
   * Null or absent: no seed.
   */
  readonly homeSeed?: string | null;
  /** The host's proxy variables (HTTPS_PROXY, NO_PROXY …), read by the adapter; none when absent. */
  readonly hostEnv?: Readonly<Record<string, string | undefined>>;
}): Promise<Result<PreparedEgress>> {
  // The socket gets a folder of its own, and the folder is what is mounted: a
  // mount of the socket file would keep pointing at a stale inode if the
  // socket were ever recreated, and session.json stays out of the sandbox.
  const socketDir = join(opts.sessionDir, 'egress');
  mkdirSync(socketDir, { mode: 0o755 });
  chmodSync(socketDir, 0o755);
  const runc = opts.runtime === 'runc';
  const socketPath = join(socketDir, 'proxy.sock');
  const handoffPath = join(socketDir, 'handoff.sock');
  const shimSocketPath = join(socketDir, SHIM_SOCKET_NAME);
  const lifelinePath = join(socketDir, 'lifeline.sock');
  // The longest socket every session needs (the shim's is optional).
  if (lifelinePath.length > MAX_SOCKET_PATH) {
    return { ok: false, message: `the session folder path is too long for a Unix socket (${lifelinePath.length} > ${MAX_SOCKET_PATH} bytes); set CORDON_HOME to a shorter path` };
  }
  const upstream = upstreamProxyFromEnv(opts.hostEnv ?? {});
  if (!upstream.ok) return { ok: false, message: `host proxy settings are invalid: ${upstream.error}` };
  let gate: ConnectionGate;
  let handoff: ConnectionGate | null = null;
  let lifeline: Lifeline;
  try {
    gate = await ConnectionGate.listen(socketPath, { mode: 0o666 });
  } catch (err) {
    return { ok: false, message: `egress proxy could not start: ${(err as Error).message}` };
  }
  // Not optional: a sandbox that could outlive this process is not started
  // (the relay refuses to run the command without it).
  try {
    lifeline = await Lifeline.bind(lifelinePath);
  } catch (err) {
    await gate.close();
    return { ok: false, message: `the sandbox's lifeline could not be bound: ${(err as Error).message}` };
  }
  if (runc) {
    // Never read by Node: the relay's descriptor rides on the one byte it sends.
    // Bound before the sandbox starts, so the relay's offer (made before the
    // agent runs) always finds it.
    try {
      handoff = await ConnectionGate.listen(handoffPath, { mode: 0o666, pauseOnConnect: true });
    } catch {
      // No handoff socket: the relay then relays, as under gVisor.
    }
  }
  let shim: ConnectionGate | null = null;
  // Optional, so a folder path too long for this one name only costs the shim.
  if (opts.shimPath && shimSocketPath.length <= MAX_SOCKET_PATH) {
    try {
      shim = await ConnectionGate.listen(shimSocketPath, { mode: 0o666 });
    } catch {
      // No shim socket: programs connect over the relay's TCP port.
    }
  }
  const proxyUrl = `http://127.0.0.1:${RELAY_PORT}`;
  return {
    ok: true,
    value: {
      socketPath,
      policy: opts.policy.egress,
      upstream: upstream.config,
      gate,
      handoff,
      shim,
      lifeline,
      close: async () => {
        await gate.close();
        await handoff?.close();
        await shim?.close();
        await lifeline.close();
      },
      mounts: [
        { hostPath: socketDir, containerPath: SANDBOX_SOCKET_DIR, readOnly: true, kind: 'cordon' },
        { hostPath: opts.relayPath, containerPath: SANDBOX_RELAY, readOnly: true, kind: 'cordon' },
        ...(shim && opts.shimPath ? [{ hostPath: opts.shimPath, containerPath: SANDBOX_SHIM, readOnly: true, kind: 'cordon' as const }] : []),
        ...(opts.homeSeed ? [{ hostPath: opts.homeSeed, containerPath: SANDBOX_HOME_SEED, readOnly: true, kind: 'cordon' as const }] : []),
        { hostPath: BUILTIN_TOOLS_DIR, containerPath: SANDBOX_TOOLS_DIR, readOnly: true, kind: 'cordon' },
        ...(opts.grants
          ? [
              opts.grants.mechanism === 'live'
                ? // Read-write as a mount, because gVisor applies this mount's flag to everything under it (runc
                  // takes each grant's own); the folder itself is root's and 0755, its entries mount points, so
                  // the agent can neither add to it nor rename or remove a grant.
                  { hostPath: opts.grants.dir, containerPath: SANDBOX_GRANTS_DIR, readOnly: false, kind: 'cordon' as const, propagation: 'rslave' as const }
                : // A copy is a read-only snapshot: the mount's flag is what keeps it one.
                  { hostPath: opts.grants.dir, containerPath: SANDBOX_GRANTS_DIR, readOnly: true, kind: 'cordon' as const },
            ]
          : []),
      ],
      env: {
        HTTP_PROXY: proxyUrl,
        HTTPS_PROXY: proxyUrl,
        http_proxy: proxyUrl,
        https_proxy: proxyUrl,
        // Empty: nothing bypasses the proxy (there is no other route anyway).
        NO_PROXY: '',
        no_proxy: '',
        ANTHROPIC_BASE_URL: `${proxyUrl}/model/anthropic`,
        // Programs that load the shim reach the proxy's socket directly; the
        // rest (static ones) keep the relay's port. Same policy either way.
        ...(shim ? { LD_PRELOAD: SANDBOX_SHIM, CORDON_EGRESS_PORT: String(RELAY_PORT), CORDON_EGRESS_SOCKET: SANDBOX_SHIM_SOCKET } : {}),
      },
      entrypoint: [SANDBOX_RELAY, '--listen', `127.0.0.1:${RELAY_PORT}`, '--to', SANDBOX_SOCKET, ...(runc ? ['--splice', 'both'] : []), ...(handoff ? ['--handoff', SANDBOX_HANDOFF_SOCKET] : []), '--lifeline', SANDBOX_LIFELINE_SOCKET, ...(opts.homeSeed ? ['--home-seed', SANDBOX_HOME_SEED] : []), '--path-prepend', SANDBOX_TOOLS_DIR, '--'],
    },
  };
}

/**
 * Loads the proxy and has it take over the prepared socket. The proxy (with
 * TLS, the model route and their Node built-ins) is imported here, not when
 * the session starts, so a launcher can load it while the engine starts the
 * container.
 */
export async function startSessionEgress(
  prepared: PreparedEgress,
  opts: {
    readonly sessionId: string;
    readonly policy: CompiledPolicy;
    readonly audit: AuditSink;
    /** In order, in place before the first request is served. */
    readonly requestFilters?: readonly RequestFilter[];
    readonly responseTransforms?: readonly ResponseTransformFactory[];
    /**
     * Built `cordon-splice` that carries tunnel bytes host-side; null = relay in
     * Node. Absent: built on demand into CACHEDIR (default: Cordon's cache
     * folder, where `ensureRelay` builds the relay), falling back to Node, with
     * one line on stderr, when it cannot be built.
     */
    readonly spliceHelper?: string | null;
    readonly cacheDir: string;
    /** Where the proxy's notices go (a fallback to a slower path); core writes to no terminal. */
    readonly notify: (message: string) => void;
    /** Ask mode's answers (the user's approval queue); absent, ask mode refuses what it would ask about. */
    readonly ask?: EgressAsker;
    /** Cordon's services for the sandbox at `/cordon/v1/<name>` (see EgressProxyOptions.localRoutes). */
    readonly localRoutes?: Readonly<Record<string, LocalRoute>>;
    /** TLS inspection (issue 19): the leaves, filters and response masks for hosts in egress.inspect; absent: inspected hosts are refused. */
    readonly inspect?: Pick<EgressProxyOptions, 'inspection' | 'inspectFilters' | 'inspectTransforms' | 'inspectHeaderMask'>;
  },
): Promise<Result<SessionEgress>> {
  const { EgressProxy } = await import('../egress/egress-proxy.js');
  const { ensureSpliceHelper } = await import('../egress/tunnel-splicer.js');
  let spliceHelper = opts.spliceHelper;
  if (spliceHelper === undefined) {
    const built = ensureSpliceHelper(opts.cacheDir);
    if (!built.ok) opts.notify(`egress: ${built.message}; CONNECT tunnels relay through Node (slower)`);
    spliceHelper = built.ok ? built.path : null;
  }
  const proxy = new EgressProxy({
    socketPath: prepared.socketPath,
    spliceHelper,
    // The socket sits in a 0755 folder of the 0700 session folder; it is
    // reachable only through the bind mount, by the sandbox's unprivileged user.
    socketMode: 0o666,
    gate: prepared.gate,
    ...(prepared.handoff ? { handoff: { gate: prepared.handoff, port: RELAY_PORT } } : {}),
    ...(prepared.shim ? { shim: prepared.shim } : {}),
    policy: prepared.policy,
    modelRoutes: opts.policy.modelRoutes,
    audit: opts.audit,
    sessionId: opts.sessionId,
    upstreamProxy: prepared.upstream,
    selfAuthorities: [`127.0.0.1:${RELAY_PORT}`, `localhost:${RELAY_PORT}`],
    // A phantom token only means something on the model route; seen going to
    // any other host, in the URL, a header or the body, it is an exfiltration
    // attempt (issue 4).
    credentialGuard: (url, rawHeaders) => (PHANTOM_IN_TEXT.test(url) || rawHeaders.some((h) => PHANTOM_IN_TEXT.test(h)) ? 'a Cordon phantom token' : null),
    bodyGuard: () => new PhantomStreamScanner(),
    // The proxy writes to no terminal; its notices (a fallback to a slower path) go to the adapter.
    notice: (m) => opts.notify(`egress: ${m}`),
    ...(opts.ask ? { ask: opts.ask } : {}),
    ...(opts.localRoutes ? { localRoutes: opts.localRoutes } : {}),
    ...(opts.inspect ?? {}),
  });
  for (const f of opts.requestFilters ?? []) proxy.addRequestFilter(f);
  for (const t of opts.responseTransforms ?? []) proxy.addResponseTransform(t);
  try {
    await proxy.start();
  } catch (err) {
    await prepared.close();
    return { ok: false, message: `egress proxy could not start: ${(err as Error).message}` };
  }
  return {
    ok: true,
    value: {
      proxy,
      mounts: prepared.mounts,
      env: prepared.env,
      entrypoint: prepared.entrypoint,
      // The socket must answer even after the relay handed its listener over:
      // a session whose proxy socket vanished is broken and is ended.
      isServing: async () => proxy.serving && (await socketAnswers(prepared.socketPath)),
      stop: () => proxy.stop(),
    },
  };
}
