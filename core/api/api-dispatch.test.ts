/**
 * The dispatcher is the one door from a UI into core: these tests hold it to
 * refusing what the contract does not allow before any handler runs, and to
 * letting nothing out that the contract does not list.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiEvent } from './cordon-api.js';
import { ApiFailure, createApiDispatcher, eventsOnceLoaded, type ApiEventSource, type ApiHandlers } from './api-dispatch.js';

function handlers(calls: string[], overrides: Partial<Record<keyof ApiHandlers, (r: never) => unknown>> = {}): ApiHandlers {
  const base = new Proxy(
    {},
    {
      get: (_t, method: string) => (req: unknown) => {
        calls.push(method);
        const o = (overrides as Record<string, ((r: unknown) => unknown) | undefined>)[method];
        if (o) return o(req);
        if (method === 'sessions.launch') return { sessionId: 'abcdef012345' };
        return {};
      },
    },
  );
  return base as ApiHandlers;
}

test('an unknown method is refused and runs nothing', async () => {
  const calls: string[] = [];
  const d = createApiDispatcher(handlers(calls));
  const r = await d('sessions.delete_everything', {});
  assert.deepEqual(r, { ok: false, error: { code: 'unknown_method', message: 'no method "sessions.delete_everything"' } });
  const proto = await d('__proto__', {});
  assert.equal(proto.ok, false);
  assert.deepEqual(calls, []);
});

test('a malformed request names the field and the handler never runs', async () => {
  const calls: string[] = [];
  const d = createApiDispatcher(handlers(calls));
  const cases: Array<[unknown, string]> = [
    [{ workspaces: [] }, 'workspaces'],
    [{ workspaces: [{ path: '/w', mode: 'rwx' }] }, 'workspaces.0.mode'],
    [{ workspaces: [{ path: '/w', mode: 'rw' }], privileged: true }, ''],
    [{ workspaces: [{ path: '/w', mode: 'rw' }], profile: '../../etc' }, 'profile'],
    ['not an object', ''],
  ];
  for (const [params, field] of cases) {
    const r = await d('sessions.launch', params);
    assert.equal(r.ok, false, JSON.stringify(params));
    if (r.ok) continue;
    assert.equal(r.error.code, 'invalid_request');
    if (field !== '') assert.equal(r.error.field, field, JSON.stringify(params));
    assert.ok(r.error.message.length > 0);
  }
  assert.deepEqual(calls, []);
});

test('a valid request reaches its handler and the answer is checked', async () => {
  const calls: string[] = [];
  const d = createApiDispatcher(handlers(calls));
  const r = await d('sessions.launch', { workspaces: [{ path: '/w', mode: 'ro' }] });
  assert.deepEqual(r, { ok: true, value: { sessionId: 'abcdef012345' } });
  assert.deepEqual(calls, ['sessions.launch']);
});

test('an answer outside the contract does not leave: a key a handler returned by mistake stays in core', async () => {
  const secret = 'sk-ant-api03-must-never-reach-the-renderer';
  const d = createApiDispatcher(
    handlers([], { 'keys.set': () => ({ provider: 'anthropic', state: 'present', lastSetAt: null, rotatedAt: null, message: null, secret }) }),
  );
  const r = await d('keys.set', { provider: 'anthropic', secret });
  assert.equal(r.ok, false);
  assert.equal(JSON.stringify(r).includes(secret), false);
});

test('expected failures travel as values with their code; other throws become "failed"', async () => {
  const d = createApiDispatcher(
    handlers([], {
      'sessions.stop': () => {
        throw new ApiFailure('not_found', 'no running session "abc"');
      },
      'doctor.run': () => {
        throw new Error('engine exploded');
      },
    }),
  );
  assert.deepEqual(await d('sessions.stop', { sessionId: 'abc' }), { ok: false, error: { code: 'not_found', message: 'no running session "abc"' } });
  assert.deepEqual(await d('doctor.run', {}), { ok: false, error: { code: 'failed', message: 'engine exploded' } });
});

test('eventsOnceLoaded: a listener subscribed before the service exists gets its events once it loads; one that left first, or a failed load, gets none', async () => {
  const listeners = new Set<(e: ApiEvent) => void>();
  const source: ApiEventSource = {
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  let loads = 0;
  let release: (s: ApiEventSource) => void = () => undefined;
  const loaded = new Promise<ApiEventSource>((r) => (release = r));
  const events = eventsOnceLoaded(() => {
    loads++;
    return loaded;
  });
  const got: ApiEvent[] = [];
  const stays = events.subscribe((e) => got.push(e));
  const leaves = events.subscribe(() => assert.fail('a listener that unsubscribed before the load got an event'));
  leaves();
  release(source);
  await loaded;
  await new Promise((r) => setImmediate(r));
  assert.equal(listeners.size, 1, 'only the listener still subscribed is attached');
  const notice: ApiEvent = { type: 'notice', level: 'info', message: 'hello' };
  for (const l of listeners) l(notice);
  assert.deepEqual(got, [notice]);
  stays();
  assert.equal(listeners.size, 0, 'unsubscribing after the load detaches from the service');
  assert.equal(loads, 2, 'LOAD is asked once per subscription');

  const failing = eventsOnceLoaded(() => Promise.reject(new Error('no service')));
  const off = failing.subscribe(() => assert.fail('an event from a service that never loaded'));
  await new Promise((r) => setImmediate(r));
  off();
});
