/**
 * The end time of a "for a while" approval, from what a person types:
 * `30m`, `1h`, `2h30m`, or `today` (until the end of the local day).
 */

/** Longest "for" an answer may take: a longer grant should be an explicit 'always'. */
const MAX_DURATION_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * When an approval given at `now` for `text` ends, or null when `text` is not
 * one of the forms above (or is zero, or longer than a week). `today` is the
 * last millisecond of `now`'s local day.
 */
export function approvalEnd(text: string, now: Date): Date | null {
  const t = text.trim().toLowerCase();
  if (t === 'today') {
    const end = new Date(now);
    end.setHours(23, 59, 59, 999);
    return end;
  }
  const m = /^(?:(\d{1,3})h)?(?:(\d{1,4})m)?$/.exec(t);
  if (!m || (m[1] === undefined && m[2] === undefined)) return null;
  const ms = (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60_000;
  if (ms <= 0 || ms > MAX_DURATION_MS) return null;
  return new Date(now.getTime() + ms);
}
