import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGuidedDemo } from '../core/demo/guided-demo.js';
import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

/**
 * `cordon demo`: a guided run on a throwaway workspace (core/demo/). Every
 * verdict printed is read from what really happened inside the sandbox.
 */
export async function demo(ctx: CliContext, opts: { profile?: string }): Promise<number> {
  // A broken policy stops the demo with its problems listed, as it stops launches.
  ctx.policy();
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  const ws = join(tmpdir(), `cordon-demo-${ctx.hostUser.uid}`);
  out('Cordon demo: a real sandbox on a demo workspace, no API key needed.');
  out(`  workspace: ${ws} (read-write)\n`);
  const report = await runGuidedDemo(ctx.service, ws, opts.profile);
  if (report.kind === 'not_started') throw new CliExit(EXIT.sandboxNotStarted, report.message);
  report.steps.forEach((s, i) => {
    const verdict = s.happened === 'allowed' ? (s.title.startsWith('Mounting') ? 'MOUNTED' : 'ALLOWED') : s.happened === 'blocked' ? 'STOPPED' : 'NO RESULT';
    const flag = s.asExpected ? '' : '   <-- unexpected!';
    out(`  ${String(i + 1).padStart(2)}. ${s.title}\n      ${verdict}${s.detail ? `: ${s.detail}` : ''}${s.note === null ? flag : ''}`);
    if (s.note !== null) out(`      ${s.note}${flag}`);
  });
  const a = report.audit;
  out(`\nEvery step above was written to the audit log (${a.file}): ${a.ok ? `${a.records} records, hash chain intact` : `CHAIN BROKEN at line ${a.badLine}`}.`);
  out(`Session ${report.sessionId} ended and its container was removed; the demo workspace stays for you to explore:`);
  out(`  cordon exec --workspace ${ws} -- sh -c 'ls -la; echo hi >> .bashrc'`);
  out('  cordon launch --workspace <your project>    (the agent itself; needs an API key)');
  return report.steps.every((s) => s.asExpected) && a.ok ? EXIT.ok : EXIT.checkFailed;
}
