/**
 * The line diff proves its one promise, that applying the hunks to `before`
 * yields `after`, over random texts and budgets; it is minimal where Myers is
 * (the edit count equals an LCS reference on small inputs); and a hostile pair
 * of files gives up within a fixed budget instead of costing quadratic time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { diffLines, type LineDiff } from './line-diff.js';

/** Test oracle: replays the hunks over BEFORE, checking every context and removed line on the way. */
function apply(before: string, diff: LineDiff): string {
  const lines = before.split(/(?<=\n)/).filter((l) => l !== '');
  const out: string[] = [];
  let at = 0;
  for (const h of diff.hunks) {
    const start = h.oldLines === 0 ? h.oldStart : h.oldStart - 1;
    assert.ok(start >= at, 'hunks are in order and do not overlap');
    out.push(...lines.slice(at, start));
    at = start;
    for (const l of h.lines) {
      const raw = l.text + (l.noNewlineAtEnd ? '' : '\n');
      if (l.op === '+') out.push(raw);
      else {
        assert.equal(lines[at], raw, 'context and removed lines match before');
        at++;
        if (l.op === ' ') out.push(raw);
      }
    }
    assert.equal(h.lines.filter((l) => l.op !== '+').length, h.oldLines);
    assert.equal(h.lines.filter((l) => l.op !== '-').length, h.newLines);
  }
  out.push(...lines.slice(at));
  return out.join('');
}

/** Edit distance via LCS, the quantity Myers minimises. */
function editDistance(a: string[], b: string[]): number {
  const dp: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = dp[i] as number[];
      row[j] = a[i - 1] === b[j - 1] ? (dp[i - 1]?.[j - 1] ?? 0) + 1 : Math.max(dp[i - 1]?.[j] ?? 0, row[j - 1] ?? 0);
    }
  }
  return a.length + b.length - 2 * (dp[a.length]?.[b.length] ?? 0);
}

// Few distinct lines make long common runs and many ties, the hard cases for hunk grouping.
const text = fc.array(fc.constantFrom('a', 'b', 'c', 'd', '', 'x y'), { maxLength: 40 }).chain((ls) =>
  fc.boolean().map((nl) => (ls.length === 0 ? '' : ls.join('\n') + (nl ? '\n' : ''))),
);

test('applying the hunks to before yields after, for any texts, context and budget', () => {
  fc.assert(
    fc.property(text, text, fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 50 }), (before, after, context, maxEditCost) => {
      const d = diffLines(before, after, { context, maxEditCost });
      assert.equal(apply(before, d), after);
      assert.equal(d.added, d.hunks.flatMap((h) => h.lines).filter((l) => l.op === '+').length);
      assert.equal(d.removed, d.hunks.flatMap((h) => h.lines).filter((l) => l.op === '-').length);
    }),
    { numRuns: 2000 },
  );
});

test('within budget the diff is minimal: added + removed is the edit distance', () => {
  fc.assert(
    fc.property(text, text, (before, after) => {
      const d = diffLines(before, after);
      assert.equal(d.truncated, false);
      const split = (s: string): string[] => s.split(/(?<=\n)/).filter((l) => l !== '');
      assert.equal(d.added + d.removed, editDistance(split(before), split(after)));
    }),
    { numRuns: 500 },
  );
});

test('equal texts give no hunks; a one-line change gives one unified hunk with context', () => {
  assert.deepEqual(diffLines('a\nb\n', 'a\nb\n'), { hunks: [], added: 0, removed: 0, truncated: false });
  const before = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n') + '\n';
  const d = diffLines(before, before.replace('5\n', 'five\n'));
  assert.equal(d.hunks.length, 1);
  assert.deepEqual(
    { ...d.hunks[0], lines: d.hunks[0]?.lines.map((l) => l.op + l.text) },
    { oldStart: 2, oldLines: 7, newStart: 2, newLines: 7, lines: [' 2', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ' 8'] },
  );
});

test('creating and deleting a file diff from and to empty; a missing last newline is marked', () => {
  const created = diffLines('', 'x\ny');
  assert.deepEqual(created.hunks, [{ oldStart: 0, oldLines: 0, newStart: 1, newLines: 2, lines: [{ op: '+', text: 'x' }, { op: '+', text: 'y', noNewlineAtEnd: true }] }]);
  const deleted = diffLines('x\n', '');
  assert.deepEqual(deleted.hunks, [{ oldStart: 1, oldLines: 1, newStart: 0, newLines: 0, lines: [{ op: '-', text: 'x' }] }]);
  const eol = diffLines('a\nb', 'a\nb\n');
  assert.deepEqual(eol.hunks[0]?.lines.map((l) => [l.op, l.text, l.noNewlineAtEnd ?? false]), [[' ', 'a', false], ['-', 'b', true], ['+', 'b', false]]);
});

test('two files that share nothing stop at the edit budget: whole replace, truncated, fast', () => {
  const n = 50_000;
  const before = Array.from({ length: n }, (_v, i) => `old ${i}`).join('\n');
  const after = Array.from({ length: n }, (_v, i) => `new ${i}`).join('\n');
  const t0 = performance.now();
  const d = diffLines(before, after);
  const ms = performance.now() - t0;
  assert.equal(d.truncated, true);
  assert.equal(d.removed, n);
  assert.equal(d.added, n);
  assert.equal(apply(before, d), after);
  assert.ok(ms < 2000, `took ${ms} ms`);
});

test('the work budget bounds long files with many scattered edits', () => {
  // Every other line differs: D is large, and each round walks long snakes.
  const n = 20_000;
  const before = Array.from({ length: n }, (_v, i) => (i % 2 === 0 ? 'same' : `a${i}`)).join('\n');
  const after = Array.from({ length: n }, (_v, i) => (i % 2 === 0 ? 'same' : `b${i}`)).join('\n');
  const t0 = performance.now();
  const d = diffLines(before, after, { maxEditCost: 1_000_000, maxWork: 1_000_000 });
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(d.truncated, true);
  assert.equal(apply(before, d), after);
  // A common prefix and suffix stay out of the replace even when truncated.
  const t = diffLines('keep\n' + before + '\nend\n', 'keep\n' + after + '\nend\n', { maxEditCost: 10 });
  assert.equal(t.hunks[0]?.lines[0]?.text, 'keep');
  assert.equal(t.hunks[0]?.lines.at(-1)?.text, 'end');
});
