// Scoring a scanner against a labelled set: per-detector and overall recall
// and precision. A finding counts as a true positive when it has the label's
// detector and overlaps the labelled span; every other finding is a false
// positive (including findings on hard negatives).

import type { Scanner } from './scanner.js';
import type { LabelledSample } from './synthetic.js';

/** Counts for one detector. */
export interface DetectorScore {
  readonly detector: string;
  readonly truePositives: number;
  readonly falseNegatives: number;
  readonly falsePositives: number;
  readonly recall: number;
  readonly precision: number;
}

/** The whole evaluation. */
export interface EvalReport {
  readonly samples: number;
  readonly perDetector: readonly DetectorScore[];
  readonly overall: DetectorScore;
  /** Samples the scanner could not finish (budget); their labels count as misses. */
  readonly incomplete: number;
}

/** Scores `scanner` on `samples`. */
export function evaluate(scanner: Scanner, samples: readonly LabelledSample[]): EvalReport {
  const counts = new Map<string, { tp: number; fn: number; fp: number }>();
  const bump = (d: string): { tp: number; fn: number; fp: number } => {
    let c = counts.get(d);
    if (c === undefined) {
      c = { tp: 0, fn: 0, fp: 0 };
      counts.set(d, c);
    }
    return c;
  };
  let incomplete = 0;
  for (const s of samples) {
    const r = scanner.scan(s.text);
    const findings = r.findings;
    if (r.status !== 'complete') incomplete++;
    const used = new Set<number>();
    for (const l of s.labels) {
      const i = findings.findIndex((f, k) => !used.has(k) && f.detector === l.detector && f.start < l.end && l.start < f.end);
      if (i >= 0) {
        used.add(i);
        bump(l.detector).tp++;
      } else {
        bump(l.detector).fn++;
      }
    }
    findings.forEach((f, k) => {
      if (!used.has(k)) bump(f.detector).fp++;
    });
  }
  const score = (detector: string, c: { tp: number; fn: number; fp: number }): DetectorScore => ({
    detector,
    truePositives: c.tp,
    falseNegatives: c.fn,
    falsePositives: c.fp,
    recall: c.tp + c.fn === 0 ? 1 : c.tp / (c.tp + c.fn),
    precision: c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp),
  });
  const perDetector = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([d, c]) => score(d, c));
  const total = { tp: 0, fn: 0, fp: 0 };
  for (const c of counts.values()) {
    total.tp += c.tp;
    total.fn += c.fn;
    total.fp += c.fp;
  }
  return { samples: samples.length, perDetector, overall: score('overall', total), incomplete };
}

/** Renders a report as an aligned text table. */
export function formatEvalReport(r: EvalReport): string {
  const rows = [...r.perDetector, r.overall].map(
    (s) =>
      `${s.detector.padEnd(28)} recall ${s.recall.toFixed(3)}  precision ${s.precision.toFixed(3)}  (tp ${s.truePositives}, fn ${s.falseNegatives}, fp ${s.falsePositives})`,
  );
  return [`${r.samples} samples${r.incomplete > 0 ? `, ${r.incomplete} not fully scanned` : ''}`, ...rows].join('\n');
}
