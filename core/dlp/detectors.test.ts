import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TYPE_NAME_RE } from './detectors.js';
import { createScanner } from './scanner.js';
import { BUILTIN_DETECTOR_IDS, type BuiltinDetectorId, type Finding } from './types.js';
import { POSITIVE_GENERATORS, Rng, embed, hardNegatives } from './synthetic.js';

const scanner = createScanner({ corporateCidrs: ['10.0.0.0/8', '172.16.0.0/12', 'fd00::/8'] });

function scan(text: string): readonly Finding[] {
  const r = scanner.scan(text);
  assert.equal(r.status, 'complete');
  return r.findings;
}

/** Joined at run time so this file holds no key-shaped literal. */
const j = (...xs: string[]): string => xs.join('');

// Hand-written true positives: [detector, text, the exact substring that must be found].
const POSITIVES: readonly (readonly [BuiltinDetectorId, string, string])[] = [
  ['aws_access_key_id', 'AWS_ACCESS_KEY_ID=AKIAQ3EGRJ2KZ7XNP4VB', 'AKIAQ3EGRJ2KZ7XNP4VB'],
  ['aws_secret_access_key', 'aws_secret_access_key = "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"', 'kZ8+3nPq/Wm2Rt5Yv7Xb9Cd1Ef4Gh6Jk0Lm3Np5Q'],
  ['aws_secret_access_key', '{"SecretAccessKey": "kZ8+3nPq/Wm2Rt5Yv7Xb9Cd1Ef4Gh6Jk0Lm3Np5Q"}', 'kZ8+3nPq/Wm2Rt5Yv7Xb9Cd1Ef4Gh6Jk0Lm3Np5Q'],
  ['github_pat', j('token ghp', '_R8kd2LmQ9vX4pT7wZ1yN3bC6fH0jS5aE2uGo'), j('ghp', '_R8kd2LmQ9vX4pT7wZ1yN3bC6fH0jS5aE2uGo')],
  ['github_oauth_token', j('gho', '_R8kd2LmQ9vX4pT7wZ1yN3bC6fH0jS5aE2uGo'), j('gho', '_R8kd2LmQ9vX4pT7wZ1yN3bC6fH0jS5aE2uGo')],
  ['github_app_token', j('x=ghs', '_R8kd2LmQ9vX4pT7wZ1yN3bC6fH0jS5aE2uGo'), j('ghs', '_R8kd2LmQ9vX4pT7wZ1yN3bC6fH0jS5aE2uGo')],
  ['gitlab_token', j('GITLAB_TOKEN=glpat', '-Xy7_kP2mQ9rT4vW8zB1c'), j('glpat', '-Xy7_kP2mQ9rT4vW8zB1c')],
  ['slack_webhook_url', j('post to https://hooks.slack', '.com/services/T0A1B2C3D/B0123456789/Qw3rTy7UiOp1AsDfGh2JkLzX now'), j('https://hooks.slack', '.com/services/T0A1B2C3D/B0123456789/Qw3rTy7UiOp1AsDfGh2JkLzX')],
  ['stripe_live_key', j('sk_', 'live_', '51H8xQ2Lk9Pz4Rt7Vw2Ym6Nb'), j('sk_', 'live_', '51H8xQ2Lk9Pz4Rt7Vw2Ym6Nb')],
  ['google_api_key', j('key=AI', 'zaSyD3x8Qm2Lp9Rt4Vw7Zb1Cf5Hj0Kn6Mq_Xs'), j('AI', 'zaSyD3x8Qm2Lp9Rt4Vw7Zb1Cf5Hj0Kn6Mq_Xs')],
  ['cordon_phantom_token', j('x-api-key: cdn', '_ph_Qm2Lp9Rt4Vw7Zb1Cf5Hj0Kn6MqXs3Ty8Ua2Ie5Oo7Pp'), j('cdn', '_ph_Qm2Lp9Rt4Vw7Zb1Cf5Hj0Kn6MqXs3Ty8Ua2Ie5Oo7Pp')],
  ['url_credentials', 'postgres://admin:S3cr3tP4ss@db.internal:5432/app', 'S3cr3tP4ss'],
  ['generic_secret_assignment', 'password = "Xk9#mP2$vL5q"', 'Xk9#mP2$vL5q'],
  ['generic_secret_assignment', 'DB_PASSWORD=Tr0ub4dor&3x', 'Tr0ub4dor&3x'],
  ['generic_secret_assignment', 'Authorization: Bearer 7f3kQ9x2LmP8vR4tZ1wY6bN0', '7f3kQ9x2LmP8vR4tZ1wY6bN0'],
  ['credit_card', 'card 4539 1488 0343 6467 exp 12/29', '4539 1488 0343 6467'],
  ['credit_card', 'amex 3782 822463 10005', '3782 822463 10005'],
  ['credit_card', 'mc 5555-5555-5555-4444.', '5555-5555-5555-4444'],
  ['us_ssn', 'SSN 536-22-1234', '536-22-1234'],
  ['us_ssn', 'ssn: 536221234', '536221234'],
  ['iban', 'IBAN GB82 WEST 1234 5698 7654 32.', 'GB82 WEST 1234 5698 7654 32'],
  ['iban', 'to DE89370400440532013000', 'DE89370400440532013000'],
  ['email', 'mail bob.smith+dlp@acme-corp.com today', 'bob.smith+dlp@acme-corp.com'],
  ['phone', 'call +1 (415) 555-2671', '+1 (415) 555-2671'],
  ['phone', 'tel +442079460958', '+442079460958'],
  ['phone', 'office 020 7946 0958', '020 7946 0958'],
  ['corporate_ip', 'host 10.20.30.40 is down', '10.20.30.40'],
  ['corporate_ip', 'host 172.20.1.2', '172.20.1.2'],
  ['corporate_ip', 'host fd12:3456:789a::1 is internal', 'fd12:3456:789a::1'],
  ['corporate_ip', 'curl http://[fd00::10]:8443/health', 'fd00::10'],
  ['corporate_ip', 'mapped fd00::ffff:10.1.2.3.', 'fd00::ffff:10.1.2.3'],
];

// Hand-written look-alikes that must produce no finding at all.
const NEGATIVES: readonly string[] = [
  'AKIAIOSFODNN7EXAMPLE is the AWS documentation key',
  'AKIAQ3EGRJ2KZ7XNP4VBX (21 chars is not a key id)',
  'id 550e8400-e29b-41d4-a716-446655440000',
  'commit 9fceb02d0ae598e95dc970b74767f19372d61af8',
  'sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  'card 4539 1488 0343 6468 (Luhn fails)',
  'nine digits 536221234 with no label',
  'SSN 000-22-1234, 666-22-1234, 912-22-1234, 536-00-1234, 536-22-0000',
  'IBAN GB82 WEST 1234 5698 7654 33',
  'api_key = "<your-key-here>"',
  j('ghp', '_', 'x'.repeat(36)),
  'token = getToken()',
  'password: ${DB_PASSWORD}',
  'see dev@example.com and @types/node and icon@2x.png',
  'host 192.168.1.10 and 8.8.8.8',
  'date 2024-01-15, version 10.2.3',
  'isbn 978-3-16-148410-0',
  'Authorization: Bearer <token>',
  'std::vector<int> v; a::b::c',
  'at 10:30:00 and mac 00:1a:2b:3c:4d:5e',
  'public v6 2001:db8::1 and fe80::1',
  'set the Bearer token header',
];

void describe('built-in detectors: hand-written cases', () => {
  for (const [detector, text, expected] of POSITIVES) {
    void it(`${detector} finds ${JSON.stringify(text.slice(0, 40))}`, () => {
      const found = scan(text).filter((f) => f.detector === detector).map((f) => text.slice(f.start, f.end));
      assert.deepEqual(found, [expected]);
    });
  }
  for (const text of NEGATIVES) {
    void it(`finds nothing in ${JSON.stringify(text.slice(0, 50))}`, () => {
      assert.deepEqual(scan(text).map((f) => f.detector), []);
    });
  }
});

void describe('built-in detectors: generated true positives (every detector)', () => {
  for (const id of BUILTIN_DETECTOR_IDS) {
    void it(`${id}: 40 generated samples are each found exactly`, () => {
      const rng = new Rng(id.length * 7919);
      for (let i = 0; i < 40; i++) {
        const g = POSITIVE_GENERATORS[id](rng);
        const sample = embed(rng.pick(g.templates), g.value, id);
        const label = sample.labels[0];
        assert.ok(label !== undefined);
        const hits = scan(sample.text).filter((f) => f.detector === id);
        assert.equal(hits.length, 1, `sample ${i}: ${hits.length} findings`);
        assert.deepEqual([hits[0]?.start, hits[0]?.end], [label.start, label.end], `sample ${i} span`);
      }
    });
  }
});

void describe('built-in detectors: generated hard negatives', () => {
  void it('UUIDs, SHAs, hashes, base64 blobs, bad checksums, placeholders and examples produce no finding', () => {
    const rng = new Rng(99);
    for (let round = 0; round < 20; round++) {
      for (const text of hardNegatives(rng)) {
        const found = scan(text);
        assert.deepEqual(
          found.map((f) => f.detector),
          [],
          `false positive on sample: ${text.slice(0, 60)}`,
        );
      }
    }
  });
});

void describe('scanner behaviour', () => {
  void it('reports UTF-16 indices after astral characters', () => {
    const text = '😀😀 key AKIAQ3EGRJ2KZ7XNP4VB';
    const f = scan(text)[0];
    assert.ok(f !== undefined);
    assert.equal(text.slice(f.start, f.end), 'AKIAQ3EGRJ2KZ7XNP4VB');
  });

  void it('prefers the whole private key over tokens inside it', () => {
    const key = j('-----BEGIN ', 'RSA PRIVATE KEY-----\n', 'AKIAQ3EGRJ2KZ7XNP4VB', '\n-----END RSA PRIVATE KEY-----');
    assert.deepEqual(scan(key).map((f) => f.detector), ['pem_private_key']);
  });

  void it('claims a truncated private key up to where its body ends', () => {
    const text = j('-----BEGIN ', 'OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\nAAAA', '" rest');
    const f = scan(text)[0];
    assert.equal(f?.detector, 'openssh_private_key');
    assert.equal(text.slice(f.start, f.end).endsWith('AAAA'), true);
  });

  void it('fails closed when the input is larger than the budget', () => {
    const small = createScanner({ budget: { maxInputChars: 10, maxScanMillis: 1000 } });
    assert.deepEqual(small.scan('x'.repeat(11)), { status: 'budget_exceeded', reason: 'input_too_large', findings: [] });
  });

  void it('fails closed when the clock runs past the time budget', () => {
    let t = 0;
    const slow = createScanner({ budget: { maxInputChars: 1e6, maxScanMillis: 5 }, clock: () => (t += 1) });
    const r = slow.scan('password=Xk9#mP2$vL5q '.repeat(2000));
    assert.equal(r.status, 'budget_exceeded');
  });

  void it('applies stopwords and allowValues', () => {
    const s = createScanner({ stopwords: ['fixture'], allowValues: ['AKIAQ3EGRJ2KZ7XNP4VB'] });
    const r = s.scan('AKIAQ3EGRJ2KZ7XNP4VB and password = "fixture-Xk9#mP2$vL5q"');
    assert.deepEqual(r.status === 'complete' ? r.findings : ['bad'], []);
  });

  void it('skips disabled detectors', () => {
    const s = createScanner({ disabledDetectors: new Set(['email'] as const) });
    const r = s.scan('bob@acme-corp.com');
    assert.deepEqual(r.status === 'complete' ? r.findings : ['bad'], []);
  });

  void it('finds custom patterns and markers with their own ids', () => {
    const s = createScanner({
      customPatterns: [{ id: 'project', pattern: 'PRJ-[0-9]{4,6}', caseInsensitive: false, keywords: ['PRJ-'], confidence: 0.8 }],
      markers: [{ id: 'confidential', text: 'Internal Only', caseSensitive: false }],
    });
    const r = s.scan('INTERNAL  ONLY: see PRJ-12345');
    assert.equal(r.status, 'complete');
    assert.deepEqual(
      r.findings.map((f) => [f.detector, f.category]),
      [
        ['marker:confidential', 'custom'],
        ['custom:project', 'custom'],
      ],
    );
  });

  void it('does not report the vault tokens Cordon itself issued', () => {
    assert.deepEqual(scan('token = cdntk_0123456789abcdef0123456789abcdef'), []);
  });
});

void it('the type-name check accepts exactly what its earlier, backtracking definition accepted', () => {
  // The old pattern, safe to run on short strings only: it split a long capital run exponentially many ways.
  const earlier = /^(?:[A-Z]{1,5}[a-z]{0,12}[0-9]{0,2})+$/;
  const run = (chars: string, max: number) => fc.array(fc.constantFrom(...chars), { minLength: 1, maxLength: max }).map((a) => a.join(''));
  const value = fc.array(fc.oneof(run('ABZ', 3), run('amz', 14), run('059', 3), fc.constantFrom('-', '_', '.', '')), { maxLength: 5 }).map((parts) => parts.join(''));
  fc.assert(
    fc.property(value, (v) => {
      assert.equal(TYPE_NAME_RE.test(v), earlier.test(v), JSON.stringify(v));
    }),
    { numRuns: 5000 },
  );
  for (const v of ['OAuth2Client', 'Uint8Array', 'HTTPServer', 'ArrowToken', 'AbCdefghijklmn', 'A123', 'a', 'ABC', 'Ab12c']) {
    assert.equal(TYPE_NAME_RE.test(v), earlier.test(v), v);
  }
});
