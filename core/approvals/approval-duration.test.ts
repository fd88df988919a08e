import assert from 'node:assert/strict';
import { test } from 'node:test';
import { approvalEnd } from './approval-duration.js';

const now = new Date(2026, 11, 4, 10, 15, 0);

void test('minutes, hours and both add to now', () => {
  assert.equal(approvalEnd('30m', now)?.getTime(), now.getTime() + 30 * 60_000);
  assert.equal(approvalEnd('1h', now)?.getTime(), now.getTime() + 60 * 60_000);
  assert.equal(approvalEnd('2h30m', now)?.getTime(), now.getTime() + 150 * 60_000);
});

void test('today ends at the last millisecond of the local day', () => {
  const end = approvalEnd('today', now);
  assert.deepEqual(end, new Date(2026, 11, 4, 23, 59, 59, 999));
});

void test('anything else is refused rather than guessed', () => {
  for (const bad of ['', 'h', '30', '30s', '1d', '0m', '-1h', '1h 30m', '200h', 'tomorrow']) assert.equal(approvalEnd(bad, now), null, bad);
});
