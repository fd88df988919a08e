// DLP wired exactly as a session wires it — the real egress proxy's model
// route with the one DLP adapter as filter and response transform — over
// real sockets: the agent side on the proxy's Unix socket, the vendor a
// loopback TLS server that echoes what it received in 3-character SSE
// deltas, like a model streaming hex.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { compileEgressPolicy, modelRoutesOf } from '../egress/egress-policy.js';
import { EgressProxy } from '../egress/egress-proxy.js';
import { makeTestCerts, type TestCerts } from '../egress/test-certs.js';
import { createModelRouteDlp } from './model-route-dlp.js';
import { compileDlpPolicy, DEFAULT_DLP_POLICY } from './policy.js';

const AWS_KEY = ['AKIA', 'Q3EGRJ2KZ7XNP4VB'].join('');
const CARD = '4111 1111 1111 1111';

let certs: TestCerts;
let dir: string;
before(() => {
  certs = makeTestCerts(['provider.test']);
  dir = mkdtempSync(join(tmpdir(), 'cordon-dlp-route-'));
});
after(() => {
  certs.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function post(socketPath: string, path: string, body: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; deny: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
      const deny = res.headers['x-cordon-deny'];
      readBody(res).then((text) => resolve({ status: res.statusCode ?? 0, deny: typeof deny === 'string' ? deny : undefined, text }), reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

void describe('model route with DLP, as a session runs it, over loopback', () => {
  void it('the vendor sees neither value, the agent gets the key back, the audit log holds no value', async () => {
    const received: Array<{ url: string; body: string }> = [];
    const vendor = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
      void readBody(req).then((body) => {
        received.push({ url: req.url ?? '', body });
        const parsed = JSON.parse(body) as { messages: { content: string }[] };
        const echo = parsed.messages[0]?.content ?? '';
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (let i = 0; i < echo.length; i += 3) {
          const data = { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: echo.slice(i, i + 3) } };
          res.write(`event: content_block_delta\ndata: ${JSON.stringify(data)}\n\n`);
        }
        res.end(`event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n`);
      });
    });
    await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', r));
    const port = (vendor.address() as AddressInfo).port;

    const audit = new MemoryAuditSink();
    const dlp = createModelRouteDlp({ sessionId: 's1', policy: compileDlpPolicy(DEFAULT_DLP_POLICY), audit });
    const compiled = compileEgressPolicy({ allow: [], allowRanges: ['127.0.0.0/8'], resolve: { 'provider.test': '127.0.0.1' } });
    assert.ok(compiled.ok);
    const socketPath = join(dir, 'proxy.sock');
    const proxy = new EgressProxy({
      socketPath,
      policy: compiled.policy,
      modelRoutes: modelRoutesOf({ anthropic: { baseUrl: `https://provider.test:${port}`, caFile: certs.caFile } }),
      audit,
      sessionId: 's1',
      resolver: () => Promise.resolve({ ok: false, why: 'no DNS in tests' }),
      hostAddresses: () => [],
      filters: [dlp.filter],
      responseTransforms: [dlp.rehydrate],
    });
    await proxy.start();
    try {
      const content = `deploy with ${AWS_KEY} and bill ${CARD} please`;
      const r = await post(socketPath, `/model/anthropic/v1/messages?beta=true&k=${AWS_KEY}`, JSON.stringify({ model: 'claude', max_tokens: 64, stream: true, messages: [{ role: 'user', content }] }));
      assert.equal(r.status, 200);
      const vendorSaw = `${received[0]?.url ?? ''}\n${received[0]?.body ?? ''}`;
      assert.equal(vendorSaw.includes(AWS_KEY), false);
      assert.equal(vendorSaw.replace(/\s/g, '').includes(CARD.replace(/\s/g, '')), false);
      assert.match(vendorSaw, /cdntk_[0-9a-f]{32}/);
      assert.ok(vendorSaw.includes('[REDACTED:credit_card]'));

      let agentText = '';
      for (const block of r.text.split('\n\n')) {
        const line = block.split('\n').find((l) => l.startsWith('data: '));
        if (line === undefined) continue;
        const d = JSON.parse(line.slice(6)) as { type: string; delta?: { text?: string } };
        if (d.type === 'content_block_delta') agentText += d.delta?.text ?? '';
      }
      assert.equal(agentText, `deploy with ${AWS_KEY} and bill [REDACTED:credit_card] please`);

      const blocked = await post(socketPath, '/model/anthropic/v1/messages', JSON.stringify({ messages: [{ role: 'user', content: ['-----BEGIN ', 'PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----'].join('') }] }));
      assert.equal(blocked.status, 403);
      assert.equal(blocked.deny, 'dlp_blocked_by_rule');
      assert.match(blocked.text, /pem_private_key/);
      assert.equal(received.length, 1, 'a blocked request never reaches the vendor');

      await new Promise((r2) => setTimeout(r2, 50));
      const auditText = JSON.stringify(audit.events);
      assert.ok(audit.events.some((e) => e.kind === 'dlp.findings') && audit.events.some((e) => e.kind === 'dlp.block'));
      assert.equal(auditText.includes(AWS_KEY), false);
      assert.equal(auditText.includes(CARD) || auditText.includes(CARD.replace(/\s/g, '')), false);
    } finally {
      await proxy.stop();
      vendor.close();
      vendor.closeAllConnections();
      dlp.dispose();
    }
  });
});
