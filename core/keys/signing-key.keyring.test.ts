// Needs a real Secret Service: run under scripts/with-secret-service.sh (scripts/run-tests.mjs does).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { systemClock } from './clock.js';
import { KeyringKeyStore } from './keyring-key-store.js';
import { loadSigningKey, SIGNING_KEY_ENTRY, SIGNING_KEY_FILE, verifySignature } from './signing-key.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-signing-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the signing key lives in the real Secret Service, comes back the same, and no file key is made', async () => {
  const store = new KeyringKeyStore({ clock: systemClock, service: `cordon-test-${process.pid}` });
  try {
    const a = await loadSigningKey({ keyStore: store, keysDir: dir });
    assert.ok(a.ok, a.ok ? '' : a.message);
    assert.equal(a.key.where, 'keychain');
    const b = await loadSigningKey({ keyStore: store, keysDir: dir });
    assert.ok(b.ok);
    assert.equal(b.key.fingerprint, a.key.fingerprint);
    const sig = b.key.sign(Buffer.from('x'));
    assert.ok(verifySignature(a.key.publicPem, Buffer.from('x'), sig));
    assert.ok(!existsSync(join(dir, SIGNING_KEY_FILE)), 'no file key while the keychain works');
    const lookup = spawnSync('secret-tool', ['search', '--all', 'service', `cordon-test-${process.pid}`], { encoding: 'utf8' });
    assert.match(lookup.stdout + lookup.stderr, new RegExp(SIGNING_KEY_ENTRY));
  } finally {
    await store.remove(SIGNING_KEY_ENTRY);
  }
});
