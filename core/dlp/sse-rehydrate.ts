// Event-aware rehydration for streamed model responses. A model streams its
// output as many small text deltas, and a 38-character token is almost always
// spread over several of them (`cdntk_3f`, `a9`, `0c…`), each wrapped in its
// own SSE event and JSON. Byte-level rehydration cannot see across that
// framing, so this transform parses the SSE events, keeps a per-content-block
// carry of text that could still become a token, and re-emits each event with
// its delta rehydrated. What it holds back is bounded by the token length per
// block; everything else is emitted with the event that brought it.
//
// Understood formats:
//   - Anthropic Messages: content_block_delta with text_delta.text,
//     input_json_delta.partial_json (tool input, JSON-escaped) and
//     thinking_delta.thinking; carries flush before content_block_stop.
//   - OpenAI chat completions: choices[i].delta.content; carries flush when a
//     choice reports finish_reason, and before `data: [DONE]`.
// Any other event passes through with byte-level (JSON-escaped) rehydration.

import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { createRehydrateTransform, safeEmitLength, type TokenVault } from './vault.js';

type DeltaField = 'text' | 'partial_json' | 'thinking' | 'content';

interface Carry {
  text: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Splits an SSE event block into its field lines; returns the data payload and the other lines. */
function parseEvent(block: string): { data: string | null; other: string[] } {
  const other: string[] = [];
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    else other.push(line);
  }
  return { data: data.length > 0 ? data.join('\n') : null, other };
}

function formatEvent(other: readonly string[], data: string): string {
  return [...other, `data: ${data}`].join('\n') + '\n\n';
}

/**
 * A Transform for `text/event-stream` model responses that rehydrates tokens
 * even when the model spreads one over several delta events. Input and output
 * are UTF-8. Events it does not understand are passed through with
 * byte-level rehydration.
 */
export function createSseRehydrateTransform(vault: TokenVault): Transform {
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  const carries = new Map<string, Carry>();

  /** Rehydrates `carry + incoming`, keeping back what could still be a token. */
  const take = (key: string, incoming: string, final: boolean, field: DeltaField): string => {
    const carry = carries.get(key) ?? { text: '' };
    const text = carry.text + incoming;
    const cut = final ? text.length : safeEmitLength(text);
    carry.text = text.slice(cut);
    if (carry.text.length === 0) carries.delete(key);
    else carries.set(key, carry);
    // partial_json is a fragment of JSON text, so values go in JSON-escaped.
    return vault.rehydrate(text.slice(0, cut), field === 'partial_json' ? 'json' : 'raw');
  };

  /** Events that flush every carry of one Anthropic content block. */
  const flushAnthropicBlock = (index: unknown): string => {
    let out = '';
    for (const field of ['text', 'partial_json', 'thinking'] as const) {
      const key = `a:${String(index)}:${field}`;
      if (!carries.has(key)) continue;
      const rest = take(key, '', true, field);
      const deltaType = field === 'text' ? 'text_delta' : field === 'partial_json' ? 'input_json_delta' : 'thinking_delta';
      out += formatEvent(
        ['event: content_block_delta'],
        JSON.stringify({ type: 'content_block_delta', index, delta: { type: deltaType, [field]: rest } }),
      );
    }
    return out;
  };

  const flushAllAnthropic = (): string => {
    const indexes = new Set<number>();
    for (const key of carries.keys()) if (key.startsWith('a:')) indexes.add(Number(key.split(':')[1]));
    let out = '';
    for (const i of indexes) out += flushAnthropicBlock(i);
    return out;
  };

  const flushOpenAi = (): string => {
    let out = '';
    for (const key of [...carries.keys()]) {
      if (!key.startsWith('o:')) continue;
      const index = Number(key.split(':')[1]);
      const rest = take(key, '', true, 'content');
      out += formatEvent([], JSON.stringify({ choices: [{ index, delta: { content: rest } }] }));
    }
    return out;
  };

  const handleEvent = (block: string): string => {
    const { data, other } = parseEvent(block);
    if (data === null) return block + '\n\n';
    if (data.trim() === '[DONE]') return flushOpenAi() + block + '\n\n';
    let event: unknown;
    try {
      event = JSON.parse(data);
    } catch {
      return vault.rehydrate(block, 'json') + '\n\n';
    }
    if (!isRecord(event)) return vault.rehydrate(block, 'json') + '\n\n';

    // Anthropic Messages streaming.
    if (event.type === 'content_block_delta' && isRecord(event.delta)) {
      const delta = event.delta;
      const field: DeltaField | null =
        delta.type === 'text_delta' ? 'text' : delta.type === 'input_json_delta' ? 'partial_json' : delta.type === 'thinking_delta' ? 'thinking' : null;
      const value = field === null ? undefined : delta[field];
      if (field !== null && typeof value === 'string') {
        const out = take(`a:${String(event.index)}:${field}`, value, false, field);
        // Everything was held back: drop the event; its text goes out with a later one.
        if (out.length === 0) return '';
        return formatEvent(other, JSON.stringify({ ...event, delta: { ...delta, [field]: out } }));
      }
    }
    if (event.type === 'content_block_stop') {
      return flushAnthropicBlock(event.index) + formatEvent(other, vault.rehydrate(data, 'json'));
    }
    if (event.type === 'message_stop') return flushAllAnthropic() + formatEvent(other, vault.rehydrate(data, 'json'));

    // OpenAI chat completions streaming.
    if (Array.isArray(event.choices)) {
      let touched = false;
      const choices = event.choices.map((c: unknown) => {
        if (!isRecord(c) || !isRecord(c.delta)) return c;
        const content = c.delta.content;
        const final = c.finish_reason !== null && c.finish_reason !== undefined;
        const key = `o:${String(c.index)}`;
        if (typeof content !== 'string' && !(final && carries.has(key))) return c;
        touched = true;
        const out = take(key, typeof content === 'string' ? content : '', final, 'content');
        return { ...c, delta: { ...c.delta, content: out } };
      });
      if (touched) return formatEvent(other, JSON.stringify({ ...event, choices }));
    }
    return formatEvent(other, vault.rehydrate(data, 'json'));
  };

  return new Transform({
    transform(chunk: Buffer | string, _enc: BufferEncoding, callback: TransformCallback): void {
      buffer += typeof chunk === 'string' ? chunk : decoder.write(chunk);
      let out = '';
      // SSE events end at a blank line.
      for (let m = /\r?\n\r?\n/.exec(buffer); m !== null; m = /\r?\n\r?\n/.exec(buffer)) {
        out += handleEvent(buffer.slice(0, m.index));
        buffer = buffer.slice(m.index + m[0].length);
      }
      if (out.length > 0) this.push(Buffer.from(out, 'utf8'));
      callback();
    },
    flush(callback: TransformCallback): void {
      buffer += decoder.end();
      let out = buffer.trim().length > 0 ? handleEvent(buffer.replace(/\r?\n$/, '')) : '';
      buffer = '';
      // A stream that ended without its stop events still gets every held-back character.
      out += flushAllAnthropic() + flushOpenAi();
      if (out.length > 0) this.push(Buffer.from(out, 'utf8'));
      callback();
    },
  });
}

/**
 * Picks the right rehydrator for a response: event-aware for
 * `text/event-stream`, byte-level JSON-escaping for JSON, verbatim otherwise.
 */
export function createResponseRehydrator(vault: TokenVault, contentType: string | undefined): Transform {
  const ct = (contentType ?? '').toLowerCase();
  if (ct.includes('text/event-stream')) return createSseRehydrateTransform(vault);
  return createRehydrateTransform(vault, { encoding: ct.includes('json') ? 'json' : 'raw' });
}
