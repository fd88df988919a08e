// Tests for the egress/providers schemas, load-time validation and defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_TELEMETRY_DENY,
  EgressPolicySchema,
  ProvidersSchema,
  compileEgressPolicy,
  defaultEgressPolicy,
  vendorHosts,
} from './egress-policy.js';
import { decideHost, parseHostPattern, type EgressDecision } from './host-match.js';

void test('the issue example parses and compiles', () => {
  const r = compileEgressPolicy({
    mode: 'enforce',
    allow: ['api.anthropic.com', '*.github.com', 'example.test:8443'],
    deny: ['statsig.anthropic.com'],
    allowRanges: ['127.0.0.0/8'],
    resolve: { 'Example.Test.': '127.0.0.1' },
  });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.policy.mode, 'enforce');
  assert.equal(r.policy.allow.length, 3);
  assert.equal(r.policy.resolve.get('example.test')?.length, 1);
  const providers = ProvidersSchema.safeParse({ anthropic: { baseUrl: 'https://api.anthropic.com', caFile: '/optional/extra-ca.pem' } });
  assert.ok(providers.success);
});

void test('defaults: empty object means enforce and nothing allowed', () => {
  const r = compileEgressPolicy({});
  assert.ok(r.ok);
  if (r.ok) {
    assert.equal(r.policy.mode, 'enforce');
    assert.equal(decideHost(r.policy, 'api.anthropic.com', 443).kind, 'deny');
  }
});

void test('bad input is rejected with a reason naming the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ allow: ['*'] }, /egress\.allow\.0: .*every host/],
    [{ allow: ['*.com'] }, /top-level domain/],
    [{ deny: ['a*.b.com'] }, /whole leading label/],
    [{ allow: ['foo.*.com'] }, /whole leading label/],
    [{ allowRanges: ['0.0.0.0/0'] }, /every address/],
    [{ allowRanges: ['10/8'] }, /not a CIDR/],
    [{ resolve: { 'a.test': 'not-an-ip' } }, /not an IP/],
    [{ mode: 'audit' }, /egress\.mode/],
    [{ allow: [], extra: 1 }, /extra|Unrecognized/i],
  ];
  for (const [input, why] of cases) {
    const r = compileEgressPolicy(input);
    assert.equal(r.ok, false, JSON.stringify(input));
    if (!r.ok) assert.match(r.errors.join('\n'), why, JSON.stringify(input));
  }
  assert.equal(ProvidersSchema.safeParse({ anthropic: { baseUrl: 'http://api.anthropic.com' } }).success, false);
  assert.equal(ProvidersSchema.safeParse({ anthropic: { baseUrl: 'https://x', token: 'y' } }).success, false);
  assert.equal(ProvidersSchema.safeParse({ 'Bad Name': { baseUrl: 'https://x' } }).success, false);
});

void test('every field is described (JSON Schema generation relies on it)', () => {
  const shape = EgressPolicySchema.shape;
  for (const [key, field] of Object.entries(shape)) assert.ok(field.description, key);
});

void test('default policy: no host allowed, telemetry denied even under an allowed vendor domain', () => {
  const p = defaultEgressPolicy();
  assert.deepEqual(p.allow, []);
  const r = compileEgressPolicy({ ...p, allow: ['*.anthropic.com'] });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(decideHost(r.policy, 'console.anthropic.com', 443).kind, 'allow');
  assert.equal(reasonOf(decideHost(r.policy, 'statsig.anthropic.com', 443)), 'host_denied');
  assert.equal(reasonOf(decideHost(r.policy, 'o123.ingest.sentry.io', 443)), 'host_denied');
  assert.equal(reasonOf(decideHost(r.policy, 'example.com', 443)), 'host_not_allowed');
  for (const entry of DEFAULT_TELEMETRY_DENY) {
    assert.ok(parseHostPattern(entry.host).ok, entry.host);
    assert.ok(entry.description.length > 10, entry.host);
  }
});

void test('vendor hosts: every provider host plus the built-in one, normalised, without ports', () => {
  const hosts = vendorHosts({ corp: { baseUrl: 'https://LLM.Corp.Example.:8443/v1' }, local: { baseUrl: 'https://127.0.0.1:9443' } });
  assert.deepEqual([...hosts].sort(), ['127.0.0.1', 'api.anthropic.com', 'llm.corp.example']);
  // The built-in vendor stays a vendor even when policy points its route elsewhere.
  assert.ok(vendorHosts({ anthropic: { baseUrl: 'https://gateway.corp.example' } }).has('api.anthropic.com'));
});

/** The reason code of a refusal, or 'allow'. */
function reasonOf(d: EgressDecision): string {
  return d.kind === 'allow' ? 'allow' : d.reason;
}
