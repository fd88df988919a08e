/**
 * A line diff of two texts, for the tool card that shows what an agent's edit
 * did to a file. Pure and bounded: the agent chooses the texts, so a huge edit
 * must not freeze the page.
 */

/** One line of a diff: kept (' '), removed ('-') or added ('+'). Same shape as the contract's hunk lines. */
export interface DiffLine {
  readonly op: ' ' | '+' | '-';
  readonly text: string;
}

/**
 * The most table cells (changed lines before × changed lines after) the exact
 * diff may use: about 4 MB of memory and a few milliseconds. Past it, the
 * changed middle is shown as all removed then all added, still correct, only
 * less tidy.
 */
export const MAX_DIFF_CELLS = 1_000_000;

/** Lines of TEXT; a final newline ends the last line rather than starting an empty one, and '' has no lines. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * The lines of BEFORE and AFTER in order, each marked kept, removed or added:
 * the kept and removed lines spell BEFORE, the kept and added lines spell AFTER.
 * Common lines are found exactly (longest common subsequence) unless the
 * changed middle needs more than MAXCELLS cells.
 */
export function lineDiff(before: string, after: string, maxCells = MAX_DIFF_CELLS): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;

  const kept = (text: string): DiffLine => ({ op: ' ', text });
  const out: DiffLine[] = a.slice(0, head).map(kept);
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  if (midA.length * midB.length <= maxCells) out.push(...diffMiddle(midA, midB));
  else out.push(...midA.map((text): DiffLine => ({ op: '-', text })), ...midB.map((text): DiffLine => ({ op: '+', text })));
  out.push(...a.slice(a.length - tail).map(kept));
  return out;
}

/** Longest-common-subsequence diff; removals come before additions where both are possible, as in `diff -u`. */
function diffMiddle(a: readonly string[], b: readonly string[]): DiffLine[] {
  const n = a.length;
  const m = b.length;
  const width = m + 1;
  // lcs[i * width + j] = length of the LCS of a[i..] and b[j..].
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j] ? (lcs[(i + 1) * width + j + 1] ?? 0) + 1 : Math.max(lcs[(i + 1) * width + j] ?? 0, lcs[i * width + j + 1] ?? 0);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    const ai = a[i] as string;
    if (ai === b[j]) {
      out.push({ op: ' ', text: ai });
      i++;
      j++;
    } else if ((lcs[(i + 1) * width + j] ?? 0) >= (lcs[i * width + j + 1] ?? 0)) {
      out.push({ op: '-', text: ai });
      i++;
    } else {
      out.push({ op: '+', text: b[j] as string });
      j++;
    }
  }
  for (; i < n; i++) out.push({ op: '-', text: a[i] as string });
  for (; j < m; j++) out.push({ op: '+', text: b[j] as string });
  return out;
}
