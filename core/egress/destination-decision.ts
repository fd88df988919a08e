/**
 * The proxy's destination decision, pure: host rules, report mode, the vendor
 * hosts, the cloud-metadata exception and the address checks, on plain values.
 *
 * Resolution is the one asynchronous step and stays outside: a caller runs
 * {@link decideHostStage} (before resolving), resolves the name once when the
 * stage asks for it, then {@link decideAddresses} (after resolving).
 * {@link decideDestination} runs both with an answer already in hand.
 * Every outcome names the rule that decided it, and audit records carry it.
 */
import type { CompiledEgressPolicy } from './egress-policy.js';
import { authority, denyMessage } from './deny-messages.js';
import { matchHostRules, normaliseHost, type DenyReason } from './host-match.js';
import { checkAddress, formatIp, parseIp, type AddressCategory, type IpAddress } from './ip-address.js';
import { httpProxyFor, tunnelProxyFor, type ProxyEndpoint, type UpstreamProxyConfig } from './upstream-proxy.js';

/** Which kind of request asks: a CONNECT tunnel, a plain-HTTP forward, or the model route. */
export type Channel = 'connect' | 'http' | 'model';

/** Resolution outcome. `why` is a short error code, never a secret. */
export type ResolveOutcome = { readonly ok: true; readonly addresses: readonly IpAddress[] } | { readonly ok: false; readonly why: string };

/**
 * Where a checked destination is dialled. `direct`: `addresses` are every
 * resolved address, all checked; they are tried in order, `address` first.
 */
export type Route =
  | { readonly kind: 'direct'; readonly address: IpAddress; readonly addresses: readonly IpAddress[] }
  | { readonly kind: 'proxy'; readonly endpoint: ProxyEndpoint; readonly target: string; readonly address: IpAddress | null };

/**
 * The rule that decided a destination (for a report-mode pass: the rule that
 * would have denied it). `pattern` is the policy entry as written.
 */
export type MatchedRule =
  | { readonly rule: 'allow_list'; readonly pattern: string }
  | { readonly rule: 'deny_list'; readonly pattern: string }
  /** The allow entry names the host, but not on this port. */
  | { readonly rule: 'allow_list_port'; readonly pattern: string }
  /** No allow entry names the host: nothing is allowed by default. */
  | { readonly rule: 'default_deny' }
  /** A model vendor's API host, reached through the model route only. */
  | { readonly rule: 'vendor_host' }
  /** The model route's own destination, a provider's base URL: host rules do not apply, addresses still do. */
  | { readonly rule: 'provider' }
  /** An address check (loopback, private, metadata, the host's own …). */
  | { readonly rule: 'address'; readonly category: AddressCategory }
  /** The target itself: malformed, or it did not resolve. */
  | { readonly rule: 'target' }
  /**
   * Ask mode: the answer decided (`scope` of an allow; `why` of a refusal).
   * `pre_approved` / `never_allow`: policy answered without asking (`approvals.preApproved` / `approvals.neverAllow`).
   */
  | { readonly rule: 'approval'; readonly answer: 'once' | 'duration' | 'always' | 'pre_approved' | 'denied' | 'never_allow' | 'timeout' | 'rate_limited' | 'unavailable' };

/** A refusal, with what the agent is told and audit records show. */
export interface DenyDecision {
  readonly kind: 'deny';
  /** Normalised host (the raw one, cut to 255 characters, when it did not normalise). */
  readonly host: string;
  readonly port: number;
  readonly reason: DenyReason;
  /** The refused address, for address checks. */
  readonly address: string | null;
  readonly category: AddressCategory | null;
  /** Value-free detail for the message; '' when there is none. */
  readonly detail: string;
  readonly message: string;
  readonly matched: MatchedRule;
}

/** A destination the proxy may dial. `wouldDeny`: report mode let it through although enforce would refuse it. */
export interface AllowDecision {
  readonly kind: 'allow';
  readonly host: string;
  readonly port: number;
  readonly route: Route;
  readonly wouldDeny: DenyReason | null;
  readonly category: AddressCategory | null;
  readonly matched: MatchedRule;
}

export type DestinationDecision = AllowDecision | DenyDecision;

/**
 * Ask mode: the host rules do not allow the destination, but every address
 * passed its checks, so the user may: ROUTE is where it goes if they say yes;
 * REASON is the refusal if they do not.
 */
export interface AskDecision {
  readonly kind: 'ask';
  readonly host: string;
  readonly port: number;
  readonly route: Route;
  readonly reason: DenyReason;
  /** The rule that would refuse it (default deny, or the allow entry's other port). */
  readonly matched: MatchedRule;
}

/** The host stage passed: resolve `host` unless `literal` or `pinned` already gives the addresses. */
export interface ResolveStage {
  readonly kind: 'resolve';
  readonly host: string;
  readonly port: number;
  readonly channel: Channel;
  readonly literal: IpAddress | null;
  readonly pinned: readonly IpAddress[] | null;
  readonly wouldDeny: DenyReason | null;
  /** Ask mode: the host rules refuse it for this reason unless the user allows it (after the address checks). */
  readonly ask: DenyReason | null;
  readonly matched: MatchedRule;
}

/** What the host stage needs: one policy snapshot and the vendors' API hosts. */
export interface HostStageInput {
  readonly policy: CompiledEgressPolicy;
  /** Normalised vendor API hosts (see `vendorHosts`): refused outside the model route. */
  readonly vendors: ReadonlySet<string>;
}

/** What the address stage needs besides the host stage's result. */
export interface AddressStageInput {
  /** The same policy snapshot the host stage saw. */
  readonly policy: CompiledEgressPolicy;
  /** The host's own addresses, refused as destinations. */
  readonly hostAddresses: readonly IpAddress[];
  /** The host's corporate proxy, null = connect directly. */
  readonly upstream: UpstreamProxyConfig | null;
  /** The resolver's answer; read only when the stage had neither a literal nor pinned addresses. */
  readonly answer: ResolveOutcome | null;
}

function deny(host: string, port: number, reason: DenyReason, matched: MatchedRule, detail = '', address: string | null = null, category: AddressCategory | null = null): DenyDecision {
  return { kind: 'deny', host, port, reason, address, category, detail, message: denyMessage(reason, authority(host, port), detail), matched };
}

/**
 * Before resolving: normalise the host, check the port, the vendor hosts and
 * the allow/deny rules (deny first). The model route's destination is the
 * policy's own provider URL, so its host rules are skipped (`provider`).
 * In report mode a host-rule refusal becomes `wouldDeny`; the vendor hosts are
 * refused in both modes.
 */
export function decideHostStage(input: HostStageInput, rawHost: string, port: number, channel: Channel): ResolveStage | DenyDecision {
  const norm = normaliseHost(rawHost);
  if (!norm.ok) return deny(rawHost.slice(0, 255), port, 'bad_target', { rule: 'target' }, norm.why);
  const host = norm.host;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return deny(host, port, 'bad_target', { rule: 'target' }, 'port out of range');
  let wouldDeny: DenyReason | null = null;
  let ask: DenyReason | null = null;
  let matched: MatchedRule = { rule: 'provider' };
  if (channel !== 'model') {
    // Before the allow list and in report mode too: a tunnel to a vendor
    // would carry an outside API key past the phantom check and DLP.
    if (input.vendors.has(host)) return deny(host, port, 'model_route_only', { rule: 'vendor_host' });
    const m = matchHostRules(input.policy, host, port);
    if (m.kind === 'allow') {
      matched = { rule: 'allow_list', pattern: m.pattern };
    } else {
      matched = m.reason === 'host_denied' ? { rule: 'deny_list', pattern: m.pattern } : m.reason === 'port_not_allowed' ? { rule: 'allow_list_port', pattern: m.pattern } : { rule: 'default_deny' };
      // Ask mode asks about hosts the allow list does not name; the deny list is a refusal nobody is asked about.
      if (input.policy.mode === 'enforce' || (input.policy.mode === 'ask' && m.reason === 'host_denied')) return deny(host, port, m.reason, matched);
      if (input.policy.mode === 'ask') ask = m.reason;
      else wouldDeny = m.reason;
    }
  }
  const literal = norm.isIp ? parseIp(host) : null;
  const pinned = input.policy.resolve.get(host);
  return { kind: 'resolve', host, port, channel, literal, pinned: pinned && pinned.length > 0 ? pinned : null, wouldDeny, ask, matched };
}

/**
 * After resolving: check every address (all must pass: a name answering with
 * one public and one private address is refused), then pick the route. In
 * report mode a blocked address becomes `wouldDeny`, except cloud metadata,
 * which hands out credentials and stays blocked. Behind a corporate proxy a
 * name the host cannot resolve goes to that proxy by name.
 */
export function decideAddresses(stage: ResolveStage, input: AddressStageInput): DestinationDecision | AskDecision {
  const { host, port } = stage;
  // Ask mode enforces the address checks: nobody is asked about a private or metadata address.
  const enforce = input.policy.mode !== 'report';
  const proxy = stage.channel === 'http' ? httpProxyFor(input.upstream, host, port) : tunnelProxyFor(input.upstream, host, port);
  let wouldDeny = stage.wouldDeny;
  let matched = stage.matched;
  let addresses: readonly IpAddress[];
  if (stage.literal) addresses = [stage.literal];
  else if (stage.pinned) addresses = stage.pinned;
  else {
    const r = input.answer ?? { ok: false, why: 'not resolved' };
    if (!r.ok) {
      // Behind a corporate proxy the host often cannot resolve public names
      // itself; the proxy does, and it applies its own address policy.
      if (proxy) {
        const route: Route = { kind: 'proxy', endpoint: proxy, target: authority(host, port), address: null };
        if (stage.ask !== null) return { kind: 'ask', host, port, route, reason: stage.ask, matched };
        return { kind: 'allow', host, port, route, wouldDeny, category: null, matched };
      }
      return deny(host, port, 'resolve_failed', { rule: 'target' }, r.why);
    }
    addresses = r.addresses;
  }
  const ctx = { allowRanges: input.policy.allowRanges, hostAddresses: input.hostAddresses };
  let category: AddressCategory | null = null;
  for (const a of addresses) {
    const c = checkAddress(a, ctx);
    if (c.kind === 'deny') {
      // Report mode never opens cloud metadata: it hands out credentials.
      if (enforce || c.category === 'cloud_metadata') {
        return deny(host, port, 'address_blocked', { rule: 'address', category: c.category }, `${formatIp(a)} is ${c.category.replace('_', ' ')}`, formatIp(a), c.category);
      }
      if (wouldDeny === null) {
        wouldDeny = 'address_blocked';
        matched = { rule: 'address', category: c.category };
      }
      category ??= c.category;
    }
  }
  const first = addresses[0];
  if (!first) return deny(host, port, 'resolve_failed', { rule: 'target' }, 'no addresses');
  if (proxy) {
    // Pinned names and literals go to the upstream proxy as the checked address.
    const target = stage.literal || stage.pinned ? authority(formatIp(first), port) : authority(host, port);
    const route: Route = { kind: 'proxy', endpoint: proxy, target, address: first };
    if (stage.ask !== null) return { kind: 'ask', host, port, route, reason: stage.ask, matched };
    return { kind: 'allow', host, port, route, wouldDeny, category, matched };
  }
  const route: Route = { kind: 'direct', address: first, addresses };
  if (stage.ask !== null) return { kind: 'ask', host, port, route, reason: stage.ask, matched };
  return { kind: 'allow', host, port, route, wouldDeny, category, matched };
}

/**
 * Settles an ask with the user's ANSWER: an allow goes by the route the
 * address checks chose; anything else is the refusal the host rules gave,
 * saying why nobody allowed it.
 */
export function settleAsk(d: AskDecision, answer: Extract<MatchedRule, { rule: 'approval' }>['answer']): DestinationDecision {
  const matched: MatchedRule = { rule: 'approval', answer };
  if (answer === 'once' || answer === 'duration' || answer === 'always' || answer === 'pre_approved') return { kind: 'allow', host: d.host, port: d.port, route: d.route, wouldDeny: null, category: null, matched };
  const why = { denied: 'the user refused it', never_allow: 'policy never allows it (approvals.neverAllow)', timeout: 'nobody answered in time', rate_limited: 'this session asked too often', unavailable: 'nobody can be asked here' }[answer];
  const refused = deny(d.host, d.port, d.reason, matched, why);
  // The host rules' messages do not carry a detail; the agent (and its user) should know nobody allowed it.
  return { ...refused, message: `${refused.message.replace(/\.$/, '')}, and ${why}.` };
}

/** Both stages with the resolver's answer in hand (`answer` is read only when the host needs resolving). */
export function decideDestination(input: HostStageInput & AddressStageInput, rawHost: string, port: number, channel: Channel): DestinationDecision | AskDecision {
  const stage = decideHostStage(input, rawHost, port, channel);
  return stage.kind === 'deny' ? stage : decideAddresses(stage, input);
}
