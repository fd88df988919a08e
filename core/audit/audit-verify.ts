import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_FILE, GENESIS_HASH, HEAD_FILE, sha256 } from './audit-log.js';
import { listCheckpoints, verifyCheckpoints } from './checkpoints.js';

export type VerifyResult =
  | { readonly ok: true; readonly records: number; readonly lastHash: string; readonly checkpoints?: CheckpointSummary }
  | { readonly ok: false; readonly records: number; readonly line: number; readonly reason: string; readonly lastVerified?: { readonly seq: number; readonly hash: string } | null };

/** What the signed checkpoints say (issue 20): how many, and the newest one still matched by the log. */
export interface CheckpointSummary {
  readonly count: number;
  readonly latestSeq: number | null;
}

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;

/**
 * Checks the audit log in DIR: every line parses, its own hash matches its text,
 * `seq` counts up by one from 1, `prev_hash` is the previous record's hash, and
 * the head file agrees with the last record (so dropping the newest records is
 * caught). Names the first bad line (1-based). A missing log is intact and empty.
 */
export function verifyAuditLog(dir: string): VerifyResult {
  return verifyChain(dir, new Set()).result;
}

/**
 * verifyAuditLog, then the signed checkpoints (core/audit/checkpoints.ts):
 * a log cut short with its head file rewritten to match, or a rewritten
 * history, is caught as long as one checkpoint outlives it. A failure names
 * the last record the chain still proves (`lastVerified`).
 */
export function verifyAuditLogWithCheckpoints(dir: string): VerifyResult {
  const wanted = new Set(listCheckpoints(dir).map((c) => c.seq));
  const { result, hashes, last } = verifyChain(dir, wanted);
  if (!result.ok) return { ...result, lastVerified: last };
  const verdict = verifyCheckpoints(dir, { lastSeq: result.records, hashes });
  if (!verdict.ok) return { ok: false, records: result.records, line: result.records + 1, reason: verdict.reason, lastVerified: last };
  return { ...result, checkpoints: { count: verdict.checkpoints, latestSeq: verdict.latest?.seq ?? null } };
}

function verifyChain(dir: string, wanted: ReadonlySet<number>): { result: VerifyResult; hashes: Map<number, string>; last: { seq: number; hash: string } | null } {
  const hashes = new Map<number, string>();
  let last: { seq: number; hash: string } | null = null;
  const result = walkChain(dir, (seq, hash) => {
    if (wanted.has(seq)) hashes.set(seq, hash);
    last = { seq, hash };
  });
  return { result, hashes, last };
}

function walkChain(dir: string, onRecord: (seq: number, hash: string) => void): VerifyResult {
  const file = join(dir, AUDIT_FILE);
  if (!existsSync(file)) return { ok: true, records: 0, lastHash: GENESIS_HASH };
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const n = i + 1;
    const bad = (reason: string): VerifyResult => ({ ok: false, records: i, line: n, reason });
    const m = HASH_SUFFIX.exec(line);
    if (!m) return bad('record has no hash field at its end (edited or truncated)');
    const hash = m[1] as string;
    const body = `${line.slice(0, line.length - m[0].length)}}`;
    let rec: { seq?: unknown; prev_hash?: unknown };
    try {
      rec = JSON.parse(body) as typeof rec;
    } catch {
      return bad('record is not valid JSON');
    }
    if (sha256(body) !== hash) return bad('record was edited: its hash does not match its content');
    if (rec.seq !== expectedSeq) {
      return bad(typeof rec.seq === 'number' && rec.seq > expectedSeq ? `record ${expectedSeq} is missing (found seq ${rec.seq})` : `records are out of order (found seq ${String(rec.seq)}, expected ${expectedSeq})`);
    }
    if (rec.prev_hash !== prev) return bad('chain broken: prev_hash does not match the previous record (a record was removed, inserted or reordered)');
    onRecord(expectedSeq, hash);
    prev = hash;
    expectedSeq++;
  }
  const records = lines.length;
  const headPath = join(dir, HEAD_FILE);
  if (records > 0) {
    if (!existsSync(headPath)) return { ok: false, records, line: records, reason: `head file ${HEAD_FILE} is missing; the end of the log cannot be checked` };
    let head: { seq?: unknown; hash?: unknown };
    try {
      head = JSON.parse(readFileSync(headPath, 'utf8')) as typeof head;
    } catch {
      return { ok: false, records, line: records, reason: `head file ${HEAD_FILE} is corrupt` };
    }
    if (head.seq !== records || head.hash !== prev) {
      return {
        ok: false,
        records,
        line: records + 1,
        reason: typeof head.seq === 'number' && head.seq > records ? `records ${records + 1}..${head.seq} were removed from the end of the log` : 'log and head file disagree about the last record',
      };
    }
  }
  return { ok: true, records, lastHash: prev };
}
