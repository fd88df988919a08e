// The model route's DLP adapter, as sessions run it, driven through the
// egress filter chain: what reaches the vendor, what the agent is told, and
// what the audit log keeps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { runFilterChain, type ChainResult, type ModelRequest, type RequestFilter } from '../egress/model-route.js';
import { createModelRouteDlp, type ModelRouteDlp } from './model-route-dlp.js';
import { compileDlpPolicy, DEFAULT_DLP_POLICY, DlpPolicySchema } from './policy.js';

const AWS_KEY = ['AKIA', 'Q3EGRJ2KZ7XNP4VB'].join('');
const REAL_KEY = ['sk-ant-api03-', 'Zx9Qm2Lp9Rt4Vw7Zb1Cf5Hj0Kn6MqXs3Ty8Ua2Ie5Oo7PpQq1Rr2Ss3Tt4Uu5Vv6Ww7Xx8Yy9Zz0Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8-AAAA'].join('');

function request(body: string | Buffer, extra: Partial<ModelRequest> = {}): ModelRequest {
  return {
    provider: 'anthropic',
    host: 'api.anthropic.com',
    method: 'POST',
    path: '/v1/messages?beta=true',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? Buffer.from(body) : body,
    sessionId: 's1',
    ...extra,
  };
}

function messages(...content: unknown[]): string {
  return JSON.stringify({ model: 'm', max_tokens: 10, messages: content.map((c) => ({ role: 'user', content: c })) });
}

function setup(opts: { unscannedHeaders?: readonly string[]; policy?: typeof DEFAULT_DLP_POLICY } = {}): { dlp: ModelRouteDlp; audit: MemoryAuditSink } {
  const audit = new MemoryAuditSink();
  const dlp = createModelRouteDlp({ sessionId: 's1', policy: compileDlpPolicy(opts.policy ?? DEFAULT_DLP_POLICY), audit, ...(opts.unscannedHeaders ? { unscannedHeaders: opts.unscannedHeaders } : {}) });
  return { dlp, audit };
}

async function sent(chain: Promise<ChainResult>): Promise<ModelRequest> {
  const r = await chain;
  assert.ok(r.kind === 'allow', r.kind === 'allow' ? '' : `${r.status} ${r.reason}: ${r.message}`);
  return r.request;
}

/** Everything the vendor would receive, as one text. */
function wire(r: ModelRequest): string {
  return `${r.path}\n${JSON.stringify(r.headers)}\n${r.body.toString('utf8')}`;
}

void describe('DLP on the model route', () => {
  void it('rewrites the body, notes counts only, and audits without values', async () => {
    const { dlp, audit } = setup();
    const r = await runFilterChain([dlp.filter], request(messages(`key ${AWS_KEY}`)));
    assert.ok(r.kind === 'allow');
    assert.equal(r.request.body.toString().includes(AWS_KEY), false);
    assert.deepEqual(r.trace, [{ name: 'dlp', action: 'rewrite', note: 'dlp: aws_access_key_id×1 tokenize' }]);
    assert.deepEqual(
      audit.events.map((e) => [e.kind, e.details]),
      [['dlp.findings', { provider: 'anthropic', action: 'rewrite', findings: [{ detector: 'aws_access_key_id', category: 'secret', action: 'tokenize', count: 1 }] }]],
    );
  });

  void it('answers each kind of refusal with its status and a header-safe reason', async () => {
    const pem = ['-----BEGIN ', 'OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----'].join('');
    const tiny = DlpPolicySchema.parse({ budget: { maxInputBytes: 200, maxScanMillis: 500 } });
    const cases: ReadonlyArray<readonly [string, ModelRequest, number, string, typeof DEFAULT_DLP_POLICY]> = [
      ['a private key', request(messages(pem)), 403, 'dlp_blocked_by_rule', DEFAULT_DLP_POLICY],
      ['too large', request(messages('x'.repeat(300))), 413, 'dlp_scan_budget_exceeded', tiny],
      ['a zip bomb', request(gzipSync(Buffer.alloc(10_000, 0x20)), { headers: { 'content-encoding': 'gzip' } }), 413, 'dlp_scan_budget_exceeded', tiny],
      ['not UTF-8', request(Buffer.from([0x7b, 0xff, 0x7d])), 400, 'dlp_undecodable_body', DEFAULT_DLP_POLICY],
      ['corrupt gzip', request(Buffer.from('not gzip'), { headers: { 'content-encoding': 'gzip' } }), 400, 'dlp_undecodable_body', DEFAULT_DLP_POLICY],
      ['an unknown coding', request(Buffer.from('x'), { headers: { 'content-encoding': 'zstd' } }), 415, 'dlp_unsupported_encoding', DEFAULT_DLP_POLICY],
      ['JSON with NaN', request(`{"max_tokens": NaN, "messages": [{"role":"user","content":"\\u0041${AWS_KEY.slice(1)}"}]}`), 400, 'dlp_invalid_json', DEFAULT_DLP_POLICY],
    ];
    for (const [name, req, status, reason, policy] of cases) {
      const { dlp, audit } = setup({ policy });
      const r = await runFilterChain([dlp.filter], req);
      assert.ok(r.kind === 'deny', name);
      assert.equal(r.status, status, name);
      assert.equal(r.reason, reason, name);
      assert.doesNotMatch(r.message, /AKIA|b3Bl/, name);
      assert.equal(audit.events.at(-1)?.kind, 'dlp.block', name);
      assert.doesNotMatch(JSON.stringify(audit.events), /AKIA|QUtJQ|b3Bl/, name);
    }
  });

  void it('scans the agent headers, path and query, but not the credential headers Cordon wrote', async () => {
    const { dlp, audit } = setup({ unscannedHeaders: ['x-api-key', 'authorization'] });
    const r = await sent(
      runFilterChain(
        [dlp.filter],
        request(messages('hello'), {
          path: `/v1/messages?beta=true&note=${AWS_KEY}`,
          headers: { 'content-type': 'application/json', 'x-api-key': REAL_KEY, 'x-debug': `key=${AWS_KEY}`, 'anthropic-version': '2023-06-01' },
        }),
      ),
    );
    assert.equal(wire(r).includes(AWS_KEY), false);
    assert.equal(r.headers['x-api-key'], REAL_KEY, 'the swapped key is left alone');
    assert.equal(r.headers['anthropic-version'], '2023-06-01');
    assert.match(r.headers['x-debug'] ?? '', /^key=cdntk_[0-9a-f]{32}$/);
    assert.match(r.path, /^\/v1\/messages\?beta=true&note=cdntk_[0-9a-f]{32}$/);
    assert.deepEqual(
      (audit.events[0]?.details?.['findings'] as Array<{ detector: string; count: number }>).map((f) => [f.detector, f.count]),
      [['aws_access_key_id', 2]],
    );
  });

  void it('a redaction in the path is percent-encoded, and a refusal records the path without the value', async () => {
    const { dlp } = setup({ policy: DlpPolicySchema.parse({ categories: { secret: 'redact', pii: 'redact', custom: 'redact' } }) });
    const r = await sent(runFilterChain([dlp.filter], request('', { method: 'GET', path: `/v1/files/${AWS_KEY}` })));
    assert.equal(r.path, '/v1/files/%5BREDACTED%3Aaws_access_key_id%5D');
    const strict = setup({ policy: DlpPolicySchema.parse({ categories: { secret: 'block', pii: 'redact', custom: 'redact' } }) });
    const refused = await runFilterChain([strict.dlp.filter], request('', { method: 'GET', path: `/v1/files/${AWS_KEY}` }));
    assert.ok(refused.kind === 'deny');
    assert.equal(refused.path, '/v1/files/%5BREDACTED%3Aaws_access_key_id%5D');
  });

  void it('a name that holds a secret drops the header', async () => {
    const { dlp } = setup();
    const r = await sent(runFilterChain([dlp.filter], request(messages('hi'), { headers: { 'content-type': 'application/json', [`x-${AWS_KEY.toLowerCase()}`]: '1', [`x-${AWS_KEY}`]: '1' } })));
    assert.equal(wire(r).includes(AWS_KEY), false);
    assert.equal(r.headers['content-type'], 'application/json');
  });

  void it('decodes gzip, deflate (also raw, stored blocks) and br, and sends the decoded body without its encoding', async () => {
    const body = messages(`key ${AWS_KEY}`);
    // Raw deflate of stored blocks, split inside the key: its halves sit apart in the bytes.
    const cut = body.indexOf(AWS_KEY) + 4;
    const stored = (data: Buffer, last: boolean): Buffer => Buffer.concat([Buffer.from([last ? 1 : 0, data.length & 0xff, data.length >> 8, ~data.length & 0xff, (~data.length >> 8) & 0xff]), data]);
    const storedBlocks = Buffer.concat([stored(Buffer.from(body.slice(0, cut)), false), stored(Buffer.from(body.slice(cut)), true)]);
    assert.equal(storedBlocks.includes(Buffer.from(AWS_KEY)), false, 'the key is split in the bytes');
    const encodings: ReadonlyArray<readonly [string, Buffer]> = [
      ['gzip', gzipSync(body)],
      ['deflate', storedBlocks],
      ['deflate', deflateRawSync(body)],
      ['br', (await import('node:zlib')).brotliCompressSync(body)],
      ['gzip, br', (await import('node:zlib')).brotliCompressSync(gzipSync(body))],
    ];
    for (const [coding, bytes] of encodings) {
      const { dlp } = setup();
      const r = await sent(runFilterChain([dlp.filter], request(bytes, { headers: { 'content-type': 'application/json', 'content-encoding': coding } })));
      assert.equal(r.headers['content-encoding'], undefined, coding);
      assert.equal(wire(r).includes(AWS_KEY), false, coding);
      const parsed = JSON.parse(r.body.toString('utf8')) as { messages: Array<{ content: string }> };
      assert.match(parsed.messages[0]?.content ?? '', /^key cdntk_[0-9a-f]{32}$/, coding);
    }
    // A clean compressed body is sent decoded too: the vendor reads exactly what was scanned.
    const { dlp } = setup();
    const clean = await runFilterChain([dlp.filter], request(gzipSync(messages('hello')), { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } }));
    assert.ok(clean.kind === 'allow');
    assert.equal(clean.request.body.toString(), messages('hello'));
    assert.deepEqual(clean.trace, [{ name: 'dlp', action: 'rewrite', note: 'dlp: body decoded' }]);
  });

  void it('finds a key split across two text blocks of one message, and leaves one token where it began', async () => {
    const { dlp } = setup();
    const blocks = [
      { type: 'text', text: `deploy with ${AWS_KEY.slice(0, 4)}` },
      { type: 'text', text: `${AWS_KEY.slice(4)} today` },
    ];
    const r = await sent(runFilterChain([dlp.filter], request(messages(blocks))));
    const content = (JSON.parse(r.body.toString()) as { messages: Array<{ content: Array<{ text: string }> }> }).messages[0]?.content ?? [];
    assert.match(content[0]?.text ?? '', /^deploy with cdntk_[0-9a-f]{32}$/);
    assert.equal(content[1]?.text, ' today');
    assert.equal(wire(r).includes(AWS_KEY.slice(4)), false);
  });

  void it('finds a base64-encoded key in the body and replaces the whole encoded run', async () => {
    const { dlp } = setup();
    const encoded = Buffer.from(AWS_KEY).toString('base64');
    const r = await sent(runFilterChain([dlp.filter], request(messages(`here: ${encoded}`))));
    const content = (JSON.parse(r.body.toString()) as { messages: Array<{ content: string }> }).messages[0]?.content;
    assert.match(content ?? '', /^here: cdntk_[0-9a-f]{32}$/);
  });

  void it('an empty body still has its headers and path scanned', async () => {
    const { dlp } = setup();
    const r = await sent(runFilterChain([dlp.filter], request('', { method: 'GET', path: `/v1/models?k=${AWS_KEY}`, headers: {} })));
    assert.equal(wire(r).includes(AWS_KEY), false);
  });

  void it('after the key swap, in a session chain, the real key goes out untouched and DLP still runs', async () => {
    const { dlp } = setup({ unscannedHeaders: ['x-api-key', 'authorization'] });
    const swap: RequestFilter = { name: 'key-swap', apply: (req) => Promise.resolve({ kind: 'rewrite', headers: { ...req.headers, 'x-api-key': REAL_KEY } }) };
    const r = await sent(runFilterChain([swap, dlp.filter], request(messages(`key ${AWS_KEY}`), { headers: { 'content-type': 'application/json', 'x-api-key': 'cdn_ph_phantom' } })));
    assert.equal(r.headers['x-api-key'], REAL_KEY);
    assert.equal(r.body.toString().includes(AWS_KEY), false);
    // Without being told, DLP would have tokenized the real key into a request the vendor refuses.
    const unaware = setup();
    const broken = await sent(runFilterChain([swap, unaware.dlp.filter], request(messages('hi'))));
    assert.match(broken.headers['x-api-key'] ?? '', /^cdntk_/);
  });

  void it('a policy change reaches the next request; the vault keeps its tokens', async () => {
    const { dlp } = setup();
    const first = await sent(runFilterChain([dlp.filter], request(messages(`key ${AWS_KEY}`))));
    dlp.setPolicy(compileDlpPolicy(DlpPolicySchema.parse({ categories: { secret: 'block', pii: 'redact', custom: 'redact' } })));
    const second = await runFilterChain([dlp.filter], request(messages(`key ${AWS_KEY}`)));
    assert.equal(second.kind, 'deny');
    const token = /cdntk_[0-9a-f]{32}/.exec(first.body.toString())?.[0] ?? '';
    const t = dlp.rehydrate({ request: request('{}'), status: 200, headers: { 'content-type': 'application/json' } });
    assert.ok(t);
    const out = await new Promise<string>((resolve) => {
      let s = '';
      t.on('data', (c: Buffer) => (s += c.toString()));
      t.on('end', () => resolve(s));
      t.end(JSON.stringify({ text: token }));
    });
    assert.ok(out.includes(AWS_KEY));
  });

  void it('response transform only when the session has tokens and the body is not compressed', async () => {
    const { dlp } = setup();
    const ctx = { request: request('{}'), status: 200, headers: { 'content-type': 'text/event-stream' } };
    assert.equal(dlp.rehydrate(ctx), null);
    await runFilterChain([dlp.filter], request(messages(`key ${AWS_KEY}`)));
    assert.notEqual(dlp.rehydrate(ctx), null);
    assert.equal(dlp.rehydrate({ ...ctx, headers: { ...ctx.headers, 'content-encoding': 'gzip' } }), null);
    dlp.dispose();
    assert.equal(dlp.rehydrate(ctx), null, 'a disposed vault holds nothing');
  });
});
