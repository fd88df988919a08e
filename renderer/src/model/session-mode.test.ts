import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionModeOf } from './session-mode.js';

test('only chat sessions open as a conversation; every other kind, known or not, opens its terminal', () => {
  assert.equal(sessionModeOf('chat'), 'chat');
  assert.equal(sessionModeOf('agent'), 'terminal');
  assert.equal(sessionModeOf(''), 'terminal');
  assert.equal(sessionModeOf('Chat'), 'terminal');
});
