import { hostname } from 'node:os';
import { verifyAuditLogWithCheckpoints } from '../core/audit/audit-verify.js';
import { exportLines, ONE_OFF_FORMATS, type OneOffFormat } from '../core/export/one-off-export.js';
import { CliExit, productVersion } from './cli-exit.js';
import type { CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';
import { stopSignal } from './stop-signal.js';

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

/**
 * `cordon audit export [--since SEQ] [--format ocsf-json|syslog|cef]`:
 * records after SEQ on stdout, one a line. With `--follow`, instead delivers
 * to the policy's `audit.export` destinations from their cursors until
 * stopped (for machines where neither the app nor `cordon ui` runs).
 */
export async function auditExport(ctx: CliContext, opts: { since?: string; format?: string; follow?: boolean }): Promise<number> {
  if (opts.follow) {
    if (opts.since !== undefined || opts.format !== undefined) throw new CliExit(EXIT.usage, '--follow delivers to the destinations in policy (audit.export) from their own cursors; --since and --format are for a one-off export on stdout');
    return auditExportFollow(ctx);
  }
  const since = opts.since === undefined ? 0 : Number(opts.since);
  if (!Number.isInteger(since) || since < 0) throw new CliExit(EXIT.usage, `--since expects a record number (seq) ≥ 0, got ${JSON.stringify(opts.since)}`);
  const format = opts.format ?? 'ocsf-json';
  if (!isOneOffFormat(format)) throw new CliExit(EXIT.usage, `--format is ${ONE_OFF_FORMATS.join(', ')}; got ${JSON.stringify(format)}`);
  for (const line of exportLines(ctx.paths.auditDir, since, format, hostname(), productVersion())) process.stdout.write(`${line}\n`);
  return EXIT.ok;
}

function isOneOffFormat(f: string): f is OneOffFormat {
  return (ONE_OFF_FORMATS as readonly string[]).includes(f);
}

/**
 * Delivers until SIGINT or SIGTERM, then drains for up to 2 s. Where another
 * Cordon process (the app, `cordon ui`, another --follow) delivers a
 * destination, this one says so and waits to take over.
 */
async function auditExportFollow(ctx: CliContext): Promise<number> {
  const dests = ctx.loadedPolicy().policy.audit.export.destinations;
  if (dests.length === 0) throw new CliExit(EXIT.checkFailed, 'policy has no audit.export destinations, so there is nothing to deliver: add some (`cordon policy schema` describes audit.export.destinations), then run this again');
  const stopped = stopSignal();
  const say = (line: string): boolean => process.stderr.write(`cordon: ${line}\n`);
  const started = ctx.service.serveAuditExport((e) => {
    if (e.state === 'serving') say(`delivering the audit log to ${e.destination}`);
    else if (e.state === 'waiting') say(`${e.destination} is delivered by another Cordon process${e.holderPid ? ` (pid ${e.holderPid})` : ''}; waiting to take over when it ends`);
    else say(`${e.destination} was taken over by another Cordon process; waiting`);
  });
  if (!started.ok) throw new CliExit(EXIT.policyInvalid, started.message);
  say(`following the audit log for ${dests.length} destination(s); stop with Ctrl-C`);
  const signal = await stopped;
  say(`${signal}: delivering what is left (up to 2 s), then stopping`);
  await ctx.service.close();
  return EXIT.ok;
}
