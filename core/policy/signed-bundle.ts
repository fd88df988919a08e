/**
 * Signed policy bundles (issue 6, item 3): IT signs a policy document with an
 * Ed25519 key; laptops accept it only when the detached signature verifies
 * against a trusted public key, the bundle is inside its validity window, and
 * its serial does not go backwards.
 *
 * Bundle file (UTF-8 JSON, signed byte for byte as written):
 *
 *   { "format": "cordon-policy-bundle/1", "keyId": "<16 hex>", "serial": 7,
 *     "issuedAt": "<ISO 8601>", "expiresAt": "<ISO 8601>", "policy": { ... } }
 *
 * Signature file `<bundle>.sig`: base64 of the 64-byte Ed25519 signature over
 * the exact bundle bytes. `keyId` is part of the signed bytes; it only tells the
 * verifier which trusted key to report, it never selects trust on its own.
 *
 * Anti-rollback: a bundle whose serial is below the last accepted serial is
 * refused. An equal serial is accepted only for the same bundle (same SHA-256)
 * when the caller passes the stored hash, so re-reading the file in force at
 * every start works while a different bundle reusing an old serial does not.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { allow, deny, type Allow, type Deny } from '../decision.js';
import { PolicySchema, describeZodIssues, type PolicyIssue } from './policy-schema.js';

/** The `format` value of every bundle this module writes and accepts. */
export const BUNDLE_FORMAT = 'cordon-policy-bundle/1';

/** Suffix of the detached signature file next to a bundle. */
export const SIGNATURE_SUFFIX = '.sig';

/** Largest bundle accepted; a policy is kilobytes, so anything bigger is not one. */
export const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;

/**
 * How far a bundle's `issuedAt` may lie in the future of the local clock and
 * still count as valid: a freshly signed bundle reaching a laptop whose clock
 * runs a little behind must not stop launches.
 */
export const ISSUED_AT_SKEW_MS = 5 * 60 * 1000;

/** Path of the signature file that belongs to `bundlePath`. */
export function signatureFileFor(bundlePath: string): string {
  return `${bundlePath}${SIGNATURE_SUFFIX}`;
}

const KEY_ID = /^[0-9a-f]{16}$/;
const isoDate = z.iso.datetime({ offset: true });

const BundleEnvelopeSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  keyId: z.string().regex(KEY_ID, '16 lower-case hex digits'),
  serial: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  issuedAt: isoDate,
  expiresAt: isoDate,
  policy: z.record(z.string(), z.unknown()),
});

/** Validity data written into a bundle. */
export interface BundleMeta {
  /** Non-negative integer; must grow with every bundle IT publishes. */
  readonly serial: number;
  readonly issuedAt: Date;
  /** Must be after `issuedAt`; laptops refuse the bundle from this instant on. */
  readonly expiresAt: Date;
}

/** Result of {@link signBundle}. */
export type SignBundleResult =
  | {
      readonly ok: true;
      /** The bundle file content; write these exact bytes (UTF-8). */
      readonly bundleText: string;
      /** Content of the `.sig` file: the base64 signature, no newline. */
      readonly signature: string;
      readonly keyId: string;
      /** SHA-256 (hex) of the bundle bytes, as the serial store records it. */
      readonly sha256: string;
    }
  | { readonly ok: false; readonly reason: 'bad_key' | 'bad_meta'; readonly message: string }
  | { readonly ok: false; readonly reason: 'invalid_policy'; readonly message: string; readonly issues: readonly PolicyIssue[] };

/**
 * Wraps `policyDoc` in a bundle and signs it with an Ed25519 private key (PEM,
 * PKCS#8). The policy is validated against the policy schema first, so a bundle
 * that every laptop would refuse is never produced. Nothing is written to disk.
 */
export function signBundle(policyDoc: unknown, privateKeyPem: string, meta: BundleMeta): SignBundleResult {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(privateKeyPem);
  } catch {
    // The parser's message could quote key material; say only what to do.
    return { ok: false, reason: 'bad_key', message: 'the signing key is not a PEM private key; create one with `openssl genpkey -algorithm ed25519 -out policy-signing.pem`' };
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    return { ok: false, reason: 'bad_key', message: `the signing key is ${privateKey.asymmetricKeyType ?? 'of an unknown type'}, not Ed25519; create one with \`openssl genpkey -algorithm ed25519\`` };
  }
  const metaProblem = checkMeta(meta);
  if (metaProblem !== null) return { ok: false, reason: 'bad_meta', message: metaProblem };
  const parsed = PolicySchema.safeParse(policyDoc);
  if (!parsed.success) {
    const issues = describeZodIssues('policy', parsed.error);
    return { ok: false, reason: 'invalid_policy', message: `the policy is not valid (${issues.length} problem${issues.length === 1 ? '' : 's'}); fix it before signing`, issues };
  }
  const keyId = keyIdOf(createPublicKey(privateKey));
  // The document as given, not zod's output: defaults filled in by parsing
  // would turn "not set" into "set", which matters for merge precedence.
  const envelope = {
    format: BUNDLE_FORMAT,
    keyId,
    serial: meta.serial,
    issuedAt: meta.issuedAt.toISOString(),
    expiresAt: meta.expiresAt.toISOString(),
    policy: policyDoc,
  };
  const bundleText = `${JSON.stringify(envelope, null, 2)}\n`;
  const bytes = Buffer.from(bundleText, 'utf8');
  const signature = sign(null, bytes, privateKey).toString('base64');
  return { ok: true, bundleText, signature, keyId, sha256: sha256Hex(bytes) };
}

function checkMeta(meta: BundleMeta): string | null {
  if (!Number.isSafeInteger(meta.serial) || meta.serial < 0) return `serial must be a non-negative integer, got ${meta.serial}`;
  if (Number.isNaN(meta.issuedAt.getTime())) return 'issuedAt is not a valid date';
  if (Number.isNaN(meta.expiresAt.getTime())) return 'expiresAt is not a valid date';
  if (meta.expiresAt.getTime() <= meta.issuedAt.getTime()) return 'expiresAt must be after issuedAt';
  return null;
}

/** Why a bundle was refused; each one means no session may launch on it. */
export type BundleRefusal = 'bad_signature' | 'untrusted_key' | 'malformed' | 'expired' | 'not_yet_valid' | 'rollback';

/** What {@link verifyBundle} allows: the signed policy and what vouches for it. */
export type VerifiedBundle = {
  /** The signed policy document, not yet validated against the policy schema. */
  readonly policy: unknown;
  readonly serial: number;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  /** Key id of the trusted key whose signature verified. */
  readonly keyId: string;
  /** SHA-256 (hex) of the bundle bytes; store it with the serial. */
  readonly sha256: string;
};

/** Decision of {@link verifyBundle}: trust the bundle, or refuse it; `message` names what to do about a refusal. */
export type VerifyBundleResult = Deny<BundleRefusal> | Allow<VerifiedBundle>;

/** Inputs to {@link verifyBundle} that are not the bundle itself. */
export interface VerifyOptions {
  readonly now: Date;
  /** Highest serial accepted before on this machine; null when none was. */
  readonly lastSeenSerial: number | null;
  /**
   * SHA-256 (hex) of the bundle accepted with `lastSeenSerial`. When given, an
   * equal serial is accepted only for that exact bundle; when omitted, any
   * bundle with an equal serial is accepted.
   */
  readonly lastSeenSha256?: string;
}

/**
 * Checks a bundle and its detached signature, in this order: signature format,
 * trusted keys, signature, envelope shape, validity window, serial. An empty
 * `trustedPublicKeysPem` refuses every bundle (`untrusted_key`): deciding that
 * unsigned policy is acceptable is the caller's job, not this function's.
 */
export function verifyBundle(bundleBytes: Buffer, signatureB64: string, trustedPublicKeysPem: readonly string[], opts: VerifyOptions): VerifyBundleResult {
  if (bundleBytes.length > MAX_BUNDLE_BYTES) {
    return refuse('malformed', `the bundle is ${bundleBytes.length} bytes, more than the ${MAX_BUNDLE_BYTES} a policy bundle may have; check that the right file was deployed`);
  }
  const signature = decodeSignature(signatureB64);
  if (signature === null) {
    return refuse('malformed', 'the signature file is not the base64 of a 64-byte Ed25519 signature; re-create it with `cordon policy sign`');
  }
  const trusted: Array<{ key: KeyObject; keyId: string }> = [];
  for (const [i, pem] of trustedPublicKeysPem.entries()) {
    const key = parsePublicKey(pem);
    if (key === null) {
      // A broken trust entry is a configuration error; ignoring it could let
      // a bundle through that the administrator meant to pin to that key.
      return refuse('untrusted_key', `trusted key #${i + 1} is not an Ed25519 public key in PEM form; fix the trust configuration`);
    }
    trusted.push({ key, keyId: keyIdOf(key) });
  }
  if (trusted.length === 0) {
    return refuse('untrusted_key', 'no trusted policy signing key is configured, so no signed bundle can be accepted; add the public key to the managed trust file');
  }
  const signer = trusted.find((t) => verify(null, bundleBytes, t.key, signature));
  if (signer === undefined) {
    // The signed keyId, if readable, tells a wrong-key deployment apart from a
    // tampered file; either way the bundle is refused.
    const claimed = peekKeyId(bundleBytes);
    if (claimed !== null && !trusted.some((t) => t.keyId === claimed)) {
      return refuse('untrusted_key', `the bundle was signed with key ${claimed}, which is not trusted here (trusted: ${trusted.map((t) => t.keyId).join(', ')}); sign with a trusted key or deploy its public key`);
    }
    return refuse('bad_signature', 'the signature does not match the bundle: the file was changed after signing or the .sig belongs to another bundle; re-deploy both files from the signing system');
  }

  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bundleBytes));
  } catch {
    return refuse('malformed', 'the bundle is signed but is not UTF-8 JSON; re-create it with `cordon policy sign`');
  }
  const env = BundleEnvelopeSchema.safeParse(json);
  if (!env.success) {
    const where = env.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return refuse('malformed', `the bundle is signed but is not a ${BUNDLE_FORMAT} bundle (${where}); re-create it with \`cordon policy sign\``);
  }
  const b = env.data;
  if (b.keyId !== signer.keyId) {
    return refuse('malformed', `the bundle names key ${b.keyId} but was signed by ${signer.keyId}; re-create it with \`cordon policy sign\``);
  }
  const issuedAt = new Date(b.issuedAt);
  const expiresAt = new Date(b.expiresAt);
  if (expiresAt.getTime() <= issuedAt.getTime()) {
    return refuse('malformed', 'the bundle expires before it is issued; re-sign it with a later expiry');
  }
  const now = opts.now.getTime();
  if (now + ISSUED_AT_SKEW_MS < issuedAt.getTime()) {
    return refuse('not_yet_valid', `the bundle is valid only from ${b.issuedAt}; check this machine's clock or deploy a bundle issued earlier`);
  }
  if (now >= expiresAt.getTime()) {
    return refuse('expired', `the bundle expired at ${b.expiresAt}; publish a newly signed bundle with a higher serial`);
  }
  const sha256 = sha256Hex(bundleBytes);
  if (opts.lastSeenSerial !== null) {
    if (b.serial < opts.lastSeenSerial) {
      return refuse('rollback', `the bundle has serial ${b.serial}, lower than serial ${opts.lastSeenSerial} already accepted on this machine; deploy the current bundle or sign a new one with a serial above ${opts.lastSeenSerial}`);
    }
    if (b.serial === opts.lastSeenSerial && opts.lastSeenSha256 !== undefined && opts.lastSeenSha256 !== sha256) {
      return refuse('rollback', `the bundle reuses serial ${b.serial} with different content; every new bundle needs a higher serial (above ${opts.lastSeenSerial})`);
    }
  }
  return allow({ policy: b.policy, serial: b.serial, issuedAt, expiresAt, keyId: signer.keyId, sha256 });
}

function refuse(reason: BundleRefusal, message: string): VerifyBundleResult {
  return deny(reason, message);
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Strict base64 of exactly 64 bytes; surrounding whitespace (a trailing newline) is fine. */
function decodeSignature(text: string): Buffer | null {
  const t = text.trim();
  // Buffer.from(..., 'base64') skips characters it does not know, so check first.
  if (!BASE64.test(t) || t.length % 4 !== 0) return null;
  const bytes = Buffer.from(t, 'base64');
  return bytes.length === 64 ? bytes : null;
}

function parsePublicKey(pem: string): KeyObject | null {
  try {
    const key = createPublicKey(pem);
    return key.asymmetricKeyType === 'ed25519' ? key : null;
  } catch {
    return null;
  }
}

/** Reads `keyId` from unverified bytes, only to phrase a refusal. */
function peekKeyId(bytes: Buffer): string | null {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof v === 'object' && v !== null && 'keyId' in v && typeof v.keyId === 'string' && KEY_ID.test(v.keyId)) return v.keyId;
  } catch {
    // Unreadable: nothing to report beyond a bad signature.
  }
  return null;
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Key id of an Ed25519 public key: the first 16 hex digits of SHA-256 over the
 * raw 32-byte key (not its PEM, so the same key always has the same id). A
 * private key stands for its public half. Throws TypeError for a key that is
 * not Ed25519 (a programming error here; use {@link publicKeyIdFromPem} on
 * untrusted input).
 */
export function keyIdOf(key: KeyObject | string): string {
  const pub = typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new TypeError('not an Ed25519 key');
  const jwk = pub.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 key');
  return createHash('sha256').update(Buffer.from(jwk.x, 'base64url')).digest('hex').slice(0, 16);
}

/** Result of {@link publicKeyIdFromPem}. */
export type KeyIdResult = { readonly ok: true; readonly keyId: string } | { readonly ok: false; readonly message: string };

/** Key id of a PEM public or private Ed25519 key, as a value (for `cordon policy sign` output and trust files). */
export function publicKeyIdFromPem(pem: string): KeyIdResult {
  try {
    return { ok: true, keyId: keyIdOf(pem.includes('PRIVATE KEY') ? createPrivateKey(pem) : pem) };
  } catch {
    return { ok: false, message: 'not an Ed25519 key in PEM form' };
  }
}

/** A new Ed25519 key pair in PEM (PKCS#8 private, SPKI public), for tests and `cordon policy keygen`-style tooling. */
export function generateBundleKeyPair(): { privateKeyPem: string; publicKeyPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** Result of {@link bundleMetaFromOptions}. */
export type BundleMetaResult = { readonly ok: true; readonly meta: BundleMeta } | { readonly ok: false; readonly message: string };

/**
 * Turns `cordon policy sign` option strings into {@link BundleMeta}:
 * `serial` a non-negative integer (required: only IT knows the last one it
 * published), `issuedAt` an ISO 8601 time (default `now`), `validFor` a
 * duration like "90d", "12h" or "30m" (default 90 days). Errors name the
 * option and an accepted form.
 */
export function bundleMetaFromOptions(opts: { readonly serial: string; readonly issuedAt?: string; readonly validFor?: string }, now: Date): BundleMetaResult {
  if (!/^\d{1,15}$/.test(opts.serial)) return { ok: false, message: `--serial must be a non-negative integer, e.g. --serial 12 (got "${opts.serial}")` };
  const serial = Number(opts.serial);
  let issuedAt = now;
  if (opts.issuedAt !== undefined) {
    if (!isoDate.safeParse(opts.issuedAt).success) return { ok: false, message: `--issued-at must be an ISO 8601 time, e.g. 2026-03-01T09:00:00Z (got "${opts.issuedAt}")` };
    issuedAt = new Date(opts.issuedAt);
  }
  const m = /^(\d{1,5})([dhm])$/.exec(opts.validFor ?? '90d');
  if (m === null) return { ok: false, message: `--valid-for must be a duration like 90d, 12h or 30m (got "${opts.validFor ?? ''}")` };
  const unitMs = m[2] === 'd' ? 86_400_000 : m[2] === 'h' ? 3_600_000 : 60_000;
  const lifetime = Number(m[1]) * unitMs;
  if (lifetime <= 0) return { ok: false, message: '--valid-for must be longer than zero' };
  return { ok: true, meta: { serial, issuedAt, expiresAt: new Date(issuedAt.getTime() + lifetime) } };
}

/** Where `cordon policy sign` writes the bundle for `policy.json`: `policy.bundle.json` (its signature: `policy.bundle.json.sig`). */
export function bundlePathFor(policyPath: string): string {
  return `${policyPath.replace(/\.json$/i, '')}.bundle.json`;
}

/** True when parsed JSON declares itself a signed bundle, so a loader can tell a bundle from a plain policy file. */
export function isBundleDocument(json: unknown): boolean {
  return typeof json === 'object' && json !== null && 'format' in json && json.format === BUNDLE_FORMAT;
}

/** Result of {@link loadSignedBundle}: the verified policy, or the refusal with the file it concerns. */
export type LoadBundleResult =
  | Deny<BundleRefusal | 'unreadable' | 'state', { readonly file: string }>
  | Allow<VerifiedBundle & { readonly file: string }>;

/**
 * Reads `bundlePath` and its `.sig`, verifies them against the trusted keys
 * and the serial recorded for `channel`, and records the accepted serial. A
 * missing signature file is `malformed` (a bundle without one is never
 * accepted as unsigned); an unreadable or corrupt serial state is `state`.
 */
export function loadSignedBundle(bundlePath: string, trustedPublicKeysPem: readonly string[], store: SerialStore, channel: string, now: Date): LoadBundleResult {
  let bytes: Buffer;
  let sig: string;
  try {
    bytes = readFileSync(bundlePath);
  } catch (err) {
    return deny('unreadable', `cannot read the bundle: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { file: bundlePath });
  }
  const sigPath = signatureFileFor(bundlePath);
  try {
    sig = readFileSync(sigPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? 'the signature file is missing; deploy the .sig written by `cordon policy sign` next to the bundle' : `cannot read the signature file: ${code ?? 'error'}`;
    return deny('malformed', message, { file: sigPath });
  }
  const last = store.read(channel);
  if (!last.ok) return deny('state', last.message, { file: bundlePath });
  const r = verifyBundle(bytes, sig, trustedPublicKeysPem, {
    now,
    lastSeenSerial: last.record?.serial ?? null,
    ...(last.record !== null ? { lastSeenSha256: last.record.sha256 } : {}),
  });
  if (r.kind === 'deny') return { ...r, file: bundlePath };
  const rec = store.record(channel, r.serial, r.sha256, now);
  if (!rec.ok) return deny('state', rec.message, { file: bundlePath });
  return { ...r, file: bundlePath };
}

/** The last bundle accepted on one channel (e.g. "managed", "recommended"). */
export interface SerialRecord {
  readonly serial: number;
  readonly sha256: string;
  /** ISO 8601 time the bundle was accepted, for support staff. */
  readonly acceptedAt: string;
}

/** Result of reading the anti-rollback state. */
export type SerialReadResult = { readonly ok: true; readonly record: SerialRecord | null } | { readonly ok: false; readonly message: string };

/** Anti-rollback state: the highest accepted serial per channel. */
export interface SerialStore {
  /** The last accepted bundle on `channel`, or null when none was accepted yet. */
  read(channel: string): SerialReadResult;
  /**
   * Records an accepted bundle. A serial lower than the stored one is refused
   * (the state never moves backwards); an equal one replaces the hash.
   */
  record(channel: string, serial: number, sha256: string, now: Date): { readonly ok: true } | { readonly ok: false; readonly message: string };
}

const SerialFileSchema = z.strictObject({
  version: z.literal(1),
  channels: z.record(
    z.string(),
    z.strictObject({
      serial: z.number().int().min(0),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      acceptedAt: z.string(),
    }),
  ),
});

/**
 * {@link SerialStore} in one JSON file (`policy-serials.json`) under `dir`,
 * replaced atomically (write to a temporary file, fsync, rename) so a crash
 * never leaves a half-written state. A state file that exists but cannot be
 * read or parsed is an error, never "no state": treating it as empty would
 * re-open every old bundle to replay.
 */
export class FileSerialStore implements SerialStore {
  readonly file: string;

  constructor(private readonly dir: string) {
    this.file = join(dir, 'policy-serials.json');
  }

  read(channel: string): SerialReadResult {
    const state = this.load();
    if (!state.ok) return state;
    return { ok: true, record: state.channels[channel] ?? null };
  }

  record(channel: string, serial: number, sha256: string, now: Date): { readonly ok: true } | { readonly ok: false; readonly message: string } {
    const state = this.load();
    if (!state.ok) return state;
    const prev = state.channels[channel];
    if (prev !== undefined && serial < prev.serial) {
      return { ok: false, message: `serial ${serial} is below serial ${prev.serial} already recorded for ${channel} policy` };
    }
    const next = { version: 1 as const, channels: { ...state.channels, [channel]: { serial, sha256, acceptedAt: now.toISOString() } } };
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
      const fd = openSync(tmp, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      try {
        renameSync(tmp, this.file);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
    } catch (err) {
      return { ok: false, message: `cannot write ${this.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` };
    }
    return { ok: true };
  }

  private load(): { ok: true; channels: Record<string, SerialRecord> } | { ok: false; message: string } {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { ok: true, channels: {} };
      return { ok: false, message: `cannot read ${this.file}: ${code ?? 'error'}` };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, message: `${this.file} is not valid JSON; restore it from backup, or remove it only if you accept that older bundles may be replayed once` };
    }
    const parsed = SerialFileSchema.safeParse(json);
    if (!parsed.success) {
      return { ok: false, message: `${this.file} is not a serial state file; restore it from backup, or remove it only if you accept that older bundles may be replayed once` };
    }
    return { ok: true, channels: parsed.data.channels };
  }
}
