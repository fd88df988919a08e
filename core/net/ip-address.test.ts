// The one IP/CIDR parser, read by the egress proxy and the DLP corporate_ip
// detector. Differential tests compare it with Node's and WHATWG's parsers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { cidrContains, formatIp, inAnyCidr, parseCidr, parseDottedQuad, parseIpv6, parseStrictIp } from './ip-address.js';

const range = (c: string | null): string | null => {
  if (c === null) return null;
  const r = parseCidr(c);
  return r ? `${formatIp(r.base)}/${r.prefix}` : null;
};

void test('strict IPv4 and IPv6 text', () => {
  assert.deepEqual(parseDottedQuad('10.1.2.3')?.bytes, Uint8Array.of(10, 1, 2, 3));
  for (const bad of ['10.01.2.3', '256.1.2.3', '1.2.3', '1.2.3.4.5', '127.1', '0x7f.0.0.1', '2130706433', '1.2.3.4.', ' 1.2.3.4']) {
    assert.equal(parseDottedQuad(bad), null, bad);
  }
  const v6: [string, string][] = [
    ['::1', '::1'],
    ['fd00::', 'fd00::'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::ffff:10.1.2.3', '::ffff:a01:203'],
    ['FD00:EC2::254', 'fd00:ec2::254'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'], // "::" may stand for a single zero group (RFC 4291 2.2)
    ['::1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
    ['0000:0000:0000:0000:0000:ffff:255.255.255.255', '::ffff:ffff:ffff'],
  ];
  for (const [input, want] of v6) {
    const a = parseIpv6(input);
    assert.ok(a, input);
    assert.equal(formatIp(a), want, input);
  }
  for (const bad of ['1:2:3', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', ':', '1::2:3:4:5:6:7:8', 'fe80::1%eth0', '::ffff:010.1.2.3', '::1.2.3', '1.2.3.4']) {
    assert.equal(parseIpv6(bad), null, bad);
  }
  assert.equal(parseStrictIp('10.1.2.3')?.family, 4);
  assert.equal(parseStrictIp('::1')?.family, 6);
});

void test('CIDR parsing and containment', () => {
  const cases: [string, string, boolean][] = [
    ['127.0.0.0/8', '127.255.0.1', true],
    ['127.0.0.0/8', '128.0.0.1', false],
    ['10.0.0.0/8', '::ffff:10.0.0.1', false], // families never mix
    ['100.64.0.0/10', '100.127.255.255', true],
    ['100.64.0.0/10', '100.128.0.0', false],
    ['fc00::/7', 'fdff::1', true],
    ['fc00::/7', 'fe00::1', false],
    ['fd00::/8', 'fd12::1', true],
    ['fd00::/8', 'fe80::1', false],
    ['0.0.0.0/0', '8.8.8.8', true],
    ['10.1.2.3/8', '10.9.9.9', true], // host bits in the base are ignored
    ['1.2.3.4', '1.2.3.4', true],
    ['1.2.3.4', '1.2.3.5', false],
  ];
  for (const [text, ip, expected] of cases) {
    const c = parseCidr(text);
    const a = parseStrictIp(ip);
    assert.ok(c && a, `${text} / ${ip}`);
    assert.equal(cidrContains(c, a), expected, `${text} contains ${ip}`);
    assert.equal(inAnyCidr(a, [c]), expected, `${text} contains ${ip}`);
  }
  const none = parseStrictIp('10.0.0.1');
  assert.ok(none);
  assert.equal(inAnyCidr(none, []), false);
  for (const bad of ['10/8', '1.2.3.4/33', '::/129', 'x/1', '1.2.3.4/', '0x7f000001/32', '10.0.0.0/-1', '10.0.0.0/ 8']) {
    assert.equal(parseCidr(bad), null, bad);
  }
});

// Before issue 14 the egress proxy (core/egress/ip-address.ts parseCidr) and
// the DLP scanner (core/dlp/validators.ts parseIpv4Cidr/parseIpv6Cidr) each
// had a parser. Their IPv6 addresses agreed (bytes vs bigint); their CIDRs did
// not. These are the inputs where they differed, and what the one parser does.
void test('inputs the two old parsers read differently', () => {
  const cases: [string, string | null, string][] = [
    // egress read a leading-zero octet as octal (010 = 8): allowRanges "010.0.0.0/8" opened 8.0.0.0/8.
    ['010.0.0.0/8', null, 'egress: 8.0.0.0/8, dlp: refused'],
    // egress accepted a prefix with leading zeros.
    ['10.0.0.0/08', null, 'egress: 10.0.0.0/8, dlp: refused'],
    ['fd00::/07', null, 'egress: fd00::/7, dlp: refused'],
    // A bare address: egress read it as a single-address range, dlp refused it.
    // The parser keeps egress's reading; the DLP policy schema still requires a prefix.
    ['1.2.3.4', '1.2.3.4/32', 'egress: /32, dlp: refused'],
    ['fd00::1', 'fd00::1/128', 'egress: /128, dlp: refused'],
  ];
  for (const [input, want, before] of cases) assert.equal(range(input), want, `${input} (${before})`);
});

/** Small deterministic PRNG so the differential tests are repeatable. */
function prng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function randomText(rand: () => number, alphabet: string, min: number, spread: number): string {
  let s = '';
  const len = min + Math.floor(rand() * spread);
  for (let j = 0; j < len; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}

void test('differential: IPv6 text parses as WHATWG URL and node:net read it', () => {
  const rand = prng(11);
  for (let i = 0; i < 30000; i++) {
    const h = randomText(rand, '0123:45:6f:f:::.1..%A', 2, 22);
    let want: string | null;
    try {
      want = new URL(`http://[${h}]/`).hostname.slice(1, -1);
    } catch {
      want = null;
    }
    const a = parseIpv6(h);
    assert.equal(a ? formatIp(a) : null, want, JSON.stringify(h));
    // node:net accepts a zone id; nothing else may differ.
    if (!h.includes('%')) assert.equal(a !== null, isIPv6(h), JSON.stringify(h));
  }
});

void test('differential: dotted quads parse as node:net reads them', () => {
  const rand = prng(5);
  for (let i = 0; i < 30000; i++) {
    const h = randomText(rand, '0123456789..', 1, 16);
    assert.equal(parseDottedQuad(h) !== null, isIPv4(h), JSON.stringify(h));
  }
});
