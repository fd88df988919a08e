import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatItem, ChatState } from '../api/chat-contract.js';
import { ClaudeStreamJsonAdapter } from '../agent/claude-stream-json.js';
import { PromptTextAdapter } from '../agent/prompt-text-adapter.js';
import { ChatSession, MAX_ITEMS, toolActivity } from './chat-session.js';

function setup(adapter = new ClaudeStreamJsonAdapter()) {
  const items = new Map<string, ChatItem>();
  const order: string[] = [];
  const states: ChatState[] = [];
  const chat = new ChatSession(adapter, {
    onItem: (i) => {
      if (!items.has(i.id)) order.push(i.id);
      items.set(i.id, i);
    },
    onState: (s) => states.push(s),
  });
  const io = chat.io();
  const stdinText: string[] = [];
  io.stdin?.on('data', (b: Buffer) => stdinText.push(b.toString()));
  const agentSays = (...events: unknown[]): void => {
    (io.stdout).write(Buffer.from(events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n'));
  };
  const list = (): ChatItem[] => order.map((id) => items.get(id) as ChatItem);
  return { chat, io, stdinText, agentSays, list, states };
}

const result = (extra: Record<string, unknown> = {}) => ({ type: 'result', subtype: 'success', is_error: false, usage: { input_tokens: 10, output_tokens: 4 }, total_cost_usd: 0.01, ...extra });

test('a turn: refused while starting, sent when ready, its answer and usage shown, ready again after', async () => {
  const { chat, stdinText, agentSays, list, states } = setup();
  assert.equal(chat.send('too early').ok, false);
  chat.started();
  assert.deepEqual(chat.send('What is in the folder?'), { ok: true });
  assert.equal(chat.current, 'working');
  await new Promise((r) => setImmediate(r));
  assert.equal((JSON.parse(stdinText.join('')) as { message: { content: Array<{ text: string }> } }).message.content[0]?.text, 'What is in the folder?');
  const busy = chat.send('another');
  assert.ok(!busy.ok && busy.message.includes('still working'));
  agentSays({ type: 'assistant', message: { content: [{ type: 'text', text: 'Two files.' }] } }, result());
  assert.deepEqual(
    list().map((i) => [i.kind, 'text' in i ? i.text : '']),
    [
      ['user', 'What is in the folder?'],
      ['assistant', 'Two files.'],
    ],
  );
  assert.equal(chat.current, 'ready');
  assert.deepEqual(states.at(-1)?.usage, { inputTokens: 10, outputTokens: 4, costUsd: 0.01 });
  assert.equal(chat.send('second').ok, true);
  agentSays(result({ usage: { input_tokens: 5, output_tokens: 1 }, total_cost_usd: 0.02 }));
  assert.deepEqual(states.at(-1)?.usage, { inputTokens: 15, outputTokens: 5, costUsd: 0.02 });
});

test('a tool card is updated in place when its result arrives; an interrupted turn closes open cards', async () => {
  const { chat, stdinText, agentSays, list } = setup();
  chat.started();
  chat.send('run it');
  agentSays({ type: 'assistant', message: { content: [{ type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'ls' } }] } });
  const [, card] = list();
  assert.ok(card?.kind === 'tool' && card.tool.output === null && card.tool.summary === 'ls');
  agentSays({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: 'a.txt' }] } });
  assert.equal(list().length, 2, 'the result updates the card, it adds no entry');
  const done = list()[1];
  assert.ok(done?.kind === 'tool' && done.tool.output === 'a.txt' && !done.tool.isError);

  agentSays({ type: 'assistant', message: { content: [{ type: 'tool_use', id: 't2', name: 'Bash', input: { command: 'sleep 100' } }] } });
  assert.equal(chat.interrupt(), true);
  await new Promise((r) => setImmediate(r));
  assert.match(stdinText.join(''), /"control_request".*"interrupt"/);
  agentSays(result({ subtype: 'error_during_execution', is_error: true }));
  const stopped = list().find((i) => i.kind === 'tool' && i.tool.summary === 'sleep 100');
  assert.ok(stopped?.kind === 'tool' && stopped.tool.output === 'Stopped.' && stopped.tool.isError);
  const last = list().at(-1);
  assert.ok(last?.kind === 'notice' && last.text.startsWith('Stopped.'));
  assert.equal(chat.current, 'ready');
  assert.equal(chat.interrupt(), false, 'nothing to interrupt');
});

test('malformed output is counted and noticed once per turn; the view goes on', () => {
  const { chat, agentSays, list, states } = setup();
  chat.started();
  chat.send('hi');
  agentSays('{garbage', '{"type":"assistant","message":{"content":"nope"}}', { type: 'assistant', message: { content: [{ type: 'text', text: 'still here' }] } }, result());
  const notices = list().filter((i) => i.kind === 'notice');
  assert.equal(notices.length, 1);
  assert.ok(list().some((i) => i.kind === 'assistant' && i.text === 'still here'));
  assert.equal(states.at(-1)?.rejectedEvents, 2);
  assert.equal(chat.current, 'ready');
});

test('plain-text agents stream into one answer per turn', () => {
  const adapter = new PromptTextAdapter();
  const { chat, agentSays, list } = setup(adapter as unknown as ClaudeStreamJsonAdapter);
  chat.started();
  chat.send('hello');
  const mark = adapter.command(['x'])[4] ?? '';
  agentSays('first line');
  agentSays('second line', '', `${mark} end 0`);
  const answers = list().filter((i) => i.kind === 'assistant');
  assert.equal(answers.length, 1);
  assert.equal(answers[0]?.kind === 'assistant' && answers[0].text, 'first line\nsecond line\n');
  assert.equal(chat.current, 'ready');
});

test('the conversation kept in memory is bounded', () => {
  const { chat, agentSays } = setup();
  chat.started();
  chat.send('go');
  for (let i = 0; i < MAX_ITEMS + 50; i += 100) {
    agentSays(...Array.from({ length: 100 }, (_, k) => ({ type: 'assistant', message: { content: [{ type: 'text', text: `n${i + k}` }] } })));
  }
  const h = chat.history();
  assert.equal(h.items.length, MAX_ITEMS);
  assert.ok(h.items.at(-1)?.kind === 'assistant');
});

test('the end of the sandbox ends the conversation, with its reason', () => {
  const { chat, list } = setup();
  chat.started();
  chat.ended({ exitCode: 137 });
  assert.equal(chat.current, 'ended');
  assert.match(list().at(-1)?.kind === 'notice' ? (list().at(-1) as { text: string }).text : '', /exit status 137/);
  assert.equal(chat.send('hello?').ok, false);
});

test('tool cards: the command, the path, and edits as before and after', () => {
  assert.equal(toolActivity('Bash', { command: 'git status', description: 'x' }).summary, 'git status');
  const edit = toolActivity('Edit', { file_path: '/w/notes.md', old_string: 'keep\nold line', new_string: 'keep\nnew line' });
  assert.equal(edit.edit?.path, '/w/notes.md');
  assert.deepEqual(
    edit.edit?.hunks.flatMap((h) => h.lines),
    [
      { op: ' ', text: 'keep' },
      { op: '-', text: 'old line' },
      { op: '+', text: 'new line' },
    ],
  );
  assert.deepEqual([edit.edit?.added, edit.edit?.removed], [1, 1]);
  const write = toolActivity('Write', { file_path: '/w/new.txt', content: 'hello\nworld\n' });
  assert.deepEqual(write.edit?.hunks.flatMap((h) => h.lines.map((l) => `${l.op}${l.text}`)), ['+hello', '+world']);
  assert.equal(toolActivity('Weird', 42).summary, '42');
  assert.ok(toolActivity('Big', { command: 'x'.repeat(5000) }).summary.length < 2100);
});
