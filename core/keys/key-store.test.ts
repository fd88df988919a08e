import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './clock.js';
import { MemoryKeyStore, requireStoredKey, validateSecret, type KeyStore } from './key-store.js';
import { KeyringKeyStore, classifyKeyringError, type KeyringBackend, type KeyringEntry } from './keyring-key-store.js';
import { isValidProviderName } from './provider-name.js';

const KEY = 'sk-ant-api03-memory-0123456789abcdefghijklmnop';

/** A fake platform keychain: a Map, plus a switch to make every call throw like the real binding does. */
class FakeBackend implements KeyringBackend {
  readonly items = new Map<string, string>();
  throwWith: Error | null = null;
  open(service: string, account: string): KeyringEntry {
    const id = `${service}/${account}`;
    const guard = (): void => {
      if (this.throwWith !== null) throw this.throwWith;
    };
    return {
      getPassword: () => {
        guard();
        return Promise.resolve(this.items.get(id) ?? null);
      },
      setPassword: (value) => {
        guard();
        this.items.set(id, value);
        return Promise.resolve();
      },
      deletePassword: () => {
        guard();
        return Promise.resolve(this.items.delete(id));
      },
    };
  }
}

/** The contract every KeyStore meets; run against the fake and the keyring store over a fake backend. */
async function exerciseContract(store: KeyStore, clock: ManualClock): Promise<void> {
  assert.deepEqual(await store.status('anthropic'), { ok: true, value: { provider: 'anthropic', state: 'absent' } });
  const missing = await store.get('anthropic');
  assert.deepEqual(missing, { ok: false, error: { code: 'not_found', message: 'no API key for anthropic: run `cordon keys set anthropic`' } });

  const rotateNothing = await store.rotate('anthropic', KEY);
  assert.ok(!rotateNothing.ok && rotateNothing.error.code === 'not_found');

  const setAt = new Date(clock.now()).toISOString();
  assert.deepEqual(await store.set('anthropic', KEY), { ok: true, value: { provider: 'anthropic', state: 'present', lastSetAt: setAt, rotatedAt: null } });
  assert.deepEqual(await store.get('anthropic'), { ok: true, value: KEY });

  clock.advance(60_000);
  const rotatedAt = new Date(clock.now()).toISOString();
  assert.deepEqual(await store.rotate('anthropic', `${KEY}-2`), {
    ok: true,
    value: { provider: 'anthropic', state: 'present', lastSetAt: rotatedAt, rotatedAt },
  });
  assert.deepEqual(await store.get('anthropic'), { ok: true, value: `${KEY}-2` });

  // A later plain `set` keeps the rotation record.
  clock.advance(60_000);
  const reset = await store.set('anthropic', KEY);
  assert.ok(reset.ok && reset.value.state === 'present' && reset.value.rotatedAt === rotatedAt);

  const status = await store.status('anthropic');
  assert.ok(status.ok && status.value.state === 'present');
  assert.ok(!JSON.stringify(status).includes(KEY), 'status must never carry the value');

  assert.deepEqual(await store.remove('anthropic'), { ok: true, value: true });
  assert.deepEqual(await store.remove('anthropic'), { ok: true, value: false });
  assert.deepEqual(await store.status('anthropic'), { ok: true, value: { provider: 'anthropic', state: 'absent' } });

  const badProvider = await store.get('../etc');
  assert.ok(!badProvider.ok && badProvider.error.code === 'invalid_provider');
  const badSecret = await store.set('anthropic', 'two words');
  assert.ok(!badSecret.ok && badSecret.error.code === 'invalid_secret' && !badSecret.error.message.includes('two words'));
}

void test('MemoryKeyStore meets the KeyStore contract', async () => {
  const clock = new ManualClock();
  await exerciseContract(new MemoryKeyStore(clock), clock);
});

void test('KeyringKeyStore meets the KeyStore contract over a fake platform keychain', async () => {
  const clock = new ManualClock();
  const backend = new FakeBackend();
  await exerciseContract(new KeyringKeyStore({ clock, backend, service: 'cordon-test' }), clock);
  assert.equal(backend.items.size, 0, 'remove deletes the metadata entry too');
});

void test('KeyringKeyStore keeps metadata in a separate entry that never holds the key', async () => {
  const clock = new ManualClock();
  const backend = new FakeBackend();
  const store = new KeyringKeyStore({ clock, backend });
  await store.set('anthropic', KEY);
  assert.deepEqual([...backend.items.keys()].sort(), ['cordon/anthropic', 'cordon/meta:anthropic']);
  const meta = backend.items.get('cordon/meta:anthropic') ?? '';
  assert.ok(!meta.includes(KEY));
  assert.deepEqual(JSON.parse(meta), { v: 1, lastSetAt: new Date(clock.now()).toISOString(), rotatedAt: null });
});

void test('a key written by another tool (no metadata) reads as present with unknown timestamps', async () => {
  const backend = new FakeBackend();
  backend.items.set('cordon/anthropic', KEY);
  backend.items.set('cordon/meta:anthropic', 'not json');
  const store = new KeyringKeyStore({ clock: new ManualClock(), backend });
  assert.deepEqual(await store.status('anthropic'), {
    ok: true,
    value: { provider: 'anthropic', state: 'present', lastSetAt: null, rotatedAt: null },
  });
});

void test('platform failures become typed errors with a fix, never exceptions', async () => {
  const backend = new FakeBackend();
  const store = new KeyringKeyStore({ clock: new ManualClock(), backend });
  backend.throwWith = new Error('Platform failure: DBus error: Failed to connect to socket /run/user/1000/bus: No such file or directory');
  const noService = await store.get('anthropic');
  assert.ok(!noService.ok);
  assert.equal(noService.error.code, 'no_secret_service');
  assert.match(noService.error.message, /start gnome-keyring.*docs\/keys\.md/);

  backend.throwWith = new Error("Couldn't access platform storage: Secret Service: no result found");
  const locked = await store.set('anthropic', KEY);
  assert.ok(!locked.ok && locked.error.code === 'locked' && /unlock/.test(locked.error.message));
  assert.ok(!locked.ok && !locked.error.message.includes(KEY));
});

void test('classifyKeyringError scrubs long tokens from platform text and drops decode errors entirely', () => {
  const secretish = 'A'.repeat(20) + 'b'.repeat(20);
  const generic = classifyKeyringError(new Error(`something odd near ${secretish}`));
  assert.equal(generic.code, 'backend_error');
  assert.ok(!generic.message.includes(secretish));
  const decode = classifyKeyringError(new Error(`Couldn't decode password: [115, 107] ${secretish}`));
  assert.ok(!decode.message.includes('115') && !decode.message.includes(secretish));
  assert.equal(classifyKeyringError('string thrown').code, 'backend_error');
  assert.equal(classifyKeyringError(undefined).code, 'backend_error');
});

void test('validateSecret refuses empty, oversized and header-smuggling values without echoing them', () => {
  assert.equal(validateSecret(KEY).ok, true);
  for (const bad of ['', 'x'.repeat(8193), 'sk-abc\r\nX-Injected: 1', 'sk abc', 'sk-ä']) {
    const result = validateSecret(bad);
    assert.ok(!result.ok);
    assert.ok(!result.ok && (bad.length < 4 || !result.error.message.includes(bad)));
  }
});

void test('provider names: a small boring alphabet', () => {
  for (const ok of ['anthropic', 'openai', 'azure-openai', 'my_llm2', 'a']) assert.equal(isValidProviderName(ok), true, ok);
  for (const bad of ['', 'Anthropic', '1abc', '-x', 'meta:anthropic', '../x', 'a'.repeat(33), 'sk-ant api']) {
    assert.equal(isValidProviderName(bad), false, bad);
  }
});

void test('requireStoredKey: launch preflight passes only with a stored key, and explains every failure', async () => {
  const clock = new ManualClock();
  const store = new MemoryKeyStore(clock);
  assert.deepEqual(await requireStoredKey(store, 'anthropic'), {
    ok: false,
    error: { code: 'not_found', message: 'no API key for anthropic: run `cordon keys set anthropic`' },
  });
  await store.set('anthropic', KEY);
  assert.deepEqual(await requireStoredKey(store, 'anthropic'), { ok: true, value: undefined });
  store.failWith = { code: 'no_secret_service', message: 'no Secret Service on the D-Bus session bus: start gnome-keyring' };
  const failed = await requireStoredKey(store, 'anthropic');
  assert.ok(!failed.ok && failed.error.code === 'no_secret_service');
});
