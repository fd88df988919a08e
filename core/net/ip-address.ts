/**
 * The one IP address and CIDR parser: the egress proxy (address checks,
 * `egress.allowRanges`, upstream bypass ranges) and the DLP `corporate_ip`
 * detector (`dlp.corporateCidrs`, addresses found in text) both read addresses
 * here, so a range means the same network to both (issue 14, item 5).
 *
 * Pure and strict: dotted-decimal IPv4 without leading zeros, RFC 4291 IPv6
 * text (one `::`, an optional dotted IPv4 tail, no zone id). The looser
 * spellings a URL parser or inet_aton accepts in a *host* (`0x7f.1`,
 * `2130706433`) are read by core/egress/ip-address.ts, on top of this module.
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

// Leading zeros are refused: inet_aton reads "010" as octal 8, other parsers
// as decimal 10, so a range written that way would mean two different networks.
const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

/** Parses strict dotted-decimal IPv4 (`10.1.2.3`: four parts, 0-255, no leading zeros); null otherwise. */
export function parseDottedQuad(text: string): IpAddress | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    bytes[i] = n;
  }
  return { family: 4, bytes };
}

const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

function hexGroups(part: string): number[] | null {
  if (part === '') return [];
  const out: number[] = [];
  for (const g of part.split(':')) {
    if (!HEX_GROUP.test(g)) return null;
    out.push(parseInt(g, 16));
  }
  return out;
}

/**
 * Parses an IPv6 address in RFC 4291 text form, without brackets: eight
 * groups of 1-4 hex digits, at most one `::` standing for one or more zero
 * groups, and optionally a strict dotted-decimal IPv4 tail in the last 32 bits
 * (`::ffff:10.1.2.3`). Null for anything else, including a zone id (`fe80::1%eth0`
 * names an interface, never a network or a destination).
 */
export function parseIpv6(text: string): IpAddress | null {
  // The longest valid form ("ffff:…:ffff:255.255.255.255") has 45 characters;
  // the DLP scanner hands in longer candidates from text and they end here.
  if (text.length < 2 || text.length > 45) return null;
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return null;
  let head = text;
  let tail: IpAddress | null = null;
  if (text.includes('.', lastColon)) {
    tail = parseDottedQuad(text.slice(lastColon + 1));
    if (tail === null) return null;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = head.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    if (head.includes('::', dbl + 1)) return null;
    const left = hexGroups(head.slice(0, dbl));
    const right = hexGroups(head.slice(dbl + 2));
    if (left === null || right === null || left.length + right.length > 7) return null;
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  } else {
    const all = hexGroups(head);
    if (all === null || all.length !== 8) return null;
    groups = all;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 255;
  });
  if (tail) bytes.set(tail.bytes, 12);
  return { family: 6, bytes };
}

/** Parses a strict IPv4 ({@link parseDottedQuad}) or IPv6 ({@link parseIpv6}) address; null otherwise. */
export function parseStrictIp(text: string): IpAddress | null {
  return text.includes(':') ? parseIpv6(text) : parseDottedQuad(text);
}

/** Canonical text: dotted quad, or RFC 5952 compressed lower-case IPv6 (no brackets). */
export function formatIp(addr: IpAddress): string {
  const b = addr.bytes;
  if (addr.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  // Longest run of two or more zero groups becomes "::" (the first, on a tie).
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

const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * Parses `a.b.c.d/n` or `v6/n` with strict addresses ({@link parseStrictIp})
 * and a decimal prefix without leading zeros. A bare address is a
 * single-address range (/32 or /128). Null if malformed. Host bits below the
 * prefix are kept in `base` and ignored by {@link cidrContains}.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const base = parseStrictIp(slash < 0 ? text : text.slice(0, slash));
  if (!base) return null;
  const max = base.family === 4 ? 32 : 128;
  if (slash < 0) return { base, prefix: max };
  const p = text.slice(slash + 1);
  if (!PREFIX.test(p)) return null;
  const prefix = Number(p);
  return prefix > max ? null : { base, prefix };
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

/** True when `addr` lies in any of `cidrs`; false for an empty list. */
export function inAnyCidr(addr: IpAddress, cidrs: readonly Cidr[]): boolean {
  for (const c of cidrs) if (cidrContains(c, addr)) return true;
  return false;
}
