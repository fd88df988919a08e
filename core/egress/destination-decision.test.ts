// Table-driven tests for the proxy's destination decision, on plain values:
// no sockets, no DNS. Each case states the outcome and the rule it names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideDestination, decideHostStage, settleAsk, type Channel, type DestinationDecision, type MatchedRule, type ResolveOutcome } from './destination-decision.js';
import { decideDestinationLive, type EgressQuestion } from './destination-dial.js';
import { compileEgressPolicy, type CompiledEgressPolicy } from './egress-policy.js';
import { parseIp, type IpAddress } from './ip-address.js';
import { upstreamProxyFromEnv } from './upstream-proxy.js';

function policy(input: unknown): CompiledEgressPolicy {
  const r = compileEgressPolicy(input);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.policy;
}

function ip(text: string): IpAddress {
  const a = parseIp(text);
  if (!a) throw new Error(text);
  return a;
}

const answer = (...addrs: string[]): ResolveOutcome => ({ ok: true, addresses: addrs.map(ip) });
const VENDORS: ReadonlySet<string> = new Set(['api.anthropic.com', 'llm.corp.test']);

interface Case {
  readonly name: string;
  readonly policy: unknown;
  readonly host: string;
  readonly port?: number;
  readonly channel?: Channel;
  readonly answer?: ResolveOutcome | null;
  readonly hostAddresses?: readonly string[];
  /** 'allow', 'would_deny:<reason>' or the deny reason. */
  readonly expect: string;
  readonly matched: MatchedRule;
}

function outcome(d: DestinationDecision): string {
  if (d.kind === 'deny') return d.reason;
  return d.wouldDeny ? `would_deny:${d.wouldDeny}` : 'allow';
}

const cases: readonly Case[] = [
  { name: 'an allow entry opens 443 and names itself', policy: { allow: ['*.github.com'] }, host: 'api.github.com', answer: answer('140.82.112.5'), expect: 'allow', matched: { rule: 'allow_list', pattern: '*.github.com' } },
  { name: 'deny is checked before allow', policy: { allow: ['*.vendor.test'], deny: ['statsig.vendor.test'] }, host: 'statsig.vendor.test', answer: answer('93.184.216.34'), expect: 'host_denied', matched: { rule: 'deny_list', pattern: 'statsig.vendor.test' } },
  { name: 'a portless deny entry denies every port', policy: { allow: ['x.test:8443'], deny: ['x.test'] }, host: 'x.test', port: 8443, answer: answer('93.184.216.34'), expect: 'host_denied', matched: { rule: 'deny_list', pattern: 'x.test' } },
  { name: 'nothing is allowed by default', policy: {}, host: 'example.com', answer: answer('93.184.216.34'), expect: 'host_not_allowed', matched: { rule: 'default_deny' } },
  { name: 'a wildcard does not match its apex', policy: { allow: ['*.example.com'] }, host: 'example.com', answer: answer('93.184.216.34'), expect: 'host_not_allowed', matched: { rule: 'default_deny' } },
  { name: 'a host allowed on other ports names the entry', policy: { allow: ['x.test:8443'] }, host: 'x.test', port: 443, answer: answer('93.184.216.34'), expect: 'port_not_allowed', matched: { rule: 'allow_list_port', pattern: 'x.test:8443' } },
  { name: 'an explicit port opens that port', policy: { allow: ['x.test:8443'] }, host: 'x.test', port: 8443, answer: answer('93.184.216.34'), expect: 'allow', matched: { rule: 'allow_list', pattern: 'x.test:8443' } },
  { name: 'a portless allow entry does not open 22', policy: { allow: ['x.test'] }, host: 'x.test', port: 22, answer: answer('93.184.216.34'), expect: 'port_not_allowed', matched: { rule: 'allow_list_port', pattern: 'x.test' } },
  { name: 'report mode lets an unlisted host through as would_deny', policy: { mode: 'report' }, host: 'example.com', answer: answer('93.184.216.34'), expect: 'would_deny:host_not_allowed', matched: { rule: 'default_deny' } },
  { name: 'report mode names the deny entry it would have applied', policy: { mode: 'report', deny: ['t.test'] }, host: 't.test', answer: answer('93.184.216.34'), expect: 'would_deny:host_denied', matched: { rule: 'deny_list', pattern: 't.test' } },
  { name: 'cloud metadata stays blocked in report mode', policy: { mode: 'report', allow: ['meta.test'] }, host: 'meta.test', answer: answer('169.254.169.254'), expect: 'address_blocked', matched: { rule: 'address', category: 'cloud_metadata' } },
  { name: 'report mode lets a loopback address through as would_deny', policy: { mode: 'report', allow: ['loop.test'] }, host: 'loop.test', answer: answer('127.0.0.1'), expect: 'would_deny:address_blocked', matched: { rule: 'address', category: 'loopback' } },
  { name: 'a host-rule would_deny keeps its rule over a later address one', policy: { mode: 'report' }, host: 'loop.test', answer: answer('127.0.0.1'), expect: 'would_deny:host_not_allowed', matched: { rule: 'default_deny' } },
  { name: 'a private address is blocked', policy: { allow: ['in.test'] }, host: 'in.test', answer: answer('10.0.0.5'), expect: 'address_blocked', matched: { rule: 'address', category: 'private' } },
  { name: 'every address of a multi-address answer is checked', policy: { allow: ['two.test'] }, host: 'two.test', answer: answer('93.184.216.34', '192.168.1.1'), expect: 'address_blocked', matched: { rule: 'address', category: 'private' } },
  { name: 'allowRanges opens loopback', policy: { allow: ['loop.test'], allowRanges: ['127.0.0.0/8'] }, host: 'loop.test', answer: answer('127.0.0.1'), expect: 'allow', matched: { rule: 'allow_list', pattern: 'loop.test' } },
  { name: 'a broad range does not open cloud metadata', policy: { allow: ['meta.test'], allowRanges: ['169.254.0.0/16'] }, host: 'meta.test', answer: answer('169.254.169.254'), expect: 'address_blocked', matched: { rule: 'address', category: 'cloud_metadata' } },
  { name: "the host's own address is blocked", policy: { allow: ['me.test'] }, host: 'me.test', answer: answer('1.2.3.4'), hostAddresses: ['1.2.3.4'], expect: 'address_blocked', matched: { rule: 'address', category: 'host_address' } },
  { name: 'a vendor host is model_route_only whatever allow says', policy: { allow: ['api.anthropic.com'] }, host: 'API.Anthropic.com.', answer: answer('160.79.104.10'), expect: 'model_route_only', matched: { rule: 'vendor_host' } },
  { name: 'a vendor host is model_route_only in report mode too', policy: { mode: 'report' }, host: 'llm.corp.test', channel: 'http', answer: answer('93.184.216.34'), expect: 'model_route_only', matched: { rule: 'vendor_host' } },
  { name: 'the model route skips host rules but checks addresses', policy: {}, host: 'api.anthropic.com', channel: 'model', answer: answer('160.79.104.10'), expect: 'allow', matched: { rule: 'provider' } },
  { name: "the model route refuses a provider's private address", policy: {}, host: 'llm.corp.test', channel: 'model', answer: answer('10.1.2.3'), expect: 'address_blocked', matched: { rule: 'address', category: 'private' } },
  { name: 'an IP literal in any spelling is checked as an address', policy: { allow: ['127.0.0.1'] }, host: '0x7f000001', answer: null, expect: 'address_blocked', matched: { rule: 'address', category: 'loopback' } },
  { name: 'pinned addresses are used and still checked', policy: { allow: ['pin.test'], resolve: { 'pin.test': ['93.184.216.34', '10.0.0.1'] } }, host: 'pin.test', answer: answer('93.184.216.34'), expect: 'address_blocked', matched: { rule: 'address', category: 'private' } },
  { name: 'a name that does not resolve', policy: { allow: ['nx.test'] }, host: 'nx.test', answer: { ok: false, why: 'ENOTFOUND' }, expect: 'resolve_failed', matched: { rule: 'target' } },
  { name: 'a malformed host', policy: { allow: ['x.test'] }, host: 'a b.test', answer: null, expect: 'bad_target', matched: { rule: 'target' } },
  { name: 'a port out of range', policy: { allow: ['x.test'] }, host: 'x.test', port: 70000, answer: null, expect: 'bad_target', matched: { rule: 'target' } },
];

void test('destination decision: outcome and the rule it names', () => {
  for (const c of cases) {
    const d = decideDestination(
      { policy: policy(c.policy), vendors: VENDORS, hostAddresses: (c.hostAddresses ?? []).map(ip), upstream: null, answer: c.answer ?? null },
      c.host,
      c.port ?? 443,
      c.channel ?? 'connect',
    );
    assert.ok(d.kind !== 'ask', c.name);
    assert.equal(outcome(d), c.expect, c.name);
    assert.deepEqual(d.matched, c.matched, c.name);
    if (d.kind === 'deny') assert.ok(d.message.startsWith('Cordon '), c.name);
  }
});

void test('a denied address is named in the refusal; an allowed one is dialled first, with every checked address behind it', () => {
  const p = policy({ allow: ['two.test'], allowRanges: ['127.0.0.0/8'] });
  const blocked = decideDestination({ policy: policy({ allow: ['two.test'] }), vendors: VENDORS, hostAddresses: [], upstream: null, answer: answer('93.184.216.34', '127.0.0.1') }, 'two.test', 443, 'connect');
  assert.equal(blocked.kind, 'deny');
  if (blocked.kind === 'deny') {
    assert.equal(blocked.address, '127.0.0.1');
    assert.equal(blocked.category, 'loopback');
  }
  const ok = decideDestination({ policy: p, vendors: VENDORS, hostAddresses: [], upstream: null, answer: answer('127.0.0.2', '127.0.0.1') }, 'two.test', 443, 'connect');
  assert.equal(ok.kind, 'allow');
  if (ok.kind === 'allow' && ok.route.kind === 'direct') assert.deepEqual(ok.route.addresses, [ip('127.0.0.2'), ip('127.0.0.1')]);
  else assert.fail('expected a direct route');
});

void test('the host stage asks for resolution only when neither a literal nor a pin gives the addresses', () => {
  const p = policy({ allow: ['pin.test', 'dns.test', '93.184.216.34'], resolve: { 'pin.test': '93.184.216.34' } });
  const stage = (host: string) => decideHostStage({ policy: p, vendors: VENDORS }, host, 443, 'connect');
  const pinned = stage('pin.test');
  const dns = stage('dns.test');
  const literal = stage('93.184.216.34');
  assert.ok(pinned.kind === 'resolve' && pinned.pinned !== null && pinned.literal === null);
  assert.ok(dns.kind === 'resolve' && dns.pinned === null && dns.literal === null);
  assert.ok(literal.kind === 'resolve' && literal.literal !== null);
});

void test('behind a corporate proxy an unresolvable name goes to that proxy by name; a pinned one as its checked address', () => {
  const up = upstreamProxyFromEnv({ HTTPS_PROXY: 'http://proxy.corp:3128' });
  assert.ok(up.ok);
  if (!up.ok) return;
  const base = { vendors: VENDORS, hostAddresses: [], upstream: up.config };
  const byName = decideDestination({ ...base, policy: policy({ allow: ['far.test'] }), answer: { ok: false, why: 'ENOTFOUND' } }, 'far.test', 443, 'connect');
  assert.ok(byName.kind === 'allow' && byName.route.kind === 'proxy');
  if (byName.kind === 'allow' && byName.route.kind === 'proxy') assert.equal(byName.route.target, 'far.test:443');
  const pinned = decideDestination({ ...base, policy: policy({ allow: ['far.test'], resolve: { 'far.test': '93.184.216.34' } }), answer: null }, 'far.test', 443, 'connect');
  assert.ok(pinned.kind === 'allow' && pinned.route.kind === 'proxy');
  if (pinned.kind === 'allow' && pinned.route.kind === 'proxy') assert.equal(pinned.route.target, '93.184.216.34:443');
});

void test('ask mode asks only about hosts the allow list does not name, and only once their addresses pass', () => {
  const input = (p: unknown, a: ResolveOutcome | null) => ({ policy: policy(p), vendors: VENDORS, hostAddresses: [], upstream: null, answer: a });
  const unlisted = decideDestination(input({ mode: 'ask', allow: ['ok.test'] }, answer('93.184.216.34')), 'new.test', 443, 'connect');
  assert.equal(unlisted.kind, 'ask');
  assert.ok(unlisted.kind === 'ask' && unlisted.reason === 'host_not_allowed' && unlisted.route.kind === 'direct');
  const otherPort = decideDestination(input({ mode: 'ask', allow: ['ok.test'] }, answer('93.184.216.34')), 'ok.test', 8443, 'connect');
  assert.ok(otherPort.kind === 'ask' && otherPort.reason === 'port_not_allowed');
  const listed = decideDestination(input({ mode: 'ask', allow: ['ok.test'] }, answer('93.184.216.34')), 'ok.test', 443, 'connect');
  assert.equal(listed.kind, 'allow');
  // Never asked: the deny list, a private or metadata address, a vendor's host outside the model route.
  const denied = decideDestination(input({ mode: 'ask', deny: ['bad.test'] }, answer('93.184.216.34')), 'bad.test', 443, 'connect');
  assert.ok(denied.kind === 'deny' && denied.reason === 'host_denied');
  const privateAddr = decideDestination(input({ mode: 'ask' }, answer('10.0.0.5')), 'intranet.test', 443, 'connect');
  assert.ok(privateAddr.kind === 'deny' && privateAddr.reason === 'address_blocked');
  const metadata = decideDestination(input({ mode: 'ask' }, null), '169.254.169.254', 80, 'http');
  assert.ok(metadata.kind === 'deny' && metadata.reason === 'address_blocked');
  const vendor = decideDestination(input({ mode: 'ask' }, answer('93.184.216.34')), 'api.anthropic.com', 443, 'connect');
  assert.ok(vendor.kind === 'deny' && vendor.reason === 'model_route_only');
});

void test('an answered ask: allowed goes by the checked route, anything else is the refusal with why', () => {
  const d = decideDestination({ policy: policy({ mode: 'ask' }), vendors: VENDORS, hostAddresses: [], upstream: null, answer: answer('93.184.216.34') }, 'new.test', 443, 'connect');
  assert.equal(d.kind, 'ask');
  if (d.kind !== 'ask') return;
  const yes = settleAsk(d, 'duration');
  assert.ok(yes.kind === 'allow' && yes.route === d.route);
  assert.deepEqual(yes.matched, { rule: 'approval', answer: 'duration' });
  const pre = settleAsk(d, 'pre_approved');
  assert.ok(pre.kind === 'allow' && pre.route === d.route && pre.matched.rule === 'approval' && pre.matched.answer === 'pre_approved');
  for (const [answerWas, why] of [
    ['denied', 'the user refused it'],
    ['never_allow', 'policy never allows it'],
    ['timeout', 'nobody answered in time'],
    ['rate_limited', 'asked too often'],
    ['unavailable', 'nobody can be asked'],
  ] as const) {
    const no = settleAsk(d, answerWas);
    assert.ok(no.kind === 'deny' && no.reason === 'host_not_allowed' && no.message.includes(why), `${answerWas}: ${JSON.stringify(no)}`);
  }
});

void test('live: the asker is asked with the host, port and checked address; no asker refuses', async () => {
  const asked: EgressQuestion[] = [];
  const src = {
    policy: () => policy({ mode: 'ask' }),
    vendors: () => VENDORS,
    hostAddresses: () => [],
    upstream: null,
    resolver: () => Promise.resolve(answer('93.184.216.34')),
    timeoutMs: 1000,
  };
  const allowed = await decideDestinationLive({ ...src, ask: (q) => (asked.push(q), Promise.resolve('once' as const)) }, 'new.test', 443, 'connect');
  assert.equal(allowed.kind, 'allow');
  assert.deepEqual(asked, [{ host: 'new.test', port: 443, address: '93.184.216.34' }]);
  const nobody = await decideDestinationLive(src, 'new.test', 443, 'connect');
  assert.ok(nobody.kind === 'deny' && nobody.message.includes('nobody can be asked'));
  const broken = await decideDestinationLive({ ...src, ask: () => Promise.reject(new Error('queue gone')) }, 'new.test', 443, 'connect');
  assert.equal(broken.kind, 'deny', 'a failing asker must refuse');
});
