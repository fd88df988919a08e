// The DLP pieces wired the way the model route uses them, over real loopback
// HTTP: request filter before the vendor, event-aware rehydration on the
// streamed answer. A fake vendor echoes what it received in 3-character SSE
// deltas, like a model streaming hex.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { createModelRequestFilter, type DlpRequestDecision } from './request-filter.js';
import { createResponseRehydrator } from './sse-rehydrate.js';
import { DEFAULT_DLP_POLICY } from './policy.js';
import { TokenVault } from './vault.js';

const AWS_KEY = 'AKIAQ3EGRJ2KZ7XNP4VB';
const CARD = '4111 1111 1111 1111';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function post(port: number, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/messages', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        readBody(res).then((text) => resolve({ status: res.statusCode ?? 0, text }), reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

void describe('model route with DLP over loopback HTTP', () => {
  void it('the vendor sees neither value, the agent gets the key back, the audit summary holds no value', async () => {
    const received: string[] = [];
    const vendor = createServer((req, res) => {
      void readBody(req).then((body) => {
        received.push(body);
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
    const vendorPort = await listen(vendor);

    const vault = new TokenVault({ ttlMillis: 60_000 });
    const filter = createModelRequestFilter({ policy: DEFAULT_DLP_POLICY, destination: 'anthropic', vault });
    const audit: DlpRequestDecision[] = [];
    const proxy = createServer((req, res) => {
      void (async () => {
        const body = await readBody(req);
        const decision = filter({ body, contentType: req.headers['content-type'] ?? '' });
        audit.push(decision);
        if (decision.action === 'block') {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: decision.message } }));
          return;
        }
        const out = decision.action === 'rewrite' ? decision.body : body;
        const upstream = request({
          host: '127.0.0.1',
          port: vendorPort,
          path: req.url,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) },
        });
        upstream.end(out);
        const vres = await new Promise<IncomingMessage>((resolve) => upstream.on('response', resolve));
        res.writeHead(vres.statusCode ?? 502, { 'content-type': vres.headers['content-type'] ?? 'application/octet-stream' });
        await pipeline(vres, createResponseRehydrator(vault, vres.headers['content-type']), res);
      })();
    });
    const proxyPort = await listen(proxy);

    try {
      const content = `deploy with ${AWS_KEY} and bill ${CARD} please`;
      const r = await post(proxyPort, JSON.stringify({ model: 'claude', max_tokens: 64, stream: true, messages: [{ role: 'user', content }] }));
      assert.equal(r.status, 200);
      const vendorSaw = received[0] ?? '';
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

      const auditText = JSON.stringify(audit.map((d) => d.findings));
      assert.equal(auditText.includes(AWS_KEY), false);
      assert.equal(auditText.includes(CARD) || auditText.includes(CARD.replace(/\s/g, '')), false);

      const blocked = await post(proxyPort, JSON.stringify({ messages: [{ role: 'user', content: ['-----BEGIN ', 'PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----'].join('') }] }));
      assert.equal(blocked.status, 400);
      assert.match(blocked.text, /pem_private_key/);
      assert.equal(received.length, 1, 'a blocked request never reaches the vendor');
    } finally {
      proxy.close();
      vendor.close();
      vault.dispose();
    }
  });
});
