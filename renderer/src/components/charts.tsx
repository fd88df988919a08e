/**
 * Two small SVG charts drawn by hand: allowed vs denied egress, and DLP
 * findings by category, per time bucket. Each has a text summary for screen
 * readers; colour is never the only carrier (legends name every series).
 */
import { useMemo } from 'react';
import type { AuditRecordView } from '../../../core/api/cordon-api.js';
import { chooseBucketMs, dlpBuckets, egressBuckets } from '../model/chart-buckets.js';

const W = 420;
const H = 140;
const PAD = { left: 34, right: 8, top: 8, bottom: 22 };
const BUCKETS = 30;
const CATEGORY_COLOURS = ['#7a3e9d', '#b35c00', '#0b6e6e', '#8a2d2d', '#3d5a99', '#5a6b2d'];

/**
 * RECORDS is the live log (mutated in place); the charts are recomputed only
 * when NOW ticks, so a burst of events does not redraw them every frame.
 */
export function ActivityCharts({ records, now }: { readonly records: readonly AuditRecordView[]; readonly now: number }) {
  const { bucketMs, egress, dlp } = useMemo(() => {
    const first = records[0]?.time ?? now;
    const bucketMs = chooseBucketMs(now - first);
    return { bucketMs, egress: egressBuckets(records, bucketMs, now, BUCKETS), dlp: dlpBuckets(records, bucketMs, now, BUCKETS) };
  }, [records, now]);
  const categories = [...new Set(dlp.flatMap((b) => [...b.byCategory.keys()]))].sort();
  const per = bucketMs === 10_000 ? '10 seconds' : 'minute';
  const totalAllowed = egress.reduce((n, b) => n + b.allowed, 0);
  const totalDenied = egress.reduce((n, b) => n + b.denied, 0);
  const dlpTotals = categories.map((c) => `${dlp.reduce((n, b) => n + (b.byCategory.get(c) ?? 0), 0)} ${c}`);

  const series = [
    { name: 'Allowed', colour: '#1f7a3f', values: egress.map((b) => b.allowed) },
    { name: 'Denied', colour: '#b3261e', values: egress.map((b) => b.denied) },
  ];
  const dlpSeries = categories.map((c, i) => ({ name: c, colour: CATEGORY_COLOURS[i % CATEGORY_COLOURS.length] ?? '#555', values: dlp.map((b) => b.byCategory.get(c) ?? 0) }));
  const span = `last ${BUCKETS} × ${per === 'minute' ? 'minute' : '10 s'}`;

  return (
    <div className="charts">
      <figure className="chart">
        <figcaption>Network requests per {per}</figcaption>
        <BarChart series={series} label={`Network requests, ${span}: ${totalAllowed} allowed, ${totalDenied} denied.`} />
      </figure>
      <figure className="chart">
        <figcaption>DLP findings per {per}</figcaption>
        {dlpSeries.length === 0 ? (
          <p className="muted small">No DLP findings in this period.</p>
        ) : (
          <BarChart series={dlpSeries} label={`DLP findings by category, ${span}: ${dlpTotals.join(', ')}.`} />
        )}
      </figure>
    </div>
  );
}

interface Series {
  readonly name: string;
  readonly colour: string;
  readonly values: readonly number[];
}

/** Stacked bars, one stack per bucket. */
function BarChart({ series, label }: { readonly series: readonly Series[]; readonly label: string }) {
  const n = series[0]?.values.length ?? 0;
  const totals = Array.from({ length: n }, (_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const bw = n > 0 ? plotW / n : plotW;
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  return (
    <>
      <svg viewBox={`0 0 ${W} ${H}`} className="chart-svg" role="img" aria-label={label}>
        <line x1={PAD.left} x2={W - PAD.right} y1={y(0)} y2={y(0)} className="axis" />
        <text x={PAD.left - 4} y={y(max) + 4} className="axis-label" textAnchor="end">
          {max}
        </text>
        <text x={PAD.left - 4} y={y(0)} className="axis-label" textAnchor="end">
          0
        </text>
        <text x={PAD.left} y={H - 6} className="axis-label">
          older
        </text>
        <text x={W - PAD.right} y={H - 6} className="axis-label" textAnchor="end">
          now
        </text>
        {Array.from({ length: n }, (_, i) => {
          let base = 0;
          return series.map((s) => {
            const v = s.values[i] ?? 0;
            if (v === 0) return null;
            const top = y(base + v);
            const h = y(base) - top;
            base += v;
            return <rect key={`${s.name}-${i}`} x={PAD.left + i * bw + 1} y={top} width={Math.max(1, bw - 2)} height={h} fill={s.colour} />;
          });
        })}
      </svg>
      <ul className="legend">
        {series.map((s) => (
          <li key={s.name}>
            <span className="swatch" style={{ background: s.colour }} aria-hidden="true" /> {s.name}
          </li>
        ))}
      </ul>
    </>
  );
}
