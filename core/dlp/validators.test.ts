import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cardIssuer, ibanValid, luhnValid, shannonEntropy, ssnValid } from './validators.js';

void describe('validators', () => {
  void it('Luhn and issuer ranges', () => {
    assert.equal(luhnValid('4539148803436467'), true);
    assert.equal(luhnValid('4539148803436468'), false);
    assert.equal(cardIssuer('4539148803436467'), 'visa');
    assert.equal(cardIssuer('378282246310005'), 'amex');
    assert.equal(cardIssuer('2221000000000009'), 'mastercard');
    assert.equal(cardIssuer('9999999999999995'), null);
  });

  void it('SSN validity rules', () => {
    assert.equal(ssnValid('536', '22', '1234'), true);
    for (const [a, g, s] of [['000', '22', '1234'], ['666', '22', '1234'], ['900', '22', '1234'], ['536', '00', '1234'], ['536', '22', '0000'], ['078', '05', '1120']] as const) {
      assert.equal(ssnValid(a, g, s), false, `${a}-${g}-${s}`);
    }
  });

  void it('IBAN length, check digits and mod-97', () => {
    assert.equal(ibanValid('GB82WEST12345698765432'), true);
    assert.equal(ibanValid('DE89370400440532013000'), true);
    assert.equal(ibanValid('GB82WEST12345698765433'), false);
    assert.equal(ibanValid('GB82WEST1234569876543'), false);
    assert.equal(ibanValid('XX82WEST12345698765432'), false);
  });

  void it('entropy', () => {
    assert.equal(shannonEntropy('aaaa'), 0);
    assert.equal(shannonEntropy('abcd'), 2);
    assert.equal(shannonEntropy('añbñ'), 1.5);
  });

  void it('entropy equals -sum(p * log2 p) over character frequencies, ASCII or not, for counts past its table', () => {
    const byDefinition = (s: string): number => {
      const counts = new Map<number, number>();
      for (let i = 0; i < s.length; i++) counts.set(s.charCodeAt(i), (counts.get(s.charCodeAt(i)) ?? 0) + 1);
      let h = 0;
      for (const k of counts.values()) h -= (k / s.length) * Math.log2(k / s.length);
      return h;
    };
    const alphabet = fc.constantFrom(...'aaab0Z+/=_-\u00e9\u20ac'.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { minLength: 1, maxLength: 700 }), (chars) => {
        const s = chars.join('');
        assert.ok(Math.abs(shannonEntropy(s) - byDefinition(s)) < 1e-9);
      }),
      { numRuns: 2000 },
    );
    const long = 'a'.repeat(300) + 'b'.repeat(100) + '\u20ac'.repeat(260);
    assert.ok(Math.abs(shannonEntropy(long) - byDefinition(long)) < 1e-9);
    // Back to back: the scratch counters are left clear after each call.
    assert.equal(shannonEntropy('zzzz'), 0);
    assert.equal(shannonEntropy('zyzy'), 1);
  });
});
