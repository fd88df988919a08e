import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import { compileEgressPolicy } from '../egress/egress-policy.js';
import { EgressProxy } from '../egress/egress-proxy.js';
import { PHANTOM_IN_TEXT } from '../keys/phantom.js';
import { upstreamProxyFromEnv } from '../egress/upstream-proxy.js';
import { ensureSpliceHelper } from '../egress/tunnel-splicer.js';
import { resolveCordonPaths } from '../paths/cordon-paths.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import { BUILTIN_PROFILE_DIR } from '../profiles/profile-loader.js';
import type { PlannedMount } from '../workspace/mount-plan.js';

/**
 * The sandbox's only way out (issue 3): a per-session egress proxy on a Unix
 * socket in the session's private folder, bind-mounted into the sandbox, and
 * the static `cordon-relay` as the container's PID 1, relaying
 * 127.0.0.1:RELAY_PORT inside the sandbox to that socket. Works in any image
 * (the relay is static and mounted from the host) and under gVisor
 * (`--host-uds=open`).
 */

/** Loopback port the relay listens on inside every sandbox (each has its own network namespace). */
export const RELAY_PORT = 3128;
/** Where the proxy socket and the relay appear inside the sandbox. */
export const SANDBOX_SOCKET_DIR = '/run/cordon/egress';
export const SANDBOX_SOCKET = `${SANDBOX_SOCKET_DIR}/proxy.sock`;
export const SANDBOX_RELAY = '/run/cordon/cordon-relay';
/** Unix socket paths are limited to 108 bytes on Linux (104 on macOS). */
const MAX_SOCKET_PATH = 100;

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/**
 * Returns the path of a built relay, building it into the cache from the
 * shipped source when missing. The cache key is the source's hash, so an
 * updated relay is rebuilt rather than reused.
 */
export function ensureRelay(cacheDir: string, sourceDir: string = join(BUILTIN_PROFILE_DIR, 'relay')): Result<string> {
  let source: Buffer;
  try {
    source = readFileSync(join(sourceDir, 'cordon-relay.c'));
  } catch {
    return { ok: false, message: `the relay source ${join(sourceDir, 'cordon-relay.c')} is missing; reinstall Cordon` };
  }
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(cacheDir, 'relay', digest);
  const bin = join(dir, 'cordon-relay');
  if (existsSync(bin)) return { ok: true, value: bin };
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = spawnSync('sh', [join(sourceDir, 'build.sh'), tmp], { encoding: 'utf8' });
  if (r.status !== 0) {
    return { ok: false, message: `cannot build the in-sandbox relay: ${(r.stderr || r.error?.message || 'build failed').trim()} (scripts/setup.sh installs gcc)` };
  }
  chmodSync(tmp, 0o755);
  renameSync(tmp, bin);
  return { ok: true, value: bin };
}

export interface SessionEgress {
  readonly proxy: EgressProxy;
  readonly mounts: readonly PlannedMount[];
  readonly env: Readonly<Record<string, string>>;
  /** The relay as PID 1, followed by the command. */
  readonly entrypoint: readonly string[];
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

/** Starts the session's proxy and describes how to wire the sandbox to it. */
export async function startSessionEgress(opts: {
  readonly sessionDir: string;
  readonly sessionId: string;
  readonly policy: EffectivePolicy;
  readonly audit: AuditSink;
  readonly relayPath: string;
  readonly hostEnv?: NodeJS.ProcessEnv;
  /**
   * Built `cordon-splice` that carries tunnel bytes host-side; null = relay in
   * Node. Absent: built on demand into Cordon's cache folder (the same one
   * `ensureRelay` is given by the CLI), falling back to Node, with one line on
   * stderr, when it cannot be built.
   */
  readonly spliceHelper?: string | null;
}): Promise<Result<SessionEgress>> {
  // The socket gets a folder of its own, and the folder is what is mounted: a
  // mount of the socket file would keep pointing at a stale inode if the
  // socket were ever recreated, and session.json stays out of the sandbox.
  const socketDir = join(opts.sessionDir, 'egress');
  mkdirSync(socketDir, { mode: 0o755 });
  chmodSync(socketDir, 0o755);
  const socketPath = join(socketDir, 'proxy.sock');
  if (socketPath.length > MAX_SOCKET_PATH) {
    return { ok: false, message: `the session folder path is too long for a Unix socket (${socketPath.length} > ${MAX_SOCKET_PATH} bytes); set CORDON_HOME to a shorter path` };
  }
  const compiled = compileEgressPolicy(opts.policy.egress);
  if (!compiled.ok) return { ok: false, message: `egress policy is invalid: ${compiled.errors.join('; ')}` };
  const upstream = upstreamProxyFromEnv(opts.hostEnv ?? process.env);
  if (!upstream.ok) return { ok: false, message: `host proxy settings are invalid: ${upstream.error}` };
  let spliceHelper = opts.spliceHelper;
  if (spliceHelper === undefined) {
    const built = ensureSpliceHelper(resolveCordonPaths().cacheDir);
    if (!built.ok) process.stderr.write(`cordon: egress: ${built.message}; CONNECT tunnels relay through Node (slower)\n`);
    spliceHelper = built.ok ? built.path : null;
  }
  const proxy = new EgressProxy({
    socketPath,
    spliceHelper,
    // The socket sits in a 0700 folder; it is reachable only through the bind
    // mount, by the sandbox's unprivileged user.
    socketMode: 0o666,
    policy: compiled.policy,
    providers: opts.policy.providers,
    audit: opts.audit,
    sessionId: opts.sessionId,
    upstreamProxy: upstream.config,
    selfAuthorities: [`127.0.0.1:${RELAY_PORT}`, `localhost:${RELAY_PORT}`],
    // A phantom token only means something on the model route; seen going to
    // any other host it is an exfiltration attempt (issue 4).
    credentialGuard: (url, rawHeaders) => (PHANTOM_IN_TEXT.test(url) || rawHeaders.some((h) => PHANTOM_IN_TEXT.test(h)) ? 'a Cordon phantom token' : null),
  });
  try {
    await proxy.start();
  } catch (err) {
    return { ok: false, message: `egress proxy could not start: ${(err as Error).message}` };
  }
  const proxyUrl = `http://127.0.0.1:${RELAY_PORT}`;
  return {
    ok: true,
    value: {
      proxy,
      mounts: [
        { hostPath: socketDir, containerPath: SANDBOX_SOCKET_DIR, readOnly: true, kind: 'cordon' },
        { hostPath: opts.relayPath, containerPath: SANDBOX_RELAY, readOnly: true, kind: 'cordon' },
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
      },
      entrypoint: [SANDBOX_RELAY, '--listen', `127.0.0.1:${RELAY_PORT}`, '--to', SANDBOX_SOCKET, '--'],
      isServing: () => socketAnswers(socketPath),
      stop: () => proxy.stop(),
    },
  };
}
