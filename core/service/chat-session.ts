/**
 * A conversation with an agent in a sandbox (issue 16): the agent runs
 * without a terminal, its adapter turns user turns into bytes on its stdin and
 * its stdout into typed events, and this class keeps the conversation those
 * events describe — user turns, assistant text, tool cards, notices — with the
 * session's state and token use, for the app (through the service's events)
 * and for `cordon launch --chat` alike.
 *
 * What the agent writes is untrusted: the adapter has validated and bounded
 * each event; this class bounds how much of the conversation it keeps.
 */
import { PassThrough, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { ChatItem, ChatState, ChatUsage, ToolActivity } from '../api/chat-contract.js';
import { bounded, type AgentAdapter, type AgentEvent } from '../agent/agent-adapter.js';
import type { SandboxIo } from '../sandbox/sandbox-engine.js';
import { diffLines } from '../files/line-diff.js';

/** Conversation entries kept in memory; older ones are dropped (the agent keeps its own context). */
export const MAX_ITEMS = 2000;
const MAX_INPUT_JSON = 16 * 1024;
const MAX_EDIT_TEXT = 64 * 1024;
/** The agent's stderr kept for the message when it fails: its last few KB. */
const STDERR_TAIL = 8 * 1024;

export interface ChatSessionEvents {
  onItem(item: ChatItem): void;
  onState(state: ChatState): void;
}

export type SendOutcome = { readonly ok: true } | { readonly ok: false; readonly message: string };

export class ChatSession {
  private readonly items: ChatItem[] = [];
  private readonly tools = new Map<string, Extract<ChatItem, { kind: 'tool' }>>();
  private readonly stdin = new PassThrough();
  private state: ChatState['state'] = 'starting';
  private usage: { inputTokens: number; outputTokens: number; costUsd: number | null } = { inputTokens: 0, outputTokens: 0, costUsd: null };
  private rejected = 0;
  private rejectedNoticeThisTurn = false;
  private nextId = 1;
  private stderrTail = '';
  /** The assistant item text of this turn is appended to (agents that stream plain text). */
  private openText: Extract<ChatItem, { kind: 'assistant' }> | null = null;

  constructor(
    private readonly adapter: AgentAdapter,
    private readonly events: ChatSessionEvents,
    private readonly now: () => number = Date.now,
  ) {}

  /** Streams for the sandbox: stdin the adapter writes turns to, stdout and stderr it reads. */
  io(): SandboxIo {
    const decoder = this.adapter.decoder();
    const text = new StringDecoder('utf8');
    const stdout = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        for (const e of decoder.push(text.write(chunk))) this.apply(e);
        cb();
      },
      final: (cb) => {
        for (const e of decoder.push(text.end())) this.apply(e);
        for (const e of decoder.end()) this.apply(e);
        cb();
      },
    });
    const errText = new StringDecoder('utf8');
    const stderr = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.stderrTail = (this.stderrTail + errText.write(chunk)).slice(-STDERR_TAIL);
        cb();
      },
    });
    return { stdin: this.stdin, stdout, stderr };
  }

  /** The sandbox runs: the agent can take a turn. */
  started(): void {
    if (this.state === 'starting') this.setState('ready');
  }

  /** The sandbox is gone. EXIT is its status, or the reason it never started. */
  ended(outcome: { readonly exitCode: number } | { readonly failure: string }): void {
    if (this.state === 'ended') return;
    this.stdin.end();
    this.openText = null;
    if ('failure' in outcome) this.notice('error', `The session did not start: ${outcome.failure}`);
    else if (outcome.exitCode !== 0) {
      const tail = this.stderrTail.trim();
      this.notice('error', `The agent stopped (exit status ${outcome.exitCode}).${tail ? ` Its last words: ${bounded(tail.split('\n').slice(-5).join('\n'), 2000)}` : ''}`);
    } else this.notice('info', 'The session ended.');
    this.setState('ended');
  }

  /** Sends one user turn; refused unless the agent is ready for one. */
  send(text: string): SendOutcome {
    if (this.state !== 'ready') {
      const why = { starting: 'the session is still starting', working: 'the agent is still working on the last message (stop it first)', ended: 'the session has ended' }[this.state];
      return { ok: false, message: `cannot send now: ${why}` };
    }
    this.push({ kind: 'user', id: this.id(), at: this.now(), text });
    this.openText = null;
    this.rejectedNoticeThisTurn = false;
    this.setState('working');
    this.stdin.write(this.adapter.encodeTurn(text));
    return { ok: true };
  }

  /** No more turns: the agent's stdin closes, and an agent that reads to the end exits by itself. */
  finish(): void {
    this.stdin.end();
  }

  /** Stops the turn in progress; a no-op when there is none. */
  interrupt(): boolean {
    if (this.state !== 'working') return false;
    this.stdin.write(this.adapter.encodeInterrupt());
    return true;
  }

  history(): { items: ChatItem[]; state: ChatState } {
    return { items: [...this.items], state: this.view() };
  }

  view(): ChatState {
    const usage: ChatUsage = { ...this.usage };
    return { state: this.state, agent: this.adapter.agent, usage, rejectedEvents: this.rejected };
  }

  get current(): ChatState['state'] {
    return this.state;
  }

  private apply(e: AgentEvent): void {
    switch (e.type) {
      case 'ready':
        return;
      case 'text': {
        if (e.append && this.openText !== null) {
          const item = { ...this.openText, text: bounded(this.openText.text + e.text, 200_000) };
          this.replace(item);
          this.openText = item;
        } else {
          const item: Extract<ChatItem, { kind: 'assistant' }> = { kind: 'assistant', id: this.id(), at: this.now(), text: e.text };
          this.push(item);
          this.openText = e.append ? item : null;
        }
        return;
      }
      case 'tool_use': {
        this.openText = null;
        const item: Extract<ChatItem, { kind: 'tool' }> = { kind: 'tool', id: this.id(), at: this.now(), tool: toolActivity(e.name, e.input) };
        this.tools.set(e.id, item);
        this.push(item);
        return;
      }
      case 'tool_result': {
        const item = this.tools.get(e.toolUseId);
        if (!item) return;
        this.tools.delete(e.toolUseId);
        this.replace({ ...item, tool: { ...item.tool, output: e.output, isError: e.isError } });
        return;
      }
      case 'usage':
        this.usage = {
          inputTokens: this.usage.inputTokens + e.inputTokens,
          outputTokens: this.usage.outputTokens + e.outputTokens,
          costUsd: e.costUsd ?? this.usage.costUsd,
        };
        this.emitState();
        return;
      case 'turn_end':
        if (this.state !== 'working') return;
        this.openText = null;
        // A tool whose result never came (the turn was interrupted): say so instead of spinning forever.
        for (const [key, item] of this.tools) {
          this.tools.delete(key);
          this.replace({ ...item, tool: { ...item.tool, output: e.interrupted ? 'Stopped.' : '(no result)', isError: true } });
        }
        if (e.interrupted) this.notice('info', 'Stopped. The agent is ready for your next message.');
        else if (e.message !== null) this.notice('error', e.message);
        this.setState('ready');
        return;
      case 'rejected':
        this.rejected++;
        if (!this.rejectedNoticeThisTurn) {
          this.rejectedNoticeThisTurn = true;
          this.notice('warn', `Cordon ignored output from the agent that does not fit its protocol: ${e.reason}.`);
        } else this.emitState();
        return;
    }
  }

  private notice(level: 'info' | 'warn' | 'error', text: string): void {
    this.push({ kind: 'notice', id: this.id(), at: this.now(), level, text });
  }

  private push(item: ChatItem): void {
    this.items.push(item);
    if (this.items.length > MAX_ITEMS) this.items.splice(0, this.items.length - MAX_ITEMS);
    this.events.onItem(item);
  }

  private replace(item: ChatItem): void {
    const i = this.items.findLastIndex((x) => x.id === item.id);
    if (i !== -1) this.items[i] = item;
    if (item.kind === 'tool') for (const [k, v] of this.tools) if (v.id === item.id) this.tools.set(k, item);
    this.events.onItem(item);
  }

  private setState(state: ChatState['state']): void {
    this.state = state;
    this.emitState();
  }

  private emitState(): void {
    this.events.onState(this.view());
  }

  private id(): string {
    return `c${this.nextId++}`;
  }
}

/** A tool call as a card: what it does in one line, its input in short, and for file edits the change. */
export function toolActivity(name: string, input: unknown): ToolActivity {
  const o = typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
  const str = (k: string): string | null => (typeof o[k] === 'string' ? (o[k]) : null);
  const path = str('file_path') ?? str('notebook_path') ?? str('path');
  const summary = str('command') ?? path ?? str('pattern') ?? str('url') ?? str('query') ?? str('description') ?? bounded(JSON.stringify(input) ?? '', 200);
  const before = str('old_string');
  const after = str('new_string') ?? (before === null ? str('content') : null);
  let edit: ToolActivity['edit'] = null;
  if (path !== null && after !== null) {
    // A write replaces the file: shown as all added (the files panel diffs it against the file before the session).
    const d = diffLines(bounded(before ?? '', MAX_EDIT_TEXT), bounded(after, MAX_EDIT_TEXT));
    edit = { path, hunks: d.hunks.map((h) => ({ ...h, lines: h.lines.map((l) => ({ op: l.op, text: l.text })) })), added: d.added, removed: d.removed, truncated: d.truncated };
  }
  return { name: bounded(name, 100), summary: bounded(summary, 2000), input: bounded(JSON.stringify(input) ?? 'null', MAX_INPUT_JSON), output: null, isError: false, edit };
}
