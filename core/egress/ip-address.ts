/**
 * IP literal parsing and address classification for the egress proxy.
 *
 * Pure: nothing here resolves a name or opens a socket. The proxy resolves a
 * destination once, classifies every address with {@link checkAddress}, and
 * dials only an address this module allowed (issue 3, item 4).
 *
 * Why hand-written parsing: an agent that wants to reach loopback or a cloud
 * metadata service will try every spelling that some resolver or URL parser
 * accepts (`2130706433`, `0x7f.1`, `017700000001`, `[::ffff:127.0.0.1]`). We
 * parse hosts the way WHATWG URL and inet_aton do, so the spelling we check is
 * the address that would be dialled. Addresses written in policy (CIDRs) and
 * IPv6 text are read by the one strict parser in core/net/ip-address.ts.
 */

import { allow, deny, type Allow, type Deny } from '../decision.js';
import { cidrContains, formatIp, parseCidr, parseIpv6, type Cidr, type IpAddress } from '../net/ip-address.js';

// egress-proxy.ts and its test still import these from here.
export { formatIp, type IpAddress };

/**
 * What a host string is, as a URL parser would see it:
 * `ip` (an address in any spelling), `name` (a domain name to resolve), or
 * `invalid` (looks numeric but is not a valid address, e.g. `1.2.3.256`), which
 * the proxy refuses rather than sending to DNS.
 */
export type HostLiteral =
  | { readonly kind: 'ip'; readonly address: IpAddress }
  | { readonly kind: 'name' }
  | { readonly kind: 'invalid'; readonly why: string };

function ipv4FromNumber(n: number): IpAddress {
  return { family: 4, bytes: Uint8Array.of((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255) };
}

/** Parses one dotted part as inet_aton does: 0x… hex, leading 0 octal, else decimal. */
function parseIpv4Part(part: string): number | null {
  let digits = part;
  let radix = 10;
  if (/^0x/i.test(part)) {
    digits = part.slice(2);
    radix = 16;
    // WHATWG treats a bare "0x" as zero.
    if (digits === '') return 0;
  } else if (part.length > 1 && part.startsWith('0')) {
    digits = part.slice(1);
    radix = 8;
  }
  const valid = radix === 16 ? /^[0-9a-f]+$/i : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!valid.test(digits)) return null;
  // Parse as BigInt-free float: anything above 2^32 is rejected by the caller.
  const value = parseInt(digits, radix);
  return Number.isFinite(value) ? value : null;
}

/**
 * True when the last dotted label is numeric, which per WHATWG makes the whole
 * host an IPv4 address (valid or not) rather than a domain name.
 */
function endsInNumber(host: string): boolean {
  const parts = host.split('.');
  if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop();
  const last = parts[parts.length - 1] ?? '';
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
}

function parseIpv4(host: string): HostLiteral {
  const parts = host.split('.');
  // A single trailing dot is allowed ("127.0.0.1." is loopback too).
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length > 4) return { kind: 'invalid', why: 'more than four dotted parts' };
  const values: number[] = [];
  for (const part of parts) {
    if (part === '') return { kind: 'invalid', why: 'empty dotted part' };
    const v = parseIpv4Part(part);
    if (v === null) return { kind: 'invalid', why: `"${part}" is not a number` };
    values.push(v);
  }
  const last = values.pop() ?? 0;
  let n = 0;
  for (const [i, v] of values.entries()) {
    if (v > 255) return { kind: 'invalid', why: 'a dotted part is above 255' };
    n += v * 256 ** (3 - i);
  }
  // The last part fills all remaining bytes: "127.1" is 127.0.0.1.
  if (last >= 256 ** (4 - values.length)) return { kind: 'invalid', why: 'address out of range' };
  n += last;
  return { kind: 'ip', address: ipv4FromNumber(n) };
}

/**
 * Classifies a URL host (already percent-decoded, any case, brackets allowed
 * around IPv6) as an IP literal in any spelling, a domain name, or invalid.
 */
export function parseHostLiteral(rawHost: string): HostLiteral {
  const host = rawHost.trim();
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return { kind: 'invalid', why: 'unclosed IPv6 bracket' };
    const v6 = parseIpv6(host.slice(1, -1));
    return v6 ? { kind: 'ip', address: v6 } : { kind: 'invalid', why: 'malformed IPv6 address' };
  }
  if (host.includes(':')) {
    const v6 = parseIpv6(host);
    return v6 ? { kind: 'ip', address: v6 } : { kind: 'invalid', why: 'malformed IPv6 address' };
  }
  if (host === '') return { kind: 'invalid', why: 'empty host' };
  if (endsInNumber(host)) return parseIpv4(host);
  return { kind: 'name' };
}

/** Convenience: the address if `text` is an IP literal in any spelling, else null. */
export function parseIp(text: string): IpAddress | null {
  const r = parseHostLiteral(text);
  return r.kind === 'ip' ? r.address : null;
}

/** Why an address is refused; stable strings that appear in audit records. */
export type AddressCategory =
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'multicast'
  | 'unspecified'
  | 'broadcast'
  | 'cloud_metadata'
  | 'unique_local'
  | 'ipv4_embedded'
  | 'reserved'
  | 'host_address';

interface RangeRule {
  readonly cidr: Cidr;
  readonly category: AddressCategory;
}

function rule(text: string, category: AddressCategory): RangeRule {
  const cidr = parseCidr(text);
  if (!cidr) throw new Error(`bad built-in range ${text}`);
  return { cidr, category };
}

/**
 * Cloud metadata endpoints. Checked first so they are named as such in audit
 * records, and because they hand out instance credentials: a broad
 * `allowRanges` entry (say 169.254.0.0/16) does not open them; only a range
 * naming that single address does.
 */
const METADATA_RULES: readonly RangeRule[] = [
  rule('169.254.169.254/32', 'cloud_metadata'), // AWS, GCP, Azure, OpenStack IMDS
  rule('fd00:ec2::254/128', 'cloud_metadata'), // AWS IMDS over IPv6
  rule('100.100.100.200/32', 'cloud_metadata'), // Alibaba Cloud
  rule('168.63.129.16/32', 'cloud_metadata'), // Azure WireServer
];

/** Ranges that never lead to the public internet, or that tunnel to an address we cannot see. */
const BLOCKED_RULES: readonly RangeRule[] = [
  rule('0.0.0.0/8', 'unspecified'), // "this network"; 0.0.0.0 reaches local listeners on Linux
  rule('10.0.0.0/8', 'private'),
  rule('100.64.0.0/10', 'cgnat'),
  rule('127.0.0.0/8', 'loopback'),
  rule('169.254.0.0/16', 'link_local'),
  rule('172.16.0.0/12', 'private'),
  rule('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  rule('192.0.2.0/24', 'reserved'), // documentation
  rule('192.88.99.0/24', 'reserved'), // 6to4 relay anycast
  rule('192.168.0.0/16', 'private'),
  rule('198.18.0.0/15', 'reserved'), // benchmarking, often used inside labs
  rule('198.51.100.0/24', 'reserved'),
  rule('203.0.113.0/24', 'reserved'),
  rule('224.0.0.0/4', 'multicast'),
  rule('255.255.255.255/32', 'broadcast'),
  rule('240.0.0.0/4', 'reserved'),
  rule('::/128', 'unspecified'),
  rule('::1/128', 'loopback'),
  // IPv6 forms that carry an IPv4 address: the kernel or a NAT64/6to4/Teredo
  // gateway would deliver them to that IPv4 host, bypassing the IPv4 rules.
  rule('::ffff:0:0/96', 'ipv4_embedded'),
  rule('::/96', 'ipv4_embedded'), // deprecated IPv4-compatible
  rule('64:ff9b::/96', 'ipv4_embedded'),
  rule('64:ff9b:1::/48', 'ipv4_embedded'),
  rule('2002::/16', 'ipv4_embedded'),
  rule('2001::/32', 'ipv4_embedded'),
  rule('100::/64', 'reserved'), // discard-only
  rule('2001:db8::/32', 'reserved'), // documentation
  rule('fc00::/7', 'unique_local'),
  rule('fe80::/10', 'link_local'),
  rule('fec0::/10', 'link_local'), // deprecated site-local
  rule('ff00::/8', 'multicast'),
];

/** Decision on one resolved address; a refusal names the category of the range that blocked it. */
export type AddressDecision = Deny<'address_blocked', { readonly category: AddressCategory }> | Allow;

/** What the address check needs besides the address. */
export interface AddressCheckContext {
  /** `egress.allowRanges`: addresses inside these are allowed even if a rule below would refuse them. */
  readonly allowRanges: readonly Cidr[];
  /** The host's own interface addresses (a service bound to a public NIC is still the host). */
  readonly hostAddresses: readonly IpAddress[];
}

function sameAddress(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.bytes.every((x, i) => x === b.bytes[i]);
}

/**
 * Decides whether the proxy may dial `addr`. Order: cloud metadata (only an
 * allowRange naming exactly that address opens it), then `allowRanges`, then the
 * blocked ranges and the host's own addresses. Anything else (public unicast) is allowed.
 */
export function checkAddress(addr: IpAddress, ctx: AddressCheckContext): AddressDecision {
  const max = addr.family === 4 ? 32 : 128;
  for (const r of METADATA_RULES) {
    if (cidrContains(r.cidr, addr)) {
      const exact = ctx.allowRanges.some((c) => c.prefix === max && cidrContains(c, addr));
      return exact ? allow() : blocked(r.category);
    }
  }
  if (ctx.allowRanges.some((c) => cidrContains(c, addr))) return allow();
  for (const r of BLOCKED_RULES) {
    if (cidrContains(r.cidr, addr)) return blocked(r.category);
  }
  if (ctx.hostAddresses.some((h) => sameAddress(h, addr))) return blocked('host_address');
  return allow();
}

function blocked(category: AddressCategory): AddressDecision {
  return deny('address_blocked', `the address is ${category.replace('_', ' ')}`, { category });
}

/** Minimal shape of `os.networkInterfaces()` so tests can inject a fake. */
export type InterfaceTable = Readonly<Record<string, readonly { readonly address: string }[] | undefined>>;

/** Every address of every interface in `table` (pass `os.networkInterfaces()`). */
export function addressesOfInterfaces(table: InterfaceTable): IpAddress[] {
  const out: IpAddress[] = [];
  for (const list of Object.values(table)) {
    for (const entry of list ?? []) {
      const a = parseIp(entry.address);
      if (a) out.push(a);
    }
  }
  return out;
}
