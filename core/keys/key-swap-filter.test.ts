import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { ManualClock } from './clock.js';
import { KeyStoreCredentialSource, type CredentialResult, type CredentialSource } from './credential-source.js';
import { createKeySwapFilter, type KeyHeaderStyle } from './key-swap-filter.js';
import { MemoryKeyStore } from './key-store.js';
import { PhantomAuthority, mintPhantomToken } from './phantom.js';

const REAL_KEY = 'sk-ant-api03-REALKEY-0123456789abcdefghijklmnopqrstuvwxyz';
const HOST = 'api.anthropic.com';

async function setup(header: KeyHeaderStyle = 'x-api-key', storeKey = true) {
  const clock = new ManualClock();
  const store = new MemoryKeyStore(clock);
  if (storeKey) assert.equal((await store.set('anthropic', REAL_KEY)).ok, true);
  const authority = new PhantomAuthority({ clock });
  const grant = authority.issue({ sessionId: 's1', provider: 'anthropic', providerHost: HOST });
  const audit = new MemoryAuditSink();
  const credential = new KeyStoreCredentialSource({ store, provider: 'anthropic', clock });
  const filter = createKeySwapFilter({ authority, sessionId: 's1', provider: 'anthropic', providerHost: HOST, header, credential, audit });
  return { clock, store, authority, grant, audit, filter };
}

void test('x-api-key phantom is swapped for the real key; other headers pass through untouched', async () => {
  const { grant, filter, audit } = await setup('x-api-key');
  const result = await filter({
    host: HOST,
    headers: { 'x-api-key': grant.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
  });
  assert.deepEqual(result, {
    kind: 'rewrite',
    headers: { 'x-api-key': REAL_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
  });
  assert.equal(audit.events.length, 0);
});

void test('Authorization: Bearer phantom is swapped into the provider header style', async () => {
  const { grant, filter } = await setup('authorization-bearer');
  const result = await filter({ host: HOST, headers: { authorization: `Bearer ${grant.token}`, accept: '*/*' } });
  assert.deepEqual(result, { kind: 'rewrite', headers: { authorization: `Bearer ${REAL_KEY}`, accept: '*/*' } });
});

void test('a phantom sent as Bearer to an x-api-key provider is accepted and the Authorization header is dropped', async () => {
  const { grant, filter } = await setup('x-api-key');
  const result = await filter({ host: HOST, headers: { authorization: `bearer ${grant.token}` } });
  assert.deepEqual(result, { kind: 'rewrite', headers: { 'x-api-key': REAL_KEY } });
});

void test('the same phantom in both headers is fine; two different credentials are refused', async () => {
  const { grant, filter } = await setup('x-api-key');
  const same = await filter({ host: HOST, headers: { 'x-api-key': grant.token, authorization: `Bearer ${grant.token}` } });
  assert.equal(same.kind, 'rewrite');
  const different = await filter({ host: HOST, headers: { 'x-api-key': grant.token, authorization: `Bearer ${mintPhantomToken()}` } });
  assert.equal(different.kind, 'deny');
  assert.equal(different.kind === 'deny' && different.reason, 'ambiguous_credentials');
});

void test('no credential at all is a 401 with an audit event', async () => {
  const { filter, audit } = await setup();
  const result = await filter({ host: HOST, headers: { 'content-type': 'application/json' } });
  assert.equal(result.kind, 'deny');
  assert.ok(result.kind === 'deny' && result.status === 401 && result.reason === 'missing_phantom');
  assert.equal(audit.events[0]?.kind, 'key.phantom_rejected');
});

void test('rejections: status, reason and a detection_finding audit event without the token', async () => {
  const { grant, filter, audit, authority, clock } = await setup();
  const foreign = authority.issue({ sessionId: 's2', provider: 'anthropic', providerHost: HOST });

  const wrongHost = await filter({ host: 'attacker.example', headers: { 'x-api-key': grant.token } });
  assert.deepEqual(wrongHost.kind === 'deny' && [wrongHost.status, wrongHost.reason], [403, 'wrong_host']);

  const foreignResult = await filter({ host: HOST, headers: { 'x-api-key': foreign.token } });
  assert.deepEqual(foreignResult.kind === 'deny' && [foreignResult.status, foreignResult.reason], [403, 'foreign_session']);

  const realKeyInSandbox = await filter({ host: HOST, headers: { 'x-api-key': 'sk-ant-api03-somebody-elses-key-0123456789' } });
  assert.deepEqual(realKeyInSandbox.kind === 'deny' && [realKeyInSandbox.status, realKeyInSandbox.reason], [401, 'malformed']);

  authority.revoke('s1');
  const revoked = await filter({ host: HOST, headers: { 'x-api-key': grant.token } });
  assert.deepEqual(revoked.kind === 'deny' && [revoked.status, revoked.reason], [403, 'revoked']);

  clock.advance(3 * 60 * 60 * 1000);
  assert.equal(audit.events.length, 4);
  for (const event of audit.events) {
    assert.equal(event.kind, 'key.phantom_rejected');
    assert.equal(event.ocsfClass, 'detection_finding');
    assert.equal(event.outcome, 'failure');
    assert.equal(event.sessionId, 's1');
    const serialised = JSON.stringify(event);
    assert.ok(!serialised.includes(grant.token), 'audit event holds the phantom');
    assert.ok(!serialised.includes(foreign.token), 'audit event holds the foreign phantom');
    assert.ok(!serialised.includes('sk-ant-api03-somebody'), 'audit event holds a presented key');
    assert.ok(!serialised.includes(REAL_KEY), 'audit event holds the real key');
  }
  assert.equal(audit.events[0]?.severity, 'high');
  assert.equal(audit.events[0]?.details?.['requestHost'], 'attacker.example');
  assert.match(String(audit.events[0]?.details?.['phantomFingerprint']), /^[0-9a-f]{12}$/);
});

void test('no stored key: 401 telling the user which command to run, audited as api_activity', async () => {
  const { grant, filter, audit } = await setup('x-api-key', false);
  const result = await filter({ host: HOST, headers: { 'x-api-key': grant.token } });
  assert.deepEqual(result, {
    kind: 'deny',
    status: 401,
    reason: 'no_credential',
    message: 'no API key for anthropic: run `cordon keys set anthropic`',
  });
  assert.equal(audit.events[0]?.kind, 'key.unavailable');
  assert.equal(audit.events[0]?.ocsfClass, 'api_activity');
});

void test('a locked keychain fails closed with the store message', async () => {
  const { grant, filter, store } = await setup();
  store.failWith = { code: 'locked', message: 'the keychain is locked or refused access: unlock it' };
  const result = await filter({ host: HOST, headers: { 'x-api-key': grant.token } });
  assert.ok(result.kind === 'deny' && result.reason === 'no_credential' && result.message.startsWith('the keychain is locked'));
});

void test('rotation reaches a running session once the short cache lapses, without a restart', async () => {
  const { grant, filter, store, clock } = await setup();
  const first = await filter({ host: HOST, headers: { 'x-api-key': grant.token } });
  assert.equal(first.kind === 'rewrite' && first.headers['x-api-key'], REAL_KEY);
  const rotated = 'sk-ant-api03-ROTATED-9876543210zyxwvutsrqponmlkjihgfedcba';
  assert.equal((await store.rotate('anthropic', rotated)).ok, true);
  clock.advance(2_500);
  const second = await filter({ host: HOST, headers: { 'x-api-key': grant.token } });
  assert.equal(second.kind === 'rewrite' && second.headers['x-api-key'], rotated);
});

void test('the credential source is not consulted for a refused phantom', async () => {
  const clock = new ManualClock();
  const authority = new PhantomAuthority({ clock });
  let calls = 0;
  const credential: CredentialSource = {
    provider: 'anthropic',
    get: (): Promise<CredentialResult> => {
      calls++;
      return Promise.resolve({ ok: true, secret: REAL_KEY, expiresAt: null });
    },
  };
  const filter = createKeySwapFilter({
    authority,
    sessionId: 's1',
    provider: 'anthropic',
    providerHost: HOST,
    header: 'x-api-key',
    credential,
    audit: new MemoryAuditSink(),
  });
  await filter({ host: HOST, headers: { 'x-api-key': mintPhantomToken() } });
  assert.equal(calls, 0);
});
