// Policy-defined patterns run on every request, so a policy author must not be
// able to hand the proxy a regular expression that backtracks catastrophically
// (V8's engine cannot be interrupted mid-match, so a time budget alone would
// not save us). We accept only a conservative subset of regex syntax for which
// matching is provably polynomial with a small bound:
//   - every quantifier is bounded (`{0,64}`, `?`), at most MAX_BOUND; `*`, `+`
//     and `{n,}` are rejected,
//   - no quantifier applies to a group that itself contains a quantifier or an
//     alternation (star height 1, no ambiguous repeated alternatives),
//   - no backreferences and no lookbehind.
// Rejections come back as a reason a policy author can act on.

/** Largest repeat count a custom pattern may use. */
export const MAX_BOUND = 256;

/**
 * Cap on the product of (bound + 1) over all quantifiers: consecutive bounded
 * quantifiers over overlapping classes (`\d{0,256}\d{0,256}\d{0,256}`) can
 * backtrack through every split, so their combined range is what costs.
 */
export const MAX_BOUND_PRODUCT = 1_000_000;

/** Result of checking a custom pattern. */
export type PatternCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

interface Frame {
  hasQuantifier: boolean;
  hasAlternation: boolean;
}

/**
 * Checks that `source` stays inside the safe regex subset described above and
 * compiles. Pure; does not run the pattern.
 */
export function checkCustomPattern(source: string): PatternCheck {
  if (source.length === 0) return { ok: false, reason: 'pattern is empty' };
  if (source.length > 1024) return { ok: false, reason: 'pattern is longer than 1024 characters' };
  try {
    new RegExp(source, 'u');
  } catch {
    return { ok: false, reason: 'pattern is not a valid regular expression (with the u flag)' };
  }
  const stack: Frame[] = [{ hasQuantifier: false, hasAlternation: false }];
  // What the next quantifier would apply to: a closed group's frame, or a plain atom.
  let lastAtom: Frame | 'atom' | null = null;
  let boundProduct = 1;
  let i = 0;
  while (i < source.length) {
    const ch = source[i] ?? '';
    const top = stack[stack.length - 1];
    if (top === undefined) return { ok: false, reason: 'unbalanced parentheses' };
    switch (ch) {
      case '\\': {
        const next = source[i + 1] ?? '';
        if (/[1-9]/.test(next) || next === 'k') return { ok: false, reason: 'backreferences are not allowed' };
        i += 2;
        lastAtom = 'atom';
        continue;
      }
      case '[': {
        i++;
        while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
        i++;
        lastAtom = 'atom';
        continue;
      }
      case '(': {
        if (source.startsWith('(?<=', i) || source.startsWith('(?<!', i)) {
          return { ok: false, reason: 'lookbehind is not allowed' };
        }
        stack.push({ hasQuantifier: false, hasAlternation: false });
        i++;
        if (source[i] === '?') {
          // (?: (?= (?! (?<name>
          i++;
          if (source[i] === '<') {
            while (i < source.length && source[i] !== '>') i++;
          }
          i++;
        }
        lastAtom = null;
        continue;
      }
      case ')': {
        const closed = stack.pop();
        const parent = stack[stack.length - 1];
        if (closed === undefined || parent === undefined) return { ok: false, reason: 'unbalanced parentheses' };
        // A group's contents count toward its parent's nesting too.
        if (closed.hasQuantifier) parent.hasQuantifier = true;
        lastAtom = closed;
        i++;
        continue;
      }
      case '|':
        top.hasAlternation = true;
        lastAtom = null;
        i++;
        continue;
      case '*':
      case '+':
        return { ok: false, reason: `unbounded quantifier '${ch}' at ${i}: use a bounded {0,N} with N <= ${MAX_BOUND}` };
      case '?':
      case '{': {
        let max = 1;
        let len = 1;
        if (ch === '{') {
          const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(source.slice(i));
          if (m === null) {
            lastAtom = 'atom';
            i++;
            continue;
          }
          if (m[2] !== undefined && (m[3] === undefined || m[3] === '')) {
            return { ok: false, reason: `unbounded quantifier at ${i}: give an upper bound <= ${MAX_BOUND}` };
          }
          max = Number(m[3] ?? m[1]);
          len = m[0].length;
          if (max > MAX_BOUND) return { ok: false, reason: `quantifier bound ${max} exceeds ${MAX_BOUND}` };
        }
        if (lastAtom === null) {
          // `?` right after `(` or a quantifier (lazy marker): nothing to check.
          i += len;
          continue;
        }
        if (lastAtom !== 'atom' && max > 1 && (lastAtom.hasQuantifier || lastAtom.hasAlternation)) {
          return { ok: false, reason: `a repeated group may not contain a quantifier or '|' (at ${i})` };
        }
        boundProduct *= max + 1;
        if (boundProduct > MAX_BOUND_PRODUCT) {
          return { ok: false, reason: `quantifier bounds multiply to more than ${MAX_BOUND_PRODUCT}: use fewer or smaller repeats` };
        }
        top.hasQuantifier = true;
        lastAtom = null;
        i += len;
        continue;
      }
      default:
        lastAtom = 'atom';
        i++;
    }
  }
  if (stack.length !== 1) return { ok: false, reason: 'unbalanced parentheses' };
  return { ok: true };
}
