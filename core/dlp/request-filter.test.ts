import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { createModelRequestFilter, rewrittenBodyBytes, type DlpRequestDecision } from './request-filter.js';
import { compileDlpPolicy, DEFAULT_DLP_POLICY, DlpPolicySchema, resolveAction } from './policy.js';
import { TokenVault } from './vault.js';
import { checkCustomPattern } from './custom-patterns.js';

const j = (...xs: string[]): string => xs.join('');
const AWS_ID = 'AKIAQ3EGRJ2KZ7XNP4VB';
const CARD = '4539 1488 0343 6467';
const PEM = j('-----BEGIN ', 'PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----');

function messages(text: string): string {
  return JSON.stringify({ model: 'claude', max_tokens: 1024, messages: [{ role: 'user', content: text }] });
}

function assertNoValues(d: DlpRequestDecision, ...values: string[]): void {
  const meta = JSON.stringify({ ...d, body: undefined });
  for (const v of values) assert.equal(meta.includes(v), false, 'decision metadata must not contain a matched value');
}

void describe('model request filter', () => {
  void it('tokenizes secrets and redacts cards in a Messages API body, keeping JSON valid and numbers intact', () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'anthropic', vault });
    // A raw integer beyond 2^53 proves untouched parts keep their exact spelling.
    const body = messages(`my key ${AWS_ID} and card ${CARD}`).replace(/"max_tokens":[0-9]+/, '"max_tokens":90071992547409931');
    const d = filter({ body, contentType: 'application/json' });
    assert.equal(d.kind, 'rewrite');
    assert.ok(d.kind === 'rewrite');
    assert.ok(d.body.includes('90071992547409931'));
    const parsed = JSON.parse(d.body) as { messages: { content: string }[] };
    const content = parsed.messages[0]?.content ?? '';
    assert.equal(content.includes(AWS_ID), false);
    assert.equal(content.includes(CARD), false);
    assert.ok(content.includes('[REDACTED:credit_card]'));
    assert.match(content, /cdntk_[0-9a-f]{32}/);
    assert.deepEqual(
      [...d.findings].sort((a, b) => a.detector.localeCompare(b.detector)),
      [
        { detector: 'aws_access_key_id', category: 'secret', action: 'tokenize', count: 1 },
        { detector: 'credit_card', category: 'pii', action: 'redact', count: 1 },
      ],
    );
    assertNoValues(d, AWS_ID, CARD);
    assert.equal(vault.rehydrate(d.body, 'json').includes(AWS_ID), true);
  });

  void it('blocks a private key with a reason the agent can read and no value in it', () => {
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'anthropic', vault: null });
    const d = filter({ body: messages(`deploy with\n${PEM}`), contentType: 'application/json' });
    assert.equal(d.kind, 'deny');
    assert.ok(d.kind === 'deny');
    assert.equal(d.reason, 'blocked_by_rule');
    assert.match(d.message, /pem_private_key/);
    assertNoValues(d, 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
  });

  void it('allows clean bodies untouched, and records allow-only findings', () => {
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'anthropic', vault: null });
    assert.deepEqual(filter({ body: messages('hello world') }), { kind: 'allow', findings: [] });
    const d = filter({ body: 'CONFIDENTIAL: roadmap' });
    assert.deepEqual(d, { kind: 'allow', findings: [{ detector: 'marker:confidential', category: 'custom', action: 'allow', count: 1 }] });
  });

  void it('falls back from tokenize to redact without a vault', () => {
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'x', vault: null });
    const d = filter({ body: `key ${AWS_ID}` });
    assert.deepEqual(d.kind === 'rewrite' ? d.body : d.kind, 'key [REDACTED:aws_access_key_id]');
  });

  void it('fails closed on bodies over budget and on undecodable bytes', () => {
    const policy = DlpPolicySchema.parse({ budget: { maxInputBytes: 100, maxScanMillis: 100 } });
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(policy), destination: 'x', vault: null });
    const big = filter({ body: 'a'.repeat(101) });
    assert.equal(big.kind === 'deny' && big.reason, 'scan_budget_exceeded');
    const bad = filter({ body: new Uint8Array([0x68, 0xff, 0xfe]) });
    assert.equal(bad.kind === 'deny' && bad.reason, 'undecodable_body');
    let t = 0;
    const slow = createModelRequestFilter({
      policy: compileDlpPolicy(DlpPolicySchema.parse({ budget: { maxInputBytes: 1e6, maxScanMillis: 10 } })),
      destination: 'x',
      vault: null,
      clock: () => (t += 3),
    });
    const d = slow({ body: messages('a b c d e f g h i j k l m n o p'.repeat(50)) });
    // Out of time is its own, retryable reason; out of size stays scan_budget_exceeded (above).
    assert.equal(d.kind === 'deny' && d.reason, 'scan_time_exceeded');
  });

  void it('a JSON string whose value is "budget" is just text', () => {
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'x', vault: null });
    assert.equal(filter({ body: '{"a":"budget","b":"over-budget"}' }).kind, 'allow');
  });

  void it('applies per-destination overrides before global rules', () => {
    const policy = DlpPolicySchema.parse({
      destinations: { 'local-llm': { categories: { pii: 'allow' }, detectors: { aws_access_key_id: 'block' } } },
    });
    assert.equal(resolveAction(policy, 'email', 'pii', 'local-llm'), 'allow');
    assert.equal(resolveAction(policy, 'email', 'pii', 'anthropic'), 'tokenize');
    assert.equal(resolveAction(policy, 'aws_access_key_id', 'secret', 'local-llm'), 'block');
    assert.equal(resolveAction(policy, 'credit_card', 'pii', 'anthropic'), 'redact');
    // Listing one detector keeps the built-in defaults of the others.
    const partial = DlpPolicySchema.parse({ detectors: { email: { enabled: false } } });
    assert.equal(resolveAction(partial, 'pem_private_key', 'secret', 'anthropic'), 'block');
    const relaxed = DlpPolicySchema.parse({ detectors: { pem_private_key: { action: 'redact' } } });
    assert.equal(resolveAction(relaxed, 'pem_private_key', 'secret', 'anthropic'), 'redact');
    // No prototype keys leak in as destinations.
    assert.equal(resolveAction(policy, 'email', 'pii', '__proto__'), 'tokenize');
  });

  void it('runs custom patterns and markers with their own actions', () => {
    const policy = DlpPolicySchema.parse({
      customPatterns: [{ id: 'project', pattern: 'PRJ-[0-9]{4,6}', keywords: ['prj-'], action: 'redact' }],
      markers: [{ id: 'top-secret', text: 'TOP SECRET', action: 'block' }],
    });
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(policy), destination: 'x', vault: null });
    const d1 = filter({ body: 'see PRJ-12345' });
    assert.deepEqual(d1.kind === 'rewrite' ? d1.body : d1.kind, 'see [REDACTED:custom:project]');
    assert.equal(filter({ body: 'TOP SECRET plans' }).kind, 'deny');
  });

  void it('serves repeated strings from its cache with the same output and counts', () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'x', vault });
    const long = `history ${'lorem ipsum '.repeat(40)} key ${AWS_ID} card ${CARD}`;
    const first = filter({ body: messages(long) });
    const second = filter({ body: messages(long) });
    assert.equal(first.kind, 'rewrite');
    assert.deepEqual(second, first);
    const uncached = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'x', vault, cacheChars: 0 });
    assert.deepEqual(uncached({ body: messages(long) }), first);
  });

  void it('does nothing when disabled', () => {
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DlpPolicySchema.parse({ enabled: false })), destination: 'x', vault: null });
    assert.deepEqual(filter({ body: PEM }), { kind: 'allow', findings: [] });
  });
});

void describe('dlp policy schema', () => {
  void it('parses {} to the default: secrets tokenized, private keys blocked, cards redacted', () => {
    assert.equal(resolveAction(DEFAULT_DLP_POLICY, 'github_pat', 'secret', 'anthropic'), 'tokenize');
    assert.equal(resolveAction(DEFAULT_DLP_POLICY, 'pem_private_key', 'secret', 'anthropic'), 'block');
    assert.equal(resolveAction(DEFAULT_DLP_POLICY, 'credit_card', 'pii', 'anthropic'), 'redact');
    assert.equal(resolveAction(DEFAULT_DLP_POLICY, 'email', 'pii', 'anthropic'), 'tokenize');
  });

  void it('rejects unknown keys, unknown detectors, bad CIDRs and unsafe patterns with actionable messages', () => {
    const cases: unknown[] = [
      { enabeld: true },
      { detectors: { aws_key: { action: 'block' } } },
      { destinations: { a: { detectors: { 'custom:nope': 'block' } } } },
      { corporateCidrs: ['10.0.0.0/33'] },
      { customPatterns: [{ id: 'evil', pattern: '(a+)+$', action: 'block' }] },
    ];
    for (const c of cases) {
      const r = DlpPolicySchema.safeParse(c);
      assert.equal(r.success, false, JSON.stringify(c));
    }
  });
});

void describe('custom pattern safety check', () => {
  const table: readonly (readonly [string, boolean])[] = [
    ['PRJ-[0-9]{4,6}', true],
    ['(?:foo|bar)-[a-z]{1,8}', true],
    ['(?:ab){1,4}', true],
    ['a+', false],
    ['a*', false],
    ['a{2,}', false],
    ['(a{1,3}){1,5}', false],
    ['(a|ab){1,9}', false],
    ['(a)\\1', false],
    ['(?<=x)y', false],
    ['[a-z]{1,1000}', false],
    ['[0-9]{0,256}[0-9]{0,256}[0-9]{0,256}', false],
    ['[a-z]{1,64}@[a-z]{1,64}\\.[a-z]{2,8}', true],
    ['(', false],
  ];
  for (const [src, ok] of table) {
    void it(`${ok ? 'accepts' : 'rejects'} ${src}`, () => {
      assert.equal(checkCustomPattern(src).ok, ok);
    });
  }
});

void describe('model request filter: what is not a plain JSON body', () => {
  const NAN_BODY = `{"max_tokens": NaN, "messages": [{"role": "user", "content": "\\u0041${AWS_ID.slice(1)}"}]}`;

  void it('refuses a body shaped or declared as JSON that JSON.parse rejects', () => {
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'x', vault: null });
    for (const req of [{ body: NAN_BODY }, { body: NAN_BODY, contentType: 'text/plain' }, { body: 'not json', contentType: 'application/json' }]) {
      const d = filter(req);
      assert.equal(d.kind === 'deny' && d.reason, 'invalid_json', JSON.stringify(req));
    }
  });

  void it('as text (the CLI), the same body is scanned with its escapes decoded', () => {
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'x', vault: null, malformedJson: 'text' });
    const d = filter({ body: NAN_BODY });
    assert.equal(d.kind, 'rewrite');
    assert.ok(d.kind === 'rewrite');
    assert.ok(d.body.includes('"[REDACTED:aws_access_key_id]"'), d.body);
    assert.equal(filter({ body: 'not json', contentType: 'application/json' }).kind, 'deny', 'declared JSON is JSON');
  });

  void it('a rewrite elsewhere sends a BOM-prefixed body back byte for byte', () => {
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'x', vault: null });
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(messages('hello'))]);
    const d = filter({ body: bytes, path: `/v1/messages?k=${AWS_ID}` });
    assert.ok(d.kind === 'rewrite');
    assert.deepEqual(Buffer.from(d.body, 'utf8'), bytes);
    assert.equal(d.path, '/v1/messages?k=%5BREDACTED%3Aaws_access_key_id%5D');
  });

  void it('text blocks are joined only within one message, and a repeat gets the same answer', () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const filter = createModelRequestFilter({ policy: compileDlpPolicy(DEFAULT_DLP_POLICY), destination: 'x', vault });
    const filler = 'lorem ipsum '.repeat(30);
    const body = JSON.stringify({
      messages: [
        { role: 'user', content: [{ type: 'text', text: `${filler}AKIA` }, { type: 'text', text: `${AWS_ID.slice(4)} ${filler}` }] },
        { role: 'user', content: [{ type: 'text', text: 'AKIA' }] },
        { role: 'user', content: [{ type: 'text', text: AWS_ID.slice(4) }] },
      ],
    });
    const first = filter({ body, contentType: 'application/json' });
    assert.ok(first.kind === 'rewrite');
    const parsed = JSON.parse(first.body) as { messages: Array<{ content: Array<{ text: string }> }> };
    assert.match(parsed.messages[0]?.content[0]?.text ?? '', /cdntk_[0-9a-f]{32}$/);
    assert.equal(parsed.messages[0]?.content[1]?.text, ` ${filler}`);
    // Across two messages the halves stay apart: that is two texts the model reads separately.
    assert.equal(parsed.messages[1]?.content[0]?.text, 'AKIA');
    assert.deepEqual(filter({ body, contentType: 'application/json' }), first);
  });
});

void describe('a body sent as bytes', () => {
  // Findings (a key, a card, an e-mail address), characters of every UTF-8 width, JSON-sensitive characters.
  const piece = fc.constantFrom(`key ${AWS_ID} `, `card ${CARD}\n`, 'mail ada@example.org ', 'é', '€ ', '😀', '"quoted"', '\\', 'plain words ', '\n');
  const text = fc.array(piece, { maxLength: 30 }).map((ps) => ps.join(''));
  const policy = compileDlpPolicy(DlpPolicySchema.parse({ categories: { secret: 'redact', pii: 'redact', custom: 'redact' } }));

  void it('is rewritten to exactly the bytes the same body as a string becomes, as text and as JSON (property)', () => {
    const filter = createModelRequestFilter({ policy, destination: 'x', vault: null, cacheChars: 0 });
    fc.assert(
      fc.property(text, fc.boolean(), (t, asJson) => {
        const body = asJson ? JSON.stringify({ files: { a: { content: t }, b: { content: `${t}!` } } }) : t;
        const contentType = asJson ? 'application/json' : 'text/plain';
        const fromString = filter({ body, contentType });
        const fromBytes = filter({ body: Buffer.from(body, 'utf8'), contentType });
        assert.equal(fromBytes.kind, fromString.kind);
        assert.deepEqual(fromBytes.findings, fromString.findings);
        if (fromBytes.kind === 'rewrite' && fromString.kind === 'rewrite') {
          assert.ok(fromBytes.bodyBytes !== undefined, 'a changed byte body comes as bytes');
          assert.deepEqual(rewrittenBodyBytes(fromBytes), Buffer.from(fromString.body, 'utf8'));
          assert.equal(fromBytes.body, fromString.body);
        }
      }),
      { numRuns: 300 },
    );
  });

  void it('a gzip body goes on as its decoded bytes', () => {
    const filter = createModelRequestFilter({ policy, destination: 'x', vault: null });
    const body = 'nothing to find here, €uro and 😀 ';
    const d = filter({ body: gzipSync(body), contentType: 'text/plain', contentEncoding: 'gzip' });
    assert.ok(d.kind === 'rewrite');
    assert.deepEqual(rewrittenBodyBytes(d), Buffer.from(body, 'utf8'));
  });
});
