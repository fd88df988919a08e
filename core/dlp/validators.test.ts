import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
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
});
