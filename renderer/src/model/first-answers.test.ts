import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiResponse, ApiResult } from '../../../core/api/cordon-api.js';
import { settleWithin } from './first-answers.js';

const info: ApiResult<ApiResponse<'app.info'>> = { ok: false, error: { code: 'unavailable', message: 'test' } };
const keys: ApiResult<ApiResponse<'keys.status'>> = { ok: true, value: [] };

test('answers that arrive in time are handed to the first render', async () => {
  const first = await settleWithin({ info: Promise.resolve(info), keys: new Promise((r) => setTimeout(() => r(keys), 20)) }, 1000);
  assert.deepEqual(first.settled, { info, keys });
});

test('a late answer does not hold the app back: the first render gets none and the promises stay', async () => {
  const never = new Promise<ApiResult<ApiResponse<'keys.status'>>>(() => undefined);
  const t0 = Date.now();
  const first = await settleWithin({ info: Promise.resolve(info), keys: never }, 50);
  assert.equal(first.settled, null);
  assert.ok(Date.now() - t0 < 1000, 'waited far beyond its bound');
  assert.equal(first.keys, never);
});
