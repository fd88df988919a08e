import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cardIssuer,
  ibanValid,
  ipv4InAny,
  ipv6InAny,
  luhnValid,
  parseIpv4,
  parseIpv4Cidr,
  parseIpv6,
  parseIpv6Cidr,
  shannonEntropy,
  ssnValid,
} from './validators.js';

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

  void it('IPv4 parsing and CIDRs', () => {
    assert.equal(parseIpv4('10.1.2.3'), 0x0a010203);
    assert.equal(parseIpv4('10.01.2.3'), null);
    assert.equal(parseIpv4('256.1.2.3'), null);
    const c = parseIpv4Cidr('10.0.0.0/8');
    assert.ok(c !== null);
    assert.equal(ipv4InAny(0x0a010203, [c]), true);
    assert.equal(ipv4InAny(0x0b010203, [c]), false);
    assert.equal(parseIpv4Cidr('10.0.0.0/33'), null);
  });

  void it('IPv6 parsing and CIDRs', () => {
    assert.equal(parseIpv6('::1'), 1n);
    assert.equal(parseIpv6('fd00::'), 0xfd00n << 112n);
    assert.equal(parseIpv6('1:2:3:4:5:6:7:8'), 0x00010002000300040005000600070008n);
    assert.equal(parseIpv6('::ffff:10.1.2.3'), 0xffff0a010203n);
    for (const bad of ['1:2:3', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', ':']) assert.equal(parseIpv6(bad), null, bad);
    const c = parseIpv6Cidr('fd00::/8');
    assert.ok(c !== null);
    assert.equal(ipv6InAny(parseIpv6('fd12::1') ?? 0n, [c]), true);
    assert.equal(ipv6InAny(parseIpv6('fe80::1') ?? 0n, [c]), false);
    assert.equal(parseIpv6Cidr('fd00::/129'), null);
  });
});
