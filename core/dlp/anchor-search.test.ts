// The anchor prefilter must never hide an anchor: its hits must be exactly
// the hits of trying every anchor at every position, and a prefiltered scan
// must report exactly what a scan over every position reports.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { anchorEntries, compileAnchorSearch, exhaustiveAnchorHits, type AnchorHits, type AnchorSearch } from './anchor-search.js';
import { ANCHORED_DETECTORS } from './detectors.js';
import { createScanner } from './scanner.js';
import { POSITIVE_GENERATORS, Rng, denseCorpus, hardNegatives } from './synthetic.js';
import { BUILTIN_DETECTOR_IDS } from './types.js';

const CS = anchorEntries(ANCHORED_DETECTORS, false);
const CI = anchorEntries(ANCHORED_DETECTORS, true);
const search = compileAnchorSearch(CS, CI);
// Windows of a few characters put window edges everywhere: anchors straddle
// them and hits are held back across many of them.
const TINY_WINDOWS = [1, 2, 7, 31].map((w) => compileAnchorSearch(CS, CI, w));
const noTick = { tick: (): void => {} };

/** Hits as `position:entry` strings, in the order returned. */
function listed(h: AnchorHits): string[] {
  return [...h.pos].map((p, k) => `${p}:${h.entry[k] ?? -1}`);
}

/** Hits per side as `position:entry` strings, in the order reported. */
function hits(text: string, using: AnchorSearch = search): [string[], string[]] {
  const out: [string[], string[]] = [[], []];
  using.find(text, noTick, { hit: (side, pos, entry) => out[side].push(`${pos}:${entry}`) });
  return out;
}

function reference(text: string): [string[], string[]] {
  return [listed(exhaustiveAnchorHits(text, CS, false)), listed(exhaustiveAnchorHits(text, CI, true))];
}

/** Flips the case of each letter with probability 1/2 (context words are case-insensitive). */
function scrambleCase(s: string, seed: number): string {
  const r = new Rng(seed);
  let out = '';
  for (const ch of s) out += r.next() < 0.5 ? ch.toUpperCase() : ch.toLowerCase();
  return out;
}

function positiveFromSeed(seed: number): string {
  const rng = new Rng(seed);
  const id = BUILTIN_DETECTOR_IDS[seed % BUILTIN_DETECTOR_IDS.length] ?? 'email';
  const g = POSITIVE_GENERATORS[id](rng);
  return rng.pick(g.templates).replace('{}', g.value);
}

const ALL_ANCHORS = [...CS.map((e) => e.anchor), ...CI.map((e) => e.anchor)];
const NEGATIVES = hardNegatives(new Rng(7));

/**
 * Text built to sit on the prefilter's edges: anchors whole, cut short, in
 * random case, glued to each other and to trigger characters, real
 * positives and hard negatives, and arbitrary characters between them.
 */
const fragment = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: fc.constantFrom(...'_-@:/=.kKwWdDAJGS sS'), maxLength: 8 }),
  fc.constantFrom(...ALL_ANCHORS),
  fc.tuple(fc.constantFrom(...ALL_ANCHORS), fc.nat()).map(([a, seed]) => scrambleCase(a, seed)),
  fc.tuple(fc.constantFrom(...ALL_ANCHORS), fc.nat()).map(([a, n]) => a.slice(0, n % (a.length + 1))),
  fc.nat().map(positiveFromSeed),
  fc.constantFrom(...NEGATIVES),
  fc.constantFrom('CONFIDENTIAL', 'xCONFIDENTIAL', 'CONFIDENTIALS', 'INTERNAL', 'INTERNAL \t ONLY', 'INTERNAL  ONLY', 'Secret  SAUCE', 'ONLY'),
);
const textOnEdges = fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join(''));

void describe('anchor prefilter', () => {
  void it('finds every anchor of every detector, in any case for context words', () => {
    const check = (list: typeof CS, side: 0 | 1, spell: (a: string) => string): void => {
      list.forEach((e, entry) => {
        const text = `x ${spell(e.anchor)} y`;
        assert.ok(hits(text)[side].includes(`2:${entry}`), `${e.detector.ids[0] ?? ''}: ${JSON.stringify(text)}`);
      });
    };
    check(CS, 0, (a) => a);
    check(CI, 1, (a) => a);
    check(CI, 1, (a) => a.toUpperCase());
    check(CI, 1, (a) => scrambleCase(a, a.length));
  });

  void it('finds anchors at the very start and end of the text', () => {
    for (const [list, side] of [[CS, 0], [CI, 1]] as const) {
      list.forEach((e, entry) => {
        assert.ok(hits(e.anchor)[side].includes(`0:${entry}`), e.anchor);
        const end = `..${e.anchor}`;
        assert.ok(hits(end)[side].includes(`2:${entry}`), end);
      });
    }
  });

  void it('does not fold non-ASCII look-alikes onto ASCII (as /i without u never did)', () => {
    // U+017F (long s) upper-cases to S and U+212A (Kelvin) lower-cases to k.
    assert.deepEqual(hits('\u017Fecret = Xk9#mP2$vL5qW tO\u212Aen = Xk9#mP2$vL5qW'), [[], []]);
  });

  void it('returns exactly the hits of trying every anchor at every position (property)', () => {
    fc.assert(
      fc.property(textOnEdges, (text) => {
        const expected = reference(text);
        assert.deepEqual(hits(text), expected);
        for (const s of TINY_WINDOWS) assert.deepEqual(hits(text, s), expected);
      }),
      { numRuns: 400 },
    );
  });

  void it('orders hits by position, then by detector order, however many triggers fire', () => {
    const text = scrambleCase(ALL_ANCHORS.join(' '), 3).repeat(3) + ALL_ANCHORS.join('');
    const found = hits(text);
    for (const side of found) {
      for (let k = 1; k < side.length; k++) {
        const [p0, e0] = (side[k - 1] ?? '').split(':').map(Number);
        const [p1, e1] = (side[k] ?? '').split(':').map(Number);
        assert.ok((p0 ?? 0) < (p1 ?? 0) || (p0 === p1 && (e0 ?? 0) < (e1 ?? 0)), `hit ${k} out of order`);
      }
    }
    assert.deepEqual(found, reference(text));
    for (const s of TINY_WINDOWS) assert.deepEqual(hits(text, s), found);
  });
});

void describe('prefiltered scan', () => {
  const config = {
    corporateCidrs: ['10.0.0.0/8', 'fd00::/8'],
    stopwords: ['fixture'],
    markers: [
      { id: 'confidential', text: 'CONFIDENTIAL', caseSensitive: true },
      { id: 'internal-only', text: 'INTERNAL ONLY', caseSensitive: true },
      { id: 'secret-sauce', text: 'secret sauce', caseSensitive: false },
    ],
  };
  const fast = createScanner(config);
  const full = createScanner({ ...config, anchorSearch: 'exhaustive' });

  void it('reports exactly what a scan of every anchor at every position reports (property)', () => {
    fc.assert(
      fc.property(textOnEdges, (text) => {
        assert.deepEqual(fast.scan(text), full.scan(text));
      }),
      { numRuns: 300 },
    );
  });

  void it('still finds real positives of every detector next to each other', () => {
    let text = '';
    for (let seed = 0; seed < BUILTIN_DETECTOR_IDS.length * 3; seed++) text += positiveFromSeed(seed) + '\n';
    const r = fast.scan(text);
    assert.deepEqual(r, full.scan(text));
    assert.equal(r.status, 'complete');
    const found = new Set(r.findings.map((f) => f.detector));
    for (const id of BUILTIN_DETECTOR_IDS) assert.ok(found.has(id), id);
  });

  void it('reports what the exhaustive scan reports on a body spanning several search windows', () => {
    const text = denseCorpus(200_000, 150, 9);
    const r = fast.scan(text);
    assert.equal(r.status, 'complete');
    assert.ok(r.findings.length > 500);
    assert.deepEqual(r, full.scan(text));
  });

  void it('finds markers as whole words, beside the anchor prefilter', () => {
    const text = 'CONFIDENTIAL: xCONFIDENTIAL, INTERNAL \t ONLY and CONFIDENTIAL';
    const r = fast.scan(text);
    assert.deepEqual(r, full.scan(text));
    const spans = r.status === 'complete' ? r.findings.map((f) => `${f.detector}@${f.start}`) : [];
    assert.deepEqual(spans, ['marker:confidential@0', 'marker:internal-only@29', 'marker:confidential@49']);
  });

  void it('fails closed on the time budget while only trigger characters are being searched', () => {
    let t = 0;
    const slow = createScanner({ budget: { maxInputChars: 1e6, maxScanMillis: 5 }, clock: () => (t += 1) });
    // Trigger characters everywhere but no anchor and no digit: only the prefilter ticks.
    const r = slow.scan('_-@'.repeat(20_000));
    assert.equal(r.status, 'budget_exceeded');
  });
});
