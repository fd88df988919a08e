/**
 * Test support, not a test: a fake Anthropic Messages API over HTTPS on
 * 127.0.0.1, for end-to-end tests that run the real Claude Code binary. It
 * answers the few calls Claude Code makes for `claude -p` with a fixed reply
 * and records every request it sees, so a test can check what the agent sent
 * (and what a proxy in between changed).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** One request as the fake vendor saw it: header names lower-cased, body as UTF-8 text. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface FakeVendor {
  readonly port: number;
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export interface FakeVendorOptions {
  /** PEM private key for the server certificate. */
  readonly key: string;
  /** PEM server certificate (for 127.0.0.1 / localhost). */
  readonly cert: string;
  /** Text every model reply consists of, unless SCRIPT decides otherwise. */
  readonly replyText: string;
  /**
   * A scripted model: decides each Messages reply from the request body (the
   * conversation so far). Undefined falls back to REPLY_TEXT.
   */
  readonly script?: (request: Record<string, unknown>) => FakeReply | undefined;
}

/** One scripted reply: text, or a request to run a tool (Claude Code then sends its result in the next request). */
export type FakeReply =
  | { readonly text: string; readonly delayMs?: number }
  | { readonly toolUse: { readonly name: string; readonly input: Record<string, unknown> }; readonly text?: string };

/** The last message of a Messages request: its role and its content blocks (a string becomes one text block). */
export function lastMessage(request: Record<string, unknown>): { role: string; blocks: Array<Record<string, unknown>> } | undefined {
  const messages = request['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return undefined;
  const last = messages[messages.length - 1] as { role?: unknown; content?: unknown };
  const content = last.content;
  const blocks = typeof content === 'string' ? [{ type: 'text', text: content }] : Array.isArray(content) ? (content as Array<Record<string, unknown>>) : [];
  return { role: typeof last.role === 'string' ? last.role : '', blocks };
}

const FALLBACK_MODEL = 'claude-sonnet-4-5';

/** Starts the server on 127.0.0.1 and an ephemeral port. */
export async function startFakeVendor(opts: FakeVendorOptions): Promise<FakeVendor> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer({ key: opts.key, cert: opts.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: flatHeaders(req), body });
      try {
        route(req.method ?? '', req.url ?? '', body, opts, res);
      } catch (err) {
        sendJson(res, 500, errorBody('api_error', `fake vendor failed: ${String(err)}`));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function route(method: string, url: string, body: string, opts: FakeVendorOptions, res: ServerResponse): void {
  const path = url.split('?', 1)[0] ?? '';
  if ((method === 'GET' || method === 'HEAD') && path === '/') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(method === 'HEAD' ? undefined : 'ok');
    return;
  }
  if (method === 'POST' && path === '/v1/messages') {
    const parsed = parseObject(body);
    if (parsed === undefined) {
      sendJson(res, 400, errorBody('invalid_request_error', 'body is not a JSON object'));
      return;
    }
    const model = typeof parsed['model'] === 'string' ? parsed['model'] : FALLBACK_MODEL;
    const reply: FakeReply = opts.script?.(parsed) ?? { text: opts.replyText };
    const send = (): void => {
      if (parsed['stream'] === true) sendStream(res, model, reply);
      else sendJson(res, 200, messageObject(model, reply));
    };
    const delay = 'delayMs' in reply ? (reply.delayMs ?? 0) : 0;
    if (delay > 0) setTimeout(send, delay);
    else send();
    return;
  }
  if (method === 'POST' && path === '/v1/messages/count_tokens') {
    sendJson(res, 200, { input_tokens: 10 });
    return;
  }
  sendJson(res, 404, errorBody('not_found_error', `${method} ${path} not found`));
}

/** The reply's content blocks as the Messages API returns them. */
function contentOf(reply: FakeReply): Array<Record<string, unknown>> {
  if ('toolUse' in reply) {
    const blocks: Array<Record<string, unknown>> = reply.text ? [{ type: 'text', text: reply.text }] : [];
    blocks.push({ type: 'tool_use', id: newId('toolu'), name: reply.toolUse.name, input: reply.toolUse.input });
    return blocks;
  }
  return [{ type: 'text', text: reply.text }];
}

function messageObject(model: string, reply: FakeReply): Record<string, unknown> {
  const content = contentOf(reply);
  return {
    id: newId('msg'),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: 'toolUse' in reply ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: outputTokens(JSON.stringify(content)), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

function sendStream(res: ServerResponse, model: string, reply: FakeReply): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': newId('req') });
  const event = (name: string, data: Record<string, unknown>): void => {
    res.write(`event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`);
  };
  const message = messageObject(model, reply);
  event('message_start', {
    message: { ...message, content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } },
  });
  (message['content'] as Array<Record<string, unknown>>).forEach((block, index) => {
    if (block['type'] === 'tool_use') {
      event('content_block_start', { index, content_block: { ...block, input: {} } });
      event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block['input']) } });
    } else {
      event('content_block_start', { index, content_block: { type: 'text', text: '' } });
      event('content_block_delta', { index, delta: { type: 'text_delta', text: block['text'] } });
    }
    event('content_block_stop', { index });
  });
  event('message_delta', { delta: { stop_reason: message['stop_reason'], stop_sequence: null }, usage: (message['usage']) });
  event('message_stop', {});
  res.end();
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': newId('req') });
  res.end(JSON.stringify(value));
}

function errorBody(type: string, message: string): Record<string, unknown> {
  return { type: 'error', error: { type, message } };
}

function parseObject(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function outputTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function newId(prefix: string): string {
  return `${prefix}_fake${randomBytes(12).toString('hex')}`;
}

/** The text of the last message's text blocks (what the user typed, plus any reminders the agent adds). */
export function lastUserText(request: Record<string, unknown>): string {
  return (lastMessage(request)?.blocks ?? [])
    .filter((b) => b['type'] === 'text' && typeof b['text'] === 'string')
    .map((b) => b['text'] as string)
    .join('\n');
}

/** The first tool result in the last message, as text, or null when the last message carries none. */
export function lastToolResult(request: Record<string, unknown>): string | null {
  const r = (lastMessage(request)?.blocks ?? []).find((b) => b['type'] === 'tool_result');
  if (r === undefined) return null;
  const c = r['content'];
  return typeof c === 'string' ? c : JSON.stringify(c ?? '');
}

/** True for the agent's main conversation calls (they offer tools), false for side calls such as a title. */
export function offersTools(request: Record<string, unknown>): boolean {
  return Array.isArray(request['tools']) && request['tools'].length > 0;
}
