import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApprovalView } from '../../../core/api/approvals-contract.js';
import {
  answerOptions,
  answerRequest,
  isPromptShortcut,
  keyAction,
  keysArmed,
  ANSWER_GUARD_MS,
  mayTakeFocus,
  pendingQueue,
  recentSettled,
  settledSummary,
  targetFacts,
  timeLeft,
  visibleText,
  type KeyPress,
} from './approval-prompt.js';

const T0 = Date.parse('2026-03-10T14:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function req(over: Partial<ApprovalView> & { n?: number } = {}): ApprovalView {
  const { n = 0, ...rest } = over;
  return {
    id: n.toString(16).padStart(16, '0'),
    session: '0123456789ab',
    kind: 'network',
    target: 'docs.example:443',
    reason: null,
    detail: { address: '127.0.0.1' },
    write: false,
    createdAt: iso(T0 + n * 1000),
    expiresAt: iso(T0 + 60_000 + n * 1000),
    status: 'pending',
    answer: null,
    alwaysUnavailable: null,
    ...rest,
  };
}

test('the prompt shows the oldest pending request first; settled and timed-out ones are not in the queue', () => {
  const list = [req({ n: 3 }), req({ n: 1 }), req({ n: 2, status: 'denied' }), req({ n: 0, expiresAt: iso(T0 + 5_000) })];
  assert.deepEqual(pendingQueue(list, T0 + 4_000).map((r) => r.id.slice(-1)), ['0', '1', '3']);
  assert.deepEqual(pendingQueue(list, T0 + 6_000).map((r) => r.id.slice(-1)), ['1', '3'], 'past its expiry a request is gone even before the timeout answer arrives');
  assert.deepEqual(pendingQueue([], T0), []);
});

test('recent: settled in the last hour, newest first', () => {
  const answered = (n: number, at: number): ApprovalView => req({ n, status: 'allowed', answer: { decision: 'allow', scope: 'once', until: null, write: false, by: 'user', at: iso(at) } });
  const list = [answered(1, T0), answered(2, T0 + 60_000), answered(3, T0 - 3_600_001 + 60_000), req({ n: 4 })];
  assert.deepEqual(recentSettled(list, T0 + 60_000).map((r) => r.id.slice(-1)), ['2', '1']);
});

test('time left counts down in seconds, then minutes; urgent in the last ten seconds; never negative', () => {
  const exp = iso(T0 + 65_000);
  assert.deepEqual(timeLeft(exp, T0), { ms: 65_000, text: '1 min 05 s', urgent: false });
  assert.deepEqual(timeLeft(exp, T0 + 5_500), { ms: 59_500, text: '1 min 00 s', urgent: false });
  assert.equal(timeLeft(exp, T0 + 20_000).text, '45 s');
  assert.equal(timeLeft(exp, T0 + 55_000).urgent, true);
  assert.deepEqual(timeLeft(exp, T0 + 99_000), { ms: 0, text: '0 s', urgent: true });
  assert.equal(timeLeft('garbage', T0).text, 'unknown');
});

test('answers: all five offered; "always" disabled with core\'s reason', () => {
  assert.deepEqual(answerOptions(req()).map((o) => [o.answer, o.key, o.unavailable]), [
    ['deny', 'D', null],
    ['once', 'O', null],
    ['hour', 'H', null],
    ['end-of-day', 'E', null],
    ['always', 'A', null],
  ]);
  const locked = answerOptions(req({ alwaysUnavailable: 'cannot allow always: egress.allow is locked' }));
  assert.equal(locked.find((o) => o.answer === 'always')?.unavailable, 'cannot allow always: egress.allow is locked');
  assert.ok(locked.filter((o) => o.answer !== 'always').every((o) => o.unavailable === null), 'a lock never takes away deny or a bounded allow');
});

test('the call for each answer; write only when asked and ticked', () => {
  const id = '0000000000000000';
  assert.deepEqual(answerRequest(req(), 'deny', true), { id, decision: 'deny' });
  assert.deepEqual(answerRequest(req(), 'once', true), { id, decision: 'allow', scope: 'once' }, 'write was not asked: never sent');
  assert.deepEqual(answerRequest(req({ write: true }), 'once', false), { id, decision: 'allow', scope: 'once' });
  assert.deepEqual(answerRequest(req({ write: true }), 'hour', true), { id, decision: 'allow', scope: 'duration', for: '1h', write: true });
  assert.deepEqual(answerRequest(req(), 'end-of-day', false), { id, decision: 'allow', scope: 'duration', for: 'end-of-day' });
  assert.deepEqual(answerRequest(req(), 'always', false), { id, decision: 'allow', scope: 'always' });
  assert.deepEqual(answerRequest(req({ write: true }), 'deny', true), { id, decision: 'deny' }, 'a deny grants nothing');
});

const press = (key: string, mods: Partial<KeyPress> = {}): KeyPress => ({ key, code: `Key${key.toUpperCase()}`, altKey: false, ctrlKey: false, metaKey: false, shiftKey: false, ...mods });

test('keys: D O H E A W answer or toggle, in either case; Escape leaves; modified keys, Enter and Space are not answers', () => {
  assert.deepEqual(['d', 'o', 'h', 'e', 'a', 'w', 'Escape'].map((k) => keyAction(press(k))), ['deny', 'once', 'hour', 'end-of-day', 'always', 'toggle-write', 'leave']);
  assert.equal(keyAction(press('D', { shiftKey: true })), 'deny');
  for (const p of [press('a', { ctrlKey: true }), press('d', { metaKey: true }), press('o', { altKey: true }), press('Enter'), press(' '), press('y'), press('Tab'), press('constructor'), press('__proto__')]) {
    assert.equal(keyAction(p), null, JSON.stringify(p));
  }
});

test('the shortcut is Alt+Shift+A by physical key, whatever the layout prints', () => {
  assert.equal(isPromptShortcut(press('A', { altKey: true, shiftKey: true })), true);
  assert.equal(isPromptShortcut({ ...press('Å', { altKey: true, shiftKey: true }), code: 'KeyA' }), true);
  assert.equal(isPromptShortcut(press('A', { altKey: true })), false);
  assert.equal(isPromptShortcut(press('A', { altKey: true, shiftKey: true, ctrlKey: true })), false);
  assert.equal(isPromptShortcut(press('a')), false);
});

test('a new request takes focus only from the page body, never from a field, the terminal, a button or a heading', () => {
  assert.equal(mayTakeFocus(null), true);
  assert.equal(mayTakeFocus({ tag: 'BODY', editable: false }), true);
  for (const tag of ['INPUT', 'TEXTAREA', 'SELECT', 'BUTTON', 'H1', 'DIV']) assert.equal(mayTakeFocus({ tag, editable: false }), false, tag);
  assert.equal(mayTakeFocus({ tag: 'DIV', editable: true }), false, 'contenteditable');
  assert.equal(mayTakeFocus({ tag: 'BODY', editable: true }), false, 'a body in design mode is being typed in');
});

test('sandbox text is shown with control and bidirectional characters made visible', () => {
  assert.equal(visibleText('ok\u001b[2J\u0007done'), 'ok?[2J?done');
  assert.equal(visibleText('report\u202Egpj.exe'), 'report?gpj.exe');
  assert.equal(visibleText('<img src=x onerror=alert(1)>'), '<img src=x onerror=alert(1)>', 'markup stays text; React renders it as text');
});

test('target facts: host, port and address for the network; path, classification and a copy grant said plainly for files', () => {
  assert.deepEqual(targetFacts(req({ target: 'yes.test:8080', detail: { address: '127.0.0.1' } })), [
    { label: 'Host', value: 'yes.test' },
    { label: 'Port', value: '8080' },
    { label: 'Resolved address', value: '127.0.0.1' },
    { label: 'Access', value: 'read only' },
  ]);
  assert.deepEqual(targetFacts(req({ target: '[::1]:443', detail: {} })).slice(0, 3), [
    { label: 'Host', value: '[::1]' },
    { label: 'Port', value: '443' },
    { label: 'Resolved address', value: 'not resolved' },
  ]);
  const file = targetFacts(req({ kind: 'file', target: '/home/u/Reports', write: true, detail: { classification: 'outside the workspaces', mechanism: 'copy', sandboxPath: '/grants/Reports' } }));
  assert.deepEqual(file, [
    { label: 'Path', value: '/home/u/Reports' },
    { label: 'Cordon classifies it as', value: 'outside the workspaces' },
    { label: 'Access', value: 'read and write' },
    { label: 'Grant', value: 'a read-only snapshot: changes are not written back' },
    { label: 'Seen in the sandbox at', value: '/grants/Reports' },
  ]);
  assert.equal(targetFacts(req({ kind: 'file', target: '/p', detail: { mechanism: 'live' } })).find((f) => f.label === 'Grant')?.value, 'live: the sandbox sees the folder itself');
  assert.equal(targetFacts(req({ kind: 'file', target: '/p', detail: {} })).find((f) => f.label === 'Grant')?.value, 'not stated');
});

test('the recent list says who decided', () => {
  const a = (answer: ApprovalView['answer'], status: ApprovalView['status'] = 'denied'): string => settledSummary(req({ status, answer }));
  const at = iso(T0);
  assert.equal(a({ decision: 'deny', scope: null, until: null, write: false, by: 'timeout', at }, 'expired'), 'Denied: nobody answered in time');
  assert.equal(a({ decision: 'deny', scope: null, until: null, write: false, by: 'user', at }), 'Denied by the user');
  assert.equal(a({ decision: 'allow', scope: 'once', until: null, write: true, by: 'user', at }, 'allowed'), 'Allowed once with write by the user');
  assert.equal(a({ decision: 'allow', scope: 'always', until: null, write: false, by: 'user', at }, 'allowed'), 'Allowed always by the user');
  assert.equal(a(null, 'expired'), 'Expired: nobody answered in time');
});

test('answer keys wait a moment after a request is shown, so a double press does not answer the next one', () => {
  assert.equal(keysArmed(T0, T0), false);
  assert.equal(keysArmed(T0, T0 + ANSWER_GUARD_MS - 1), false);
  assert.equal(keysArmed(T0, T0 + ANSWER_GUARD_MS), true);
});
