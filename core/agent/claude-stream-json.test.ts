import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_EVENT_LINE } from './agent-adapter.js';
import { ClaudeStreamJsonAdapter, decodeClaudeLine, MAX_TOOL_OUTPUT } from './claude-stream-json.js';

// Lines shaped like Claude Code 2.1's stream-json output (trimmed to the fields that matter, plus some that do not).
const INIT = JSON.stringify({ type: 'system', subtype: 'init', cwd: '/w', session_id: 's', tools: ['Bash'], model: 'claude-opus-4-8' });
const ASSISTANT = JSON.stringify({
  type: 'assistant',
  message: { id: 'm', role: 'assistant', content: [{ type: 'thinking', thinking: '…' }, { type: 'text', text: 'Let me look.' }, { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls -la' } }] },
  parent_tool_use_id: null,
});
const TOOL_RESULT = JSON.stringify({ type: 'user', message: { role: 'user', content: [{ tool_use_id: 'toolu_1', type: 'tool_result', content: 'a.txt\nb.txt', is_error: false }] } });
const RESULT = JSON.stringify({ type: 'result', subtype: 'success', is_error: false, total_cost_usd: 0.0028, usage: { input_tokens: 20, output_tokens: 7 }, result: 'done' });

test('a turn decodes to text, the tool call, its result, usage and the turn end', () => {
  const d = new ClaudeStreamJsonAdapter().decoder();
  const events = d.push([INIT, ASSISTANT, TOOL_RESULT, RESULT].join('\n') + '\n');
  assert.deepEqual(events, [
    { type: 'ready', model: 'claude-opus-4-8' },
    { type: 'text', text: 'Let me look.', append: false },
    { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls -la' } },
    { type: 'tool_result', toolUseId: 'toolu_1', output: 'a.txt\nb.txt', isError: false },
    { type: 'usage', inputTokens: 20, outputTokens: 7, costUsd: 0.0028 },
    { type: 'turn_end', ok: true, interrupted: false, message: null },
  ]);
});

test('lines split anywhere across chunks decode the same', () => {
  const all = [INIT, ASSISTANT, TOOL_RESULT, RESULT].join('\n') + '\n';
  const whole = new ClaudeStreamJsonAdapter().decoder().push(all);
  for (const size of [1, 7, 64, 333]) {
    const d = new ClaudeStreamJsonAdapter().decoder();
    const got = [];
    for (let i = 0; i < all.length; i += size) got.push(...d.push(all.slice(i, i + size)));
    got.push(...d.end());
    assert.deepEqual(got, whole, `chunks of ${size}`);
  }
});

test('an interrupted turn ends as interrupted, without an error message', () => {
  const [, end] = decodeClaudeLine(JSON.stringify({ type: 'result', subtype: 'error_during_execution', is_error: true, usage: {} }));
  assert.deepEqual(end, { type: 'turn_end', ok: false, interrupted: true, message: null });
  const [, failed] = decodeClaudeLine(JSON.stringify({ type: 'result', subtype: 'error_max_turns', is_error: true }));
  assert.equal(failed?.type === 'turn_end' && failed.message?.includes('error_max_turns'), true);
});

test('tool results given as blocks keep their text; other blocks are named, not dumped', () => {
  const ev = decodeClaudeLine(JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'one' }, { type: 'image', source: { data: 'AAAA' } }], is_error: true }] } }));
  assert.deepEqual(ev, [{ type: 'tool_result', toolUseId: 't', output: 'one\n[image]', isError: true }]);
});

test('malformed events are rejected with a reason and never throw; unknown event types pass unseen', () => {
  const cases: Array<[string, string]> = [
    ['{not json', 'not JSON'],
    ['[1,2,3]', 'without a type'],
    [JSON.stringify({ type: 'assistant', message: { content: 'text instead of blocks' } }), "Claude Code's protocol"],
    [JSON.stringify({ type: 'result', subtype: 'success' }), "Claude Code's protocol"],
    [JSON.stringify({ type: 'assistant', message: { content: [{ type: 'tool_use', id: 7, name: 'Bash' }] } }), 'malformed tool_use'],
    [JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 'x'.repeat(300) }] } }), 'malformed tool_result'],
  ];
  for (const [line, reason] of cases) {
    const ev = decodeClaudeLine(line);
    assert.equal(ev.length, 1, line);
    assert.equal(ev[0]?.type, 'rejected', line);
    assert.ok(ev[0]?.type === 'rejected' && ev[0].reason.includes(reason), `${line}: ${JSON.stringify(ev)}`);
  }
  assert.deepEqual(decodeClaudeLine(JSON.stringify({ type: 'tool_progress', anything: 1 })), []);
});

test('a line over 1 MiB is dropped whole and counted; the next line still decodes', () => {
  const d = new ClaudeStreamJsonAdapter().decoder();
  const huge = JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'x'.repeat(MAX_EVENT_LINE) }] } });
  const events = [...d.push(huge.slice(0, 600_000)), ...d.push(huge.slice(600_000) + '\n' + RESULT + '\n')];
  assert.deepEqual(
    events.map((e) => e.type),
    ['rejected', 'usage', 'turn_end'],
  );
});

test('a huge tool output is cut to its bound, saying how much was left out', () => {
  const [ev] = decodeClaudeLine(JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't', content: 'y'.repeat(MAX_TOOL_OUTPUT + 500) }] } }));
  assert.ok(ev?.type === 'tool_result');
  assert.ok(ev.output.length < MAX_TOOL_OUTPUT + 100);
  assert.match(ev.output, /500 more characters not shown/);
});

test('turns and interrupts are one JSON line each, as Claude Code reads them', () => {
  const a = new ClaudeStreamJsonAdapter();
  const turn = a.encodeTurn('line one\n"quoted"');
  assert.ok(turn.endsWith('\n') && !turn.slice(0, -1).includes('\n'));
  assert.deepEqual(JSON.parse(turn), { type: 'user', message: { role: 'user', content: [{ type: 'text', text: 'line one\n"quoted"' }] } });
  const stop = JSON.parse(a.encodeInterrupt()) as { type: string; request: { subtype: string } };
  assert.equal(stop.type, 'control_request');
  assert.equal(stop.request.subtype, 'interrupt');
  assert.deepEqual(a.command(['claude']).slice(0, 2), ['claude', '-p']);
  assert.ok(a.command(['claude']).includes('stream-json'));
});
