/**
 * The Ed25519 key that signs evidence bundles and audit checkpoints (issue
 * 20; threats R5, R6, C1 in docs/threat-model-response.md).
 *
 * Where it lives, in order:
 * 1. the OS keychain, entry `cordon-signing` of the key store (PKCS#8 DER,
 *    base64), created there on first use;
 * 2. only when no keychain can be reached or it is locked: a file key
 *    `$CORDON_HOME/keys/signing-ed25519.pem`, created 0600 in a 0700 folder.
 *
 * Fail closed: any other keychain failure, or a file key that is not a
 * regular file, is readable by group or others, or belongs to another user,
 * yields no key (never a weaker one); callers then write unsigned and say so.
 * Verifiers trust a key by its fingerprint, which Cordon writes to the
 * hash-chained audit log next to whatever it signed.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyStore } from './key-store.js';

/** The key store entry (a provider-shaped name that no provider uses). */
export const SIGNING_KEY_ENTRY = 'cordon-signing';
export const SIGNING_KEY_FILE = 'signing-ed25519.pem';

export interface SigningKey {
  readonly where: 'keychain' | 'file';
  /** SPKI PEM of the public half, shipped beside every signature. */
  readonly publicPem: string;
  /** First 16 hex characters of SHA-256 over the public key's SPKI DER. */
  readonly fingerprint: string;
  /** Ed25519 signature (base64) over DATA. */
  sign(data: Buffer): string;
}

export type SigningKeyResult = { readonly ok: true; readonly key: SigningKey } | { readonly ok: false; readonly message: string };

/** Loads (or creates) the signing key: keychain first, file key only when no keychain is usable. Never throws. */
export async function loadSigningKey(opts: { readonly keyStore: KeyStore | null; readonly keysDir: string; readonly uid?: number }): Promise<SigningKeyResult> {
  let keychainWhy = 'no keychain configured';
  if (opts.keyStore) {
    const got = await opts.keyStore.get(SIGNING_KEY_ENTRY).catch((err: unknown) => ({ ok: false as const, error: { code: 'backend_error' as const, message: (err as Error).message } }));
    if (got.ok) {
      try {
        return { ok: true, key: fromPrivate(createPrivateKey({ key: Buffer.from(got.value, 'base64'), format: 'der', type: 'pkcs8' }), 'keychain') };
      } catch {
        return { ok: false, message: `the keychain entry ${SIGNING_KEY_ENTRY} does not hold an Ed25519 key; remove it (cordon keys remove ${SIGNING_KEY_ENTRY}) to have a new one made` };
      }
    }
    if (got.error.code === 'not_found') {
      const pair = generateKeyPairSync('ed25519');
      const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
      const put = await opts.keyStore.set(SIGNING_KEY_ENTRY, der);
      if (put.ok) return { ok: true, key: fromPrivate(pair.privateKey, 'keychain') };
      if (put.error.code !== 'no_secret_service' && put.error.code !== 'locked') return { ok: false, message: `signing key not stored in the keychain: ${put.error.message}` };
      keychainWhy = put.error.message;
    } else if (got.error.code === 'no_secret_service' || got.error.code === 'locked') {
      keychainWhy = got.error.message;
    } else {
      // An unexpected keychain failure is not a reason to fall back to a file.
      return { ok: false, message: `signing key unavailable: ${got.error.message}` };
    }
  }
  return loadFileKey(opts.keysDir, opts.uid ?? process.getuid?.() ?? -1, keychainWhy);
}

function loadFileKey(dir: string, uid: number, keychainWhy: string): SigningKeyResult {
  const file = join(dir, SIGNING_KEY_FILE);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  let st;
  try {
    st = lstatSync(file);
  } catch {
    st = null;
  }
  if (st === null) {
    const pair = generateKeyPairSync('ed25519');
    const pem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    // O_EXCL: two processes creating it at once cannot both win, and a planted symlink is not followed.
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch {
      return loadFileKey(dir, uid, keychainWhy);
    }
    try {
      writeSync(fd, pem);
    } finally {
      closeSync(fd);
    }
    return { ok: true, key: fromPrivate(pair.privateKey, 'file') };
  }
  if (!st.isFile()) return { ok: false, message: `signing key ${file} is not a regular file; refusing it` };
  if ((st.mode & 0o077) !== 0) return { ok: false, message: `signing key ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); refusing it: chmod 600 it, or delete it to have a new one made` };
  if (uid >= 0 && st.uid !== uid) return { ok: false, message: `signing key ${file} belongs to uid ${st.uid}, not you; refusing it` };
  try {
    const fd = openSync(file, 'r');
    try {
      if (fstatSync(fd).ino !== st.ino) return { ok: false, message: `signing key ${file} changed while it was read; refusing it` };
    } finally {
      closeSync(fd);
    }
    const key = createPrivateKey(readFileSync(file));
    if (key.asymmetricKeyType !== 'ed25519') return { ok: false, message: `signing key ${file} is not an Ed25519 key` };
    return { ok: true, key: fromPrivate(key, 'file') };
  } catch (err) {
    return { ok: false, message: `signing key ${file} cannot be read (${(err as Error).message}); keychain: ${keychainWhy}` };
  }
}

function fromPrivate(priv: KeyObject, where: 'keychain' | 'file'): SigningKey {
  const pub = createPublicKey(priv);
  const publicPem = pub.export({ format: 'pem', type: 'spki' }).toString();
  return { where, publicPem, fingerprint: keyFingerprint(publicPem), sign: (data) => sign(null, data, priv).toString('base64') };
}

/** The fingerprint of a public key given as SPKI PEM (what audit records carry). */
export function keyFingerprint(publicPem: string): string {
  const der = createPublicKey(publicPem).export({ format: 'der', type: 'spki' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/** True when SIGNATURE (base64) is PUBLICPEM's Ed25519 signature over DATA. Never throws. */
export function verifySignature(publicPem: string, data: Buffer, signature: string): boolean {
  try {
    return verify(null, data, createPublicKey(publicPem), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
