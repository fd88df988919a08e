/**
 * Signed checkpoints of the audit chain (issue 20, item 2; threat C1 in
 * docs/threat-model-response.md). The head file catches a log cut short, but
 * not an insider who cuts the log and rewrites the head to match. A
 * checkpoint — `{seq, hash, time}` signed with Cordon's Ed25519 key — is kept
 * apart from the log (`audit/checkpoints/<seq>.json`) and also recorded in the
 * log as `audit.checkpoint`, so the exporters carry it off the machine. A log
 * that no longer holds a checkpoint's record with that hash was truncated or
 * rewritten, and verification names the last record still proven.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { keyFingerprint, verifySignature, type SigningKey } from '../keys/signing-key.js';
import type { AuditSink } from './audit-event.js';
import { HEAD_FILE } from './audit-log.js';

export const CHECKPOINT_DIR = 'checkpoints';

const CheckpointSchema = z.strictObject({
  v: z.literal(1),
  seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  time: z.string(),
  publicKey: z.string(),
  keyFingerprint: z.string(),
  signature: z.string(),
});
export type Checkpoint = z.infer<typeof CheckpointSchema>;

/** The exact bytes a checkpoint's signature covers. */
function signedText(seq: number, hash: string, time: string): Buffer {
  return Buffer.from(`cordon-audit-checkpoint:v1:${seq}:${hash}:${time}`, 'utf8');
}

/**
 * Signs the chain's current head into a checkpoint file and records it in the
 * log. Returns null (writing nothing) when the log is empty or the head was
 * already checkpointed (its record is then the last one).
 */
export function writeCheckpoint(auditDir: string, key: SigningKey, audit: AuditSink, now: Date = new Date()): Checkpoint | null {
  let head: { seq?: unknown; hash?: unknown };
  try {
    head = JSON.parse(readFileSync(join(auditDir, HEAD_FILE), 'utf8')) as typeof head;
  } catch {
    return null;
  }
  if (typeof head.seq !== 'number' || typeof head.hash !== 'string' || head.seq < 1) return null;
  const latest = listCheckpoints(auditDir).at(-1);
  // The last record is our own checkpoint record: nothing new to vouch for.
  if (latest && head.seq <= latest.seq + 1) return null;
  const time = now.toISOString();
  const cp: Checkpoint = { v: 1, seq: head.seq, hash: head.hash, time, publicKey: key.publicPem, keyFingerprint: key.fingerprint, signature: key.sign(signedText(head.seq, head.hash, time)) };
  const dir = join(auditDir, CHECKPOINT_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${String(cp.seq).padStart(12, '0')}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(cp) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  audit.record({
    kind: 'audit.checkpoint',
    ocsfClass: 'config_state',
    activity: { id: 99, name: 'Checkpoint' },
    outcome: 'success',
    message: `audit chain checkpoint at seq ${cp.seq}, signed by key ${cp.keyFingerprint}`,
    details: { checkpoint_seq: cp.seq, checkpoint_hash: cp.hash, checkpoint_time: time, key_fingerprint: cp.keyFingerprint, signature: cp.signature },
  });
  return cp;
}

/** Every checkpoint file that parses, oldest first; unreadable ones are reported by verifyCheckpoints. */
export function listCheckpoints(auditDir: string): Checkpoint[] {
  return readCheckpoints(auditDir).flatMap((c) => (c.ok ? [c.value] : []));
}

function readCheckpoints(auditDir: string): Array<{ ok: true; value: Checkpoint; file: string } | { ok: false; file: string }> {
  let names: string[];
  try {
    names = readdirSync(join(auditDir, CHECKPOINT_DIR)).filter((n) => /^\d{12}\.json$/.test(n)).sort();
  } catch {
    return [];
  }
  return names.map((n) => {
    const file = join(auditDir, CHECKPOINT_DIR, n);
    try {
      const parsed = CheckpointSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      return parsed.success ? { ok: true as const, value: parsed.data, file } : { ok: false as const, file };
    } catch {
      return { ok: false as const, file };
    }
  });
}

export type CheckpointVerdict =
  | { readonly ok: true; readonly checkpoints: number; readonly latest: Checkpoint | null }
  | { readonly ok: false; readonly checkpoints: number; readonly reason: string };

/**
 * Checks every checkpoint against the log's records (seq → hash, as the
 * verifier read them): a bad signature, a record that is gone (truncation,
 * deletion of the end) or whose hash differs (rewritten history). LOG gives
 * the last seq and the hashes of (at least) the checkpointed records. TRUSTED
 * fingerprints, when given, must include each checkpoint's key.
 */
export function verifyCheckpoints(auditDir: string, log: { readonly lastSeq: number; readonly hashes: ReadonlyMap<number, string> }, trusted?: readonly string[]): CheckpointVerdict {
  const all = readCheckpoints(auditDir);
  const lastSeq = log.lastSeq;
  for (const c of all) {
    if (!c.ok) return { ok: false, checkpoints: all.length, reason: `checkpoint ${c.file} is unreadable` };
    const cp = c.value;
    if (keyFingerprint(cp.publicKey) !== cp.keyFingerprint || !verifySignature(cp.publicKey, signedText(cp.seq, cp.hash, cp.time), cp.signature)) {
      return { ok: false, checkpoints: all.length, reason: `checkpoint at seq ${cp.seq} has a bad signature` };
    }
    if (trusted && !trusted.includes(cp.keyFingerprint)) return { ok: false, checkpoints: all.length, reason: `checkpoint at seq ${cp.seq} is signed by key ${cp.keyFingerprint}, which is not trusted` };
    const have = log.hashes.get(cp.seq);
    if (have === undefined || cp.seq > lastSeq) {
      return { ok: false, checkpoints: all.length, reason: `the log ends at seq ${lastSeq} but a checkpoint signed at ${cp.time} vouches for seq ${cp.seq}: records ${lastSeq + 1}..${cp.seq} (at least) were removed from the end` };
    }
    if (have !== cp.hash) return { ok: false, checkpoints: all.length, reason: `record ${cp.seq} differs from the one checkpointed at ${cp.time}: the log was rewritten` };
  }
  return { ok: true, checkpoints: all.length, latest: all.length > 0 && all.at(-1)?.ok ? (all.at(-1) as { value: Checkpoint }).value : null };
}
