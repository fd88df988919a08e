/**
 * Line diff for the "what changed" panel (issue 16, item 3): Myers' O(ND)
 * algorithm over lines, shaped as unified hunks.
 *
 * Both texts can come from the agent, which is untrusted, so the cost is
 * bounded: Myers costs O((N+M)·D) for an edit distance D, quadratic when the
 * two sides share nothing. Past `maxEditCost` edits (or `maxWork` steps) the
 * diff gives up and reports the differing middle as one replace, with
 * `truncated: true`. That answer is still exact (applying it yields `after`);
 * it is only less precise.
 */

/** One line of a hunk. `text` excludes the line's `\n`; `noNewlineAtEnd` marks a last line that had none. */
export interface DiffLine {
  readonly op: ' ' | '+' | '-';
  readonly text: string;
  /** The file ends on this line without a newline (unified diff's "\ No newline at end of file"). */
  readonly noNewlineAtEnd?: true;
}

/**
 * A unified hunk. Line numbers are 1-based, as in `diff -u`; a side with no
 * lines (`oldLines` or `newLines` 0) names the line after which the other
 * side's lines go, 0 meaning "at the top".
 */
export interface DiffHunk {
  readonly oldStart: number;
  readonly oldLines: number;
  readonly newStart: number;
  readonly newLines: number;
  readonly lines: readonly DiffLine[];
}

/** A diff: no hunks means the texts are equal. `added`/`removed` count `+`/`-` lines. */
export interface LineDiff {
  readonly hunks: readonly DiffHunk[];
  readonly added: number;
  readonly removed: number;
  /** The edit budget ran out: the differing middle is shown as one whole replace, not line by line. */
  readonly truncated: boolean;
}

export interface DiffOptions {
  /** Unchanged lines shown around each change (default 3). */
  readonly context?: number;
  /** Most edits (inserted + deleted lines) searched for before giving up (default 2,000). */
  readonly maxEditCost?: number;
  /** Most comparison steps before giving up (default 20,000,000): bounds time when both files are long. */
  readonly maxWork?: number;
}

export const DEFAULT_DIFF_CONTEXT = 3;
export const DEFAULT_MAX_EDIT_COST = 2_000;
export const DEFAULT_MAX_DIFF_WORK = 20_000_000;

const EQ = 0;
const DEL = 1;
const INS = 2;

/**
 * Diffs BEFORE against AFTER line by line. Linear in the input size plus at
 * most `maxWork` steps, whatever the input; never throws.
 */
export function diffLines(before: string, after: string, opts: DiffOptions = {}): LineDiff {
  const context = Math.max(0, Math.floor(opts.context ?? DEFAULT_DIFF_CONTEXT));
  const a = splitLines(before);
  const b = splitLines(after);
  // Interning makes every comparison an integer compare; a shared prefix and
  // suffix cost nothing from the edit budget.
  const ids = new Map<string, number>();
  const intern = (s: string): number => {
    let id = ids.get(s);
    if (id === undefined) ids.set(s, (id = ids.size));
    return id;
  };
  const ai = Int32Array.from(a, intern);
  const bi = Int32Array.from(b, intern);
  let pre = 0;
  while (pre < ai.length && pre < bi.length && ai[pre] === bi[pre]) pre++;
  let suf = 0;
  while (suf < ai.length - pre && suf < bi.length - pre && ai[ai.length - 1 - suf] === bi[bi.length - 1 - suf]) suf++;
  const midA = ai.subarray(pre, ai.length - suf);
  const midB = bi.subarray(pre, bi.length - suf);
  let mid = myers(midA, midB, opts.maxEditCost ?? DEFAULT_MAX_EDIT_COST, opts.maxWork ?? DEFAULT_MAX_DIFF_WORK);
  const truncated = mid === null;
  mid ??= wholeReplace(midA.length, midB.length);
  const ops = new Uint8Array(pre + mid.length + suf);
  ops.set(mid, pre);
  return { ...buildHunks(ops, a, b, context), truncated };
}

/** Lines with their terminators, so "a" and "a\n" as a last line differ. */
function splitLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl === -1) break;
    out.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

function wholeReplace(n: number, m: number): Uint8Array {
  const ops = new Uint8Array(n + m);
  ops.fill(DEL, 0, n);
  ops.fill(INS, n);
  return ops;
}

/**
 * The shortest edit script from A to B as EQ/DEL/INS ops, or null once it
 * needs more than MAXD edits or MAXWORK steps. Keeps each round's frontier
 * (O(D²) memory at worst) to walk the path back.
 */
function myers(a: Int32Array, b: Int32Array, maxD: number, maxWork: number): Uint8Array | null {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return wholeReplace(n, m);
  const limit = Math.min(Math.max(0, Math.floor(maxD)), n + m);
  const off = limit + 1;
  const v = new Int32Array(2 * limit + 3);
  const trace: Int32Array[] = [];
  let work = 0;
  for (let d = 0; d <= limit; d++) {
    const row = new Int32Array(2 * d + 1);
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && (v[off + k - 1] ?? 0) < (v[off + k + 1] ?? 0)) ? (v[off + k + 1] ?? 0) : (v[off + k - 1] ?? 0) + 1;
      let y = x - k;
      const snakeFrom = x;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      work += x - snakeFrom + 1;
      v[off + k] = x;
      row[k + d] = x;
      if (x >= n && y >= m) {
        trace.push(row);
        return backtrack(trace, n, m);
      }
    }
    trace.push(row);
    if (work > maxWork) return null;
  }
  return null;
}

function backtrack(trace: readonly Int32Array[], n: number, m: number): Uint8Array {
  const ops = new Uint8Array(n + m);
  let len = 0;
  const rev: number[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d > 0; d--) {
    const prev = trace[d - 1];
    if (!prev) break;
    const k = x - y;
    const down = k === -d || (k !== d && (prev[k - 1 + d - 1] ?? 0) < (prev[k + 1 + d - 1] ?? 0));
    const prevK = down ? k + 1 : k - 1;
    const prevX = prev[prevK + d - 1] ?? 0;
    const prevY = prevX - prevK;
    const startX = down ? prevX : prevX + 1;
    while (x > startX) {
      rev.push(EQ);
      x--;
      y--;
    }
    rev.push(down ? INS : DEL);
    x = prevX;
    y = prevY;
  }
  while (x > 0) {
    rev.push(EQ);
    x--;
  }
  for (let i = rev.length - 1; i >= 0; i--) ops[len++] = rev[i] ?? EQ;
  return ops.subarray(0, len);
}

function buildHunks(ops: Uint8Array, a: readonly string[], b: readonly string[], context: number): Omit<LineDiff, 'truncated'> {
  // Where each op stands in A and in B before it applies.
  const posA = new Int32Array(ops.length + 1);
  const posB = new Int32Array(ops.length + 1);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    posA[i + 1] = (posA[i] ?? 0) + (op === INS ? 0 : 1);
    posB[i + 1] = (posB[i] ?? 0) + (op === DEL ? 0 : 1);
  }
  const hunks: DiffHunk[] = [];
  let added = 0;
  let removed = 0;
  let i = 0;
  while (i < ops.length) {
    if (ops[i] === EQ) {
      i++;
      continue;
    }
    const from = Math.max(0, i - context);
    // Take changes while the next one is at most 2·CONTEXT equal lines away: their contexts would overlap.
    let end = i;
    for (;;) {
      while (end < ops.length && ops[end] !== EQ) end++;
      let next = end;
      while (next < ops.length && ops[next] === EQ) next++;
      if (next < ops.length && next - end <= 2 * context) end = next;
      else break;
    }
    const to = Math.min(ops.length, end + context);
    const lines: DiffLine[] = [];
    for (let j = from; j < to; j++) {
      const op = ops[j];
      if (op === EQ) lines.push(line(' ', a[posA[j] ?? 0] ?? ''));
      else if (op === DEL) {
        lines.push(line('-', a[posA[j] ?? 0] ?? ''));
        removed++;
      } else {
        lines.push(line('+', b[posB[j] ?? 0] ?? ''));
        added++;
      }
    }
    const startA = posA[from] ?? 0;
    const startB = posB[from] ?? 0;
    const oldLines = (posA[to] ?? 0) - startA;
    const newLines = (posB[to] ?? 0) - startB;
    hunks.push({
      oldStart: oldLines === 0 ? startA : startA + 1,
      oldLines,
      newStart: newLines === 0 ? startB : startB + 1,
      newLines,
      lines,
    });
    i = to;
  }
  return { hunks, added, removed };
}

function line(op: DiffLine['op'], raw: string): DiffLine {
  return raw.endsWith('\n') ? { op, text: raw.slice(0, -1) } : { op, text: raw, noNewlineAtEnd: true };
}
