/**
 * DLP on the model route, end to end (issue 5): an agent in a real session
 * sends Messages API requests holding an AWS key and a card number to a
 * loopback fake vendor over TLS. The vendor must receive them tokenized or
 * redacted; the agent must get its own values back (rehydrated, also when
 * streamed); the audit log must hold neither value.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { collect, eventually, TestEnv } from './test-harness.js';

const t = new TestEnv('dlp');
const AWS_KEY = 'AKIAQ3EGRJ2KZ7XNP4VB';
const CARD = '4111 1111 1111 1111';
let certs: TestCerts;
let vendor: Server;
const received: string[] = [];

/** Echoes the last user message back: as JSON, or as SSE split into small deltas (so tokens straddle events). */
function echoVendor(): Server {
  return createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push(body);
      const parsed = JSON.parse(body) as { stream?: boolean; messages: Array<{ content: string }> };
      const text = `you said: ${parsed.messages.at(-1)?.content ?? ''}`;
      if (!parsed.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text }], stop_reason: 'end_turn' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_1', role: 'assistant', content: [] } })}\n\n`);
      res.write(`event: content_block_start\ndata: ${JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })}\n\n`);
      for (let i = 0; i < text.length; i += 7) {
        res.write(`event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: text.slice(i, i + 7) } })}\n\n`);
      }
      res.end(`event: message_stop\ndata: {"type":"message_stop"}\n\n`);
    });
  });
}

before(async () => {
  certs = makeTestCerts(['api.anthropic.test']);
  vendor = echoVendor();
  await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', r));
  const port = (vendor.address() as AddressInfo).port;
  // A credential command stands in for the keychain: the key swap passes and DLP is what is tested.
  const cred = [process.execPath, '-e', 'console.log(JSON.stringify({token:"vendor-test-credential",expiresAt:new Date(Date.now()+3600e3).toISOString()}))'];
  writeFileSync(
    join(t.cordonHome, 'policy.json'),
    JSON.stringify({
      providers: { anthropic: { baseUrl: `https://api.anthropic.test:${port}`, caFile: certs.caFile, credentialCommand: cred } },
      egress: { allowRanges: ['127.0.0.0/8'], resolve: { 'api.anthropic.test': '127.0.0.1' } },
    }),
  );
});
after(() => {
  vendor.close();
  certs.cleanup();
  t.cleanup();
});

function send(stream: boolean): string {
  const body = JSON.stringify({ model: 'm', max_tokens: 10, stream, messages: [{ role: 'user', content: `deploy with ${AWS_KEY} and bill ${CARD}` }] });
  return `curl -sS -N -m 20 "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" -H 'content-type: application/json' -d '${body}'`;
}

describe('DLP on the model route', () => {
  for (const stream of [false, true]) {
    test(`${stream ? 'streamed' : 'JSON'}: the vendor gets tokens and redactions, the agent gets its values back, the audit log gets neither`, async () => {
      received.length = 0;
      const r = await t.run(['exec', '--', 'sh', '-c', send(stream)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(received.length, 1);
      const sent = received[0] as string;
      assert.ok(!sent.includes(AWS_KEY), 'the AWS key reached the vendor');
      assert.ok(!sent.includes(CARD) && !sent.includes(CARD.replace(/ /g, '')), 'the card number reached the vendor');
      assert.match(sent, /cdntk_[0-9a-f]{32}/);
      assert.match(sent, /\[REDACTED:credit_card\]/);
      assert.doesNotThrow(() => JSON.parse(sent), 'the rewritten body is still valid JSON');
      // What the agent saw: its own key back (tokens rehydrated), the card still redacted.
      const seen = stream
        ? r.stdout
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => (JSON.parse(l.slice(6)) as { delta?: { text?: string } }).delta?.text ?? '')
            .join('')
        : ((JSON.parse(r.stdout) as { content: Array<{ text: string }> }).content[0]?.text ?? '');
      assert.ok(seen.includes(AWS_KEY), `agent did not get the key back: ${seen}`);
      assert.ok(!seen.includes('cdntk_'), 'a token leaked to the agent');
      assert.match(seen, /\[REDACTED:credit_card\]/);
      const audit = readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8');
      // The card in any spelling (a bare '4111' would also match hex hashes by chance).
      const cardDigits = CARD.replace(/ /g, '');
      assert.ok(!audit.includes(AWS_KEY) && !audit.includes(CARD) && !audit.includes(cardDigits), 'a value reached the audit log');
      const finding = t.auditRecords().filter((e) => e.cordon['kind'] === 'dlp.findings').at(-1);
      assert.ok(finding);
      assert.equal(finding['class_uid'], 2006);
      const detectors = (finding.cordon['findings'] as Array<{ detector: string; action: string; count: number }>).map((f) => `${f.detector}:${f.action}:${f.count}`).sort();
      assert.deepEqual(detectors, ['aws_access_key_id:tokenize:1', 'credit_card:redact:1']);
    });
  }

  test('a DLP policy change reaches a running session within 2 seconds', async () => {
    const file = join(t.cordonHome, 'policy.json');
    const before = readFileSync(file, 'utf8');
    const ws = t.workspace('ws-dlp-live');
    const probe = `${send(false)} -o /dev/null -w '%{http_code}'`;
    const script = `i=0; while [ $i -lt 100 ]; do echo "CODE $(${probe}) at $(date +%s%3N)"; [ -e ${ws}/stop ] && exit 0; sleep 0.1; i=$((i+1)); done`;
    received.length = 0;
    const child = t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', script]);
    const done = collect(child, undefined, 60_000);
    assert.ok(await eventually(() => received.length > 0), 'no request before the change');
    const policy = JSON.parse(before) as Record<string, unknown>;
    const changedAt = Date.now();
    writeFileSync(file, JSON.stringify({ ...policy, dlp: { categories: { secret: 'block', pii: 'redact', custom: 'redact' } } }));
    assert.ok(await eventually(() => t.auditRecords().some((e) => e.cordon['kind'] === 'dlp.block'), 5000), 'no request was blocked after the change');
    writeFileSync(join(ws, 'stop'), '');
    const r = await done;
    writeFileSync(file, before);
    const blocked = /CODE 403 at (\d+)/.exec(r.stdout);
    assert.ok(blocked, r.stdout);
    assert.ok(Number(blocked[1]) - changedAt < 2000, `took ${Number(blocked[1]) - changedAt} ms`);
    const reload = t.auditRecords().filter((e) => e.cordon['kind'] === 'policy.reloaded').at(-1);
    assert.ok(((reload?.cordon['changed'] as string[] | undefined) ?? []).includes('dlp.categories.secret'), JSON.stringify(reload));
  });

  test('a private key in a request blocks it: the agent is told why and the vendor sees nothing', async () => {
    received.length = 0;
    const pem = ['-----BEGIN', 'RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF0qJ1Zz5gPjWq3kCw5wM0m7YtQ2H\\n-----END', 'RSA PRIVATE KEY-----'].join(' ');
    const body = JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'KEYPLACEHOLDER' }] }).replace('KEYPLACEHOLDER', pem);
    const r = await t.run(['exec', '--', 'sh', '-c', `curl -s -m 20 -i "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" -H 'content-type: application/json' -d '${body}' | tr -d '\\r'`]);
    assert.match(r.stdout, /^HTTP\/1\.1 403/m);
    assert.match(r.stdout, /^X-Cordon-Deny: dlp_blocked_by_rule$/m);
    assert.equal(received.length, 0, 'a blocked request reached the vendor');
    assert.ok(t.auditRecords().some((e) => e.cordon['kind'] === 'dlp.block'));
  });
});
