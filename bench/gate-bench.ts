/**
 * `npm run bench:gate`: the gate's decision on 1 MB of text (issue 18:
 * "gate decision on 1 MB of text ≤ 20 ms median", printed, not asserted).
 *
 * Measured, in turns so both see the same load on a shared machine:
 * - baseline: the bare DLP scan of the text with the gate's scanner;
 * - gate: judgeText — scan, summarise findings, decide, apply (redact) —
 *   the path a paste or a clipboard transfer takes;
 * on clean text and on text with a finding every ~4 KB. Median of N runs
 * (--runs N, default 31) after 3 warm-up runs; --kb N changes the size.
 */
import { cleanCorpus, denseCorpus } from '../core/dlp/synthetic.js';
import { createGateScanner, judgeText } from '../core/gate/gate-text.js';
import { DEFAULT_POLICY } from '../core/policy/policy-schema.js';

function option(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

const RUNS = option('--runs', 31);
const CHARS = option('--kb', 1024) * 1024;
// The paste limit is 1 MiB by default; the bench judges a clipboard transfer of the full size.
const policy = { ...DEFAULT_POLICY, gates: { ...DEFAULT_POLICY.gates, clipboard: { ...DEFAULT_POLICY.gates.clipboard, maxBytes: 16 * 1024 * 1024 } } };
const scanner = createGateScanner(policy);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function bench(label: string, text: string): void {
  const scanMs: number[] = [];
  const gateMs: number[] = [];
  let decision = '';
  for (let i = 0; i < RUNS + 3; i++) {
    const t0 = performance.now();
    scanner.scan(text);
    const t1 = performance.now();
    const r = judgeText({ text, direction: 'toSandbox', channel: 'clipboard' }, policy, scanner);
    const t2 = performance.now();
    decision = `${r.decision.kind} (${r.decision.reason}, ${r.decision.findings.reduce((n, f) => n + f.count, 0)} findings)`;
    if (i < 3) continue;
    scanMs.push(t1 - t0);
    gateMs.push(t2 - t1);
  }
  const s = median(scanMs);
  const g = median(gateMs);
  console.log(`${label.padEnd(34)} scan ${s.toFixed(2).padStart(7)} ms   gate ${g.toFixed(2).padStart(7)} ms   gate/scan ${(g / s).toFixed(2)}   -> ${decision}`);
}

console.log(`gate decision on ${(CHARS / 1024).toFixed(0)} KiB of text, median of ${RUNS} runs (target: gate <= 20 ms)`);
bench('clean prose and code', cleanCorpus(CHARS));
bench('a finding every ~4 KB', denseCorpus(CHARS, 4096));
