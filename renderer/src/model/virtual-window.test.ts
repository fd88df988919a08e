import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAtBottom, virtualWindow } from './virtual-window.js';

test('only a screenful plus overscan is rendered, however long the list', () => {
  const w = virtualWindow(280_000, 400, 28, 50_000, 5);
  assert.equal(w.start, 10_000 - 5);
  assert.equal(w.end, 10_000 + Math.ceil(400 / 28) + 1 + 5);
  assert.ok(w.end - w.start < 40);
  assert.equal(w.offsetTop, w.start * 28);
  assert.equal(w.totalHeight, 50_000 * 28);
});

test('windows stay inside the list at both ends and when it is empty', () => {
  assert.deepEqual(virtualWindow(0, 400, 28, 0), { start: 0, end: 0, offsetTop: 0, totalHeight: 0 });
  const top = virtualWindow(-50, 400, 28, 100, 3);
  assert.equal(top.start, 0);
  const bottom = virtualWindow(1e9, 400, 28, 100, 3);
  assert.equal(bottom.end, 100);
  assert.ok(bottom.start > 80);
  const short = virtualWindow(0, 400, 28, 5);
  assert.deepEqual([short.start, short.end], [0, 5]);
});

test('every row is rendered by some scroll position (no gaps between windows)', () => {
  const count = 1000;
  const covered = new Set<number>();
  for (let top = 0; top <= count * 20; top += 300) {
    const w = virtualWindow(top, 300, 20, count, 0);
    for (let i = w.start; i < w.end; i++) covered.add(i);
  }
  assert.equal(covered.size, count);
});

test('bottom detection tolerates a few pixels', () => {
  assert.equal(isAtBottom(600, 400, 1000), true);
  assert.equal(isAtBottom(597, 400, 1000), true);
  assert.equal(isAtBottom(500, 400, 1000), false);
  assert.throws(() => virtualWindow(0, 100, 0, 10));
});
