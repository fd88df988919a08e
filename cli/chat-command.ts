/**
 * `cordon launch --chat`: the conversation the app shows, in a terminal
 * (issue 16). The agent runs without a TTY behind its adapter; this command
 * prints the conversation as it arrives and reads the user's turns.
 *
 * At a terminal it prompts (`you> `) whenever the agent is ready; Ctrl-C stops
 * the turn in progress, and at the prompt ends the session. With stdin not a
 * terminal it reads one turn per line, sends each when the agent is ready, and
 * ends after the answer to the last one.
 */
import { createInterface } from 'node:readline';
import type { ChatItem, ChatState } from '../core/api/chat-contract.js';
import { ChatSession } from '../core/service/chat-session.js';
import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';
import { parseEnvArgs, parseWorkspaceArg, requireRunnable, type SessionOpts } from './session-commands.js';

/** How long an agent may take to exit by itself once its input closed, before its sandbox is stopped. */
const EXIT_GRACE_MS = 15_000;
const TOOL_OUTPUT_LINES = 12;

export async function launchChatCommand(ctx: CliContext, opts: SessionOpts): Promise<number> {
  requireRunnable(ctx, 'chat');
  const agent = ctx.service.chatAgent(opts.profile);
  if (!agent.ok) throw new CliExit(EXIT.sandboxNotStarted, agent.message);
  const interactive = process.stdin.isTTY === true;
  const out = process.stdout;
  const printer = new TranscriptPrinter((s) => out.write(s), !interactive);

  const controller = new AbortController();
  const turns: string[] = [];
  let inputDone = false;
  let state: ChatState['state'] = 'starting';
  let graceTimer: NodeJS.Timeout | undefined;
  const rl = createInterface({ input: process.stdin, output: interactive ? out : undefined, terminal: interactive });

  const chat = new ChatSession(agent.adapter, {
    onItem: (item) => printer.item(item),
    onState: (s) => {
      state = s.state;
      if (state === 'ready') next();
    },
  });
  /** Sends the next queued turn when the agent is ready; prompts or finishes when there is none. */
  const next = (): void => {
    if (state !== 'ready') return;
    const turn = turns.shift();
    if (turn !== undefined) {
      const r = chat.send(turn);
      if (!r.ok) out.write(`cordon: ${r.message}\n`);
      return;
    }
    if (inputDone) {
      chat.finish();
      graceTimer ??= setTimeout(() => controller.abort(), EXIT_GRACE_MS);
      return;
    }
    if (interactive) rl.prompt();
  };
  rl.setPrompt('you> ');
  rl.on('line', (line) => {
    if (line.trim() === '') {
      if (interactive && state === 'ready') rl.prompt();
      return;
    }
    turns.push(line);
    next();
  });
  rl.on('close', () => {
    inputDone = true;
    next();
  });
  // Ctrl-C: stop the turn in progress; at the prompt (or a second time), end the session.
  rl.on('SIGINT', () => {
    if (!chat.interrupt()) {
      inputDone = true;
      rl.close();
    }
  });
  const onSignal = (): void => controller.abort();
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', ...(interactive ? [] : (['SIGINT'] as const))];
  for (const s of signals) process.on(s, onSignal);
  try {
    const res = await ctx.service.runSession(
      { kind: 'chat', ...(opts.profile !== undefined ? { profile: opts.profile } : {}), workspaces: opts.workspace.map(parseWorkspaceArg), env: parseEnvArgs(opts.env), command: agent.command, tty: false },
      chat.io(),
      controller.signal,
      { onStarted: () => chat.started() },
    );
    if (!res.ok) throw new CliExit(EXIT.sandboxNotStarted, res.failure.message);
    chat.ended({ exitCode: res.exitCode });
    if (res.endedByCordon !== null) throw new CliExit(EXIT.sandboxNotStarted, res.endedByCordon);
    // Ended by us after the last answer (or Ctrl-C at the prompt): a normal end.
    return res.cancelled ? EXIT.ok : res.exitCode;
  } finally {
    clearTimeout(graceTimer);
    for (const s of signals) process.off(s, onSignal);
    rl.close();
    process.stdin.pause();
  }
}

/**
 * Writes conversation items as text: assistant text as it grows, tool calls as
 * one line with a few lines of their output, notices in brackets. Items come
 * again when they change (streamed text, a tool's result): only what is new is
 * written.
 */
export class TranscriptPrinter {
  private readonly printed = new Map<string, number>();
  private readonly toolDone = new Set<string>();
  /** The id of the assistant text whose last line is still open, or null. */
  private openLine: string | null = null;

  constructor(
    private readonly write: (s: string) => void,
    /** Echo user turns (they were not typed at a prompt on this screen). */
    private readonly echoUser: boolean,
  ) {}

  item(item: ChatItem): void {
    // Anything but more of the open text starts on a line of its own.
    if (this.openLine !== null && this.openLine !== item.id) {
      this.write('\n');
      this.openLine = null;
    }
    switch (item.kind) {
      case 'user':
        if (this.echoUser) this.write(`you> ${printable(item.text)}\n`);
        return;
      case 'assistant': {
        const seen = this.printed.get(item.id);
        if (seen === undefined) this.write(`\n${printable(item.text)}`);
        else this.write(printable(item.text.slice(seen)));
        this.printed.set(item.id, item.text.length);
        this.openLine = item.text.endsWith('\n') ? null : item.id;
        return;
      }
      case 'tool': {
        if (!this.printed.has(item.id)) {
          this.printed.set(item.id, 0);
          this.write(`  ⚙ ${item.tool.name}: ${oneLine(item.tool.summary)}\n`);
        }
        if (item.tool.output !== null && !this.toolDone.has(item.id)) {
          this.toolDone.add(item.id);
          const lines = printable(item.tool.output).split('\n');
          const shown = lines.slice(0, TOOL_OUTPUT_LINES).map((l) => `  │ ${l}`);
          if (lines.length > TOOL_OUTPUT_LINES) shown.push(`  │ … ${lines.length - TOOL_OUTPUT_LINES} more lines`);
          this.write(`${shown.join('\n')}${item.tool.isError ? '\n  └ failed' : ''}\n`);
        }
        return;
      }
      case 'notice':
        this.write(`[${item.level === 'info' ? 'cordon' : `cordon ${item.level}`}] ${printable(item.text)}\n`);
        return;
    }
  }
}

/**
 * The agent's text with every control character but newline and tab made
 * visible: an escape sequence in it would otherwise drive the user's terminal
 * (OSC 52 writes the host clipboard past the gate; others retitle the window
 * or rewrite what is on screen).
 */
export function printable(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (c === 0x0a || c === 0x09) out += ch;
    else if (c < 0x20) out += `^${String.fromCharCode(c + 0x40)}`;
    else if (c === 0x7f || (c >= 0x80 && c <= 0x9f)) out += '�';
    else out += ch;
  }
  return out;
}

function oneLine(s: string): string {
  return printable(s.slice(0, 200)).replace(/[\n\t]/g, ' ');
}
