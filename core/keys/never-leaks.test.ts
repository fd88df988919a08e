// Issue 4's "never leaks" rule, for everything this module can say: every
// refusal, error message and audit event produced on every failure path is
// collected and searched for the real key and the phantom.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { ManualClock } from './clock.js';
import { CommandCredentialSource, KeyStoreCredentialSource, type CredentialSource } from './credential-source.js';
import { normaliseKeyInput } from './key-input.js';
import { createKeySwapFilter } from './key-swap-filter.js';
import { MemoryKeyStore } from './key-store.js';
import { KeyringKeyStore, type KeyringBackend } from './keyring-key-store.js';
import { PhantomAuthority } from './phantom.js';

const REAL_KEY = 'sk-ant-api03-NEVERLEAK-Zm9vYmFyYmF6cXV4MDEyMzQ1Njc4OWFiY2RlZg';

function assertClean(text: string, secrets: readonly string[], where: string): void {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `${where} contains a secret: ${text.slice(0, 120)}`);
    // Also catch a secret that was only partly echoed (e.g. truncated).
    assert.ok(!text.includes(secret.slice(-24)), `${where} contains the tail of a secret`);
  }
}

void test('no refusal message or audit event on any path contains the real key or a phantom', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-leak-'));
  try {
    const clock = new ManualClock();
    const store = new MemoryKeyStore(clock);
    await store.set('anthropic', REAL_KEY);
    const authority = new PhantomAuthority({ clock });
    const grant = authority.issue({ sessionId: 's1', provider: 'anthropic', providerHost: 'api.anthropic.com' });
    const foreign = authority.issue({ sessionId: 's2', provider: 'anthropic', providerHost: 'api.anthropic.com' });
    const secrets = [REAL_KEY, grant.token, foreign.token];

    // Credential commands that fail while printing or echoing the key.
    writeFileSync(join(dir, 'echo-fail.mjs'), `process.stderr.write('denied for ${REAL_KEY}'); process.exit(2);`);
    writeFileSync(join(dir, 'echo-garbage.mjs'), `process.stdout.write('{"token": "${REAL_KEY}", "expiresAt": "soon"}');`);
    const sources: CredentialSource[] = [
      new KeyStoreCredentialSource({ store, provider: 'anthropic', clock }),
      new CommandCredentialSource({ provider: 'anthropic', argv: [process.execPath, join(dir, 'echo-fail.mjs')], clock }),
      new CommandCredentialSource({ provider: 'anthropic', argv: [process.execPath, join(dir, 'echo-garbage.mjs')], clock }),
    ];

    const audit = new MemoryAuditSink();
    const outputs: string[] = [];
    for (const credential of sources) {
      const filter = createKeySwapFilter({
        authority,
        sessionId: 's1',
        provider: 'anthropic',
        providerHost: 'api.anthropic.com',
        header: 'authorization-bearer',
        credential,
        audit,
      });
      const requests = [
        { host: 'api.anthropic.com', headers: { authorization: `Bearer ${grant.token}` } },
        { host: 'exfil.example', headers: { authorization: `Bearer ${grant.token}` } },
        { host: 'api.anthropic.com', headers: { 'x-api-key': foreign.token } },
        { host: 'api.anthropic.com', headers: { 'x-api-key': REAL_KEY } },
        { host: 'api.anthropic.com', headers: { 'x-api-key': grant.token, authorization: `Bearer ${REAL_KEY}` } },
        { host: 'api.anthropic.com', headers: { authorization: `Basic ${REAL_KEY}` } },
        { host: 'api.anthropic.com', headers: {} },
      ];
      for (const request of requests) {
        const result = await filter(request);
        if (result.kind === 'deny') outputs.push(JSON.stringify(result));
      }
    }
    // The failing sources must have produced no_credential refusals, so the check below covers them.
    assert.ok(outputs.some((o) => o.includes('no_credential') && o.includes('exited with status 2')));
    assert.ok(outputs.some((o) => o.includes('no_credential') && o.includes('ISO 8601')));

    // Keychain failures, including a platform error whose text contains the key.
    const backend: KeyringBackend = {
      open: () => {
        throw new Error(`Platform failure: unexpected item ${REAL_KEY}`);
      },
    };
    const keyring = new KeyringKeyStore({ clock, backend });
    for (const result of [await keyring.get('anthropic'), await keyring.set('anthropic', REAL_KEY), await keyring.status('anthropic')]) {
      outputs.push(JSON.stringify(result));
    }
    for (const bad of [`${REAL_KEY} ${REAL_KEY}`, `${REAL_KEY}\u0000`]) {
      outputs.push(JSON.stringify(normaliseKeyInput(bad)));
      outputs.push(JSON.stringify(await store.set('anthropic', bad)));
    }

    assert.ok(outputs.length >= 20);
    assert.ok(audit.events.length >= 18);
    for (const output of outputs) assertClean(output, secrets, 'refusal/error');
    for (const event of audit.events) assertClean(JSON.stringify(event), secrets, `audit event ${event.kind}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
