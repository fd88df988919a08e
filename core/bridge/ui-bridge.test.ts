/**
 * The bridge against real sockets on 127.0.0.1: a real HTTP server, the real
 * `ws` client and plain HTTP requests, with the real dispatcher over handlers
 * that record what ran. Every response (status line, headers, body) is kept
 * and searched for the token at the end.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { createApiDispatcher, type ApiEventSource, type ApiHandlers } from '../api/api-dispatch.js';
import type { ApiEvent } from '../api/cordon-api.js';
import { startUiBridge, type UiBridge } from './ui-bridge.js';

const calls: string[] = [];
const record =
  <T>(name: string, value: T) =>
  (): T => {
    calls.push(name);
    return value;
  };
const keyView = { provider: 'anthropic', state: 'absent' as const, lastSetAt: null, rotatedAt: null, message: null };
const handlers: ApiHandlers = {
  'app.info': record('app.info', { version: '0.0.0-test', role: 'developer', features: { launch: true, exec: true, changeSettings: true }, platform: 'linux' }),
  'doctor.run': record('doctor.run', { ok: true, checks: [] }),
  'profiles.list': record('profiles.list', []),
  'sessions.list': record('sessions.list', []),
  'sessions.launch': record('sessions.launch', { sessionId: '0123456789ab' }),
  'sessions.stop': record('sessions.stop', { stopped: [] }),
  'sessions.quarantine': record('sessions.quarantine', { bundle: '/tmp/b.tar.gz', signed: true }),
  'terminal.attach': record('terminal.attach', { backlog: '' }),
  'terminal.input': record('terminal.input', {}),
  'terminal.resize': record('terminal.resize', {}),
  'audit.recent': record('audit.recent', []),
  'audit.verify': record('audit.verify', { ok: true, records: 0, message: 'ok' }),
  'policy.effective': record('policy.effective', { ok: true, issues: [], values: [], sources: [], managed: false }),
  'recent.workspaces': record('recent.workspaces', []),
  'files.drop': record('files.drop', { sessionId: '0123456789ab', name: 'a.txt', outcome: 'arrived' as const, reason: 'clean', message: 'clean', sandboxPath: '/w/cordon-inbox/a.txt', findings: [] }),
  'files.take': record('files.take', { outcome: 'refused' as const, reason: 'outside_workspace', message: 'no' }),
  'keys.status': record('keys.status', []),
  'keys.set': record('keys.set', keyView),
  'keys.rotate': record('keys.rotate', keyView),
  'keys.remove': record('keys.remove', keyView),
  'chat.history': record('chat.history', { items: [], state: { state: 'ready' as const, agent: 'claude-code', usage: { inputTokens: 0, outputTokens: 0, costUsd: null }, rejectedEvents: 0 } }),
  'chat.send': record('chat.send', {}),
  'chat.interrupt': record('chat.interrupt', {}),
  'files.changes': record('files.changes', { changes: [], overflow: 0 }),
  'files.diff': record('files.diff', { kind: 'binary' as const }),
  'files.preview': record('files.preview', { kind: 'binary' as const, size: 0 }),
  'files.reveal': record('files.reveal', {}),
  'links.open': record('links.open', {}),
  'approvals.list': record('approvals.list', { requests: [], omitted: 0 }),
  'approvals.answer': record('approvals.answer', {
    ...{ id: '0123456789abcdef', session: '0123456789ab', kind: 'network' as const, target: 'example.com:443', reason: null, detail: {}, write: false },
    ...{ createdAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-01T00:01:00.000Z', status: 'denied' as const, alwaysUnavailable: null },
    answer: { decision: 'deny' as const, scope: null, until: null, write: false, by: 'user' as const, at: '2026-01-01T00:00:05.000Z' },
  }),
};

class TestEvents implements ApiEventSource {
  readonly listeners = new Set<(e: ApiEvent) => void>();
  subscribe(listener: (e: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(e: ApiEvent): void {
    for (const l of this.listeners) l(e);
  }
}

const base = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-bridge-')));
const staticDir = join(base, 'renderer');
const SHELL = '<!doctype html><title>Cordon</title><script type="module" src="/assets/app.js"></script>';
const events = new TestEvents();
let bridge: UiBridge;
let host: string;
let origin: string;
/** Everything any response carried, for the never-leaks check. */
const seen: string[] = [];

before(async () => {
  mkdirSync(join(staticDir, 'assets'), { recursive: true });
  writeFileSync(join(staticDir, 'index.html'), SHELL);
  writeFileSync(join(staticDir, 'assets', 'app.js'), 'export {};\n');
  writeFileSync(join(base, 'outside.txt'), 'OUTSIDE-SECRET');
  bridge = await startUiBridge({ dispatch: createApiDispatcher(handlers), events, staticDir, port: 0, host: '127.0.0.1', limits: { maxBufferedBytes: 256 * 1024 } });
  host = `127.0.0.1:${bridge.port}`;
  origin = `http://${host}`;
});
after(async () => {
  await bridge.close();
  rmSync(base, { recursive: true, force: true });
});

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: bridge.port, path, method, headers: { host, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        seen.push(JSON.stringify(res.headers), body);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

type Opened = { ws: WebSocket; protocol: string };
type Refused = { status: number; body: string };

/** Opens a socket with the given handshake; resolves with the open socket or the refusal's status and body. */
function connect(opts: { protocols?: string[]; headers?: Record<string, string>; origin?: string | null; path?: string }): Promise<Opened | Refused> {
  const headers: Record<string, string> = { host, ...opts.headers };
  const wsOpts: WebSocket.ClientOptions = { headers, maxPayload: 64 * 1024 * 1024 };
  if (opts.origin !== null) wsOpts.origin = opts.origin ?? origin;
  const ws = new WebSocket(`ws://127.0.0.1:${bridge.port}${opts.path ?? '/api'}`, opts.protocols ?? [], wsOpts);
  return new Promise((resolve, reject) => {
    ws.on('open', () => {
      seen.push(ws.protocol);
      resolve({ ws, protocol: ws.protocol });
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => {
        seen.push(JSON.stringify(res.headers), body);
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('error', (err) => reject(err));
  });
}

const tokenProtocols = (): string[] => ['cordon.v1', `cordon-token.${bridge.token}`];

async function open(): Promise<WebSocket> {
  const r = await connect({ protocols: tokenProtocols() });
  assert.ok('ws' in r, `refused: ${'status' in r ? r.status : ''}`);
  return r.ws;
}

function refusedWith(r: Opened | Refused, status: number): void {
  if ('ws' in r) {
    r.ws.close();
    assert.fail(`expected ${status}, the socket opened`);
  }
  assert.equal(r.status, status, r.body);
}

/** The next message on WS, parsed. */
function next(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    ws.once('message', (d: Buffer) => {
      const text = d.toString('utf8');
      seen.push(text);
      resolve(JSON.parse(text) as Record<string, unknown>);
    });
    ws.once('close', () => reject(new Error('closed')));
  });
}

async function exchange(ws: WebSocket, frame: string): Promise<Record<string, unknown>> {
  const answer = next(ws);
  ws.send(frame);
  return answer;
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

test('bridge: GET / serves the shell with the security headers, bound to our port in CSP', async () => {
  const r = await get('/');
  assert.equal(r.status, 200);
  assert.equal(r.body, SHELL);
  assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  const csp = String(r.headers['content-security-policy']);
  for (const part of ["default-src 'none'", "script-src 'self'", `connect-src 'self' ws://127.0.0.1:${bridge.port}`, "base-uri 'none'", "frame-ancestors 'none'", "form-action 'none'"]) {
    assert.ok(csp.includes(part), `${part} in ${csp}`);
  }
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.equal(r.headers['referrer-policy'], 'no-referrer');
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(r.headers['cross-origin-resource-policy'], 'same-origin');
  const js = await get('/assets/app.js');
  assert.equal(js.status, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
});

test('bridge: a foreign Host gets 403 for GET / and for the upgrade (DNS rebinding)', async () => {
  for (const h of [`evil.example:${bridge.port}`, `127.0.0.1:${bridge.port + 1}`, `localhost:${bridge.port}`]) {
    const r = await get('/', { host: h });
    assert.equal(r.status, 403, h);
    assert.ok(!r.body.includes('Cordon'), 'no byte of the shell');
    refusedWith(await connect({ protocols: tokenProtocols(), headers: { host: h } }), 403);
  }
});

test('bridge: a foreign Origin gets 403; an upgrade without Origin gets 403', async () => {
  assert.equal((await get('/', { origin: 'http://evil.example' })).status, 403);
  refusedWith(await connect({ protocols: tokenProtocols(), origin: 'http://evil.example' }), 403);
  refusedWith(await connect({ protocols: tokenProtocols(), origin: `http://localhost:${bridge.port}` }), 403);
  refusedWith(await connect({ protocols: tokenProtocols(), origin: null }), 403);
});

test('bridge: no token, a wrong token or a token in the query string only gets 401', async () => {
  refusedWith(await connect({ protocols: ['cordon.v1'] }), 401);
  refusedWith(await connect({ protocols: ['cordon.v1', `cordon-token.${'0'.repeat(64)}`] }), 401);
  refusedWith(await connect({ headers: { 'x-cordon-token': 'f'.repeat(64) } }), 401);
  refusedWith(await connect({ protocols: ['cordon.v1'], path: `/api?token=${bridge.token}` }), 401);
  assert.equal((await get(`/api?token=${bridge.token}`)).status, 401);
  assert.equal((await get('/api')).status, 401);
  assert.equal((await get('/api', { 'x-cordon-token': bridge.token })).status, 426);
  assert.equal((await get('/', {}, 'POST')).status, 405);
});

test('bridge: the token opens the socket, which selects cordon.v1 and never echoes the token', async () => {
  const r = await connect({ protocols: tokenProtocols() });
  assert.ok('ws' in r);
  assert.equal(r.protocol, 'cordon.v1');
  r.ws.close();
  const viaHeader = await connect({ headers: { 'x-cordon-token': bridge.token } });
  assert.ok('ws' in viaHeader);
  viaHeader.ws.close();
});

test('bridge: a valid call reaches the dispatcher and answers with its id', async () => {
  const ws = await open();
  const a = await exchange(ws, JSON.stringify({ id: 7, method: 'app.info', params: {} }));
  assert.equal(a['id'], 7);
  assert.equal(a['ok'], true);
  assert.equal((a['value'] as { version: string }).version, '0.0.0-test');
  const unknown = await exchange(ws, JSON.stringify({ id: 8, method: 'no.such', params: {} }));
  assert.deepEqual(unknown['error'], { code: 'unknown_method', message: 'no method "no.such"' });
  ws.close();
});

test('bridge: malformed frames get invalid_request naming the field, and no handler runs', async () => {
  const ws = await open();
  calls.length = 0;
  const cases: Array<[string, number | null, string | undefined]> = [
    ['not json {', null, undefined],
    [JSON.stringify({ id: 1, params: {} }), 1, 'method'],
    [JSON.stringify({ id: 'x', method: 'app.info', params: {} }), null, 'id'],
    [JSON.stringify({ id: 2, method: 'app.info', params: {}, extra: 1 }), 2, 'extra'],
    [JSON.stringify({ id: 3, method: 'sessions.launch', params: { workspaces: [{ path: '/w', mode: 'rw' }], shell: true } }), 3, 'shell'],
    [JSON.stringify({ id: 4, method: 'sessions.launch', params: { workspaces: 'all' } }), 4, 'workspaces'],
    [JSON.stringify({ id: 5, method: 'sessions.launch', params: { workspaces: [{ path: '/w', mode: 'exec' }] } }), 5, 'workspaces.0.mode'],
    [JSON.stringify({ id: 6, method: 'keys.set', params: { provider: 'anthropic', secret: 42 } }), 6, 'secret'],
  ];
  for (const [frame, id, field] of cases) {
    const a = await exchange(ws, frame);
    assert.equal(a['id'], id, frame);
    assert.equal(a['ok'], false, frame);
    const error = a['error'] as { code: string; message: string; field?: string };
    assert.equal(error.code, 'invalid_request', frame);
    if (field === 'extra' || field === 'shell') {
      // An unknown key is named in the message (zod reports it on the object, not a field).
      assert.ok(error.message.includes(`"${field}"`), error.message);
    } else if (field) {
      assert.equal(error.field, field, frame);
      assert.ok(error.message.startsWith(`${field}:`), error.message);
    }
  }
  const binary = next(ws);
  ws.send(Buffer.from('{"id":9,"method":"app.info","params":{}}'), { binary: true });
  assert.equal(((await binary)['error'] as { code: string }).code, 'invalid_request');
  assert.deepEqual(calls, [], 'a handler ran for a malformed frame');
  ws.close();
});

test('bridge: a frame over 1 MiB closes the socket (1009) and runs nothing', async () => {
  const ws = await open();
  calls.length = 0;
  const code = closed(ws);
  ws.send(JSON.stringify({ id: 1, method: 'terminal.input', params: { sessionId: 'ab', data: 'x'.repeat(1024 * 1024 + 10) } }));
  assert.equal(await code, 1009);
  assert.deepEqual(calls, []);
});

test('bridge: events reach every open socket; closing a socket unsubscribes it', async () => {
  const a = await open();
  const b = await open();
  assert.equal(events.listeners.size, 2);
  const gotA = next(a);
  const gotB = next(b);
  events.emit({ type: 'sessions.changed' });
  assert.deepEqual(await gotA, { event: { type: 'sessions.changed' } });
  assert.deepEqual(await gotB, { event: { type: 'sessions.changed' } });
  const ca = closed(a);
  const cb = closed(b);
  a.close();
  b.close();
  await Promise.all([ca, cb]);
  for (let i = 0; i < 50 && events.listeners.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(events.listeners.size, 0);
});

test('bridge: a client that stops reading is closed with 1013 instead of buffered without bound', async () => {
  const ws = await open();
  const code = closed(ws);
  ws.pause();
  const data = 'y'.repeat(64 * 1024);
  // ~64 MiB offered while the client reads nothing: far past the 256 KiB limit set above.
  for (let i = 0; i < 1024 && events.listeners.size > 0; i++) {
    events.emit({ type: 'terminal.output', sessionId: 'ab', data });
    if (i % 64 === 63) await new Promise((r) => setTimeout(r, 5));
  }
  ws.resume();
  assert.equal(await code, 1013);
});

test('bridge: path traversal serves nothing outside the folder', async () => {
  for (const p of ['/../package.json', '/../outside.txt', '/%2e%2e/outside.txt', '/%2E%2E%2Foutside.txt', '/assets/..%2f..%2foutside.txt', '/..%5coutside.txt', '/assets/']) {
    const r = await get(p);
    assert.ok(p === '/assets/' ? r.status === 200 && r.body === SHELL : r.status === 404 || r.status === 403, `${p}: ${r.status}`);
    assert.ok(!r.body.includes('OUTSIDE-SECRET'), p);
    assert.ok(!r.body.includes('"name"'), p);
  }
});

test('bridge: onPageSent fires once the page (HTML) has gone out, not for scripts, refusals or a foreign Host', async () => {
  let sent = 0;
  const hooked = await startUiBridge({ dispatch: createApiDispatcher(handlers), events, staticDir, host: '127.0.0.1', onPageSent: () => sent++ });
  try {
    const at = `127.0.0.1:${hooked.port}`;
    const fetch = (path: string, hostHeader = at): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: hooked.port, path, headers: { host: hostHeader } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await fetch('/assets/app.js'), 200);
    assert.equal(await fetch('/nothing-here.html'), 404);
    assert.equal(await fetch('/', 'evil.example:80'), 403);
    assert.equal(sent, 0, 'fired for something that is not the page');
    assert.equal(await fetch('/'), 200);
    await new Promise((r) => setImmediate(r));
    assert.equal(sent, 1);
  } finally {
    await hooked.close();
  }
});

test('bridge: a socket that stops answering pings is terminated', async () => {
  const quick = await startUiBridge({ dispatch: createApiDispatcher(handlers), events, staticDir, host: '127.0.0.1', limits: { pingMs: 100 } });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${quick.port}/api`, ['cordon.v1', `cordon-token.${quick.token}`], {
      origin: `http://127.0.0.1:${quick.port}`,
      headers: { host: `127.0.0.1:${quick.port}` },
      autoPong: false,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const started = Date.now();
    const code = await closed(ws);
    // Terminated, not closed politely: the client sees 1006.
    assert.equal(code, 1006);
    assert.ok(Date.now() - started < 2000);
  } finally {
    await quick.close();
  }
});

test('bridge: a client that trickles its headers (slowloris) is cut off', async () => {
  const quick = await startUiBridge({ dispatch: createApiDispatcher(handlers), events, staticDir, host: '127.0.0.1', limits: { headersTimeoutMs: 300 } });
  try {
    const sock = tcpConnect(quick.port, '127.0.0.1');
    // Writes after the server hung up fail with EPIPE; that is the point.
    sock.on('error', () => undefined);
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${quick.port}\r\n`);
    const drip = setInterval(() => sock.write('X-Slow: 1\r\n'), 50);
    const started = Date.now();
    let answer = '';
    sock.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    await new Promise<void>((resolve) => sock.once('close', () => resolve()));
    clearInterval(drip);
    assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
    assert.ok(!answer.includes('Cordon'), answer);
  } finally {
    await quick.close();
  }
});

// Last in the file: it reads what every test above received.
test('bridge: the token appeared in no response header, body, frame or selected subprotocol', () => {
  assert.ok(seen.length > 40, `only ${seen.length} responses recorded`);
  const all = seen.join('\n');
  assert.ok(!all.includes(bridge.token), 'the token appeared in a response');
});
