// The digit-run gate must only skip runs in which the numeric detectors
// would find nothing anyway.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Candidate } from './detectors.js';
import { detectInRun, forEachDigitRun, runMayMatch, type NumericConfig } from './numeric-detectors.js';
import { parseCidr, type Cidr } from '../net/ip-address.js';

const everywhere = parseCidr('0.0.0.0/0') as Cidr;
const CONFIGS: readonly NumericConfig[] = [
  { card: true, ssn: true, phone: true, iban: true, cidrs: [everywhere] },
  { card: true, ssn: true, phone: true, iban: true, cidrs: [] },
];

/** Digits, separators, letters (IBAN country codes) and dots, in the shapes numeric PII takes. */
const digitText = fc
  .array(
    fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789 -.+()/GBDEab'), maxLength: 24 }),
      fc.constantFrom('4539 1488 0343 6467', 'GB82 WEST 1234 5698 7654 32', '536-22-1234', '+1 (415) 555-2671', '10.20.30.40', 'DE89370400440532013000'),
    ),
    { maxLength: 6 },
  )
  .map((xs) => xs.join(''));

void describe('digit-run gate', () => {
  void it('skips only runs where every numeric detector finds nothing (property)', () => {
    fc.assert(
      fc.property(digitText, (text) => {
        for (const cfg of CONFIGS) {
          forEachDigitRun(text, cfg.cidrs.length > 0, {
            visit(start, end, digits, hasDot) {
              if (digits < 2 || runMayMatch(text, start, digits, hasDot, cfg)) return;
              const out: Candidate[] = [];
              detectInRun(text, { start, end, digits, hasDot }, cfg, out);
              assert.deepEqual(out, [], JSON.stringify(text.slice(start, end)));
            },
          });
        }
      }),
      { numRuns: 500 },
    );
  });

  void it('lets through runs that hold a finding', () => {
    const seen: string[] = [];
    const text = 'card 4539 1488 0343 6467, IBAN GB82 WEST 1234 5698 7654 32, host 10.20.30.40, year 2024';
    const cfg = CONFIGS[0] as NumericConfig;
    forEachDigitRun(text, true, {
      visit(start, end, digits, hasDot) {
        if (runMayMatch(text, start, digits, hasDot, cfg)) seen.push(text.slice(start, end));
      },
    });
    assert.deepEqual(seen, ['4539 1488 0343 6467', '82', '1234 5698 7654 32', '10.20.30.40']);
  });
});
