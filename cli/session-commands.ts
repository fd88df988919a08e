import type { SessionRequest } from '../core/session/session-runner.js';
import type { WorkspaceRequest } from '../core/workspace/mount-plan.js';
import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

/** Parses `DIR[:ro|:rw]`; a colon inside DIR is kept when no mode follows. */
export function parseWorkspaceArg(arg: string): WorkspaceRequest {
  const m = /^(.*):(ro|rw)$/.exec(arg);
  if (m && m[1] !== undefined && m[1] !== '') return { path: m[1], mode: m[2] as 'ro' | 'rw' };
  if (arg === '') throw new CliExit(EXIT.usage, '--workspace needs a folder');
  return { path: arg, mode: 'rw' };
}

export function parseEnvArgs(args: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    const key = i > 0 ? a.slice(0, i) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new CliExit(EXIT.usage, `--env expects KEY=VALUE with a valid variable name, got "${a.slice(0, 40)}"`);
    env[key] = a.slice(i + 1);
  }
  return env;
}

export interface SessionOpts {
  profile?: string;
  workspace: string[];
  env: string[];
}

/** Refuses (125) unless the policy is valid and this machine's role may run KIND. */
export function requireRunnable(ctx: CliContext, kind: SessionRequest['kind']): void {
  try {
    ctx.policy();
  } catch (err) {
    // exec/launch exit with the command's own code, so every refusal is 125.
    if (err instanceof CliExit) throw new CliExit(EXIT.sandboxNotStarted, err.message);
    throw err;
  }
  // The role's switches come from managed policy (core/policy/role-features.ts).
  const feature = kind === 'exec' ? 'exec' : 'launch';
  const role = ctx.service.features();
  if (!role.features[feature]) {
    throw new CliExit(EXIT.sandboxNotStarted, `your organization's policy does not let this machine's role "${role.role}" ${feature === 'exec' ? 'run `cordon exec`' : 'launch agent sessions'} (features.${role.role}.${feature} is false${role.roleSource ? ` in ${role.roleSource}` : ''})`);
  }
}

async function runInteractive(ctx: CliContext, req: SessionRequest): Promise<number> {
  requireRunnable(ctx, req.kind);
  const controller = new AbortController();
  let signalCode = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signalCode = sig === 'SIGINT' ? 130 : sig === 'SIGHUP' ? 129 : 143;
    controller.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  // With a TTY, Ctrl-C is a keystroke for the agent, not a signal for Cordon.
  for (const s of signals) if (!(req.tty && s === 'SIGINT')) process.on(s, onSignal);
  const stdin = process.stdin;
  const restoreTty = req.tty && stdin.isTTY ? (stdin.setRawMode(true), () => stdin.setRawMode(false)) : () => undefined;
  let onResize: (() => void) | undefined;
  let sessionId: string | null = null;
  // A person types into a terminal session: their pastes go through the gate (issue 18); notices go to stderr, never to the agent.
  const input = req.tty ? stdin.pipe(ctx.service.pasteGate(() => sessionId, (message) => process.stderr.write(`\r\ncordon: ${message}\r\n`))) : stdin;
  try {
    const res = await ctx.service.runSession(req, { stdin: req.tty || !stdin.isTTY ? input : null, stdout: process.stdout, stderr: process.stderr }, controller.signal, {
      onStarted: (s) => {
        sessionId = s.id;
        if (!req.tty) return;
        onResize = () => void s.resize(process.stdout.rows, process.stdout.columns);
        process.stdout.on('resize', onResize);
        onResize();
      },
    });
    if (!res.ok) {
      // 125 even when the engine is down: any other code could be the command's own.
      throw new CliExit(EXIT.sandboxNotStarted, res.failure.message);
    }
    if (res.endedByCordon !== null) throw new CliExit(EXIT.sandboxNotStarted, res.endedByCordon);
    return res.cancelled && signalCode !== 0 ? signalCode : res.exitCode;
  } finally {
    restoreTty();
    if (onResize) process.stdout.off('resize', onResize);
    for (const s of signals) process.off(s, onSignal);
    stdin.pause();
    stdin.unref?.();
  }
}

export async function execCommand(ctx: CliContext, cmd: string[], opts: SessionOpts): Promise<number> {
  if (cmd.length === 0) throw new CliExit(EXIT.usage, 'exec needs a command after --');
  return runInteractive(ctx, {
    kind: 'exec',
    ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
    workspaces: opts.workspace.map(parseWorkspaceArg),
    env: parseEnvArgs(opts.env),
    command: cmd,
    tty: false,
  });
}

export async function launchCommand(ctx: CliContext, opts: SessionOpts): Promise<number> {
  return runInteractive(ctx, {
    kind: 'launch',
    ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
    workspaces: opts.workspace.map(parseWorkspaceArg),
    env: parseEnvArgs(opts.env),
    tty: process.stdin.isTTY === true && process.stdout.isTTY === true,
  });
}

export async function psCommand(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const listed = await ctx.service.listSessions();
  if (!listed.ok) throw new CliExit(EXIT.engineUnavailable, listed.message);
  // The JSON rows keep the fields scripts already read; the service's summary adds to them.
  const rows = listed.sessions.map((s) => ({
    session: s.id,
    kind: s.kind,
    profile: s.profile,
    state: s.state,
    ownerPid: s.ownerPid,
    createdAt: s.createdAt,
    workspaces: s.workspaces,
    containerId: s.containerId,
    runtime: s.runtime,
    counts: s.counts,
  }));
  if (opts.json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return EXIT.ok;
  }
  if (rows.length === 0) {
    process.stdout.write('no running sessions\n');
    return EXIT.ok;
  }
  process.stdout.write(`${'SESSION'.padEnd(14)}${'KIND'.padEnd(8)}${'PROFILE'.padEnd(10)}${'STATE'.padEnd(10)}${'PID'.padEnd(8)}${'CREATED'.padEnd(26)}WORKSPACES\n`);
  for (const r of rows) {
    const ws = r.workspaces.map((w) => `${w.path}:${w.mode}`).join(' ');
    process.stdout.write(`${r.session.padEnd(14)}${r.kind.padEnd(8)}${r.profile.padEnd(10)}${r.state.padEnd(10)}${String(r.ownerPid).padEnd(8)}${r.createdAt.padEnd(26)}${ws}\n`);
  }
  return EXIT.ok;
}

export async function stopCommand(ctx: CliContext, id: string | undefined, opts: { all?: boolean }): Promise<number> {
  if (!opts.all && (id === undefined || id === '')) throw new CliExit(EXIT.usage, 'stop needs a session id, or --all');
  const res = await ctx.service.stop(opts.all ? { all: true } : { id: id ?? '' }, '`cordon stop`');
  switch (res.kind) {
    case 'stopped':
      for (const sid of res.sessions) process.stdout.write(`stopped ${sid}\n`);
      return EXIT.ok;
    case 'ambiguous':
      throw new CliExit(EXIT.usage, res.message);
    case 'not_found':
      throw new CliExit(EXIT.checkFailed, res.message);
    case 'engine_unavailable':
      throw new CliExit(EXIT.engineUnavailable, res.message);
  }
}
