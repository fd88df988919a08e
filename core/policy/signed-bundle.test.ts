import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  FileSerialStore,
  bundleMetaFromOptions,
  bundlePathFor,
  generateBundleKeyPair,
  isBundleDocument,
  keyIdOf,
  loadSignedBundle,
  publicKeyIdFromPem,
  signBundle,
  signatureFileFor,
  verifyBundle,
  type BundleMeta,
} from './signed-bundle.js';

const signer = generateBundleKeyPair();
const stranger = generateBundleKeyPair();
const policy = { egress: { mode: 'enforce', allow: ['api.anthropic.com'] }, keys: { phantomTtlMinutes: 30 } };
const meta: BundleMeta = { serial: 5, issuedAt: new Date('2026-01-01T00:00:00Z'), expiresAt: new Date('2026-07-01T00:00:00Z') };
const during = { now: new Date('2026-03-01T00:00:00Z'), lastSeenSerial: null };

function signed(doc: unknown = policy, m: BundleMeta = meta, key = signer.privateKeyPem): { bytes: Buffer; sig: string; sha256: string } {
  const r = signBundle(doc, key, m);
  assert.ok(r.ok, r.ok ? '' : r.message);
  return { bytes: Buffer.from(r.bundleText, 'utf8'), sig: r.signature, sha256: r.sha256 };
}

test('a valid bundle verifies and returns the policy as signed', () => {
  const { bytes, sig, sha256 } = signed();
  const r = verifyBundle(bytes, sig, [signer.publicKeyPem], during);
  assert.ok(r.kind === 'allow');
  if (r.kind === 'allow') {
    assert.deepEqual(r.policy, policy);
    assert.equal(r.serial, 5);
    assert.equal(r.keyId, signer.keyId);
    assert.equal(r.sha256, sha256);
    assert.equal(r.expiresAt.toISOString(), '2026-07-01T00:00:00.000Z');
  }
});

test('any trusted key may have signed; a trailing newline in the .sig is fine', () => {
  const { bytes, sig } = signed();
  const r = verifyBundle(bytes, `${sig}\n`, [stranger.publicKeyPem, signer.publicKeyPem], during);
  assert.ok(r.kind === 'allow');
});

test('one changed byte is a bad signature', () => {
  const { bytes, sig } = signed();
  const tampered = Buffer.from(bytes);
  // 30 -> 90 minutes: still valid JSON and a valid policy, only the signature can tell.
  const at = tampered.indexOf('"phantomTtlMinutes": 30') + '"phantomTtlMinutes": '.length;
  assert.ok(at > 30);
  tampered[at] = '9'.charCodeAt(0);
  const r = verifyBundle(tampered, sig, [signer.publicKeyPem], during);
  assert.equal(r.kind, 'deny');
  if (r.kind === 'deny') {
    assert.equal(r.reason, 'bad_signature');
    assert.match(r.message, /re-deploy/);
  }
});

test('a bundle signed by a key that is not trusted is refused, naming the key', () => {
  const { bytes, sig } = signed(policy, meta, stranger.privateKeyPem);
  const r = verifyBundle(bytes, sig, [signer.publicKeyPem], during);
  assert.equal(r.kind, 'deny');
  if (r.kind === 'deny') {
    assert.equal(r.reason, 'untrusted_key');
    assert.ok(r.message.includes(stranger.keyId));
  }
});

test('no trusted key at all refuses every bundle', () => {
  const { bytes, sig } = signed();
  const r = verifyBundle(bytes, sig, [], during);
  assert.equal(r.kind === 'allow' ? 'ok' : r.reason, 'untrusted_key');
});

test('a trust entry that is not an Ed25519 public key is a configuration error', () => {
  const { bytes, sig } = signed();
  const r = verifyBundle(bytes, sig, ['-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n', signer.publicKeyPem], during);
  assert.equal(r.kind === 'allow' ? 'ok' : r.reason, 'untrusted_key');
  if (r.kind === 'deny') assert.match(r.message, /trusted key #1/);
});

test('a lower serial than the last accepted one is a rollback', () => {
  const { bytes, sig } = signed();
  const r = verifyBundle(bytes, sig, [signer.publicKeyPem], { now: during.now, lastSeenSerial: 6 });
  assert.equal(r.kind === 'allow' ? 'ok' : r.reason, 'rollback');
  if (r.kind === 'deny') assert.match(r.message, /above 6/);
});

test('an equal serial is accepted for the same bundle and refused for different content', () => {
  const first = signed();
  const same = verifyBundle(first.bytes, first.sig, [signer.publicKeyPem], { now: during.now, lastSeenSerial: 5, lastSeenSha256: first.sha256 });
  assert.ok(same.kind === 'allow');
  const other = signed({ keys: { phantomTtlMinutes: 90 } });
  const r = verifyBundle(other.bytes, other.sig, [signer.publicKeyPem], { now: during.now, lastSeenSerial: 5, lastSeenSha256: first.sha256 });
  assert.equal(r.kind === 'allow' ? 'ok' : r.reason, 'rollback');
  const higher = verifyBundle(other.bytes, other.sig, [signer.publicKeyPem], { now: during.now, lastSeenSerial: 4, lastSeenSha256: first.sha256 });
  assert.ok(higher.kind === 'allow');
});

test('an expired bundle is refused from expiresAt on', () => {
  const { bytes, sig } = signed();
  const r = verifyBundle(bytes, sig, [signer.publicKeyPem], { now: meta.expiresAt, lastSeenSerial: null });
  assert.equal(r.kind === 'allow' ? 'ok' : r.reason, 'expired');
});

test('a bundle issued in the future is not yet valid, beyond a few minutes of clock skew', () => {
  const { bytes, sig } = signed();
  const early = verifyBundle(bytes, sig, [signer.publicKeyPem], { now: new Date('2025-12-31T23:00:00Z'), lastSeenSerial: null });
  assert.equal(early.kind === 'allow' ? 'ok' : early.reason, 'not_yet_valid');
  const skewed = verifyBundle(bytes, sig, [signer.publicKeyPem], { now: new Date('2025-12-31T23:58:00Z'), lastSeenSerial: null });
  assert.ok(skewed.kind === 'allow');
});

test('signed bytes that are not JSON, or not a bundle, are malformed', () => {
  const key = createPrivateKey(signer.privateKeyPem);
  for (const text of ['{"format": "cordon-policy-bundle/1", ', JSON.stringify({ format: 'cordon-policy-bundle/1', serial: 1 })]) {
    const bytes = Buffer.from(text);
    const r = verifyBundle(bytes, sign(null, bytes, key).toString('base64'), [signer.publicKeyPem], during);
    assert.equal(r.kind === 'allow' ? 'ok' : r.reason, 'malformed');
  }
});

test('a signature file that is not base64 of 64 bytes is malformed', () => {
  const { bytes, sig } = signed();
  for (const bad of ['not base64 at all!', sig.slice(0, 40), `${sig}AAAA`, '']) {
    const r = verifyBundle(bytes, bad, [signer.publicKeyPem], during);
    assert.equal(r.kind === 'allow' ? 'ok' : r.reason, 'malformed', bad);
  }
});

test('signBundle refuses an invalid policy, a non-Ed25519 key and a backwards validity window', () => {
  const bad = signBundle({ egress: { mod: 'enforce' } }, signer.privateKeyPem, meta);
  assert.equal(bad.ok ? 'ok' : bad.reason, 'invalid_policy');
  if (!bad.ok && bad.reason === 'invalid_policy') assert.equal(bad.issues[0]?.path, 'egress');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const r = signBundle(policy, rsa, meta);
  assert.equal(r.ok ? 'ok' : r.reason, 'bad_key');
  const garbage = signBundle(policy, 'not a key', meta);
  assert.equal(garbage.ok ? 'ok' : garbage.reason, 'bad_key');
  const backwards = signBundle(policy, signer.privateKeyPem, { ...meta, expiresAt: meta.issuedAt });
  assert.equal(backwards.ok ? 'ok' : backwards.reason, 'bad_meta');
});

test('key ids: 16 hex of SHA-256 of the raw key, equal for the public and private half', () => {
  assert.match(signer.keyId, /^[0-9a-f]{16}$/);
  assert.equal(keyIdOf(signer.publicKeyPem), signer.keyId);
  assert.equal(keyIdOf(createPrivateKey(signer.privateKeyPem)), signer.keyId);
  const fromPriv = publicKeyIdFromPem(signer.privateKeyPem);
  assert.deepEqual(fromPriv, { ok: true, keyId: signer.keyId });
  assert.equal(publicKeyIdFromPem('junk').ok, false);
  assert.equal(signatureFileFor('/etc/cordon/policies/managed/policy.bundle.json'), '/etc/cordon/policies/managed/policy.bundle.json.sig');
});

const dir = mkdtempSync(join(tmpdir(), 'cordon-serials-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the serial store keeps the highest serial per channel and never moves back', () => {
  const store = new FileSerialStore(join(dir, 'state'));
  assert.deepEqual(store.read('managed'), { ok: true, record: null });
  const now = new Date('2026-03-01T00:00:00Z');
  assert.ok(store.record('managed', 5, 'a'.repeat(64), now).ok);
  assert.ok(store.record('recommended', 2, 'b'.repeat(64), now).ok);
  const again = new FileSerialStore(join(dir, 'state'));
  const r = again.read('managed');
  assert.ok(r.ok && r.record?.serial === 5 && r.record.sha256 === 'a'.repeat(64));
  assert.equal(again.record('managed', 4, 'c'.repeat(64), now).ok, false);
  assert.ok(again.record('managed', 5, 'd'.repeat(64), now).ok);
});

test('a corrupt serial state file is an error, not an empty state', () => {
  const store = new FileSerialStore(join(dir, 'corrupt'));
  assert.ok(store.record('managed', 1, 'a'.repeat(64), new Date()).ok);
  writeFileSync(store.file, '{"version": 1, "channels": ');
  const r = store.read('managed');
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.message, /restore it from backup/);
  assert.equal(store.record('managed', 9, 'a'.repeat(64), new Date()).ok, false);
});

test('sign options: serial, issued-at and validity parse into bundle dates, with actionable errors', () => {
  const now = new Date('2026-03-01T00:00:00Z');
  const r = bundleMetaFromOptions({ serial: '12', validFor: '30d' }, now);
  assert.ok(r.ok);
  if (r.ok) {
    assert.equal(r.meta.serial, 12);
    assert.equal(r.meta.issuedAt.toISOString(), '2026-03-01T00:00:00.000Z');
    assert.equal(r.meta.expiresAt.toISOString(), '2026-03-31T00:00:00.000Z');
  }
  const dflt = bundleMetaFromOptions({ serial: '1', issuedAt: '2026-01-01T00:00:00Z' }, now);
  assert.ok(dflt.ok && dflt.meta.expiresAt.toISOString() === '2026-04-01T00:00:00.000Z');
  const bad = [bundleMetaFromOptions({ serial: '-1' }, now), bundleMetaFromOptions({ serial: '1', validFor: '3 weeks' }, now), bundleMetaFromOptions({ serial: '1', issuedAt: 'yesterday' }, now), bundleMetaFromOptions({ serial: '1', validFor: '0d' }, now)];
  for (const b of bad) assert.equal(b.ok, false);
  assert.equal(bundlePathFor('/tmp/enterprise.json'), '/tmp/enterprise.bundle.json');
  assert.equal(isBundleDocument({ format: 'cordon-policy-bundle/1' }), true);
  assert.equal(isBundleDocument({ egress: {} }), false);
});

test('loadSignedBundle: accepts and records, then refuses an older bundle and a missing signature, naming the file', () => {
  const base = join(dir, 'load');
  const store = new FileSerialStore(join(base, 'state'));
  mkdirSync(base, { recursive: true });
  const write = (name: string, serial: number, withSig = true): string => {
    const r = signBundle(policy, signer.privateKeyPem, { ...meta, serial });
    assert.ok(r.ok);
    const file = join(base, name);
    if (r.ok) {
      writeFileSync(file, r.bundleText);
      if (withSig) writeFileSync(signatureFileFor(file), r.signature);
    }
    return file;
  };
  const newer = write('newer.bundle.json', 8);
  const older = write('older.bundle.json', 7);
  const unsigned = write('unsigned.bundle.json', 9, false);
  const ok = loadSignedBundle(newer, [signer.publicKeyPem], store, 'managed', during.now);
  assert.ok(ok.kind === 'allow' && ok.serial === 8 && ok.file === newer);
  assert.ok(loadSignedBundle(newer, [signer.publicKeyPem], store, 'managed', during.now).kind === 'allow', 'the bundle in force loads again');
  const back = loadSignedBundle(older, [signer.publicKeyPem], store, 'managed', during.now);
  assert.equal(back.kind === 'allow' ? 'ok' : back.reason, 'rollback');
  assert.equal(back.file, older);
  const noSig = loadSignedBundle(unsigned, [signer.publicKeyPem], store, 'managed', during.now);
  assert.equal(noSig.kind === 'allow' ? 'ok' : noSig.reason, 'malformed');
  if (noSig.kind === 'deny') assert.match(noSig.message, /signature file is missing/);
  assert.ok(loadSignedBundle(older, [signer.publicKeyPem], store, 'recommended', during.now).kind === 'allow', 'serials are per channel');
});
