import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { findEncodedRuns, MIN_BASE64_CHARS, printableStrings, type EncodedRun } from './encoded-runs.js';
import { createScanner } from './scanner.js';
import type { Finding } from './types.js';

const AWS_KEY = ['AKIA', 'Q3EGRJ2KZ7XNP4VB'].join('');
const scanner = createScanner();

function scan(text: string, s = scanner): readonly Finding[] {
  const r = s.scan(text);
  assert.equal(r.status, 'complete');
  return r.findings;
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const percentAll = (s: string): string => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');

void describe('encoded runs: a secret is found through its encoding, and the whole run is replaced', () => {
  const cases: ReadonlyArray<readonly [string, string, Finding['encoding']]> = [
    ['base64', b64(AWS_KEY), 'base64'],
    ['padded base64 of a longer text', b64(`deploy key ${AWS_KEY}!`), 'base64'],
    ['base64url', Buffer.from(`k=${AWS_KEY}??>>`).toString('base64url'), 'base64'],
    ['hex', Buffer.from(`key ${AWS_KEY}`).toString('hex'), 'hex'],
    ['upper-case hex', Buffer.from(AWS_KEY).toString('hex').toUpperCase(), 'hex'],
    ['fully percent-encoded', percentAll(AWS_KEY), 'percent'],
    ['one percent escape inside', `AKIA%51${AWS_KEY.slice(5)}`, 'percent'],
    ['JSON \\u escapes', `\\u0041${AWS_KEY.slice(1)}`, 'escape'],
    ['\\x escapes', `\\x41\\x4b${AWS_KEY.slice(2)}`, 'escape'],
    ['base64 of base64', b64(b64(AWS_KEY)), 'base64'],
    ['percent-encoded base64', encodeURIComponent(b64(`${AWS_KEY}>>>?`)), 'percent'],
  ];
  for (const [name, encoded, kind] of cases) {
    void it(name, () => {
      const text = `before ${encoded} after`;
      const found = scan(text).filter((f) => f.detector === 'aws_access_key_id');
      // A run inside a run (base64 inside percent-encoding) may be reported
      // again; the widest finding is the whole outer run.
      assert.ok(found.length >= 1, JSON.stringify(scan(text)));
      const widest = found.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
      assert.equal(widest.encoding, kind);
      assert.equal(text.slice(widest.start, widest.end), encoded);
      for (const f of found) assert.ok(f.start >= widest.start && f.end <= widest.end);
    });
  }

  void it('finds a key in wrapped base64 (76-character lines), even split across a line break', () => {
    const doc = `${'lorem ipsum dolor '.repeat(3)}${AWS_KEY}${' sit amet'.repeat(20)}`;
    const wrapped = b64(doc).replace(/.{76}/g, '$&\n');
    const keyAt = Math.floor((doc.indexOf(AWS_KEY) * 4) / 3);
    assert.ok(Math.floor(keyAt / 76) !== Math.floor((keyAt + 27) / 77), 'the encoded key straddles a line break');
    const found = scan(`-----\n${wrapped}\n-----`).filter((f) => f.detector === 'aws_access_key_id');
    assert.equal(found.length, 1);
    assert.equal(found[0]?.encoding, 'base64');
  });

  void it('finds a base64 segment of a URL path, and a key inside binary bytes', () => {
    const path = `/v1/files/${Buffer.from(AWS_KEY).toString('base64url')}/content`;
    assert.equal(scan(path)[0]?.detector, 'aws_access_key_id');
    const binary = Buffer.concat([Buffer.from([0, 0xff, 0x13, 0x88]), Buffer.from(AWS_KEY), Buffer.from([0xfe, 0x01])]);
    assert.equal(scan(`blob ${b64(binary)}`)[0]?.detector, 'aws_access_key_id');
  });

  void it('finds PII too: a base64 card number is redacted like the card itself', () => {
    const f = scan(`card=${b64('4111 1111 1111 1111')}`);
    assert.deepEqual(
      f.map((x) => [x.detector, x.encoding]),
      [['credit_card', 'base64']],
    );
  });

  void it('decodes two levels deep and no deeper; depth 0 turns the pass off', () => {
    assert.equal(scan(b64(b64(b64(AWS_KEY)))).length, 0, 'a third layer is out of reach (documented)');
    assert.equal(scan(b64(AWS_KEY), createScanner({ decodeDepth: 0 })).length, 0);
    assert.equal(scan(b64(b64(AWS_KEY)), createScanner({ decodeDepth: 1 })).length, 0);
  });

  void it('reports nothing for random base64, hex hashes, UUIDs, paths and long identifiers', () => {
    const quiet = [
      `sha256 ${'9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}`,
      'commit 9fceb02d0ae598e95dc970b74767f19372d61af8',
      'id 550e8400-e29b-41d4-a716-446655440000',
      `blob ${Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 151 + 7) % 256)).toString('base64')}`,
      '/usr/local/lib/node_modules/typescript/lib/typescript.js',
      'internationalization getAccessTokenForSessionNow ThisIsAVeryLongCamelCaseTypeName',
      'https://example.com/search?q=hello%20world&lang=en%2Dus',
      'JSON.stringify("caf\\u00e9 \\u2713")',
    ];
    for (const text of quiet) assert.deepEqual(scan(text), [], text);
  });

  void it('does not decode a run that is already a finding', () => {
    const runs = findEncodedRuns(`x ${b64(AWS_KEY)} y`, [{ start: 0, end: 40 }], () => undefined);
    assert.deepEqual(runs, []);
  });
});

void describe('encoded runs: properties', () => {
  const anyText = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: fc.constantFrom(...'AQUJwz09+/_-=%\\ux4Ff\n\r '.split('')), maxLength: 400 }),
    fc.string({ unit: 'grapheme', maxLength: 200 }),
  );

  void it('runs lie inside the text, one kind never overlaps itself, and decoding never grows the text', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const runs = findEncodedRuns(text, [], () => undefined);
        let decoded = 0;
        const lastEnd = new Map<EncodedRun['kind'], number>();
        for (const r of runs) {
          assert.ok(r.start >= 0 && r.start < r.end && r.end <= text.length);
          assert.ok(r.start >= (lastEnd.get(r.kind) ?? 0), 'runs of one kind are ordered and disjoint');
          lastEnd.set(r.kind, r.end);
          assert.ok(r.decoded.length > 0 && r.decoded.length <= r.end - r.start);
          decoded += r.decoded.length;
        }
        // Kinds may overlap (a percent run can hold a base64 run), so at most four times the text.
        assert.ok(decoded <= 4 * text.length);
      }),
      { numRuns: 500 },
    );
  });

  void it('any printable text of 8+ characters, base64- or hex-encoded between separators, is decoded back', () => {
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 12, maxLength: 120 });
    fc.assert(
      fc.property(printable, fc.constantFrom(' ', '\n', '"', ':', '='), fc.constantFrom<'base64' | 'hex'>('base64', 'hex'), (plain, sep, kind) => {
        const encoded = Buffer.from(plain).toString(kind);
        const text = `start${sep}${encoded}${sep}end`;
        const run = findEncodedRuns(text, [], () => undefined).find((r) => r.start === 5 + sep.length);
        assert.ok(run, `no run for ${encoded}`);
        assert.ok(run.decoded.includes(plain));
      }),
      { numRuns: 300 },
    );
  });

  void it('the allocation-free check before decoding changes nothing: the same runs as decoding every candidate', () => {
    // Pieces that make candidates of every shape: base64 and hex of text and
    // of random bytes, URL paths of base64 segments, wrapped lines, padding.
    const piece = fc.oneof(
      fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 6, maxLength: 60 }).map((t) => b64(t)),
      fc.uint8Array({ minLength: 6, maxLength: 60 }).map((b) => Buffer.from(b).toString('base64')),
      // Printable stretches just under, at and over the 8 bytes kept, between unprintable bytes.
      fc.tuple(fc.uint8Array({ maxLength: 4 }), fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 7, maxLength: 9 }), fc.uint8Array({ maxLength: 4 }), fc.constantFrom<'base64' | 'hex'>('base64', 'hex')).map(([a, t, b, kind]) =>
        Buffer.concat([Buffer.from(a), Buffer.from([0x80]), Buffer.from(t), Buffer.from([0x00]), Buffer.from(b)]).toString(kind),
      ),
      fc.uint8Array({ minLength: 6, maxLength: 60 }).map((b) => Buffer.from(b).toString('base64url')),
      fc.string({ minLength: 8, maxLength: 40 }).map((t) => Buffer.from(t).toString('hex')),
      fc.uint8Array({ minLength: 8, maxLength: 40 }).map((b) => Buffer.from(b).toString('hex')),
      fc.array(fc.string({ minLength: 12, maxLength: 30 }).map((t) => Buffer.from(t).toString('base64url').replace(/=+$/, '')), { minLength: 2, maxLength: 4 }).map((segs) => `/${segs.join('/')}`),
      fc.string({ minLength: 40, maxLength: 120 }).map((t) => (b64(t).match(/.{1,48}/g) ?? []).join('\n')),
      fc.constantFrom(' ', '\n', '=', '==', '/', '-', '_', '"', 'getEventListenersFromTarget', 'node_modules/@types/node/events.d.ts'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.constantFrom('', ' ', '/', '\n'), (pieces, sep) => {
        const text = pieces.join(sep);
        assert.deepEqual(findEncodedRuns(text, [], () => undefined), findEncodedRuns(text, [], () => undefined, { precheck: false }));
      }),
      { numRuns: 2000 },
    );
  });

  void it('printableStrings keeps exactly the printable stretches of 8 or more', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const out = printableStrings(bytes);
        const expected = (Buffer.from(bytes).toString('latin1').match(/[\x20-\x7e\t\n\r]{8,}/g) ?? []).join('\n');
        assert.equal(out, expected);
      }),
    );
  });
});

void describe('encoded runs: adversarial 1 MB inputs finish quickly and fail closed on the budget', () => {
  const SIZE = 1024 * 1024;
  const fill = (unit: string): string => unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE);
  const big = createScanner({ budget: { maxInputChars: 4 * SIZE, maxScanMillis: 60_000 } });
  const inputs: Readonly<Record<string, string>> = {
    'one run of a million A': fill('A'),
    'base64 of a million A (decodes to text, scanned)': b64(fill('A')).slice(0, SIZE),
    'base64 of base64 of text': b64(b64(fill('lorem ipsum '))).slice(0, SIZE),
    'runs one short of the minimum': fill(`${'Q'.repeat(MIN_BASE64_CHARS - 1)} `),
    'runs just at the minimum': fill(`${b64('twelve bytes')} `),
    'wrapped lines that never end': fill(`${'QUJD'.repeat(12)}\n`),
    'percent escapes everywhere': fill('%41'),
    'percent signs without hex': fill('%zz'),
    'backslash-u everywhere': fill('\\u0041'),
    'broken escapes': fill('\\u00'),
    'slashes between base64 words': fill(`${b64('segment of text')}/`),
    'hex of text': Buffer.from(fill('hello world ')).toString('hex').slice(0, SIZE),
  };
  for (const [name, input] of Object.entries(inputs)) {
    void it(name, () => {
      const t0 = performance.now();
      const r = big.scan(input);
      const ms = performance.now() - t0;
      assert.equal(r.status, 'complete');
      assert.ok(ms < 1500, `${name}: ${ms.toFixed(0)} ms`);
    });
  }

  void it('decoded text counts against the input budget: over it the scan fails closed', () => {
    // Two levels decode to 0.75 + 0.56 of the input: more than the input itself.
    const nested = b64(b64(fill('lorem ipsum ').slice(0, 20_000)));
    const small = createScanner({ budget: { maxInputChars: 40_000, maxScanMillis: 60_000 } });
    assert.ok(nested.length <= 40_000);
    const r = small.scan(nested);
    assert.equal(r.status, 'budget_exceeded');
    assert.equal(r.status === 'budget_exceeded' ? r.reason : '', 'input_too_large');
  });

  void it('the time budget stops the decode pass too', () => {
    // A text with little for the plain pass and 60,000 runs for the decode
    // pass, under a clock that moves one millisecond per read: a budget just
    // above what the plain pass needs must stop the scan once decoding is on.
    const text = fill(`${b64('twelve bytes')} `);
    const withClock = (decodeDepth: number, maxScanMillis: number): { status: string; reads: number } => {
      let now = 0;
      const r = createScanner({ decodeDepth, clock: () => (now += 1), budget: { maxInputChars: 4 * SIZE, maxScanMillis } }).scan(text);
      return { status: r.status, reads: now };
    };
    const plain = withClock(0, 60_000);
    assert.equal(plain.status, 'complete');
    assert.equal(withClock(0, plain.reads + 50).status, 'complete');
    assert.equal(withClock(2, plain.reads + 50).status, 'budget_exceeded');
  });
});
