/**
 * The approval answer is the one UI call that grants something: the
 * dispatcher must refuse every answer the contract does not describe before a
 * handler runs, and let out only the fields a view lists.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApiDispatcher, type ApiHandlers } from './api-dispatch.js';
import type { ApprovalView } from './approvals-contract.js';
import { ApiEventSchema } from './cordon-api.js';

const ID = '0123456789abcdef';
const VIEW: ApprovalView = {
  id: ID,
  session: '0123456789ab',
  kind: 'network',
  target: 'docs.example:443',
  reason: 'read the docs',
  detail: { address: '127.0.0.1' },
  write: false,
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-01T00:01:00.000Z',
  status: 'allowed',
  answer: { decision: 'allow', scope: 'once', until: null, write: false, by: 'user', at: '2026-01-01T00:00:05.000Z' },
  alwaysUnavailable: null,
};

function dispatcher(calls: unknown[], answer: () => unknown = () => VIEW) {
  const handlers = new Proxy({}, { get: () => (req: unknown) => (calls.push(req), answer()) });
  return createApiDispatcher(handlers as ApiHandlers);
}

test('malformed answers are refused with the field named, and no handler runs', async () => {
  const calls: unknown[] = [];
  const d = dispatcher(calls);
  const cases: Array<[unknown, string]> = [
    [{ id: ID, decision: 'maybe' }, 'decision'],
    [{ id: 'not-an-id', decision: 'deny' }, 'id'],
    [{ id: `${ID}/../x`, decision: 'deny' }, 'id'],
    [{ id: ID, decision: 'allow' }, 'scope'],
    [{ id: ID, decision: 'allow', scope: 'forever' }, 'scope'],
    [{ id: ID, decision: 'allow', scope: 'duration', for: '10y' }, 'for'],
    [{ id: ID, decision: 'allow', scope: 'duration', until: 'tomorrow' }, 'until'],
    [{ id: ID, decision: 'allow', scope: 'once', write: 'yes' }, 'write'],
    [{ decision: 'deny' }, 'id'],
  ];
  for (const [params, field] of cases) {
    const r = await d('approvals.answer', params);
    assert.equal(r.ok, false, JSON.stringify(params));
    if (r.ok) continue;
    assert.equal(r.error.code, 'invalid_request', JSON.stringify(params));
    assert.equal(r.error.field, field, `${JSON.stringify(params)}: ${r.error.message}`);
  }
  assert.deepEqual(calls, []);
});

test('an answer with extra fields is refused: a deny carries only the id, an allow only its own fields', async () => {
  const calls: unknown[] = [];
  const d = dispatcher(calls);
  for (const params of [
    { id: ID, decision: 'deny', scope: 'once' },
    { id: ID, decision: 'deny', write: true },
    { id: ID, decision: 'allow', scope: 'once', by: 'policy' },
    { id: ID, decision: 'allow', scope: 'always', host: 'evil.example' },
  ]) {
    const r = await d('approvals.answer', params);
    assert.equal(r.ok, false, JSON.stringify(params));
    assert.equal(!r.ok && r.error.code, 'invalid_request');
    assert.match(!r.ok ? r.error.message : '', /Unrecognized key/, JSON.stringify(params));
  }
  assert.deepEqual(calls, []);
});

test('well-formed answers reach the handler as parsed', async () => {
  const calls: unknown[] = [];
  const d = dispatcher(calls);
  const good = [
    { id: ID, decision: 'deny' },
    { id: ID, decision: 'allow', scope: 'once' },
    { id: ID, decision: 'allow', scope: 'duration', for: '1h' },
    { id: ID, decision: 'allow', scope: 'duration', for: 'end-of-day', write: true },
    { id: ID, decision: 'allow', scope: 'duration', until: '2026-01-01T10:00:00+01:00' },
    { id: ID, decision: 'allow', scope: 'always' },
  ];
  for (const params of good) assert.deepEqual(await d('approvals.answer', params), { ok: true, value: VIEW });
  assert.deepEqual(calls, good);
});

test('a view with a field the contract does not list does not leave core', async () => {
  const d = dispatcher([], () => ({ ...VIEW, requestFile: '/home/u/.cordon/approvals/0123456789abcdef.json' }));
  const r = await d('approvals.answer', { id: ID, decision: 'deny' });
  assert.equal(r.ok, false);
  assert.equal(JSON.stringify(r).includes('.cordon/approvals'), false);
  const list = createApiDispatcher(new Proxy({}, { get: () => () => ({ requests: [{ ...VIEW, status: 'maybe' }], omitted: 0 }) }) as ApiHandlers);
  assert.equal((await list('approvals.list', {})).ok, false);
});

test('the approvals.changed event is strict: a change it does not name is dropped by the parse', () => {
  assert.equal(ApiEventSchema.safeParse({ type: 'approvals.changed', change: 'request', id: ID, sessionId: 'abc' }).success, true);
  assert.equal(ApiEventSchema.safeParse({ type: 'approvals.changed', change: 'granted', id: ID, sessionId: 'abc' }).success, false);
  assert.equal(ApiEventSchema.safeParse({ type: 'approvals.changed', change: 'request', id: ID, sessionId: null, reason: 'press A' }).success, false);
});
