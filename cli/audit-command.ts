import { verifyAuditLog } from '../core/audit/audit-verify.js';
import type { CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

export function auditVerify(ctx: CliContext, opts: { dir?: string; json?: boolean }): number {
  const dir = opts.dir ?? ctx.paths.auditDir;
  const res = verifyAuditLog(dir);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ dir, ...res }) + '\n');
  } else if (res.ok) {
    process.stdout.write(`audit log intact: ${res.records} record(s) in ${dir}\n`);
  } else {
    process.stdout.write(`audit log TAMPERED: line ${res.line}: ${res.reason} (${res.records} record(s) before it verified)\n`);
  }
  return res.ok ? EXIT.ok : EXIT.checkFailed;
}
