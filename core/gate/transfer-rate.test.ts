import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_GATES_POLICY } from '../policy/policy-schema.js';
import { decide } from './gate-decision.js';
import { TransferRate } from './transfer-rate.js';

test('the clipboard rate: the limit refuses, a minute later it allows again; directions and sessions count apart', () => {
  let now = 1_000_000;
  const rate = new TransferRate(() => now);
  const gates = { ...DEFAULT_GATES_POLICY, clipboard: { ...DEFAULT_GATES_POLICY.clipboard, ratePerMinute: 3 } };
  const judge = (session: string): string => {
    const d = decide({ direction: 'fromSandbox', channel: 'clipboard', contentType: 'text/plain', size: 1, form: 'text', scan: { status: 'complete', findings: [] }, recentTransfers: rate.recent(session, 'fromSandbox') }, gates);
    rate.record(session, 'fromSandbox');
    return d.kind === 'deny' ? d.reason : d.kind;
  };
  assert.deepEqual([judge('a'), judge('a'), judge('a'), judge('a')], ['allow', 'allow', 'allow', 'rate_limited']);
  assert.equal(judge('b'), 'allow', 'another session has its own count');
  assert.equal(rate.recent('a', 'toSandbox'), 0, 'the other direction has its own count');
  now += 30_000;
  assert.equal(judge('a'), 'rate_limited', 'refusals count: hammering keeps it refused');
  now += 30_001;
  assert.equal(rate.recent('a', 'fromSandbox'), 1, 'only the attempt of 30 s ago is still within the minute');
  assert.equal(judge('a'), 'allow');
  rate.forget('a');
  assert.equal(rate.recent('a', 'fromSandbox'), 0);
});

test('memory per session and direction is bounded', () => {
  const rate = new TransferRate(() => 5);
  for (let i = 0; i < 20_000; i++) rate.record('s', 'toSandbox');
  assert.equal(rate.recent('s', 'toSandbox'), 6_000);
});
