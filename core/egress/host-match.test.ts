// Table-driven tests for host normalisation, pattern compilation and matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideHost, normaliseHost, parseHostPattern, splitHostPort, type HostPattern, type HostRules } from './host-match.js';

void test('hosts normalise to one comparable form', () => {
  const cases: [string, string][] = [
    ['API.Anthropic.COM', 'api.anthropic.com'],
    ['api.anthropic.com.', 'api.anthropic.com'],
    ['bücher.de', 'xn--bcher-kva.de'],
    ['BÜCHER.de.', 'xn--bcher-kva.de'],
    ['0x7f000001', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['[::FFFF:127.0.0.1]', '::ffff:7f00:1'],
    ['my_host.internal', 'my_host.internal'],
  ];
  for (const [raw, expected] of cases) {
    const n = normaliseHost(raw);
    assert.ok(n.ok, raw);
    if (n.ok) assert.equal(n.host, expected, raw);
  }
  for (const bad of ['', 'a b.com', 'exa mple.com', '-bad.com', 'a..b.com', '1.2.3.256', 'x'.repeat(64) + '.com', 'foo/bar', 'a@b.com']) {
    assert.equal(normaliseHost(bad).ok, false, JSON.stringify(bad));
  }
});

void test('splitHostPort handles names, IPv6 brackets and bare IPv6', () => {
  assert.deepEqual(splitHostPort('a.com'), { host: 'a.com', port: null });
  assert.deepEqual(splitHostPort('a.com:8443'), { host: 'a.com', port: '8443' });
  assert.deepEqual(splitHostPort('[::1]:443'), { host: '[::1]', port: '443' });
  assert.deepEqual(splitHostPort('[::1]'), { host: '[::1]', port: null });
  assert.deepEqual(splitHostPort('::1'), { host: '::1', port: null });
  assert.equal(splitHostPort('[::1]x'), null);
});

void test('over-broad and malformed patterns are rejected with a reason', () => {
  const rejected: [string, RegExp][] = [
    ['*', /every host/],
    ['*.com', /top-level domain/],
    ['*.co.uk', /public suffix/],
    ['*.github.io', /public suffix/],
    ['a*.b.com', /whole leading label/],
    ['foo.*.com', /whole leading label/],
    ['*foo.com', /whole leading label/],
    ['*.*.example.com', /whole leading label/],
    ['example.com:0', /port/],
    ['example.com:70000', /port/],
    ['example.com:http', /port/],
    ['*.127.0.0.1', /IP address/],
    ['', /empty/],
    ['bad host.com', /not a valid/],
  ];
  for (const [entry, why] of rejected) {
    const r = parseHostPattern(entry);
    assert.equal(r.ok, false, entry);
    if (!r.ok) assert.match(r.why, why, entry);
  }
});

void test('valid patterns compile', () => {
  const cases: [string, Omit<HostPattern, 'source'>][] = [
    ['api.anthropic.com', { kind: 'exact', host: 'api.anthropic.com', port: null }],
    ['*.github.com', { kind: 'subdomains', host: 'github.com', port: null }],
    ['example.test:8443', { kind: 'exact', host: 'example.test', port: 8443 }],
    ['*.Bücher.de', { kind: 'subdomains', host: 'xn--bcher-kva.de', port: null }],
    ['[::1]:8080', { kind: 'exact', host: '::1', port: 8080 }],
    ['127.1', { kind: 'exact', host: '127.0.0.1', port: null }],
  ];
  for (const [entry, expected] of cases) {
    const r = parseHostPattern(entry);
    assert.ok(r.ok, entry);
    if (r.ok) assert.deepEqual(r.pattern, { source: entry, ...expected });
  }
});

function rules(allow: string[], deny: string[]): HostRules {
  const compile = (xs: string[]): HostPattern[] =>
    xs.map((x) => {
      const r = parseHostPattern(x);
      if (!r.ok) throw new Error(r.why);
      return r.pattern;
    });
  return { allow: compile(allow), deny: compile(deny) };
}

void test('decisions: deny before allow, subdomains not apex, default ports, nothing by default', () => {
  const r = rules(
    ['api.anthropic.com', '*.anthropic.com', '*.github.com', 'example.test:8443', '127.0.0.1:9000'],
    ['statsig.anthropic.com', 'evil.github.com:443'],
  );
  const cases: [string, number, string][] = [
    ['api.anthropic.com', 443, 'allow'],
    ['api.anthropic.com', 80, 'allow'],
    ['api.anthropic.com', 8443, 'port_not_allowed'],
    ['statsig.anthropic.com', 443, 'host_denied'],
    ['statsig.anthropic.com', 8080, 'host_denied'],
    ['console.anthropic.com', 443, 'allow'],
    ['raw.github.com', 443, 'allow'],
    ['a.b.github.com', 443, 'allow'],
    ['github.com', 443, 'host_not_allowed'],
    ['notgithub.com', 443, 'host_not_allowed'],
    ['evil.github.com', 443, 'host_denied'],
    ['evil.github.com', 80, 'allow'],
    ['example.test', 8443, 'allow'],
    ['example.test', 443, 'port_not_allowed'],
    ['127.0.0.1', 9000, 'allow'],
    ['example.org', 443, 'host_not_allowed'],
  ];
  for (const [host, port, expected] of cases) {
    const d = decideHost(r, host, port);
    assert.equal(d.kind === 'allow' ? 'allow' : d.reason, expected, `${host}:${port}`);
  }
  assert.deepEqual(decideHost(rules([], []), 'api.anthropic.com', 443), {
    kind: 'deny',
    reason: 'host_not_allowed',
    message: 'the host is not in the egress allow list',
  });
});
