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
 * the address that would be dialled.
 */

/** A parsed address: 4 bytes for IPv4, 16 bytes for IPv6, network byte order. */
export type IpAddress =
  | { readonly family: 4; readonly bytes: Uint8Array }
  | { readonly family: 6; readonly bytes: Uint8Array };

/** A CIDR range: every address whose first `prefix` bits equal `base`'s. */
export interface Cidr {
  readonly base: IpAddress;
  readonly prefix: number;
}

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

/** Parses an IPv6 address without brackets; null if it is not one. Zone ids are refused. */
export function parseIpv6(text: string): IpAddress | null {
  if (text.includes('%')) return null; // zone ids name an interface; never a proxy destination
  let head = text;
  let tailV4: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    // Embedded dotted quad (::ffff:1.2.3.4); only strict dotted-decimal, no leading zeros (as WHATWG).
    const quad = text.slice(lastColon + 1);
    if (!/^(?:(?:0|[1-9]\d{0,2})\.){3}(?:0|[1-9]\d{0,2})$/.test(quad)) return null;
    const nums = quad.split('.').map(Number);
    if (nums.some((x) => x > 255)) return null;
    tailV4 = Uint8Array.from(nums);
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groupsOf(halves[0] ?? '');
  const right = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (left === null || right === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return null;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 255;
  });
  if (tailV4) bytes.set(tailV4, 12);
  return { family: 6, bytes };
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

/** Canonical text: dotted quad, or RFC 5952 compressed lower-case IPv6 (no brackets). */
export function formatIp(addr: IpAddress): string {
  const b = addr.bytes;
  if (addr.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  // Longest run of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Parses `a.b.c.d/n` or `v6/n` (a bare address means a single-address range); null if malformed. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  // CIDRs are written strictly: no hex or short IPv4 forms, so "10/8" cannot be misread.
  let base: IpAddress | null;
  if (addrText.includes(':')) base = parseIpv6(addrText);
  else base = /^\d{1,3}(\.\d{1,3}){3}$/.test(addrText) ? parseIp(addrText) : null;
  if (!base) return null;
  const max = base.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  return { base, prefix };
}

/** True when `addr` lies in `cidr`; an IPv4 range never contains an IPv6 address or the reverse. */
export function cidrContains(cidr: Cidr, addr: IpAddress): boolean {
  if (cidr.base.family !== addr.family) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((cidr.base.bytes[i] ?? 0) & mask) !== ((addr.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
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

/** Verdict on one resolved address. */
export type AddressVerdict =
  | { readonly verdict: 'allow' }
  | { readonly verdict: 'deny'; readonly reason: 'address_blocked'; readonly category: AddressCategory };

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
export function checkAddress(addr: IpAddress, ctx: AddressCheckContext): AddressVerdict {
  const max = addr.family === 4 ? 32 : 128;
  for (const r of METADATA_RULES) {
    if (cidrContains(r.cidr, addr)) {
      const exact = ctx.allowRanges.some((c) => c.prefix === max && cidrContains(c, addr));
      return exact ? { verdict: 'allow' } : { verdict: 'deny', reason: 'address_blocked', category: r.category };
    }
  }
  if (ctx.allowRanges.some((c) => cidrContains(c, addr))) return { verdict: 'allow' };
  for (const r of BLOCKED_RULES) {
    if (cidrContains(r.cidr, addr)) return { verdict: 'deny', reason: 'address_blocked', category: r.category };
  }
  if (ctx.hostAddresses.some((h) => sameAddress(h, addr))) {
    return { verdict: 'deny', reason: 'address_blocked', category: 'host_address' };
  }
  return { verdict: 'allow' };
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
