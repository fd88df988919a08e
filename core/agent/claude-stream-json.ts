/**
 * Claude Code as a conversation: `claude -p --input-format stream-json
 * --output-format stream-json --verbose` reads one JSON user message per line
 * and writes one JSON event per line (`system`, `assistant`, `user` with tool
 * results, `result` at the end of each turn). An interrupt is the control
 * request its SDK sends: the running tool is stopped and the session goes on.
 *
 * The schemas below name only the fields Cordon uses and let the rest pass:
 * a newer Claude Code that adds fields still works, one that changes a used
 * field is rejected line by line with a reason, never half-read.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { bounded, LineSplitter, type AgentAdapter, type AgentDecoder, type AgentEvent } from './agent-adapter.js';

/** The largest assistant text block and tool output kept; the rest is cut with a note. */
export const MAX_TEXT = 200_000;
export const MAX_TOOL_OUTPUT = 64 * 1024;

const TextBlock = z.looseObject({ type: z.literal('text'), text: z.string() });
const ToolUseBlock = z.looseObject({ type: z.literal('tool_use'), id: z.string().max(256), name: z.string().max(256), input: z.unknown() });
const ToolResultContent = z.union([z.string(), z.array(z.looseObject({ type: z.string(), text: z.string().optional() }))]);
const ToolResultBlock = z.looseObject({ type: z.literal('tool_result'), tool_use_id: z.string().max(256), content: ToolResultContent.optional(), is_error: z.boolean().optional() });
const AnyBlock = z.looseObject({ type: z.string() });

const ClaudeEvent = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('system'), subtype: z.string(), model: z.string().max(256).optional() }),
  z.looseObject({ type: z.literal('assistant'), message: z.looseObject({ content: z.array(AnyBlock) }) }),
  z.looseObject({ type: z.literal('user'), message: z.looseObject({ content: z.union([z.string(), z.array(AnyBlock)]) }) }),
  z.looseObject({
    type: z.literal('result'),
    subtype: z.string(),
    is_error: z.boolean(),
    total_cost_usd: z.number().nonnegative().optional(),
    usage: z.looseObject({ input_tokens: z.number().int().nonnegative().optional(), output_tokens: z.number().int().nonnegative().optional() }).optional(),
  }),
  // Acknowledgements of interrupts, partial-message stream events: nothing to show.
  z.looseObject({ type: z.literal('control_response') }),
  z.looseObject({ type: z.literal('stream_event') }),
  z.looseObject({ type: z.literal('rate_limit_event') }),
]);

const KNOWN_TYPES: ReadonlySet<string> = new Set(ClaudeEvent.options.map((o) => o.shape.type.value));

export class ClaudeStreamJsonAdapter implements AgentAdapter {
  readonly agent = 'claude-code';

  command(profileCommand: readonly string[]): string[] {
    return [
      ...profileCommand,
      '-p',
      '--input-format',
      'stream-json',
      '--output-format',
      'stream-json',
      '--verbose',
      // Until the approval queue takes Claude Code's own prompts (issue 17,
      // --permission-prompt-tool) nobody could answer them in a conversation:
      // the agent acts freely inside the sandbox, whose wall (mounts, egress,
      // keys) is what Cordon enforces.
      '--permission-mode',
      'bypassPermissions',
    ];
  }

  encodeTurn(text: string): string {
    return `${JSON.stringify({ type: 'user', message: { role: 'user', content: [{ type: 'text', text }] } })}\n`;
  }

  encodeInterrupt(): string {
    return `${JSON.stringify({ type: 'control_request', request_id: `cordon-${randomBytes(6).toString('hex')}`, request: { subtype: 'interrupt' } })}\n`;
  }

  decoder(): AgentDecoder {
    const lines = new LineSplitter();
    const decodeAll = (input: { lines: string[]; dropped: number }): AgentEvent[] => {
      const out: AgentEvent[] = [];
      for (let i = 0; i < input.dropped; i++) out.push({ type: 'rejected', reason: 'an event longer than 1 MiB' });
      for (const line of input.lines) if (line.trim() !== '') out.push(...decodeClaudeLine(line));
      return out;
    };
    return {
      push: (chunk) => decodeAll(lines.push(chunk)),
      end: () => {
        const rest = lines.rest();
        return rest.trim() === '' ? [] : decodeAll({ lines: [rest], dropped: 0 });
      },
    };
  }
}

/** One line of Claude Code's stream-json output as Cordon's events (a rejected line says why). */
export function decodeClaudeLine(line: string): AgentEvent[] {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return [{ type: 'rejected', reason: 'a line that is not JSON' }];
  }
  // Event types Cordon does not use (a newer Claude Code's additions) pass unseen; a used one must fit.
  const kind = z.looseObject({ type: z.string() }).safeParse(json);
  if (!kind.success) return [{ type: 'rejected', reason: 'an event without a type' }];
  if (!KNOWN_TYPES.has(kind.data.type)) return [];
  const parsed = ClaudeEvent.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return [{ type: 'rejected', reason: `an event that does not fit Claude Code's protocol (${issue ? `${issue.path.join('.') || 'type'}: ${issue.code}` : 'invalid'})` }];
  }
  const e = parsed.data;
  switch (e.type) {
    case 'system':
      return e.subtype === 'init' ? [{ type: 'ready', model: e.model ?? null }] : [];
    case 'assistant':
      return e.message.content.flatMap((b): AgentEvent[] => {
        const text = TextBlock.safeParse(b);
        if (text.success) return text.data.text.trim() === '' ? [] : [{ type: 'text', text: bounded(text.data.text, MAX_TEXT), append: false }];
        const tool = ToolUseBlock.safeParse(b);
        if (tool.success) return [{ type: 'tool_use', id: tool.data.id, name: tool.data.name, input: tool.data.input }];
        // Thinking and other blocks: not shown.
        return b.type === 'text' || b.type === 'tool_use' ? [{ type: 'rejected', reason: `a malformed ${b.type} block` }] : [];
      });
    case 'user': {
      // The agent echoes tool results as user messages; the user's own turns are already shown.
      if (typeof e.message.content === 'string') return [];
      return e.message.content.flatMap((b): AgentEvent[] => {
        if (b.type !== 'tool_result') return [];
        const r = ToolResultBlock.safeParse(b);
        if (!r.success) return [{ type: 'rejected', reason: 'a malformed tool_result block' }];
        return [{ type: 'tool_result', toolUseId: r.data.tool_use_id, output: bounded(toolResultText(r.data.content), MAX_TOOL_OUTPUT), isError: r.data.is_error === true }];
      });
    }
    case 'result': {
      const interrupted = e.subtype === 'error_during_execution';
      return [
        { type: 'usage', inputTokens: e.usage?.input_tokens ?? 0, outputTokens: e.usage?.output_tokens ?? 0, costUsd: e.total_cost_usd ?? null },
        { type: 'turn_end', ok: !e.is_error, interrupted, message: e.is_error && !interrupted ? `the agent's turn ended with an error (${bounded(e.subtype, 100)})` : null },
      ];
    }
    case 'control_response':
    case 'stream_event':
    case 'rate_limit_event':
      return [];
  }
}

function toolResultText(content: z.infer<typeof ToolResultContent> | undefined): string {
  if (content === undefined) return '';
  if (typeof content === 'string') return content;
  return content.map((c) => (c.type === 'text' ? (c.text ?? '') : `[${bounded(c.type, 40)}]`)).join('\n');
}
