import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { systemClock } from '../keys/clock.js';
import { MemoryKeyStore } from '../keys/key-store.js';
import { verifyEvidenceBundle, writeEvidenceBundle } from './evidence-bundle.js';
import { loadSigningKey, SIGNING_KEY_ENTRY, SIGNING_KEY_FILE } from '../keys/signing-key.js';
import { readTar, writeTar } from './tar-archive.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-evidence-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function fileKey(sub: string) {
  const r = await loadSigningKey({ keyStore: null, keysDir: join(dir, sub) });
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.key;
}

function bundle(key: Awaited<ReturnType<typeof fileKey>> | null, name = 'b') {
  return writeEvidenceBundle({
    dir: join(dir, name),
    sessionId: 'abcdef012345',
    at: new Date('2030-01-02T03:04:05Z'),
    reason: 'test',
    files: [
      { name: 'a.json', data: Buffer.from('{"a":1}\n') },
      { name: 'sandbox-fs/tmp/payload.bin', data: Buffer.from([0, 1, 2, 255]) },
    ],
    missing: [],
    signer: key ? { key } : { key: null, why: 'no key in this test' },
  });
}

describe('evidence bundle', () => {
  test('a signed bundle verifies, is 0600, and is a tar.gz that GNU tar reads', async () => {
    const key = await fileKey('k1');
    const b = bundle(key);
    assert.equal(statSync(b.path).mode & 0o777, 0o600);
    const check = verifyEvidenceBundle(b.path, [key.fingerprint]);
    assert.ok(check.ok, check.ok ? '' : check.reason);
    assert.equal(check.manifestSha256, b.manifestSha256);
    const listed = spawnSync('tar', ['-tzf', b.path], { encoding: 'utf8' });
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(listed.stdout.trim().split('\n'), ['manifest.json', 'manifest.sig', 'signing-key.pub.pem', 'a.json', 'sandbox-fs/tmp/payload.bin']);
  });

  test('one changed byte in any file, an extra file, or a re-signed manifest with another key fails', async () => {
    const key = await fileKey('k2');
    const b = bundle(key, 'b2');
    const entries = readTar(gunzipSync(readFileSync(b.path)));
    const rewrite = (mutate: (e: typeof entries) => typeof entries): string => {
      const p = join(dir, `t-${Math.random()}.tar.gz`);
      writeFileSync(p, gzipSync(writeTar(mutate(entries.map((e) => ({ ...e }))), new Date())));
      return p;
    };
    const flipped = rewrite((es) => es.map((e) => (e.name === 'sandbox-fs/tmp/payload.bin' ? { ...e, data: Buffer.from([0, 1, 2, 254]) } : e)));
    assert.match(String((verifyEvidenceBundle(flipped) as { reason?: string }).reason), /payload\.bin does not match/);
    const extra = rewrite((es) => [...es, { name: 'planted.txt', data: Buffer.from('x') }]);
    assert.match(String((verifyEvidenceBundle(extra) as { reason?: string }).reason), /not in the manifest/);
    const manifestEdited = rewrite((es) => es.map((e) => (e.name === 'manifest.json' ? { ...e, data: Buffer.from(e.data.toString().replace('"test"', '"edited"')) } : e)));
    assert.match(String((verifyEvidenceBundle(manifestEdited) as { reason?: string }).reason), /signature does not verify/);
    // A forger with their own key: the bundle verifies by itself, but not against the key the audit log names.
    const other = await fileKey('k3');
    const forged = bundle(other, 'b3');
    assert.ok(verifyEvidenceBundle(forged.path).ok);
    assert.match(String((verifyEvidenceBundle(forged.path, [key.fingerprint]) as { reason?: string }).reason), /not a trusted key/);
  });

  test('an unsigned bundle says why and does not verify', () => {
    const b = bundle(null, 'b4');
    assert.equal(b.signed, false);
    assert.match(String((verifyEvidenceBundle(b.path) as { reason?: string }).reason), /unsigned: no key in this test/);
  });
});

describe('signing key', () => {
  test('the keychain holds it when it can; the same key comes back', async () => {
    const store = new MemoryKeyStore(systemClock);
    const a = await loadSigningKey({ keyStore: store, keysDir: join(dir, 'unused') });
    const b = await loadSigningKey({ keyStore: store, keysDir: join(dir, 'unused') });
    assert.ok(a.ok && b.ok);
    assert.equal(a.key.where, 'keychain');
    assert.equal(a.key.fingerprint, b.key.fingerprint);
    assert.ok((await store.get(SIGNING_KEY_ENTRY)).ok);
  });

  test('a file key is made 0600 when no keychain is reachable, and refused when others can read it (fail closed)', async () => {
    const keysDir = join(dir, 'filekey');
    const locked = new MemoryKeyStore(systemClock);
    locked.failWith = { code: 'no_secret_service', message: 'no Secret Service in this test' };
    const a = await loadSigningKey({ keyStore: locked, keysDir });
    assert.ok(a.ok, a.ok ? '' : a.message);
    assert.equal(a.key.where, 'file');
    assert.equal(statSync(join(keysDir, SIGNING_KEY_FILE)).mode & 0o777, 0o600);
    chmodSync(join(keysDir, SIGNING_KEY_FILE), 0o644);
    const b = await loadSigningKey({ keyStore: locked, keysDir });
    assert.equal(b.ok, false);
    assert.match(b.ok ? '' : b.message, /readable by others/);
    // An unexpected keychain failure is not a reason to use a file.
    const broken = new MemoryKeyStore(systemClock);
    broken.failWith = { code: 'backend_error', message: 'broken in this test' };
    const c = await loadSigningKey({ keyStore: broken, keysDir: join(dir, 'never') });
    assert.equal(c.ok, false);
    assert.throws(() => statSync(join(dir, 'never', SIGNING_KEY_FILE)));
  });
});

describe('sandbox tmpfs collection', () => {
  test('never reads through a process that shares the host\'s mount namespace or root (a gVisor host-side process, a recycled pid)', async () => {
    const { sandboxTmpfs } = await import('./evidence-collect.js');
    const r = sandboxTmpfs(process.pid, ['/tmp']);
    assert.equal(r.entries.length, 0, 'no host file copied');
    assert.match(r.missing[0]?.why ?? '', /host/);
  });
});
