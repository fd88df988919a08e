// Table-driven tests for IP literal parsing and address classification.
// These tests only classify: nothing here opens a socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, parseCidr, type Cidr } from '../net/ip-address.js';
import { addressesOfInterfaces, checkAddress, parseHostLiteral, parseIp, type AddressCheckContext } from './ip-address.js';

void test('host literals parse the way WHATWG URL / inet_aton read them', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0X7F000001', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0177.0.0.01', '127.0.0.1'],
    ['127.0.0.1.', '127.0.0.1'],
    ['0', '0.0.0.0'],
    ['0x', '0.0.0.0'],
    ['169.254.43518', '169.254.169.254'],
    ['0xa9fea9fe', '169.254.169.254'],
    ['[::1]', '::1'],
    ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
    ['::ffff:7f00:1', '::ffff:7f00:1'],
    ['[0:0:0:0:0:0:0:1]', '::1'],
    ['[FD00:EC2::254]', 'fd00:ec2::254'],
    ['[2001:db8:0:0:1:0:0:1]', '2001:db8::1:0:0:1'],
    ['[64:ff9b::10.0.0.1]', '64:ff9b::a00:1'],
  ];
  for (const [input, expected] of cases) {
    const r = parseHostLiteral(input);
    assert.equal(r.kind, 'ip', `${input} should be an IP literal`);
    if (r.kind === 'ip') assert.equal(formatIp(r.address), expected, input);
  }
});

void test('names stay names and broken numbers are invalid, never sent to DNS', () => {
  const names = ['example.com', 'api.anthropic.com', '127.0.0.1.nip.io', '0x7f.example', 'a.b.c.d.e'];
  for (const n of names) assert.equal(parseHostLiteral(n).kind, 'name', n);
  const invalid = ['1.2.3.256', '256.0.0.1', '4294967296', '1.2.3.4.5', '0x7g.1', '08.0.0.1', '1..2.3', '[::1', '[1:2:3:4:5:6:7:8:9]', '[::1%eth0]', '[1::2::3]', '', '[::ffff:1.2.3.999]'];
  for (const n of invalid) assert.equal(parseHostLiteral(n).kind, 'invalid', n);
});

const noAllow: AddressCheckContext = { allowRanges: [], hostAddresses: [] };

void test('blocked address categories (classification only, no dialling)', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link_local'],
    ['[fe80::1]', 'link_local'],
    ['100.64.0.1', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['[ff02::1]', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['[::]', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['169.254.169.254', 'cloud_metadata'],
    ['0xa9fea9fe', 'cloud_metadata'],
    ['[fd00:ec2::254]', 'cloud_metadata'],
    ['100.100.100.200', 'cloud_metadata'],
    ['168.63.129.16', 'cloud_metadata'],
    ['[fd12:3456::1]', 'unique_local'],
    ['[::ffff:127.0.0.1]', 'ipv4_embedded'],
    ['[::ffff:8.8.8.8]', 'ipv4_embedded'],
    ['[64:ff9b::7f00:1]', 'ipv4_embedded'],
    ['[2002:7f00:1::1]', 'ipv4_embedded'],
    ['[2001:0:4136:e378::1]', 'ipv4_embedded'],
    ['[::127.0.0.1]', 'ipv4_embedded'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
  ];
  for (const [input, category] of cases) {
    const a = parseIp(input);
    assert.ok(a, input);
    assert.deepEqual(checkAddress(a, noAllow), { kind: 'deny', reason: 'address_blocked', message: `the address is ${category.replace('_', ' ')}`, category }, input);
  }
});

void test('public unicast addresses are allowed', () => {
  for (const input of ['8.8.8.8', '1.1.1.1', '160.79.104.10', '172.32.0.1', '100.128.0.1', '[2606:4700::1111]', '[2a00:1450::1]']) {
    const a = parseIp(input);
    assert.ok(a, input);
    assert.deepEqual(checkAddress(a, noAllow), { kind: 'allow' }, input);
  }
});

void test('allowRanges opens a range, but cloud metadata only by its exact address', () => {
  const ranges = (...xs: string[]): Cidr[] => xs.map((x) => parseCidr(x)).filter((c): c is Cidr => c !== null);
  const cases: [string[], string, 'allow' | 'deny'][] = [
    [['127.0.0.0/8'], '127.0.0.1', 'allow'],
    [['127.0.0.0/8'], '0x7f000001', 'allow'],
    [['127.0.0.0/8'], '[::ffff:127.0.0.1]', 'deny'], // v4 range does not open the mapped v6 form
    [['127.0.0.0/8'], '10.0.0.1', 'deny'],
    [['169.254.0.0/16'], '169.254.1.1', 'allow'],
    [['169.254.0.0/16'], '169.254.169.254', 'deny'],
    [['169.254.169.254/32'], '169.254.169.254', 'allow'],
    [['::1/128'], '[::1]', 'allow'],
    [['0.0.0.0/0'], '168.63.129.16', 'deny'],
  ];
  for (const [allow, input, verdict] of cases) {
    const a = parseIp(input);
    assert.ok(a, input);
    assert.equal(checkAddress(a, { allowRanges: ranges(...allow), hostAddresses: [] }).kind, verdict, `${allow.join(',')} ${input}`);
  }
});

void test("the host's own addresses are refused even when public", () => {
  const hostAddresses = addressesOfInterfaces({
    eth0: [{ address: '203.0.114.7' }, { address: '2a01:4f8::7' }],
    lo: [{ address: '127.0.0.1' }],
    weird: undefined,
  });
  assert.equal(hostAddresses.length, 3);
  const a = parseIp('203.0.114.7');
  const b = parseIp('[2a01:4f8::7]');
  const c = parseIp('203.0.114.8');
  assert.ok(a && b && c);
  assert.deepEqual(checkAddress(a, { allowRanges: [], hostAddresses }), { kind: 'deny', reason: 'address_blocked', message: 'the address is host address', category: 'host_address' });
  assert.equal(checkAddress(b, { allowRanges: [], hostAddresses }).kind, 'deny');
  assert.equal(checkAddress(c, { allowRanges: [], hostAddresses }).kind, 'allow');
});

/** Small deterministic PRNG so the differential tests are repeatable. */
function prng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

void test('differential: numeric hosts parse exactly as WHATWG URL parses them', () => {
  const rand = prng(3);
  const alphabet = '0123456789abcdefx.X';
  for (let i = 0; i < 30000; i++) {
    let h = '';
    const len = 1 + Math.floor(rand() * 14);
    for (let j = 0; j < len; j++) h += alphabet[Math.floor(rand() * alphabet.length)];
    let want: string;
    try {
      const host = new URL(`http://${h}/`).hostname;
      want = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? `ip:${host}` : 'name';
    } catch {
      want = 'invalid';
    }
    const r = parseHostLiteral(h);
    const got = r.kind === 'ip' ? `ip:${formatIp(r.address)}` : r.kind;
    // URL also rejects some non-numeric names ("a..b"); normaliseHost refuses those separately.
    if (!(want === 'invalid' && got === 'name')) assert.equal(got, want, JSON.stringify(h));
  }
});

void test('differential: bracketed IPv6 parses exactly as WHATWG URL parses it', () => {
  const rand = prng(7);
  const alphabet = '0123:45:6f:f:::.1..';
  for (let i = 0; i < 30000; i++) {
    let h = '';
    const len = 2 + Math.floor(rand() * 20);
    for (let j = 0; j < len; j++) h += alphabet[Math.floor(rand() * alphabet.length)];
    let want: string;
    try {
      want = `ip:${new URL(`http://[${h}]/`).hostname.slice(1, -1)}`;
    } catch {
      want = 'invalid';
    }
    const r = parseHostLiteral(`[${h}]`);
    assert.equal(r.kind === 'ip' ? `ip:${formatIp(r.address)}` : r.kind, want, JSON.stringify(h));
  }
});
