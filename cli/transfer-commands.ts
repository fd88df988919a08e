/**
 * `cordon drop SESSION FILE...` and `cordon take SESSION PATH [DEST]`
 * (issue 18): files into a running session's inbox and out of its
 * workspaces, through the gate. The CLI finds the session (any Cordon
 * process may have started it) and prints; core/gate/ judges, writes and
 * audits.
 */
import { INBOX_FOLDER, type FileTransferOutcome, type TransferSession } from '../core/gate/file-transfer.js';
import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

/** The running session whose id starts with PREFIX, with its workspaces; a CliExit when none or several match. */
async function findSession(ctx: CliContext, prefix: string): Promise<TransferSession> {
  const f = await ctx.service.transfers.find(prefix, false);
  if (f.ok) return f.session;
  throw new CliExit(f.code === 'unavailable' ? EXIT.engineUnavailable : f.code === 'invalid_request' ? EXIT.usage : EXIT.checkFailed, f.message);
}

/** Told when a file waits for an answer in the approval queue. */
const waiting = (reason: string): void => {
  process.stderr.write(`cordon: waiting for an answer in the approval queue (\`cordon approvals list\`): ${reason}\n`);
};

function report(o: FileTransferOutcome, what: string): boolean {
  if (o.kind === 'delivered') {
    const note = o.decision.kind === 'redact' ? ` (${o.decision.message.replace(/^file "[^"]*": /, '')})` : '';
    process.stdout.write(`${what} -> ${o.path}${note}\n`);
    return true;
  }
  process.stderr.write(`cordon: refused (${o.decision.reason}): ${o.decision.message}\n`);
  return false;
}

export async function dropCommand(ctx: CliContext, sessionPrefix: string, files: readonly string[]): Promise<number> {
  ctx.policy(); // an unreadable policy stops here, with the CLI's message
  const session = await findSession(ctx, sessionPrefix);
  if (!session.workspaces.some((w) => w.mode === 'rw')) throw new CliExit(EXIT.checkFailed, `session ${session.id} has no writable workspace to hold ${INBOX_FOLDER}/`);
  const outcomes = await ctx.service.transfers.drop(session, files, waiting);
  let ok = true;
  outcomes.forEach((o, i) => (ok = report(o, JSON.stringify(files[i] ?? '')) && ok));
  return ok ? EXIT.ok : EXIT.checkFailed;
}

export async function takeCommand(ctx: CliContext, sessionPrefix: string, path: string, dest: string | undefined, opts: { force?: boolean }): Promise<number> {
  ctx.policy(); // an unreadable policy stops here, with the CLI's message
  const session = await findSession(ctx, sessionPrefix);
  const o = await ctx.service.transfers.take(session, path, { ...(dest !== undefined ? { dest } : {}), force: opts.force === true, cwd: process.cwd() }, waiting);
  return report(o, JSON.stringify(path)) ? EXIT.ok : EXIT.checkFailed;
}
