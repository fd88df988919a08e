import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatItem } from '../../../core/api/chat-contract.js';
import { chatStateLabel, formatUsage, mergeHistory, upsertItem } from './chat-items.js';

const user = (id: string, text = id): ChatItem => ({ kind: 'user', id, at: 0, text });
const tool = (id: string, output: string | null): ChatItem => ({
  kind: 'tool',
  id,
  at: 0,
  tool: { name: 'Bash', summary: 'ls', input: '{}', output, isError: false, edit: null },
});

test('a new id is appended; a known id is replaced in place', () => {
  const items = [user('a'), tool('t', null), user('b')];
  assert.deepEqual(upsertItem(items, user('c')).map((i) => i.id), ['a', 't', 'b', 'c']);
  const done = upsertItem(items, tool('t', 'file.txt'));
  assert.deepEqual(done.map((i) => i.id), ['a', 't', 'b']);
  assert.deepEqual(done[1], tool('t', 'file.txt'));
  assert.deepEqual(items[1], tool('t', null), 'the old array is left alone (React state)');
});

test('events that beat the history call are kept, and win over the history for the same id', () => {
  const merged = mergeHistory([user('a'), tool('t', null)], [tool('t', 'done'), user('b')]);
  assert.deepEqual(merged, [user('a'), tool('t', 'done'), user('b')]);
  assert.deepEqual(mergeHistory([user('a')], []), [user('a')]);
});

test('usage reads as tokens in and out, with the cost only when the agent reports one', () => {
  assert.equal(formatUsage({ inputTokens: 1234, outputTokens: 567, costUsd: null }), '1,234 tokens in · 567 out');
  assert.equal(formatUsage({ inputTokens: 0, outputTokens: 0, costUsd: 0 }), '0 tokens in · 0 out · $0.00');
  assert.equal(formatUsage({ inputTokens: 1, outputTokens: 2, costUsd: 1.234 }), '1 tokens in · 2 out · $1.23');
  assert.equal(formatUsage({ inputTokens: 1, outputTokens: 2, costUsd: 0.004 }), '1 tokens in · 2 out · < $0.01');
});

test('states read as the header shows them', () => {
  assert.deepEqual(
    (['starting', 'ready', 'working', 'ended'] as const).map(chatStateLabel),
    ['Starting…', 'Ready', 'Working…', 'Ended'],
  );
});
