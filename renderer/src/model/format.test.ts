import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPolicyValue, formatUptime, uptimeSince } from './format.js';

test('uptime reads in the largest sensible units', () => {
  assert.equal(formatUptime(0), '0 s');
  assert.equal(formatUptime(59_999), '59 s');
  assert.equal(formatUptime(60_000), '1 min 00 s');
  assert.equal(formatUptime(3 * 60_000 + 7_000), '3 min 07 s');
  assert.equal(formatUptime(2 * 3_600_000 + 5 * 60_000), '2 h 05 min');
  assert.equal(formatUptime(3 * 86_400_000 + 4 * 3_600_000 + 59 * 60_000), '3 d 4 h');
  assert.equal(formatUptime(-5000), '0 s');
});

test('uptimeSince reads ISO times and refuses garbage', () => {
  assert.equal(uptimeSince('2026-01-01T00:00:00.000Z', Date.parse('2026-01-01T00:01:30Z')), '1 min 30 s');
  assert.equal(uptimeSince('yesterday-ish', 0), null);
});

test('policy values: strings bare, the rest as JSON', () => {
  assert.equal(formatPolicyValue('enforce'), 'enforce');
  assert.equal(formatPolicyValue(['a.com', 'b.com']), '["a.com","b.com"]');
  assert.equal(formatPolicyValue(false), 'false');
  assert.equal(formatPolicyValue(undefined), '(unset)');
});
