// Needs a real Secret Service: run under scripts/with-secret-service.sh, which
// starts a throwaway, unlocked gnome-keyring on a private D-Bus session bus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { ManualClock, systemClock } from './clock.js';
import { KeyStoreCredentialSource } from './credential-source.js';
import { createKeySwapFilter } from './key-swap-filter.js';
import { KeyringKeyStore } from './keyring-key-store.js';
import { PhantomAuthority } from './phantom.js';

// A unique service per run, so a rerun or a parallel run never sees stale entries.
const service = `cordon-test-${process.pid}-${randomBytes(4).toString('hex')}`;
const KEY = `sk-ant-api03-${randomBytes(24).toString('base64url')}`;

void test('the test runs against a Secret Service session bus', () => {
  assert.ok(process.env['DBUS_SESSION_BUS_ADDRESS'], 'no DBUS_SESSION_BUS_ADDRESS: run under scripts/with-secret-service.sh');
});

void test('real Secret Service round trip: set, get, status, rotate, remove', async () => {
  const clock = new ManualClock(Date.parse('2026-03-01T09:00:00Z'));
  const store = new KeyringKeyStore({ clock, service });
  assert.deepEqual(await store.status('anthropic'), { ok: true, value: { provider: 'anthropic', state: 'absent' } });

  const set = await store.set('anthropic', KEY);
  assert.deepEqual(set, { ok: true, value: { provider: 'anthropic', state: 'present', lastSetAt: '2026-03-01T09:00:00.000Z', rotatedAt: null } });
  assert.deepEqual(await store.get('anthropic'), { ok: true, value: KEY });

  // A second store instance (a second `cordon` process) sees the same key and metadata.
  const again = new KeyringKeyStore({ clock, service });
  assert.deepEqual(await again.status('anthropic'), set);

  clock.advance(3_600_000);
  const rotated = await store.rotate('anthropic', `${KEY}x`);
  assert.deepEqual(rotated, {
    ok: true,
    value: { provider: 'anthropic', state: 'present', lastSetAt: '2026-03-01T10:00:00.000Z', rotatedAt: '2026-03-01T10:00:00.000Z' },
  });
  assert.deepEqual(await again.get('anthropic'), { ok: true, value: `${KEY}x` });

  assert.deepEqual(await store.remove('anthropic'), { ok: true, value: true });
  assert.deepEqual(await store.get('anthropic'), {
    ok: false,
    error: { code: 'not_found', message: 'no API key for anthropic: run `cordon keys set anthropic`' },
  });
  assert.deepEqual(await store.remove('anthropic'), { ok: true, value: false });
});

void test('the key is stored in the Secret Service, and the metadata entry beside it holds no key', async () => {
  const store = new KeyringKeyStore({ clock: systemClock, service });
  assert.equal((await store.set('openai', KEY)).ok, true);
  try {
    // Ask the Secret Service directly, bypassing Cordon, when secret-tool is installed.
    const lookup = spawnSync('secret-tool', ['lookup', 'service', service, 'username', 'openai'], { encoding: 'utf8' });
    if (lookup.error === undefined) assert.equal(lookup.stdout, KEY);
    const meta = spawnSync('secret-tool', ['lookup', 'service', service, 'username', 'meta:openai'], { encoding: 'utf8' });
    if (meta.error === undefined) assert.ok(!meta.stdout.includes(KEY));
  } finally {
    await store.remove('openai');
  }
});

void test('end to end over the real keychain: phantom in, real key out, rotation picked up live', async () => {
  const clock = new ManualClock();
  const store = new KeyringKeyStore({ clock, service });
  assert.equal((await store.set('anthropic', KEY)).ok, true);
  try {
    const authority = new PhantomAuthority({ clock });
    const grant = authority.issue({ sessionId: 'sess-1', provider: 'anthropic', providerHost: 'api.anthropic.com' });
    const audit = new MemoryAuditSink();
    const filter = createKeySwapFilter({
      authority,
      sessionId: 'sess-1',
      provider: 'anthropic',
      providerHost: 'api.anthropic.com',
      header: 'x-api-key',
      credential: new KeyStoreCredentialSource({ store, provider: 'anthropic', clock }),
      audit,
    });
    const first = await filter({ host: 'api.anthropic.com', headers: { 'x-api-key': grant.token } });
    assert.deepEqual(first, { kind: 'rewrite', headers: { 'x-api-key': KEY } });

    assert.equal((await store.rotate('anthropic', `${KEY}-rotated`)).ok, true);
    clock.advance(5_000);
    const second = await filter({ host: 'api.anthropic.com', headers: { 'x-api-key': grant.token } });
    assert.deepEqual(second, { kind: 'rewrite', headers: { 'x-api-key': `${KEY}-rotated` } });

    authority.revoke('sess-1');
    const third = await filter({ host: 'api.anthropic.com', headers: { 'x-api-key': grant.token } });
    assert.ok(third.kind === 'deny' && third.reason === 'revoked');
    assert.ok(!JSON.stringify(audit.events).includes(KEY));
    assert.ok(!JSON.stringify(audit.events).includes(grant.token));
  } finally {
    await store.remove('anthropic');
  }
});
