import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TokenVault, createRehydrateTransform, safeEmitLength } from './vault.js';
import { createModelRequestFilter } from './request-filter.js';
import { compileDlpPolicy, DlpPolicySchema } from './policy.js';
import { POSITIVE_GENERATORS, Rng } from './synthetic.js';
import { BUILTIN_DETECTOR_IDS, VAULT_TOKEN_LENGTH } from './types.js';
import { runTransform as runThrough, splitAt } from './stream-test-support.js';

/** A policy that tokenizes everything, so every finding must round-trip. */
const TOKENIZE_ALL = DlpPolicySchema.parse({
  categories: { secret: 'tokenize', pii: 'tokenize', custom: 'tokenize' },
  // Every detector explicitly, because unlisted ones keep their built-in defaults (private keys: block).
  detectors: Object.fromEntries(BUILTIN_DETECTOR_IDS.map((id) => [id, { action: 'tokenize' }])),
  corporateCidrs: ['10.0.0.0/8'],
  budget: { maxInputBytes: 16 * 1024 * 1024, maxScanMillis: 10_000 },
});

function secretFromSeed(seed: number): string {
  const rng = new Rng(seed);
  const id = BUILTIN_DETECTOR_IDS[seed % BUILTIN_DETECTOR_IDS.length] ?? 'email';
  const g = POSITIVE_GENERATORS[id](rng);
  return rng.pick(g.templates).replace('{}', g.value);
}

/** Arbitrary text with generated secrets and PII spliced in. */
const textWithSecrets = fc
  .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.nat().map(secretFromSeed)), { maxLength: 8 })
  .map((parts) => parts.join(' '));

function runTransform(vault: TokenVault, chunks: readonly Buffer[]): Promise<string> {
  return runThrough(createRehydrateTransform(vault), chunks);
}

void describe('TokenVault', () => {
  void it('issues stable, opaque tokens per vault and different ones across vaults', () => {
    const a = new TokenVault({ ttlMillis: 60_000 });
    const b = new TokenVault({ ttlMillis: 60_000 });
    const t1 = a.tokenize('4539 1488 0343 6467');
    const t2 = a.tokenize('4539 1488 0343 6467');
    const t3 = b.tokenize('4539 1488 0343 6467');
    assert.ok(t1.ok && t2.ok && t3.ok);
    assert.equal(t1.token, t2.token);
    assert.notEqual(t1.token, t3.token);
    assert.equal(t1.token.length, VAULT_TOKEN_LENGTH);
    assert.equal(t1.token.includes('4539'), false);
  });

  void it('never rehydrates tokens it did not issue (forgery) and forgets everything on expiry', () => {
    let now = 0;
    const v = new TokenVault({ ttlMillis: 1000, clock: () => now });
    const r = v.tokenize('s3cr3t-value');
    assert.ok(r.ok);
    const forged = 'cdntk_' + '0'.repeat(32);
    assert.equal(v.rehydrate(`${r.token} ${forged}`), `s3cr3t-value ${forged}`);
    now = 1000;
    assert.equal(v.rehydrate(r.token), r.token);
    assert.deepEqual(v.tokenize('x'), { ok: false, reason: 'vault_expired' });
    assert.equal(v.size, 0);
  });

  void it('refuses new values when full', () => {
    const v = new TokenVault({ ttlMillis: 1000, maxEntries: 1 });
    assert.ok(v.tokenize('a').ok);
    assert.ok(v.tokenize('a').ok);
    assert.deepEqual(v.tokenize('b'), { ok: false, reason: 'vault_full' });
  });

  void it('JSON-escapes values when rehydrating into JSON', () => {
    const v = new TokenVault({ ttlMillis: 1000 });
    const r = v.tokenize('pa"ss\\word\n');
    assert.ok(r.ok);
    const json = JSON.stringify({ text: `x ${r.token} y` });
    assert.deepEqual(JSON.parse(v.rehydrate(json, 'json')), { text: 'x pa"ss\\word\n y' });
  });

  void it('holds back only a bounded tail that could start a token, never the inside of a complete token', () => {
    assert.equal(safeEmitLength('hello c'), 6);
    assert.equal(safeEmitLength('hello cdntk_01'), 6);
    assert.equal(safeEmitLength('hello world'), 11);
    const complete = 'cdntk_' + '0'.repeat(30) + 'cd';
    assert.equal(safeEmitLength(`x ${complete}`), complete.length + 2);
    assert.ok('x'.repeat(100).length - safeEmitLength('x'.repeat(99) + 'c') <= VAULT_TOKEN_LENGTH - 1);
  });
});

void describe('tokenize then rehydrate (property)', () => {
  void it('returns the exact original text for arbitrary text with secrets in it', () => {
    fc.assert(
      fc.property(textWithSecrets, (text) => {
        const vault = new TokenVault({ ttlMillis: 60_000 });
        const filter = createModelRequestFilter({ policy: compileDlpPolicy(TOKENIZE_ALL), destination: 'test', vault });
        const d = filter({ body: text, contentType: 'text/plain' });
        assert.notEqual(d.kind, 'deny');
        const sent = d.kind === 'rewrite' ? d.body : text;
        assert.equal(vault.rehydrate(sent, 'raw'), text);
      }),
      { numRuns: 300 },
    );
  });

  void it('returns the exact original JSON body (structure-aware) for arbitrary message text', () => {
    fc.assert(
      fc.property(textWithSecrets, (text) => {
        const vault = new TokenVault({ ttlMillis: 60_000 });
        const filter = createModelRequestFilter({ policy: compileDlpPolicy(TOKENIZE_ALL), destination: 'test', vault });
        const body = JSON.stringify({ model: 'm', max_tokens: 1024, messages: [{ role: 'user', content: text }] });
        const d = filter({ body, contentType: 'application/json' });
        assert.notEqual(d.kind, 'deny');
        const sent = d.kind === 'rewrite' ? d.body : body;
        assert.deepEqual(JSON.parse(vault.rehydrate(sent, 'json')), JSON.parse(body));
      }),
      { numRuns: 200 },
    );
  });

  void it('rehydrates an SSE stream split at every byte', async () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const secret = 'é-S3cr3t-🔑-"quoted"';
    const r = vault.tokenize(secret);
    assert.ok(r.ok);
    const events = [`Here is ${r.token}.`, `and again ${r.token}`, 'done ✓'].map(
      (text) => `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', delta: { type: 'text_delta', text } })}\n\n`,
    );
    const stream = Buffer.from(events.join(''), 'utf8');
    const expected = vault.rehydrate(events.join(''), 'json');
    assert.ok(expected.includes(JSON.stringify(secret).slice(1, -1)));
    for (let i = 0; i <= stream.length; i++) {
      const got = await runTransform(vault, [stream.subarray(0, i), stream.subarray(i)]);
      assert.equal(got, expected, `split at byte ${i}`);
    }
    // One byte per chunk as well.
    const bytes = [...stream].map((b) => Buffer.from([b]));
    assert.equal(await runTransform(vault, bytes), expected);
  });

  void it('rehydrates arbitrary text streamed in arbitrary chunkings', async () => {
    await fc.assert(
      fc.asyncProperty(textWithSecrets, fc.array(fc.nat(), { maxLength: 10 }), async (text, cuts) => {
        const vault = new TokenVault({ ttlMillis: 60_000 });
        const filter = createModelRequestFilter({ policy: compileDlpPolicy(TOKENIZE_ALL), destination: 'test', vault });
        const d = filter({ body: text });
        const sent = Buffer.from(d.kind === 'rewrite' ? d.body : text, 'utf8');
        const rehydrated = await runThrough(createRehydrateTransform(vault, { encoding: 'raw' }), splitAt(sent, cuts));
        assert.equal(rehydrated, Buffer.from(text, 'utf8').toString('utf8'));
      }),
      { numRuns: 150 },
    );
  });
});
