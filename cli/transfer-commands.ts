/**
 * `cordon drop SESSION FILE...` and `cordon take SESSION PATH [DEST]`
 * (issue 18): files into a running session's inbox and out of its
 * workspaces, through the gate. The CLI finds the session (any Cordon
 * process may have started it) and prints; core/gate/ judges, writes and
 * audits.
 */
import { askTransfer } from '../core/gate/session-gate.js';
import { dropFiles, INBOX_FOLDER, takeFile, type FileTransferDeps, type FileTransferOutcome, type TransferSession } from '../core/gate/file-transfer.js';
import { mountRuleContext } from '../core/session/session-runner.js';
import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

/** The running session whose id starts with PREFIX, with its workspaces; a CliExit when none or several match. */
async function findSession(ctx: CliContext, prefix: string): Promise<TransferSession> {
  if (prefix === '') throw new CliExit(EXIT.usage, 'name a session (see `cordon ps`)');
  const listed = await ctx.service.listSessions();
  if (!listed.ok) throw new CliExit(EXIT.engineUnavailable, listed.message);
  const matches = listed.sessions.filter((s) => s.id.startsWith(prefix));
  if (matches.length > 1) throw new CliExit(EXIT.usage, `"${prefix}" matches ${matches.length} sessions; give more of the id`);
  const s = matches[0];
  if (s === undefined) throw new CliExit(EXIT.checkFailed, `no running session "${prefix}" (see \`cordon ps\`)`);
  const rec = ctx.sessions.read(s.id);
  if (rec === null) throw new CliExit(EXIT.checkFailed, `session ${s.id} has no readable record; it may be ending`);
  return { id: s.id, workspaces: rec.workspaces };
}

function deps(ctx: CliContext, sessionId: string): FileTransferDeps {
  const policy = ctx.policy();
  return {
    policy,
    rules: mountRuleContext(ctx.paths, policy),
    audit: ctx.audit,
    ask: (q) => {
      process.stderr.write(`cordon: waiting for an answer in the approval queue (\`cordon approvals list\`): ${q.reason}\n`);
      return askTransfer(() => ctx.service.approvals(), { session: sessionId, kind: 'file-transfer', target: q.target, reason: q.reason, detail: q.detail });
    },
  };
}

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
  const session = await findSession(ctx, sessionPrefix);
  if (!session.workspaces.some((w) => w.mode === 'rw')) throw new CliExit(EXIT.checkFailed, `session ${session.id} has no writable workspace to hold ${INBOX_FOLDER}/`);
  const outcomes = await dropFiles(deps(ctx, session.id), session, files);
  let ok = true;
  outcomes.forEach((o, i) => (ok = report(o, JSON.stringify(files[i] ?? '')) && ok));
  return ok ? EXIT.ok : EXIT.checkFailed;
}

export async function takeCommand(ctx: CliContext, sessionPrefix: string, path: string, dest: string | undefined, opts: { force?: boolean }): Promise<number> {
  const session = await findSession(ctx, sessionPrefix);
  const o = await takeFile(deps(ctx, session.id), session, path, { ...(dest !== undefined ? { dest } : {}), force: opts.force === true, cwd: process.cwd() });
  return report(o, JSON.stringify(path)) ? EXIT.ok : EXIT.checkFailed;
}
