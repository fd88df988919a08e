// The session's key wiring as the model route runs it: the phantom is checked
// against the request's real destination, and the route carries nothing but
// this session's phantom (issue 12, items 2 and 5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryAuditSink } from '../audit/audit-event.js';
import type { ModelRequest } from '../egress/model-route.js';
import { ManualClock } from '../keys/clock.js';
import { MemoryKeyStore } from '../keys/key-store.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compiled-policy.js';
import { DEFAULT_POLICY, type EffectivePolicy } from '../policy/policy-schema.js';
import type { SandboxProfile } from '../profiles/profile-schema.js';
import { setupSessionKeys } from './session-keys.js';

const REAL_KEY = 'sk-ant-api03-real-key-for-tests-0123456789abcdef';
const OUTSIDE_KEY = 'sk-ant-api03-attacker-owned-key-9876543210fedcba';

const profile = { provider: { name: 'anthropic', keyEnv: 'ANTHROPIC_API_KEY', header: 'x-api-key' } } as unknown as SandboxProfile;
function compiled(effective: EffectivePolicy): CompiledPolicy {
  const r = compilePolicy(effective);
  assert.ok(r.ok, r.ok ? '' : r.errors.join('; '));
  return r.policy;
}

const policy = compiled({
  ...DEFAULT_POLICY,
  providers: { anthropic: { baseUrl: 'https://api.anthropic.com' }, other: { baseUrl: 'https://llm.other.test' } },
});

function request(over: Partial<ModelRequest>): ModelRequest {
  return { provider: 'anthropic', host: 'api.anthropic.com', method: 'POST', path: '/v1/messages', headers: {}, body: Buffer.from('{}'), sessionId: 's1', ...over };
}

async function setup(p: SandboxProfile = profile, pol: CompiledPolicy = policy) {
  const clock = new ManualClock();
  const store = new MemoryKeyStore(clock);
  assert.ok((await store.set('anthropic', REAL_KEY)).ok);
  const audit = new MemoryAuditSink();
  const keys = setupSessionKeys({ sessionId: 's1', profile: p, policy: pol, audit, keyStore: () => store, clock });
  return { keys, audit };
}

void test('the phantom is swapped for the real key on a request to the provider host', async () => {
  const { keys } = await setup();
  const phantom = keys.env['ANTHROPIC_API_KEY'] ?? '';
  const r = await keys.filter.apply(request({ headers: { 'x-api-key': phantom, 'content-type': 'application/json' } }));
  assert.equal(r.kind, 'rewrite');
  if (r.kind === 'rewrite') assert.equal(r.headers?.['x-api-key'], REAL_KEY);
  keys.revoke();
});

void test('the phantom is bound to the compiled provider host: an IPv6 literal with a port matches the host the proxy addresses', async () => {
  const { keys } = await setup(profile, compiled({ ...DEFAULT_POLICY, providers: { anthropic: { baseUrl: 'https://[FD00:0::1]:8443/v1' } } }));
  const phantom = keys.env['ANTHROPIC_API_KEY'] ?? '';
  // The proxy addresses the request by the URL's hostname, brackets included.
  const r = await keys.filter.apply(request({ host: '[fd00::1]', headers: { 'x-api-key': phantom } }));
  assert.equal(r.kind, 'rewrite');
  keys.revoke();
});

void test("the request's own destination is checked: a route to another host refuses the phantom (wrong_host)", async () => {
  const { keys, audit } = await setup();
  const phantom = keys.env['ANTHROPIC_API_KEY'] ?? '';
  // What a policy reload that points the provider at another host looks like to the filter.
  const r = await keys.filter.apply(request({ host: 'gateway.elsewhere.test', headers: { 'x-api-key': phantom } }));
  assert.deepEqual(r.kind === 'deny' ? [r.status, r.reason] : r.kind, [403, 'wrong_host']);
  assert.ok(audit.events.some((e) => e.kind === 'key.phantom_rejected' && e.details?.['reason'] === 'wrong_host'));
  keys.revoke();
});

void test('an outside API key is refused on the route to every provider, and the audit log never holds it', async () => {
  const { keys, audit } = await setup();
  const own = await keys.filter.apply(request({ headers: { 'x-api-key': OUTSIDE_KEY } }));
  assert.equal(own.kind === 'deny' && own.reason, 'malformed');
  const other = await keys.filter.apply(request({ provider: 'other', host: 'llm.other.test', headers: { authorization: `Bearer ${OUTSIDE_KEY}` } }));
  assert.deepEqual(other.kind === 'deny' ? [other.status, other.reason] : other.kind, [403, 'no_session_key']);
  const phantom = keys.env['ANTHROPIC_API_KEY'] ?? '';
  const carried = await keys.filter.apply(request({ provider: 'other', host: 'llm.other.test', headers: { 'x-api-key': phantom } }));
  assert.equal(carried.kind === 'deny' && carried.reason, 'wrong_provider');
  const outside = audit.events.find((e) => e.details?.['reason'] === 'no_session_key');
  assert.equal(outside?.severity, 'high');
  const text = JSON.stringify(audit.events);
  for (const secret of [OUTSIDE_KEY, REAL_KEY, phantom]) assert.ok(!text.includes(secret));
  keys.revoke();
});

void test('a session whose profile names no provider gets no phantom and a model route that refuses everything', async () => {
  const { keys } = await setup({} as SandboxProfile);
  assert.deepEqual(keys.env, {});
  const r = await keys.filter.apply(request({ headers: {} }));
  assert.equal(r.kind === 'deny' && r.reason, 'no_session_key');
});
