import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyDecisions, applyDecisionsToBytes, applyToRanges, spliceUtf8, type DecidedFinding, type TextSplice } from './apply.js';
import type { DlpAction } from './types.js';

/** A text, a tiling of it into parts, and findings anywhere in it. */
const scenario = fc
  .string({ minLength: 1, maxLength: 80 })
  .chain((text) =>
    fc.record({
      text: fc.constant(text),
      cuts: fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, text.length - 1) }), { maxLength: 5 }),
      findings: fc.array(
        fc.record({
          a: fc.integer({ min: 0, max: text.length }),
          b: fc.integer({ min: 0, max: text.length }),
          action: fc.constantFrom<DlpAction>('allow', 'redact', 'block'),
        }),
        { maxLength: 6 },
      ),
    }),
  );

function decided(findings: ReadonlyArray<{ a: number; b: number; action: DlpAction }>): DecidedFinding[] {
  return findings
    .filter((f) => f.a !== f.b)
    .map((f) => ({ finding: { detector: 'email', category: 'pii', start: Math.min(f.a, f.b), end: Math.max(f.a, f.b), confidence: 1 }, action: f.action }));
}

void describe('applying decisions to the parts of a jointly scanned text', () => {
  void it('the parts, joined again, are exactly the whole text with the decisions applied', () => {
    fc.assert(
      fc.property(scenario, ({ text, cuts, findings }) => {
        const edges = [0, ...[...cuts].filter((c) => c < text.length).sort((x, y) => x - y), text.length];
        const ranges = edges.slice(1).map((end, k) => ({ start: edges[k] as number, end }));
        const d = decided(findings);
        const parts = applyToRanges(text, ranges, d, null);
        const whole = applyDecisions(text, d, null);
        assert.equal(parts.parts.join(''), whole.text);
        assert.equal(parts.blocked, whole.blocked);
        assert.equal(parts.changed, whole.text !== text);
      }),
      { numRuns: 1000 },
    );
  });

  void it('a value split across parts becomes one replacement in the first part, and the rest is removed', () => {
    const text = 'key AKIA|Q3EG end';
    const r = applyToRanges(
      text,
      [
        { start: 0, end: 8 },
        { start: 8, end: text.length },
      ],
      [{ finding: { detector: 'aws_access_key_id', category: 'secret', start: 4, end: 13, confidence: 1 }, action: 'redact' }],
      null,
    );
    assert.deepEqual(r.parts, ['key [REDACTED:aws_access_key_id]', ' end']);
  });

  void it('text between the parts (a header line\'s ": ") is context only and never sent', () => {
    const text = 'x-token: AKIAQ3EGRJ2KZ7XNP4VB\n';
    const r = applyToRanges(
      text,
      [
        { start: 0, end: 7 },
        { start: 9, end: 29 },
      ],
      [{ finding: { detector: 'aws_access_key_id', category: 'secret', start: 9, end: 29, confidence: 1 }, action: 'redact' }],
      null,
      encodeURIComponent,
    );
    assert.deepEqual(r.parts, ['x-token', '%5BREDACTED%3Aaws_access_key_id%5D']);
  });
});

void describe('spliceUtf8: a body rewritten as bytes', () => {
  // Astral characters (surrogate pairs), two- and three-byte characters and ASCII, so splice edges land everywhere, between a pair's halves too.
  const unicodeText = fc.array(fc.constantFrom('a', 'Z', ' ', '\n', 'é', '€', '—', '😀', '𝄞', '"'), { minLength: 1, maxLength: 60 }).map((cs) => cs.join(''));
  const withSplices = unicodeText.chain((text) =>
    fc.record({
      text: fc.constant(text),
      edges: fc.uniqueArray(fc.integer({ min: 0, max: text.length }), { maxLength: 8 }),
      labels: fc.array(fc.constantFrom('', '[REDACTED:email]', 'ü', '😀'), { minLength: 4, maxLength: 4 }),
    }),
  );

  void it('gives the bytes of the spliced text, whatever the characters and wherever the edges (property)', () => {
    fc.assert(
      fc.property(withSplices, ({ text, edges, labels }) => {
        const sorted = [...edges].sort((a, b) => a - b);
        const splices: TextSplice[] = [];
        for (let k = 0; k + 1 < sorted.length; k += 2) splices.push({ start: sorted[k] as number, end: sorted[k + 1] as number, text: labels[(k / 2) % labels.length] ?? '' });
        // Kept characters and labels, in order: every edge pair cut out and its label put in its place.
        const kept = [0, ...sorted.slice(0, 2 * splices.length), text.length];
        const expected = splices.map((s, k) => text.slice(kept[2 * k], kept[2 * k + 1]) + s.text).join('') + text.slice(kept[2 * splices.length]);
        assert.deepEqual(spliceUtf8(text, Buffer.from(text, 'utf8'), splices), Buffer.from(expected, 'utf8'));
      }),
      { numRuns: 1000 },
    );
  });

  void it('applyDecisionsToBytes agrees with applyDecisions (property)', () => {
    fc.assert(
      fc.property(scenario, ({ text, findings }) => {
        const d = decided(findings);
        const asText = applyDecisions(text, d, null);
        const asBytes = applyDecisionsToBytes(text, Buffer.from(text, 'utf8'), d, null);
        assert.equal(asBytes.text, asText.text);
        assert.equal(asBytes.changed, asText.changed);
        assert.equal(asBytes.blocked, asText.blocked);
        assert.deepEqual(asBytes.bytes ?? Buffer.from(text, 'utf8'), Buffer.from(asText.text, 'utf8'));
      }),
      { numRuns: 500 },
    );
  });
});
