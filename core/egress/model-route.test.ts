import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runFilterChain, type FilterResult, type ModelRequest, type RequestFilter } from './model-route.js';

const request: ModelRequest = { provider: 'p', host: 'llm.example.test', method: 'POST', path: '/v1/messages?k=secret', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}'), sessionId: 's' };
const answering = (name: string, r: FilterResult): RequestFilter => ({ name, apply: () => Promise.resolve(r) });

void describe('model-route filter chain: the path', () => {
  void it('a rewrite may replace the path, and the next filter sees it', async () => {
    let seen = '';
    const r = await runFilterChain(
      [answering('a', { kind: 'rewrite', path: '/v1/messages?k=%5BREDACTED%5D' }), { name: 'b', apply: (req) => ((seen = req.path), Promise.resolve({ kind: 'allow' })) }],
      request,
    );
    assert.ok(r.kind === 'allow');
    assert.equal(r.request.path, '/v1/messages?k=%5BREDACTED%5D');
    assert.equal(seen, r.request.path);
  });

  void it('a path that could split the request line fails the chain closed', async () => {
    for (const path of ['/a b', '/a\r\nHost: evil', 'relative', '/caf\u00e9', '']) {
      const r = await runFilterChain([answering('bad', { kind: 'rewrite', path })], request);
      assert.ok(r.kind === 'deny', JSON.stringify(path));
      assert.equal(r.reason, 'filter_failed');
      assert.equal(r.path, request.path, 'the refusal records the path as it was');
    }
  });

  void it('a refusal carries the path to record: the filter\'s, else the last one the chain had', async () => {
    const own = await runFilterChain([answering('dlp', { kind: 'deny', status: 403, reason: 'dlp_blocked_by_rule', message: 'no', path: '/v1/messages?k=%5BREDACTED%5D' })], request);
    assert.ok(own.kind === 'deny');
    assert.equal(own.path, '/v1/messages?k=%5BREDACTED%5D');
    const later = await runFilterChain(
      [answering('a', { kind: 'rewrite', path: '/v2' }), answering('b', { kind: 'deny', status: 401, reason: 'nope', message: 'no' })],
      request,
    );
    assert.ok(later.kind === 'deny');
    assert.equal(later.path, '/v2');
  });
});
