import type { CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

/**
 * `cordon doctor`: one line per check (core/service/doctor-checks.ts), each
 * failing one with its fix. Exit 0 only when a launch of the default profile
 * would work; "warn" lines (e.g. no gVisor) do not fail.
 */
export async function doctorCommand(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const report = await ctx.service.doctor();
  if (opts.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    for (const c of report.checks) {
      const mark = c.status === 'ok' ? 'ok  ' : c.status === 'warn' ? 'warn' : 'FAIL';
      process.stdout.write(`[${mark}] ${c.check.padEnd(9)} ${c.detail}${c.fix && c.status !== 'ok' ? `\n       fix: ${c.fix}` : ''}\n`);
    }
  }
  return report.ok ? EXIT.ok : EXIT.checkFailed;
}
