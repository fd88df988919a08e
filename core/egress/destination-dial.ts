/**
 * The effectful half of a destination: resolve the name once (when the pure
 * decision asks for it), and dial exactly a checked address. Dialling an
 * address rather than a name is what makes DNS rebinding useless: there is no
 * second lookup to win.
 */
import dns from 'node:dns';
import net from 'node:net';
import {
  decideAddresses,
  decideHostStage,
  type Channel,
  type DestinationDecision,
  settleAsk,
  type HostStageInput,
  type MatchedRule,
  type ResolveOutcome,
  type Route,
} from './destination-decision.js';
import type { CompiledEgressPolicy } from './egress-policy.js';
import { formatIp, parseIp, type IpAddress } from './ip-address.js';
import { openTunnelVia, type UpstreamProxyConfig } from './upstream-proxy.js';

export type { ResolveOutcome } from './destination-decision.js';

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

/** What deciding a destination needs at the moment it is asked. */
export interface DestinationSources {
  /** The policy in force; read once per decision. */
  readonly policy: () => CompiledEgressPolicy;
  readonly vendors: () => ReadonlySet<string>;
  readonly hostAddresses: () => readonly IpAddress[];
  readonly upstream: UpstreamProxyConfig | null;
  readonly resolver: HostResolver;
  /** Resolving gives up after this long (`resolve_failed`, "timeout"). */
  readonly timeoutMs: number;
  /** Ask mode: asks the user about a destination the host rules do not allow; absent: refused (nobody to ask). */
  readonly ask?: EgressAsker;
}

/** One question to the user: may the session reach HOST:PORT (at ADDRESS, where Cordon dials it itself)? */
export interface EgressQuestion {
  readonly host: string;
  readonly port: number;
  readonly address: string | null;
}

/** Answers an ask-mode question; resolves when the user answered, or the question timed out. */
export type EgressAsker = (q: EgressQuestion) => Promise<Extract<MatchedRule, { rule: 'approval' }>['answer']>;

/**
 * Normalise → host rules → resolve once (pins and literals first) → check
 * every address → pick the route. One policy snapshot serves the whole decision.
 */
export async function decideDestinationLive(src: DestinationSources, rawHost: string, port: number, channel: Channel): Promise<DestinationDecision> {
  const policy = src.policy();
  const input: HostStageInput = { policy, vendors: src.vendors() };
  const stage = decideHostStage(input, rawHost, port, channel);
  if (stage.kind === 'deny') return stage;
  const answer = stage.literal || stage.pinned ? null : await withTimeout(src.resolver(stage.host), src.timeoutMs);
  const d = decideAddresses(stage, { policy, hostAddresses: src.hostAddresses(), upstream: src.upstream, answer });
  if (d.kind !== 'ask') return d;
  // The connection waits here while the user is asked; a failing asker refuses (fail closed).
  const address = d.route.kind === 'direct' ? formatIp(d.route.address) : d.route.address ? formatIp(d.route.address) : null;
  const verdict = src.ask ? await src.ask({ host: d.host, port: d.port, address }).catch(() => 'unavailable' as const) : 'unavailable';
  return settleAsk(d, verdict);
}

function withTimeout(p: Promise<ResolveOutcome>, ms: number): Promise<ResolveOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ResolveOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, why: 'timeout' }), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A dialled stream. `dialled`: the address connected to, when Cordon dialled it itself (not through an upstream proxy). */
export type DialResult = { ok: true; socket: net.Socket; head: Buffer; dialled?: string } | { ok: false; why: string };

/** Opens a TCP stream to a checked route: its addresses in order (dual-stack hosts), or a tunnel through the upstream proxy. */
export async function dial(route: Route, port: number, timeoutMs: number): Promise<DialResult> {
  if (route.kind === 'proxy') return openTunnelVia(route.endpoint, route.target, timeoutMs);
  let why = 'no addresses';
  for (const address of route.addresses) {
    const r = await dialOne(address, port, timeoutMs);
    if (r.ok) return r;
    why = r.why;
  }
  return { ok: false, why };
}

function dialOne(address: IpAddress, port: number, timeoutMs: number): Promise<{ ok: true; socket: net.Socket; head: Buffer; dialled: string } | { ok: false; why: string }> {
  return new Promise((resolve) => {
    const dialled = formatIp(address);
    // Half-open allowed: a server that finished sending may still be reading the upload.
    const socket = net.connect({ host: dialled, port, noDelay: true, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, why: 'connect timeout' });
    }, timeoutMs);
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

/**
 * A `lookup` that answers only with already-checked addresses, so the socket
 * layer never asks DNS again (and cannot be handed a rebound answer).
 */
export function pinnedLookup(addrs: readonly IpAddress[]): net.LookupFunction {
  const all = addrs.map((a) => ({ address: formatIp(a), family: a.family }));
  const first = all[0] ?? { address: '0.0.0.0', family: 4 };
  return (_host, options, callback) => {
    if (options.all) callback(null, all);
    else callback(null, first.address, first.family);
  };
}
