import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiResult } from '../../../core/api/cordon-api.js';
import { CallRouter, reconnectDelay } from './bridge-routing.js';

function collect(): { results: ApiResult<unknown>[]; settle: (r: ApiResult<unknown>) => void } {
  const results: ApiResult<unknown>[] = [];
  return { results, settle: (r) => results.push(r) };
}

test('answers settle the call with the same id, checked against the response schema', () => {
  const router = new CallRouter();
  const a = collect();
  const b = collect();
  const callA = router.begin('audit.verify', {}, a.settle);
  const callB = router.begin('keys.status', {}, b.settle);
  assert.notEqual(callA.id, callB.id);
  router.receive(JSON.stringify({ id: callB.id, ok: true, value: [] }));
  assert.deepEqual(b.results, [{ ok: true, value: [] }]);
  assert.equal(a.results.length, 0);
  router.receive(JSON.stringify({ id: callA.id, ok: true, value: { ok: true, records: 3, message: 'chain intact' } }));
  assert.deepEqual(a.results, [{ ok: true, value: { ok: true, records: 3, message: 'chain intact' } }]);
  assert.equal(router.pendingCount, 0);
});

test('an answer outside the response schema becomes a failure, never the value', () => {
  const router = new CallRouter();
  const c = collect();
  const call = router.begin('keys.set', { provider: 'anthropic', secret: 's' }, c.settle);
  // A handler bug that leaks an extra field must not reach the page.
  router.receive(JSON.stringify({ id: call.id, ok: true, value: { provider: 'anthropic', state: 'present', lastSetAt: null, rotatedAt: null, message: null, secret: 'sk-ant-x' } }));
  assert.equal(c.results.length, 1);
  assert.equal(c.results[0]?.ok, false);
  assert.ok(!JSON.stringify(c.results).includes('sk-ant-x'));
});

test('error answers pass through; unknown ids, junk and non-protocol frames are dropped', () => {
  const router = new CallRouter();
  const c = collect();
  const call = router.begin('sessions.stop', { sessionId: 'abc' }, c.settle);
  assert.equal(router.receive('not json').kind, 'dropped');
  assert.equal(router.receive(JSON.stringify({ id: call.id, ok: true })).kind, 'dropped');
  assert.equal(router.receive(JSON.stringify({ id: 999, ok: true, value: {} })).kind, 'dropped');
  assert.equal(c.results.length, 0);
  const r = router.receive(JSON.stringify({ id: call.id, ok: false, error: { code: 'not_found', message: 'no such session' } }));
  assert.equal(r.kind, 'answer');
  assert.deepEqual(c.results, [{ ok: false, error: { code: 'not_found', message: 'no such session' } }]);
  assert.equal(router.receive(JSON.stringify({ id: null, ok: false, error: { code: 'failed', message: 'bad frame' } })).kind, 'server_error');
});

test('events are validated against the event schema', () => {
  const router = new CallRouter();
  const ok = router.receive(JSON.stringify({ event: { type: 'terminal.exit', sessionId: 'ab12', exitCode: 3 } }));
  assert.deepEqual(ok, { kind: 'event', event: { type: 'terminal.exit', sessionId: 'ab12', exitCode: 3 } });
  assert.equal(router.receive(JSON.stringify({ event: { type: 'terminal.exit', sessionId: 'ab12' } })).kind, 'dropped');
  assert.equal(router.receive(JSON.stringify({ event: { type: 'made.up' } })).kind, 'dropped');
});

test('failAll settles every pending call as unavailable, once', () => {
  const router = new CallRouter();
  const c = collect();
  const call = router.begin('app.info', {}, c.settle);
  router.begin('app.info', {}, c.settle);
  router.failAll('connection lost');
  assert.equal(c.results.length, 2);
  assert.ok(c.results.every((r) => !r.ok && r.error.code === 'unavailable'));
  // A late answer after the drop settles nothing twice.
  assert.equal(router.receive(JSON.stringify({ id: call.id, ok: true, value: {} })).kind, 'dropped');
  assert.equal(c.results.length, 2);
});

test('reconnect delays grow, are capped, and jitter only adds', () => {
  assert.equal(reconnectDelay(0, 0), 500);
  assert.equal(reconnectDelay(1, 0), 1000);
  assert.equal(reconnectDelay(3, 0), 4000);
  assert.equal(reconnectDelay(50, 0), 15_000);
  assert.ok(reconnectDelay(2, 0.9) > reconnectDelay(2, 0));
  assert.ok(reconnectDelay(50, 0.999) <= 15_000 * 1.25);
});
