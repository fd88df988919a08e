/**
 * The per-install inspection CA (issue 19, item 1): generated on first use,
 * its private key in the OS keychain only, its certificate in
 * `$CORDON_HOME/inspection-ca/ca.crt` (public; what sandboxes trust).
 *
 * Threats: docs/threat-model-inspection.md (I1, I2, I14). The key never
 * touches a file, an argument, the environment or an error message; a locked
 * keychain is an error, never a reason to make or use a key elsewhere.
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyStoreError, KeyStoreResult } from '../keys/key-store.js';
import { certificatePem, issueCertificate, publicKeyOf } from './x509-der.js';

/**
 * Where the CA's private key lives: one keychain item. `get` answers null
 * when nothing is stored (and only then: a locked keychain is an error).
 */
export interface CaKeySlot {
  get(): Promise<KeyStoreResult<string | null>>;
  set(value: string): Promise<KeyStoreResult<void>>;
}

/** An in-memory slot for tests; `failWith` simulates a locked keychain. */
export class MemoryCaKeySlot implements CaKeySlot {
  value: string | null = null;
  failWith: KeyStoreError | null = null;
  get(): Promise<KeyStoreResult<string | null>> {
    return Promise.resolve(this.failWith ? { ok: false, error: this.failWith } : { ok: true, value: this.value });
  }
  set(value: string): Promise<KeyStoreResult<void>> {
    if (this.failWith) return Promise.resolve({ ok: false, error: this.failWith });
    this.value = value;
    return Promise.resolve({ ok: true, value: undefined });
  }
}

/** The CA's folder under CORDON_HOME, and its certificate file. */
export function inspectionCaDir(cordonHome: string): string {
  return join(cordonHome, 'inspection-ca');
}
export const CA_CERT_FILE = 'ca.crt';

/** Ten years: rotation is an explicit act (`cordon ca rotate`), not an expiry surprise. */
const CA_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;
const CA_SUBJECT = 'Cordon inspection CA';

/** A loaded CA: its certificate (public) and its key (held by the proxy process only). */
export interface InspectionCa {
  readonly certPem: string;
  readonly key: KeyObject;
  readonly publicKey: KeyObject;
  readonly subject: string;
}

/** What `cordon ca show` prints: never the key. */
export interface CaDescription {
  readonly path: string;
  readonly subject: string;
  readonly sha256: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly certPem: string;
}

export type CaResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: 'keychain' | 'mismatch' | 'io'; readonly message: string };

/** The PKCS#8 DER of the key as one line of base64url: what a keychain item (visible ASCII) can hold. */
function encodeKey(key: KeyObject): string {
  return (key.export({ type: 'pkcs8', format: 'der' })).toString('base64url');
}

function decodeKey(text: string): KeyObject | null {
  try {
    return createPrivateKey({ key: Buffer.from(text, 'base64url'), format: 'der', type: 'pkcs8' });
  } catch {
    return null;
  }
}

function readCert(dir: string): string | null {
  try {
    return readFileSync(join(dir, CA_CERT_FILE), 'utf8');
  } catch {
    return null;
  }
}

/** Writes the certificate atomically (a reader never sees half a file); 0644, it is public. */
function writeCert(dir: string, pem: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${CA_CERT_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, pem, { mode: 0o644 });
  renameSync(tmp, join(dir, CA_CERT_FILE));
}

function keychainFailure<T>(error: KeyStoreError): CaResult<T> {
  return { ok: false, code: 'keychain', message: `the inspection CA's key is kept in the OS keychain, which failed: ${error.message}` };
}

/** Makes a new CA: key to the keychain first, then the certificate (so a certificate never names a key that was not stored). */
async function createCa(dir: string, slot: CaKeySlot, now: number): Promise<CaResult<InspectionCa>> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stored = await slot.set(encodeKey(privateKey));
  if (!stored.ok) return keychainFailure(stored.error);
  return certifyKey(dir, privateKey, publicKey, now);
}

/** Issues and writes the self-signed CA certificate for KEY. */
function certifyKey(dir: string, key: KeyObject, publicKey: KeyObject, now: number): CaResult<InspectionCa> {
  // Back-dated an hour: a sandbox whose clock runs a little behind still accepts it.
  const der = issueCertificate({ kind: 'ca', subject: CA_SUBJECT, publicKey, signingKey: key, notBefore: now - 3600_000, notAfter: now + CA_LIFETIME_MS });
  const certPem = certificatePem(der);
  try {
    writeCert(dir, certPem);
  } catch (e) {
    return { ok: false, code: 'io', message: `the inspection CA's certificate could not be written in ${dir}: ${(e as Error).message}` };
  }
  return { ok: true, value: { certPem, key, publicKey, subject: CA_SUBJECT } };
}

/**
 * The CA, created on first use. A stored key with a certificate that does
 * not match it is an error (someone replaced one of the two), as is any
 * keychain failure; only a keychain that answers "nothing stored" leads to a
 * new CA.
 */
export async function loadOrCreateInspectionCa(dir: string, slot: CaKeySlot, now: number = Date.now()): Promise<CaResult<InspectionCa>> {
  const stored = await slot.get();
  if (!stored.ok) return keychainFailure(stored.error);
  const certPem = readCert(dir);
  if (stored.value === null) return createCa(dir, slot, now);
  const key = decodeKey(stored.value);
  if (key === null) return { ok: false, code: 'mismatch', message: 'the keychain item for the inspection CA does not hold a key Cordon wrote; run `cordon ca rotate` to make a new CA' };
  const publicKey = publicKeyOf(key);
  // The certificate file was removed: re-issue it for the stored key (same key, same trust decision).
  if (certPem === null) return certifyKey(dir, key, publicKey, now);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return { ok: false, code: 'mismatch', message: `${join(dir, CA_CERT_FILE)} is not a certificate; run \`cordon ca rotate\` to make a new CA` };
  }
  if (!cert.checkPrivateKey(key)) return { ok: false, code: 'mismatch', message: `${join(dir, CA_CERT_FILE)} does not belong to the key in the keychain; run \`cordon ca rotate\` to make a new CA` };
  return { ok: true, value: { certPem, key, publicKey, subject: CA_SUBJECT } };
}

/** Replaces the CA (new key, new certificate). Sessions already running keep the CA their sandbox trusts. */
export function rotateInspectionCa(dir: string, slot: CaKeySlot, now: number = Date.now()): Promise<CaResult<InspectionCa>> {
  return createCa(dir, slot, now);
}

/** The certificate as `cordon ca show` reports it, or null when no CA was made yet. Reads no key. */
export function describeInspectionCa(dir: string): CaDescription | null {
  const certPem = readCert(dir);
  if (certPem === null) return null;
  const cert = new X509Certificate(certPem);
  return {
    path: join(dir, CA_CERT_FILE),
    subject: cert.subject.replace(/\n/g, ', '),
    sha256: createHash('sha256').update(cert.raw).digest('hex').replace(/(..)(?!$)/g, '$1:').toUpperCase(),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    certPem,
  };
}
