// The header record both HTTP versions hand the filters, and the last check before it is written as HTTP/1.1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { malformedHeader, mergeHeaders } from './inspected-exchange.js';

test('repeated headers are joined: cookie with "; " (RFC 9113 §8.2.3), the rest with ", "; names lower-cased', () => {
  assert.deepEqual(
    mergeHeaders([
      ['Cookie', 'a=1'],
      ['cookie', 'b=2'],
      ['Accept', 'text/html'],
      ['accept', 'application/json'],
      ['X-One', 'v'],
    ]),
    { cookie: 'a=1; b=2', accept: 'text/html, application/json', 'x-one': 'v' },
  );
});

test('a name that is not a lower-case token, or a value with CR, LF or NUL, is named; sound headers give null', () => {
  assert.equal(malformedHeader({ 'content-type': 'text/plain', 'x-obs': 'caf\u00e9\tok' }), null);
  for (const bad of [{ 'x-a': 'b\r\nx-smuggled: 1' }, { 'x-a': 'b\nc' }, { 'x-a': 'a\0b' }, { 'X-Upper': '1' }, { 'x a': '1' }, { 'x:a': '1' }, { '': '1' }]) {
    assert.notEqual(malformedHeader(bad), null, JSON.stringify(bad));
  }
});
