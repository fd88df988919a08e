import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runFilterChain, type ModelRequest } from '../egress/model-route.js';
import { createDlpRequestFilter, createDlpResponseTransform, type DlpAuditRecord } from './model-route-dlp.js';
import { DEFAULT_DLP_POLICY } from './policy.js';
import { TokenVault } from './vault.js';

const AWS_KEY = 'AKIAQ3EGRJ2KZ7XNP4VB';

function request(body: string, sessionId = 's1'): ModelRequest {
  return { provider: 'anthropic', host: 'api.anthropic.com', method: 'POST', path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: Buffer.from(body), sessionId };
}

void describe('DLP on the egress model-route hooks', () => {
  void it('rewrites through the filter chain, notes counts only, and audits without values', async () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const audit: DlpAuditRecord[] = [];
    const filter = createDlpRequestFilter({ policy: DEFAULT_DLP_POLICY, vaultFor: () => vault, onDecision: (r) => audit.push(r) });
    const r = await runFilterChain([filter], request(JSON.stringify({ messages: [{ role: 'user', content: `key ${AWS_KEY}` }] })));
    assert.ok(r.ok);
    assert.equal(r.request.body.toString().includes(AWS_KEY), false);
    assert.deepEqual(r.trace, [{ name: 'dlp', action: 'rewrite', note: 'dlp: aws_access_key_id×1 tokenize' }]);
    assert.deepEqual(audit, [
      { provider: 'anthropic', sessionId: 's1', action: 'rewrite', findings: [{ detector: 'aws_access_key_id', category: 'secret', action: 'tokenize', count: 1 }] },
    ]);
  });

  void it('rejects with a header-safe reason and a readable message', async () => {
    const filter = createDlpRequestFilter({ policy: DEFAULT_DLP_POLICY, vaultFor: () => null });
    const pem = ['-----BEGIN ', 'OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----'].join('');
    const r = await runFilterChain([filter], request(JSON.stringify({ messages: [{ role: 'user', content: pem }] })));
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.equal(r.status, 403);
    assert.equal(r.reason, 'dlp_blocked_by_rule');
    assert.match(r.message, /openssh_private_key/);
  });

  void it('response transform only when the session has tokens and the body is not compressed', () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const factory = createDlpResponseTransform(() => vault);
    const ctx = { request: request('{}'), status: 200, headers: { 'content-type': 'text/event-stream' } };
    assert.equal(factory(ctx), null);
    assert.ok(vault.tokenize('x').ok);
    assert.notEqual(factory(ctx), null);
    assert.equal(factory({ ...ctx, headers: { ...ctx.headers, 'content-encoding': 'gzip' } }), null);
  });
});
