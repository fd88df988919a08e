/**
 * A virtualized list of audit records: only the rows in view (plus a few) are
 * in the DOM, so 50,000 records scroll as smoothly as 50. Newest at the bottom;
 * it follows new rows unless the user has scrolled up.
 */
import { memo, useEffect, useId, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { AuditRecordView } from '../../../core/api/cordon-api.js';
import { KIND_GROUPS, filterByGroups, kindGroup, summarize, type KindGroup } from '../model/timeline.js';
import { isAtBottom, virtualWindow } from '../model/virtual-window.js';

const ROW_HEIGHT = 30;
/** One formatter for every row: building an Intl formatter per row dominated render time in a 10,000-event burst. */
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

const GROUP_LABELS: Record<(typeof KIND_GROUPS)[number], string> = {
  session: 'Session',
  mount: 'Mounts',
  egress: 'Network',
  dlp: 'DLP',
  policy: 'Policy',
  keys: 'Keys',
};

export function Timeline({
  records,
  version,
  label,
  filterable = false,
  showSession = false,
}: {
  readonly records: readonly AuditRecordView[];
  readonly version: number;
  readonly label: string;
  readonly filterable?: boolean;
  readonly showSession?: boolean;
}) {
  const [shown, setShown] = useState<ReadonlySet<KindGroup>>(() => new Set<KindGroup>(KIND_GROUPS));
  // `records` is mutated in place by the log; `version` says when it changed.
  const rows = useMemo(() => (filterable ? filterByGroups(records, shown) : records.slice()), [records, version, shown, filterable]);
  const viewport = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);
  const pinned = useRef(true);
  const id = useId();

  useEffect(() => {
    const el = viewport.current;
    if (el === null) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  // Follow the newest row while pinned to the bottom.
  useLayoutEffect(() => {
    const el = viewport.current;
    if (el !== null && pinned.current) {
      el.scrollTop = el.scrollHeight;
      setScrollTop(el.scrollTop);
    }
  }, [rows.length, height]);

  const w = virtualWindow(scrollTop, height, ROW_HEIGHT, rows.length);
  const toggle = (g: KindGroup) =>
    setShown((prev) => {
      const next = new Set(prev);
      if (next.has(g)) next.delete(g);
      else next.add(g);
      return next;
    });

  return (
    <div className="timeline">
      {filterable && (
        <fieldset className="filters">
          <legend>Show</legend>
          {KIND_GROUPS.map((g) => (
            <label key={g} className="filter">
              <input type="checkbox" checked={shown.has(g)} onChange={() => toggle(g)} /> {GROUP_LABELS[g]}
            </label>
          ))}
        </fieldset>
      )}
      <p id={`${id}-count`} className="muted small">
        {rows.length.toLocaleString()} {rows.length === 1 ? 'event' : 'events'}
        {!pinned.current && rows.length > 0 ? ' — scrolled up; new events do not move the view' : ''}
      </p>
      <div
        ref={viewport}
        className="timeline-viewport"
        tabIndex={0}
        role="region"
        aria-label={label}
        aria-describedby={`${id}-count`}
        onScroll={(e) => {
          const el = e.currentTarget;
          pinned.current = isAtBottom(el.scrollTop, el.clientHeight, el.scrollHeight);
          setScrollTop(el.scrollTop);
        }}
      >
        <div style={{ height: w.totalHeight, position: 'relative' }}>
          <ol role="list" className="timeline-rows" style={{ transform: `translateY(${w.offsetTop}px)` }}>
            {rows.slice(w.start, w.end).map((r) => (
              <TimelineRow key={r.seq} record={r} showSession={showSession} />
            ))}
          </ol>
        </div>
      </div>
    </div>
  );
}

/** Records never change once written, so a row re-renders only when it scrolls into view. */
const TimelineRow = memo(function TimelineRow({ record, showSession }: { readonly record: AuditRecordView; readonly showSession: boolean }) {
  const group = kindGroup(record.kind);
  const s = summarize(record);
  const time = TIME_FORMAT.format(record.time);
  return (
    <li className={`timeline-row row-${record.outcome}`} style={{ height: ROW_HEIGHT }} data-testid="timeline-row">
      <time className="mono muted" dateTime={new Date(record.time).toISOString()}>
        {time}
      </time>
      <span className={`tag tag-${group}`}>{record.kind}</span>
      {showSession && <span className="mono muted">{record.sessionId ?? '—'}</span>}
      <span className="row-text">
        {s.type === 'egress' && (
          <>
            <span className="mono">{s.host ?? '?'}</span> <span className={s.decision === 'deny' ? 'text-deny' : 'text-allow'}>{s.decision ?? ''}</span>
            {s.rule !== null && <span className="muted"> rule: {s.rule}</span>}
          </>
        )}
        {s.type === 'dlp' && (s.detectors.length === 0 ? <span className="muted">no findings listed</span> : s.detectors.map((d) => `${d.detector} ×${d.count}`).join(', '))}
        {s.type === 'message' && s.text}
      </span>
    </li>
  );
});
