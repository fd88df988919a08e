/**
 * `cordon approvals list|allow|deny|watch` (issue 17): answer, from any
 * terminal, the requests a running session is waiting on. The queue itself is
 * core/approvals/approval-store.ts; this file parses and prints.
 */
import { approvalEnd } from '../core/approvals/approval-duration.js';
import { approvalsDir, ApprovalStore, type ApprovalAnswerInput, type ApprovalRecord } from '../core/approvals/approval-store.js';
import { approvalStoreSettings } from '../core/approvals/approval-timeout.js';
import { answerApproval, type AnswerContext } from '../core/approvals/answer-approval.js';
import { expandPath } from '../core/workspace/mount-plan.js';
import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

/** The store over `$CORDON_HOME/approvals`, as the session host opens it. */
export function openApprovalStore(ctx: CliContext): ApprovalStore {
  return new ApprovalStore(approvalsDir(ctx.paths.home), { ...approvalStoreSettings(ctx.loadPolicy()), audit: ctx.audit });
}

/** `cordon approvals list [--json]`. */
export function approvalsList(ctx: CliContext, opts: { json?: boolean }): number {
  const records = openApprovalStore(ctx).list();
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
    return EXIT.ok;
  }
  if (records.length === 0) {
    process.stdout.write('No pending or recent approval requests.\n');
    return EXIT.ok;
  }
  const rows = records.map((r) => [r.id, r.status, r.session.slice(0, 12), r.kind + (r.write ? '(w)' : ''), r.target, r.createdAt.slice(11, 19)]);
  process.stdout.write(table([['ID', 'STATUS', 'SESSION', 'KIND', 'TARGET', 'ASKED'], ...rows]));
  return EXIT.ok;
}

/** `cordon approvals allow ID [--for DURATION | --always] [--write]`. */
export function approvalsAllow(ctx: CliContext, id: string, opts: { for?: string; always?: boolean; write?: boolean; sessionWide?: boolean }): number {
  if (opts.for !== undefined && opts.always === true) throw new CliExit(EXIT.usage, '--for and --always cannot be used together: pick how long the allow lasts');
  let answer: ApprovalAnswerInput = { decision: 'allow', scope: opts.always === true ? 'always' : 'once', write: opts.write === true };
  if (opts.for !== undefined) {
    const until = approvalEnd(opts.for, new Date());
    if (!until) throw new CliExit(EXIT.usage, `--for expects a duration like 30m, 1h, 2h30m (at most a week) or "today", got ${JSON.stringify(opts.for.slice(0, 40))}`);
    answer = { ...answer, scope: 'duration', until };
  }
  return settle(ctx, openApprovalStore(ctx), id, answer, opts.sessionWide === true);
}

/** What "always" is checked against (core/approvals/answer-approval.ts), as of now. */
function answerContext(ctx: CliContext): AnswerContext {
  return { policy: ctx.loadPolicy(), role: ctx.service.features() };
}

/** `cordon approvals grant SESSION PATH [--write] [--for DURATION]`: a folder for a running session, without its agent asking. */
export async function approvalsGrant(ctx: CliContext, session: string, path: string, opts: { for?: string; write?: boolean }): Promise<number> {
  let until: Date | null = null;
  if (opts.for !== undefined) {
    until = approvalEnd(opts.for, new Date());
    if (!until) throw new CliExit(EXIT.usage, `--for expects a duration like 30m, 1h, 2h30m (at most a week) or "today", got ${JSON.stringify(opts.for.slice(0, 40))}`);
  }
  const res = await ctx.service.grantFolder(session, expandPath(path, ctx.paths.userHome, process.cwd()), { write: opts.write === true, until });
  if (!res.ok) throw new CliExit(res.code === 'not_found' || res.code === 'ambiguous' || res.code === 'unreachable' ? EXIT.usage : EXIT.checkFailed, res.message);
  // The in-sandbox path alone on stdout, for scripts; how on stderr.
  process.stdout.write(`${res.sandboxPath}\n`);
  process.stderr.write(`granted ${res.write ? 'read-write' : 'read-only'}${res.mechanism === 'copy' ? ' (a read-only copy: changes are not written back)' : ''}${until ? ` until ${until.toLocaleString()}` : ' until the session ends'}\n`);
  return EXIT.ok;
}

/** `cordon approvals deny ID`. */
export function approvalsDeny(ctx: CliContext, id: string, opts: { sessionWide?: boolean } = {}): number {
  return settle(ctx, openApprovalStore(ctx), id, { decision: 'deny' }, opts.sessionWide === true);
}

/** "Always" refused by policy or the role leaves the request pending, for another answer. */
function settle(ctx: CliContext, store: ApprovalStore, id: string, answer: ApprovalAnswerInput, sessionWide = false): number {
  const context = answerContext(ctx);
  const res = answerApproval(store, id, answer, context);
  if (res.kind === 'deny') throw new CliExit(EXIT.checkFailed, res.message);
  process.stdout.write(`${describe(res.value)}\n`);
  if (!sessionWide) return EXIT.ok;
  // The same answer for everything else the session waits on; write only where it was asked for.
  for (const other of store.list()) {
    if (other.status !== 'pending' || other.session !== res.value.session) continue;
    const more = answerApproval(store, other.id, { ...answer, write: answer.write === true && other.write }, context);
    process.stdout.write(`${more.kind === 'allow' ? describe(more.value) : `${other.id}: ${more.message}`}\n`);
  }
  return EXIT.ok;
}

function describe(r: ApprovalRecord): string {
  const a = r.answer;
  const what = `${r.kind} access to ${r.target} for session ${r.session}`;
  if (!a || a.decision === 'deny') return `Denied ${what}.`;
  const scope = a.scope === 'always' ? 'always' : a.scope === 'duration' ? `until ${new Date(a.until ?? 0).toLocaleString()}` : 'once';
  return `Allowed ${what}${a.write ? ' with write' : ''}: ${scope}.`;
}

/** The keys `watch` reads, and the answer each gives. */
const WATCH_KEYS: Readonly<Record<string, (now: Date) => ApprovalAnswerInput>> = {
  d: () => ({ decision: 'deny' }),
  o: () => ({ decision: 'allow', scope: 'once' }),
  // Write is granted only on this key, and only where the request asked for it (the store refuses it elsewhere).
  w: () => ({ decision: 'allow', scope: 'once', write: true }),
  h: (now) => ({ decision: 'allow', scope: 'duration', until: new Date(now.getTime() + 3600_000) }),
  t: (now) => ({ decision: 'allow', scope: 'duration', until: approvalEnd('today', now) ?? now }),
  a: () => ({ decision: 'allow', scope: 'always' }),
};

/**
 * `cordon approvals watch`: shows the oldest pending request and reads one
 * key, then the next; waits for new ones until `q` or Ctrl-C. Needs a terminal:
 * a script should use list/allow/deny, which do not guess at keystrokes.
 */
export async function approvalsWatch(ctx: CliContext): Promise<number> {
  const stdin = process.stdin;
  if (stdin.isTTY !== true || process.stdout.isTTY !== true) {
    throw new CliExit(EXIT.usage, 'approvals watch needs a terminal; from a script use `cordon approvals list --json`, `cordon approvals allow ID` or `cordon approvals deny ID`');
  }
  const store = openApprovalStore(ctx);
  const out = process.stdout;
  const keys: string[] = [];
  let wake: (() => void) | null = null;
  const onData = (chunk: Buffer): void => {
    keys.push(...chunk.toString('utf8'));
    wake?.();
  };
  // Waits for a key or, when polling, for the queue to change (a bounded nap).
  const nextKey = (pollMs: number | null): Promise<string | null> =>
    new Promise((resolve) => {
      const take = (): void => {
        wake = null;
        clearTimeout(timer);
        resolve(keys.shift() ?? null);
      };
      if (keys.length > 0) return take();
      wake = take;
      const timer = pollMs === null ? undefined : setTimeout(take, pollMs);
    });
  stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();
  try {
    let shownWaiting = false;
    for (;;) {
      const pending = store.list().find((r) => r.status === 'pending');
      if (!pending) {
        if (!shownWaiting) out.write('No pending requests; waiting for new ones (q to quit)…\n');
        shownWaiting = true;
        const k = await nextKey(500);
        if (k === 'q' || k === '\u0003' || k === '\u0004') return EXIT.ok;
        continue;
      }
      shownWaiting = false;
      out.write(`\n${prompt(pending)}\n[d]eny  allow [o]nce${pending.write ? '  once [w]ith write' : ''}  [h]our  [t]oday  [a]lways  [q]uit: `);
      for (;;) {
        const k = await nextKey(500);
        if (k === 'q' || k === '\u0003' || k === '\u0004') {
          out.write('\n');
          return EXIT.ok;
        }
        const make = k === null ? undefined : WATCH_KEYS[k.toLowerCase()];
        if (make) {
          const res = answerApproval(store, pending.id, make(new Date()), answerContext(ctx));
          out.write(`${k}\n${res.kind === 'allow' ? describe(res.value) : res.message}\n`);
          // Refused "always": the same request is still pending; wait for another key.
          if (res.kind === 'deny' && res.reason === 'always_refused') continue;
          break;
        }
        // Settled elsewhere (another terminal, the app, its timeout) while shown: move on.
        if (store.get(pending.id)?.status !== 'pending') {
          out.write('\n(answered elsewhere or expired)\n');
          break;
        }
      }
    }
  } finally {
    stdin.off('data', onData);
    stdin.setRawMode(false);
    stdin.pause();
  }
}

function prompt(r: ApprovalRecord): string {
  const lines = [
    `Session ${r.session} asks for ${r.kind} access${r.write ? ' (read and write)' : ''}:`,
    `  target: ${printable(r.target)}`,
    // The reason is the agent's text: shown as data, never as terminal control sequences.
    `  reason: ${r.reason === null ? '(none given)' : printable(r.reason)}`,
    ...Object.entries(r.detail).map(([k, v]) => `  ${printable(k)}: ${printable(v)}`),
    `  expires: ${new Date(r.expiresAt).toLocaleTimeString()}`,
  ];
  return lines.join('\n');
}

/** Control characters (escape sequences could rewrite the prompt) shown as `?`. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function table(rows: ReadonlyArray<readonly string[]>): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? printable(c) : printable(c).padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}
