/**
 * An evidence bundle (issue 20): `$CORDON_HOME/evidence/<session>-<time>.tar.gz`
 * holding the files an investigator needs, `manifest.json` with the SHA-256
 * of each, and — when a signing key is available — `manifest.sig` (Ed25519
 * over the manifest's exact bytes) and `signing-key.pub.pem`. Threats R5-R7
 * in docs/threat-model-response.md.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { keyFingerprint, verifySignature, type SigningKey } from '../keys/signing-key.js';
import { readTar, writeTar, type TarEntry } from './tar-archive.js';

export const MANIFEST = 'manifest.json';
export const SIGNATURE = 'manifest.sig';
export const PUBLIC_KEY = 'signing-key.pub.pem';

const ManifestSchema = z.strictObject({
  version: z.literal(1),
  session: z.string(),
  createdAt: z.string(),
  reason: z.string(),
  files: z.array(z.strictObject({ name: z.string(), bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
  /** What could not be collected, and why (an unreachable tmpfs under gVisor, a dead host process …). */
  missing: z.array(z.strictObject({ name: z.string(), why: z.string() })),
  signature: z.union([z.strictObject({ alg: z.literal('ed25519'), keyFingerprint: z.string(), keyWhere: z.enum(['keychain', 'file']) }), z.strictObject({ alg: z.literal('none'), why: z.string() })]),
});
export type EvidenceManifest = z.infer<typeof ManifestSchema>;

export interface WrittenBundle {
  readonly path: string;
  /** SHA-256 of manifest.json's bytes: what the audit log records. */
  readonly manifestSha256: string;
  readonly signed: boolean;
  readonly keyFingerprint: string | null;
  readonly bytes: number;
}

/**
 * Writes the bundle atomically (a temporary name, fsync, rename) with mode
 * 0600 in a 0700 folder. SIGNER null writes it unsigned with WHY in the manifest.
 */
export function writeEvidenceBundle(opts: {
  readonly dir: string;
  readonly sessionId: string;
  readonly at: Date;
  readonly reason: string;
  readonly files: readonly TarEntry[];
  readonly missing: readonly { readonly name: string; readonly why: string }[];
  readonly signer: { readonly key: SigningKey } | { readonly key: null; readonly why: string };
}): WrittenBundle {
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const stamp = opts.at.toISOString().replace(/[:.]/g, '-');
  const path = join(opts.dir, `${opts.sessionId}-${stamp}.tar.gz`);
  const key = opts.signer.key;
  const manifest: EvidenceManifest = {
    version: 1,
    session: opts.sessionId,
    createdAt: opts.at.toISOString(),
    reason: opts.reason,
    files: opts.files.map((f) => ({ name: f.name, bytes: f.data.length, sha256: sha256(f.data) })),
    missing: [...opts.missing],
    signature: key ? { alg: 'ed25519', keyFingerprint: key.fingerprint, keyWhere: key.where } : { alg: 'none', why: 'why' in opts.signer ? opts.signer.why : 'no key' },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8');
  const entries: TarEntry[] = [{ name: MANIFEST, data: manifestBytes }];
  if (key) entries.push({ name: SIGNATURE, data: Buffer.from(key.sign(manifestBytes) + '\n', 'ascii') }, { name: PUBLIC_KEY, data: Buffer.from(key.publicPem, 'ascii') });
  entries.push(...opts.files);
  // Level 1: evidence is mostly JSON and small; speed matters more (the 10 s target).
  const gz = gzipSync(writeTar(entries, opts.at), { level: 1 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, gz);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return { path, manifestSha256: sha256(manifestBytes), signed: key !== null, keyFingerprint: key?.fingerprint ?? null, bytes: gz.length };
}

export type BundleCheck =
  | { readonly ok: true; readonly manifest: EvidenceManifest; readonly manifestSha256: string; readonly keyFingerprint: string }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks a bundle: every file listed with its hash, nothing extra, and the
 * signature by the shipped public key. TRUSTED (fingerprints) additionally
 * requires that key to be one of them — without it a forger could ship their
 * own key, so callers pass the fingerprint recorded in the audit log.
 */
export function verifyEvidenceBundle(path: string, trusted?: readonly string[]): BundleCheck {
  let entries: TarEntry[];
  try {
    entries = readTar(gunzipSync(readFileSync(path)));
  } catch (err) {
    return { ok: false, reason: `not a readable bundle: ${(err as Error).message}` };
  }
  const byName = new Map(entries.map((e) => [e.name, e.data]));
  if (byName.size !== entries.length) return { ok: false, reason: 'the bundle holds two entries with one name' };
  const manifestBytes = byName.get(MANIFEST);
  if (!manifestBytes) return { ok: false, reason: `${MANIFEST} is missing` };
  let manifest: EvidenceManifest;
  try {
    const parsed = ManifestSchema.safeParse(JSON.parse(manifestBytes.toString('utf8')));
    if (!parsed.success) return { ok: false, reason: `${MANIFEST} is malformed` };
    manifest = parsed.data;
  } catch {
    return { ok: false, reason: `${MANIFEST} is not JSON` };
  }
  const listed = new Set([MANIFEST, SIGNATURE, PUBLIC_KEY]);
  for (const f of manifest.files) {
    listed.add(f.name);
    const data = byName.get(f.name);
    if (!data) return { ok: false, reason: `${f.name} is listed but missing` };
    if (sha256(data) !== f.sha256) return { ok: false, reason: `${f.name} does not match its SHA-256 in the manifest` };
  }
  for (const name of byName.keys()) if (!listed.has(name)) return { ok: false, reason: `${name} is in the bundle but not in the manifest` };
  if (manifest.signature.alg === 'none') return { ok: false, reason: `the bundle is unsigned: ${manifest.signature.why}` };
  const sig = byName.get(SIGNATURE)?.toString('ascii').trim();
  const pub = byName.get(PUBLIC_KEY)?.toString('ascii');
  if (!sig || !pub) return { ok: false, reason: 'the signature or the public key is missing' };
  if (!verifySignature(pub, manifestBytes, sig)) return { ok: false, reason: 'the manifest signature does not verify' };
  const fp = keyFingerprint(pub);
  if (fp !== manifest.signature.keyFingerprint) return { ok: false, reason: 'the shipped key is not the one the manifest names' };
  if (trusted && !trusted.includes(fp)) return { ok: false, reason: `signed by key ${fp}, which is not a trusted key` };
  return { ok: true, manifest, manifestSha256: sha256(manifestBytes), keyFingerprint: fp };
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
