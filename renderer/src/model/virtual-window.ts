/**
 * Which rows of a fixed-row-height list to render for a scroll position, so a
 * timeline of 50,000 records puts only a screenful (plus overscan) in the DOM.
 */
export interface VirtualWindow {
  /** First row to render (inclusive). */
  readonly start: number;
  /** Row after the last to render (exclusive); `start === end` when the list is empty. */
  readonly end: number;
  /** Pixels above the first rendered row. */
  readonly offsetTop: number;
  /** Height of the whole list in pixels. */
  readonly totalHeight: number;
}

export function virtualWindow(scrollTop: number, viewportHeight: number, rowHeight: number, count: number, overscan = 8): VirtualWindow {
  if (rowHeight <= 0) throw new RangeError('rowHeight must be positive');
  const totalHeight = count * rowHeight;
  const top = clamp(scrollTop, 0, Math.max(0, totalHeight - viewportHeight));
  const first = Math.floor(top / rowHeight);
  const visible = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = clamp(first - overscan, 0, count);
  const end = clamp(first + visible + overscan, start, count);
  return { start, end, offsetTop: start * rowHeight, totalHeight };
}

/** True when the view is at (or within `tolerance` px of) the bottom: new rows should keep it there. */
export function isAtBottom(scrollTop: number, viewportHeight: number, scrollHeight: number, tolerance = 4): boolean {
  return scrollHeight - (scrollTop + viewportHeight) <= tolerance;
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(Math.max(n, lo), hi);
}
