import { hostname } from 'node:os';
import { verifyAuditLogWithCheckpoints } from '../core/audit/audit-verify.js';
import { exportLines } from '../core/export/one-off-export.js';
import { CliExit } from './cli-exit.js';
import type { CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

export function auditVerify(ctx: CliContext, opts: { dir?: string; json?: boolean }): number {
  const dir = opts.dir ?? ctx.paths.auditDir;
  const res = verifyAuditLogWithCheckpoints(dir);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ dir, ...res }) + '\n');
  } else if (res.ok) {
    const cp = res.checkpoints;
    const cps = cp && cp.count > 0 ? `; ${cp.count} signed checkpoint(s) match, the newest at seq ${cp.latestSeq ?? '?'}` : '; no signed checkpoints yet, so a cut end of the log cannot be ruled out';
    process.stdout.write(`audit log intact: ${res.records} record(s) in ${dir}${cps}\n`);
  } else {
    const last = res.lastVerified ? `; last verified record: seq ${res.lastVerified.seq} (hash ${res.lastVerified.hash.slice(0, 16)}…)` : '; no record verified';
    process.stdout.write(`audit log TAMPERED: line ${res.line}: ${res.reason} (${res.records} record(s) before it verified${last})\n`);
  }
  return res.ok ? EXIT.ok : EXIT.checkFailed;
}

/** `cordon audit export [--since SEQ] [--format ocsf-json|syslog]`: records after SEQ on stdout, one a line. */
export function auditExport(ctx: CliContext, opts: { since?: string; format?: string }): number {
  const since = opts.since === undefined ? 0 : Number(opts.since);
  if (!Number.isInteger(since) || since < 0) throw new CliExit(EXIT.usage, `--since expects a record number (seq) ≥ 0, got ${JSON.stringify(opts.since)}`);
  const format = opts.format ?? 'ocsf-json';
  if (format !== 'ocsf-json' && format !== 'syslog') throw new CliExit(EXIT.usage, `--format is ocsf-json or syslog, got ${JSON.stringify(format)}`);
  for (const line of exportLines(ctx.paths.auditDir, since, format, hostname())) process.stdout.write(`${line}\n`);
  return EXIT.ok;
}
