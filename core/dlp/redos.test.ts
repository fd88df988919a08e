// Proof that no DLP pattern backtracks catastrophically, in two parts:
//  1. recheck (a ReDoS checker, offline) proves every built-in pattern safe
//     in the way the engine runs it: sticky at an anchor, i.e. `^(?:…)`.
//     (Run unanchored over a whole input they would be O(n·bound), which is
//     why the engine never runs them that way.)
//  2. Every detector runs on adversarial 100 KB inputs built to maximise
//     backtracking and anchor density, and each scan finishes within a
//     generous bound.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { check } from 'recheck';
import { ANCHORED_DETECTORS, VALUE_CHECK_PATTERNS } from './detectors.js';
import { NUMERIC_PATTERNS } from './numeric-detectors.js';
import { createScanner } from './scanner.js';
import { checkCustomPattern } from './custom-patterns.js';

const ALL_PATTERNS: readonly RegExp[] = [...ANCHORED_DETECTORS.flatMap((d) => d.patterns), ...NUMERIC_PATTERNS, ...VALUE_CHECK_PATTERNS];

void describe('ReDoS: recheck proves every built-in pattern safe as the engine runs it', () => {
  void it('has patterns to check', () => assert.ok(ALL_PATTERNS.length > 30));
  for (const re of ALL_PATTERNS) {
    void it(`safe: /${re.source.slice(0, 60)}${re.source.length > 60 ? '…' : ''}/`, async () => {
      const flags = re.flags.replace(/[gyd]/g, '');
      const r = await check(`^(?:${re.source})`, flags, { timeout: 30_000 });
      assert.equal(r.status, 'safe', r.status === 'vulnerable' ? `attack: ${r.attack.pattern}` : r.status);
    });
  }
  void it('the custom-pattern subset check rejects the classic exponential shapes', () => {
    for (const src of ['(a+)+$', '(a|a)*', '(a*)*b', '([a-z]{1,9}){1,9}x', '(\\w|\\d){1,50}!']) {
      assert.equal(checkCustomPattern(src).ok, false, src);
    }
  });
});

const SIZE = 100 * 1024;
function fill(unit: string, tail = '\u0000'): string {
  return unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE) + tail;
}

// Inputs that put an anchor (or a digit run) at nearly every position and make
// each bounded pattern run to its bound before failing.
const ADVERSARIAL: Readonly<Record<string, string>> = {
  'repeated AWS prefix': fill('AKIA'),
  'almost-AWS ids': fill('AKIAAAAAAAAAAAAAAAA '),
  'github prefixes': fill('ghp_gho_ghs_github_pat_'),
  'long alnum after prefix': 'ghp_' + fill('a'),
  'gitlab dots': fill('glpat-' + 'a.'.repeat(50)),
  'slack dashes': fill('xoxp-1234567890-'),
  'sk- prefixes': fill('sk-None-sk-ant-api03-'),
  'jwt headers': fill('eyJ'),
  'jwt near miss': fill('eyJhbGciOiJIUzI1NiJ9.eyJ'),
  'pem headers without end': fill(['-----BEGIN ', 'RSA PRIVATE KEY-----\n'].join('')),
  'service account types': fill('{"type": "service_account", '),
  'azure conn strings': fill('DefaultEndpointsProtocol=https;AccountKey='),
  'context words': fill('password=secret:token=api_key='),
  'assignment glue': fill('password-------------------'),
  'url schemes': fill('a://b:c'),
  'userinfo without at': 'x://' + fill('u:p'),
  'emails without tld': fill('a@b.'),
  'local parts': fill('a.a.a.a@'),
  'phantom prefixes': fill('cdn_ph_'),
  'digit run with dashes': fill('1-'),
  'digit run with spaces': fill('4 '),
  'long digit run': fill('4'),
  'phone shapes': fill('+1 (415) '),
  'ip shapes': fill('10.1.'),
  'iban shapes': fill('GB82 WEST '),
  'ssn shapes': fill('123-45-'),
  'at signs': fill('@'),
  'colons and slashes': fill(':/'),
  'ipv6 colons': fill('a:'),
  'ipv6 compressions': fill('fd00::'),
  'colon runs': fill(':'),
  // A long capital run in an assigned value, failing at its end: the type-name check once backtracked exponentially here.
  'capital runs in assigned values': fill(`accesskey=${'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(7)}mt- `),
};

void describe('ReDoS: adversarial 100 KB inputs finish quickly for every detector', () => {
  const scanner = createScanner({
    corporateCidrs: ['10.0.0.0/8', 'fd00::/8'],
    budget: { maxInputChars: 10 * SIZE, maxScanMillis: 60_000 },
  });
  for (const [name, input] of Object.entries(ADVERSARIAL)) {
    void it(name, () => {
      const t0 = performance.now();
      const r = scanner.scan(input);
      const ms = performance.now() - t0;
      assert.equal(r.status, 'complete');
      // Generous: a linear scan of 100 KB takes a few ms; quadratic behaviour takes seconds.
      assert.ok(ms < 1500, `${name}: ${ms.toFixed(0)} ms`);
    });
  }
});
