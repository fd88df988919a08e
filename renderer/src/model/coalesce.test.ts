import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coalesce } from './coalesce.js';

/** A run whose completion the test controls. */
function controlledRuns() {
  const pending: (() => void)[] = [];
  let started = 0;
  const run = () =>
    new Promise<void>((resolve) => {
      started++;
      pending.push(resolve);
    });
  const finishOne = async () => {
    pending.shift()?.();
    // Let the .finally chain run.
    await new Promise((r) => setTimeout(r, 0));
  };
  return { run, finishOne, started: () => started };
}

test('a burst of requests during a run costs one more run, not one per request', async () => {
  const c = controlledRuns();
  const request = coalesce(c.run);
  request();
  assert.equal(c.started(), 1);
  for (let i = 0; i < 50; i++) request();
  assert.equal(c.started(), 1, 'at most one in flight');
  await c.finishOne();
  assert.equal(c.started(), 2, 'the queued run starts when the first settles');
  await c.finishOne();
  assert.equal(c.started(), 2, 'nothing more was asked for');
  request();
  assert.equal(c.started(), 3, 'idle again: a request runs at once');
});

test('a failing run does not wedge the queue', async () => {
  let calls = 0;
  const request = coalesce(async () => {
    calls++;
    await Promise.resolve();
    throw new Error('network');
  });
  request();
  request();
  await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(calls, 2);
  request();
  assert.equal(calls, 3);
});
