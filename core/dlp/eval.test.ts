import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createScanner } from './scanner.js';
import { buildEvalSet } from './synthetic.js';
import { evaluate, formatEvalReport } from './eval.js';
import { BUILTIN_DETECTOR_IDS } from './types.js';

// Quality gate on the labelled synthetic set (the targets: recall >= 0.97,
// precision >= 0.95 overall). Timings are the bench's business, not this test's.
void describe('DLP quality on the synthetic eval set', () => {
  const report = evaluate(createScanner({ corporateCidrs: ['10.0.0.0/8'] }), buildEvalSet(7, 40));

  void it('covers every built-in detector', () => {
    const seen = new Set(report.perDetector.map((d) => d.detector));
    for (const id of BUILTIN_DETECTOR_IDS) assert.ok(seen.has(id), `${id} missing from the eval set`);
  });

  void it('meets the overall recall and precision targets', () => {
    assert.ok(report.overall.recall >= 0.97, formatEvalReport(report));
    assert.ok(report.overall.precision >= 0.95, formatEvalReport(report));
    assert.equal(report.incomplete, 0);
  });

  void it('no single detector falls below 0.9 recall or precision', () => {
    for (const d of report.perDetector) {
      assert.ok(d.recall >= 0.9 && d.precision >= 0.9, `${d.detector}: recall ${d.recall}, precision ${d.precision}`);
    }
  });
});
