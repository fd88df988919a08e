/** The IPC checks: who may call, what a call looks like, and what the preload accepts back. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSender, parseCallArgs, parseCallResult, parseEvent, type SenderFacts } from './ipc-checks.js';

const ours = new Set([7]);
const mainFrame = (url: string): SenderFacts['senderFrame'] => ({ url, parent: null });
const call = (frame: SenderFacts['senderFrame'], id = 7): SenderFacts => ({ senderFrame: frame, sender: { id } });

test('the main frame of an app window showing an app page may call', () => {
  assert.deepEqual(checkSender(call(mainFrame('app://cordon/index.html')), ours), { ok: true });
  assert.deepEqual(checkSender(call(mainFrame('app://cordon/index.html#/audit')), ours), { ok: true });
});

test('everyone else is refused, each with its own reason', () => {
  const reason = (e: SenderFacts): string => {
    const d = checkSender(e, ours);
    return d.ok ? 'ok' : d.reason;
  };
  assert.equal(reason(call(null)), 'frame_gone');
  assert.equal(reason(call(mainFrame('app://cordon/index.html'), 8)), 'unknown_window');
  assert.equal(reason(call({ url: 'app://cordon/index.html', parent: { url: 'app://cordon/index.html' } })), 'sub_frame');
  for (const url of ['https://evil.example/', 'file:///tmp/x.html', 'app://other/index.html', 'about:blank', 'devtools://devtools/x', '']) {
    assert.equal(reason(call(mainFrame(url))), 'foreign_origin', url);
  }
  // The window check comes before the origin: a foreign window is refused whatever it shows.
  assert.equal(reason(call(mainFrame('https://evil.example/'), 99)), 'unknown_window');
  assert.equal(checkSender(call(mainFrame('app://cordon/')), new Set()).ok, false);
});

test('a call is exactly (method, params) with a short method name', () => {
  assert.deepEqual(parseCallArgs(['sessions.list', {}]), { ok: true, method: 'sessions.list', params: {} });
  assert.deepEqual(parseCallArgs(['app.info', undefined]), { ok: true, method: 'app.info', params: undefined });
  for (const args of [[], ['app.info'], ['app.info', {}, 'extra'], [42, {}], ['', {}], ['x'.repeat(65), {}], [{ toString: () => 'app.info' }, {}]]) {
    const r = parseCallArgs(args);
    assert.equal(r.ok, false, JSON.stringify(args));
    if (!r.ok) assert.equal(r.error.code, 'invalid_request');
  }
});

test('the preload accepts only answers inside the contract', () => {
  assert.deepEqual(parseCallResult('recent.workspaces', { ok: true, value: [{ path: '/w', mode: 'rw' }] }), { ok: true, value: [{ path: '/w', mode: 'rw' }] });
  assert.deepEqual(parseCallResult('keys.remove', { ok: false, error: { code: 'forbidden', message: 'no' } }), { ok: false, error: { code: 'forbidden', message: 'no' } });
  // A field the response schema does not list (a key, say) is refused, not passed on.
  const leaky = parseCallResult('keys.remove', { ok: true, value: { provider: 'anthropic', state: 'absent', lastSetAt: null, rotatedAt: null, message: null, secret: 'sk-ant-x' } });
  assert.equal(leaky.ok, false);
  assert.doesNotMatch(JSON.stringify(leaky), /sk-ant/);
  for (const raw of [null, 'ok', { ok: true }, { ok: 'yes', value: 1 }, { ok: false, error: { code: 'nope', message: 'x' } }, { ok: true, value: [{ path: '', mode: 'rw' }] }]) {
    const r = parseCallResult('recent.workspaces', raw);
    assert.equal(r.ok, false, JSON.stringify(raw));
    if (!r.ok) assert.equal(r.error.code, 'failed');
  }
});

test('events outside ApiEventSchema are dropped', () => {
  assert.deepEqual(parseEvent({ type: 'sessions.changed' }), { type: 'sessions.changed' });
  assert.deepEqual(parseEvent({ type: 'terminal.output', sessionId: 'ab', data: 'hi' }), { type: 'terminal.output', sessionId: 'ab', data: 'hi' });
  for (const raw of [null, {}, { type: 'eval', code: '1' }, { type: 'sessions.changed', extra: 1 }, { type: 'notice', level: 'fatal', message: 'x' }]) assert.equal(parseEvent(raw), null, JSON.stringify(raw));
});
