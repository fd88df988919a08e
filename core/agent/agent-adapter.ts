/**
 * Between a chat session and an agent's own protocol (issue 16). An adapter
 * knows how to start its agent for a conversation inside the sandbox, how to
 * hand it a user turn and an interrupt through its standard input, and how to
 * read what it writes back as typed events.
 *
 * Everything an agent writes comes out of the sandbox: it is untrusted input.
 * Decoders validate every event (zod), bound every line and every field, and
 * report what they dropped instead of throwing.
 */

/** What an agent said or did, in one vocabulary for every agent. */
export type AgentEvent =
  /** The agent is up (and, when it says, which model it uses). */
  | { readonly type: 'ready'; readonly model: string | null }
  /** Assistant text: a whole block, or (append) more of the one being written. */
  | { readonly type: 'text'; readonly text: string; readonly append: boolean }
  | { readonly type: 'tool_use'; readonly id: string; readonly name: string; readonly input: unknown }
  | { readonly type: 'tool_result'; readonly toolUseId: string; readonly output: string; readonly isError: boolean }
  /** Tokens of the turn that ended; costUsd is the session's total so far where the agent reports it. */
  | { readonly type: 'usage'; readonly inputTokens: number; readonly outputTokens: number; readonly costUsd: number | null }
  | { readonly type: 'turn_end'; readonly ok: boolean; readonly interrupted: boolean; readonly message: string | null }
  /** Output that did not fit the protocol (malformed, oversized) and was dropped: why, never the content. */
  | { readonly type: 'rejected'; readonly reason: string };

export interface AgentDecoder {
  /** Events in CHUNK (stdout text as it arrives; lines may span chunks). */
  push(chunk: string): AgentEvent[];
  /** Events held back for a line that never ended. */
  end(): AgentEvent[];
}

export interface AgentAdapter {
  /** The agent kind, as profiles name it (`agent`). */
  readonly agent: string;
  /** The command run in the sandbox for a conversation, from the profile's own command. */
  command(profileCommand: readonly string[]): string[];
  /** What to write to the agent's stdin to start one user turn. */
  encodeTurn(text: string): string;
  /** What to write to stop the turn in progress (the running tool with it). */
  encodeInterrupt(): string;
  decoder(): AgentDecoder;
}

/** The longest line an agent may write; longer ones are dropped whole (a tool result holding a big file fits). */
export const MAX_EVENT_LINE = 1024 * 1024;

/**
 * Splits a stream into lines of at most MAX bytes-ish (UTF-16 units): a line
 * longer than that is dropped up to its end and counted, so an agent cannot
 * make the host buffer without bound by never writing a newline.
 */
export class LineSplitter {
  private buf = '';
  private dropping = false;

  constructor(private readonly max: number = MAX_EVENT_LINE) {}

  /** Complete lines in CHUNK, and how many overlong lines were dropped. */
  push(chunk: string): { lines: string[]; dropped: number } {
    const lines: string[] = [];
    let dropped = 0;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl === -1) break;
      const piece = chunk.slice(start, nl);
      if (this.dropping) {
        this.dropping = false;
      } else if (this.buf.length + piece.length > this.max) {
        dropped++;
      } else {
        lines.push(this.buf + piece);
      }
      this.buf = '';
      start = nl + 1;
    }
    const rest = chunk.slice(start);
    if (!this.dropping) {
      if (this.buf.length + rest.length > this.max) {
        this.buf = '';
        this.dropping = true;
        dropped++;
      } else {
        this.buf += rest;
      }
    }
    return { lines, dropped };
  }

  /** The unfinished last line, if any (an agent that exits mid-line). */
  rest(): string {
    const r = this.dropping ? '' : this.buf;
    this.buf = '';
    this.dropping = false;
    return r;
  }
}

/** S cut to MAX characters, saying how much was left out. */
export function bounded(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}\n… (${s.length - max} more characters not shown)`;
}
