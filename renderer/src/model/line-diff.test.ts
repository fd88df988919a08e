import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { lineDiff, splitLines, type DiffLine } from './line-diff.js';

const render = (lines: readonly DiffLine[]) => lines.map((l) => `${l.op}${l.text}`);
const side = (lines: readonly DiffLine[], drop: '+' | '-') => lines.filter((l) => l.op !== drop).map((l) => l.text);

test('lines: a final newline ends a line, CRLF counts as one break, empty text has none', () => {
  assert.deepEqual(splitLines(''), []);
  assert.deepEqual(splitLines('a\nb\n'), ['a', 'b']);
  assert.deepEqual(splitLines('a\r\nb'), ['a', 'b']);
  assert.deepEqual(splitLines('\n'), ['']);
});

test('a changed line in the middle is one removal and one addition between kept lines', () => {
  assert.deepEqual(render(lineDiff('one\ntwo\nthree\n', 'one\n2\nthree\n')), [' one', '-two', '+2', ' three']);
});

test('a new file is all additions, a deleted one all removals, an unchanged one all kept', () => {
  assert.deepEqual(render(lineDiff('', 'a\nb')), ['+a', '+b']);
  assert.deepEqual(render(lineDiff('a\nb', '')), ['-a', '-b']);
  assert.deepEqual(render(lineDiff('a\nb', 'a\nb\n')), [' a', ' b']);
});

test('an insertion keeps every old line', () => {
  assert.deepEqual(render(lineDiff('a\nc\ne', 'a\nb\nc\nd\ne')), [' a', '+b', ' c', '+d', ' e']);
});

// The property the card relies on: whatever the texts, reading only the kept and
// removed lines gives BEFORE back, and only the kept and added lines gives AFTER —
// for the exact diff and for the bounded fallback alike.
test('every diff spells both texts, exact or past the size bound', () => {
  const text = fc.array(fc.constantFrom('a', 'b', 'c', '', 'long line'), { maxLength: 30 }).map((ls) => ls.map((l) => `${l}\n`).join(''));
  fc.assert(
    fc.property(text, text, fc.constantFrom(0, 10, 1_000_000), (before, after, maxCells) => {
      const d = lineDiff(before, after, maxCells);
      assert.deepEqual(side(d, '+'), splitLines(before));
      assert.deepEqual(side(d, '-'), splitLines(after));
    }),
  );
});

test('the exact diff keeps as many lines as a longest common subsequence', () => {
  const d = lineDiff('x\na\ny\nb\nz\nc', 'a\nq\nb\nr\nc');
  assert.deepEqual(
    d.filter((l) => l.op === ' ').map((l) => l.text),
    ['a', 'b', 'c'],
  );
});

test('a huge edit falls back to removed-then-added instead of a quadratic table', () => {
  const before = Array.from({ length: 3000 }, (_v, i) => `old ${i}`).join('\n');
  const after = Array.from({ length: 3000 }, (_v, i) => `new ${i}`).join('\n');
  const started = Date.now();
  const d = lineDiff(`head\n${before}\ntail`, `head\n${after}\ntail`);
  assert.ok(Date.now() - started < 1000);
  assert.equal(d.length, 6002);
  assert.deepEqual(d[0], { op: ' ', text: 'head' });
  assert.equal(d[1]?.op, '-');
  assert.equal(d[3001]?.op, '+');
  assert.deepEqual(d[6001], { op: ' ', text: 'tail' });
});
