/**
 * Host normalisation and allow/deny matching for the egress proxy. Pure.
 *
 * Rules (issue 3, item 3): hosts are lower-cased, converted to punycode and
 * stripped of one trailing dot before matching, so `API.Anthropic.com.` and
 * `api.anthropic.com` are one host and a homograph cannot slip past as Unicode.
 * `*.example.com` matches subdomains only, never the apex. An allow entry
 * without a port allows 443 and 80; `host:port` allows that port only. A deny
 * entry without a port denies every port. Deny is checked before allow, and
 * nothing is allowed by default.
 */
import { domainToASCII } from 'node:url';
import { allow, deny, type Allow, type Decision, type Deny } from '../decision.js';
import { formatIp } from '../net/ip-address.js';
import { parseHostLiteral } from './ip-address.js';

/** Stable reason codes: they appear in `X-Cordon-Deny` and audit records; add, never rename. */
export type DenyReason =
  | 'host_not_allowed'
  | 'host_denied'
  | 'port_not_allowed'
  | 'address_blocked'
  | 'bad_target'
  | 'resolve_failed'
  | 'upstream_failed'
  | 'rate_limited'
  | 'too_many_tunnels'
  | 'body_too_large'
  | 'headers_too_large'
  | 'header_timeout'
  | 'unknown_provider'
  | 'filter_rejected'
  | 'credential_leak'
  /** A model vendor's host asked for directly (CONNECT or plain HTTP): vendors are reached through the model route only. */
  | 'model_route_only'
  | 'proxy_error';

/** A policy decision on one destination by host rules alone. */
export type EgressDecision = Decision<DenyReason>;

/** A host as the proxy compares it: punycode lower-case name, or canonical IP text (IPv6 without brackets). */
export type NormalisedHost =
  | { readonly ok: true; readonly host: string; readonly isIp: boolean }
  | { readonly ok: false; readonly why: string };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Checks a punycode name label by label (the parts a URL parser would accept as a DNS name). */
function validDnsName(name: string): string | null {
  if (name.length === 0) return 'empty host';
  if (name.length > 253) return 'host longer than 253 characters';
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) return `"${label}" is not a valid DNS label`;
  }
  return null;
}

/**
 * Normalises a host from a URL, a CONNECT target or a policy entry. IP literals
 * in any spelling become canonical IP text, so `0x7f000001` and `127.0.0.1`
 * compare equal; anything that is neither an IP nor a valid DNS name is refused.
 */
export function normaliseHost(raw: string): NormalisedHost {
  const literal = parseHostLiteral(raw);
  if (literal.kind === 'ip') return { ok: true, host: formatIp(literal.address), isIp: true };
  if (literal.kind === 'invalid') return { ok: false, why: literal.why };
  let name = raw.trim();
  if (name.endsWith('.')) name = name.slice(0, -1);
  // domainToASCII parses like a URL and would turn "foo/bar" into "foo": refuse
  // every ASCII character that cannot be part of a DNS name before it sees them.
  if (/[^A-Za-z0-9._\-\u{80}-\u{10FFFF}]/u.test(name)) return { ok: false, why: 'not a valid host name' };
  // domainToASCII lower-cases, applies IDNA/UTS-46 and returns '' for invalid input.
  const ascii = domainToASCII(name);
  if (ascii === '') return { ok: false, why: 'not a valid host name' };
  // Punycode can decode to digits ("xn--" tricks); re-check that the result is still a name.
  const again = parseHostLiteral(ascii);
  if (again.kind === 'ip') return { ok: true, host: formatIp(again.address), isIp: true };
  if (again.kind === 'invalid') return { ok: false, why: again.why };
  const bad = validDnsName(ascii);
  return bad ? { ok: false, why: bad } : { ok: true, host: ascii, isIp: false };
}

/** One compiled allow or deny entry. `port: null` means "default ports" (allow) or "every port" (deny). */
export interface HostPattern {
  /** The entry as written in the policy, for audit records. */
  readonly source: string;
  readonly kind: 'exact' | 'subdomains';
  /** For `subdomains`, the suffix after `*.`. */
  readonly host: string;
  readonly port: number | null;
}

/** Outcome of compiling a policy entry: the pattern, or a reason a person can act on. */
export type PatternResult = { readonly ok: true; readonly pattern: HostPattern } | { readonly ok: false; readonly why: string };

/**
 * Multi-label public suffixes that a `*.` wildcard must not sit directly on
 * (`*.co.uk` would allow half a country). Not the full Public Suffix List: the
 * common registries where this mistake happens, plus the single-label rule below.
 */
const MULTI_LABEL_PUBLIC_SUFFIXES = new Set([
  'co.uk', 'org.uk', 'ac.uk', 'gov.uk', 'com.au', 'net.au', 'org.au', 'co.jp', 'ne.jp', 'or.jp', 'co.nz', 'co.in',
  'com.br', 'com.cn', 'com.mx', 'co.za', 'com.tr', 'com.sg', 'co.kr', 'com.hk', 'com.tw',
  'github.io', 'herokuapp.com', 'appspot.com', 'cloudfront.net', 'amazonaws.com', 'azurewebsites.net',
  'pages.dev', 'workers.dev', 'vercel.app', 'netlify.app', 'web.app', 'firebaseapp.com',
]);

function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

/** Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address into its parts. */
export function splitHostPort(text: string): { host: string; port: string | null } | null {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return null;
    const rest = text.slice(close + 1);
    if (rest === '') return { host: text.slice(0, close + 1), port: null };
    if (!rest.startsWith(':')) return null;
    return { host: text.slice(0, close + 1), port: rest.slice(1) };
  }
  const colons = text.split(':').length - 1;
  if (colons === 0) return { host: text, port: null };
  if (colons === 1) {
    const [h, p] = text.split(':');
    return { host: h ?? '', port: p ?? '' };
  }
  return { host: text, port: null }; // bare IPv6 without a port
}

/**
 * Compiles one `egress.allow` / `egress.deny` entry. Rejects `*`, wildcards
 * over a top-level domain or public suffix (`*.com`, `*.co.uk`), and wildcards
 * anywhere but a whole leading label (`a*.b.com`, `foo.*.com`), each with a reason.
 */
export function parseHostPattern(entry: string): PatternResult {
  const text = entry.trim();
  if (text === '') return { ok: false, why: 'empty entry' };
  const parts = splitHostPort(text);
  if (!parts) return { ok: false, why: `"${entry}" is not host, host:port or [ipv6]:port` };
  let port: number | null = null;
  if (parts.port !== null) {
    port = parsePort(parts.port);
    if (port === null) return { ok: false, why: `"${parts.port}" is not a port between 1 and 65535` };
  }
  let host = parts.host;
  if (host === '*') return { ok: false, why: '"*" would allow every host; list the hosts the agent needs' };
  let kind: HostPattern['kind'] = 'exact';
  if (host.startsWith('*.')) {
    kind = 'subdomains';
    host = host.slice(2);
  }
  if (host.includes('*')) {
    return { ok: false, why: `"${entry}": a wildcard is only allowed as a whole leading label, as in "*.example.com"` };
  }
  const norm = normaliseHost(host);
  if (!norm.ok) return { ok: false, why: `"${entry}": ${norm.why}` };
  if (kind === 'subdomains') {
    if (norm.isIp) return { ok: false, why: `"${entry}": a wildcard cannot apply to an IP address` };
    if (!norm.host.includes('.')) {
      return { ok: false, why: `"${entry}" would allow every host under the top-level domain ".${norm.host}"` };
    }
    if (MULTI_LABEL_PUBLIC_SUFFIXES.has(norm.host)) {
      return { ok: false, why: `"${entry}" would allow every site under the public suffix "${norm.host}"` };
    }
  }
  return { ok: true, pattern: { source: entry, kind, host: norm.host, port } };
}

/** True when `host` (already normalised) matches the pattern's host part, ignoring ports. */
export function hostMatches(pattern: HostPattern, host: string): boolean {
  if (pattern.kind === 'exact') return host === pattern.host;
  // Subdomains only: "*.example.com" must not match "example.com" nor "badexample.com".
  return host.length > pattern.host.length + 1 && host.endsWith(`.${pattern.host}`);
}

/** Ports an allow entry without an explicit port opens. */
export const DEFAULT_ALLOWED_PORTS: readonly number[] = [443, 80];

/** Compiled host rules: what {@link decideHost} needs. */
export interface HostRules {
  readonly allow: readonly HostPattern[];
  readonly deny: readonly HostPattern[];
}

/** Which entry decided a host: the pattern as written in the policy, or null when none matched. */
export type HostRuleMatch =
  | Deny<'host_denied', { readonly pattern: string }>
  /** `pattern`: the first allow entry naming the host (on other ports). */
  | Deny<'port_not_allowed', { readonly pattern: string }>
  | Deny<'host_not_allowed', { readonly pattern: null }>
  | Allow<{ readonly pattern: string }>;

/**
 * {@link decideHost}, naming the entry that decided: the matching deny entry,
 * the allow entry that opened the port, or the allow entry that named the host
 * on other ports. Audit records carry it so a person can find the line to edit.
 */
export function matchHostRules(rules: HostRules, host: string, port: number): HostRuleMatch {
  for (const d of rules.deny) {
    if (hostMatches(d, host) && (d.port === null || d.port === port)) {
      return deny('host_denied', `the host is on the egress deny list ("${d.source}")`, { pattern: d.source });
    }
  }
  let hostSeen: HostPattern | null = null;
  for (const a of rules.allow) {
    if (!hostMatches(a, host)) continue;
    hostSeen ??= a;
    const ports = a.port === null ? DEFAULT_ALLOWED_PORTS : [a.port];
    if (ports.includes(port)) return allow({ pattern: a.source });
  }
  // The messages name the rule, not the target: callers add host and port (see deny-messages.ts).
  return hostSeen
    ? deny('port_not_allowed', `the host is allowed ("${hostSeen.source}"), but not on port ${port}`, { pattern: hostSeen.source })
    : deny('host_not_allowed', 'the host is not in the egress allow list', { pattern: null });
}

/**
 * Decides a destination by name and port. Deny entries come first (a portless
 * deny blocks every port); then the first allow entry whose host and port match.
 * A host listed in allow with other ports only yields `port_not_allowed`,
 * so the agent learns which part was wrong. Empty allow list = nothing allowed.
 */
export function decideHost(rules: HostRules, host: string, port: number): EgressDecision {
  const m = matchHostRules(rules, host, port);
  return m.kind === 'allow' ? allow() : deny(m.reason, m.message);
}

/**
 * The `egress.inspect` entry naming HOST:PORT, or null (issue 19). An entry
 * without a port covers every port, like a deny entry: inspection only
 * tightens, so it should not miss a port the allow list opens.
 */
export function inspectMatch(inspect: readonly HostPattern[], host: string, port: number): string | null {
  for (const p of inspect) if (hostMatches(p, host) && (p.port === null || p.port === port)) return p.source;
  return null;
}
