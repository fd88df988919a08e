/**
 * `npm run bench:launch`: how much Cordon adds to starting a sandbox.
 *
 * Median wall time of `cordon exec -- true` against bare `docker run --rm
 * --network none <same image> true`, measured in the same run, for the
 * standard (runc) and strict (gVisor) profiles; and `cordon --version`
 * start-up. Prints figures and ratios; asserts nothing (targets: Cordon ≤ 1.5×
 * bare docker run on runc; CLI start-up ≤ 150 ms).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Math.max(3, Number(process.env['BENCH_RUNS'] ?? 10));
// The command users run (bin/cordon: the npm bin on Linux and macOS), not `node bin/cordon.js`.
const BIN = fileURLToPath(new URL('../../bin/cordon', import.meta.url));
const IMAGE = 'cordon/agent:1';
const home = mkdtempSync(join(tmpdir(), 'cordon-bench-'));
const env = { ...process.env, CORDON_HOME: join(home, 'state'), HOME: home };

function time(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${String(r.status)}): ${r.stderr.toString().slice(0, 400)}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function measure(label: string, cmd: string, args: string[], runs: number): number {
  time(cmd, args); // warm-up: page cache, image layers
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(time(cmd, args));
  const m = median(xs);
  console.log(`  ${label.padEnd(44)} median ${m.toFixed(1).padStart(8)} ms   (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${runs})`);
  return m;
}

try {
  console.log(`bench:launch — ${RUNS} runs each, image ${IMAGE}`);
  // Node parses NODE_EXTRA_CA_CERTS while starting; bin/cordon sets it aside (see there).
  console.log(`NODE_EXTRA_CA_CERTS is ${process.env['NODE_EXTRA_CA_CERTS'] ? `set (${process.env['NODE_EXTRA_CA_CERTS']})` : 'not set'} in this environment`);
  const results: string[] = [];
  for (const [profile, runtime] of [
    ['standard', 'runc'],
    ['strict', 'runsc'],
  ] as const) {
    console.log(`profile ${profile} (${runtime}):`);
    const bare = measure(`docker run --rm --network none (${runtime})`, 'docker', ['run', '--rm', '--network', 'none', '--runtime', runtime, IMAGE, 'true'], RUNS);
    const cordon = measure(`cordon exec --profile ${profile} -- true`, BIN, ['exec', '--profile', profile, '--', 'true'], RUNS);
    const ratio = cordon / bare;
    results.push(`${profile}: cordon/docker = ${ratio.toFixed(2)}x${runtime === 'runc' ? ` (target <= 1.50x: ${ratio <= 1.5 ? 'met' : 'NOT met'})` : ''}`);
    console.log(`  ratio cordon / bare docker run: ${ratio.toFixed(2)}x`);
  }
  console.log('CLI start-up:');
  const node = measure('node -e 0 (baseline)', process.execPath, ['-e', '0'], RUNS * 2);
  const version = measure('cordon --version', BIN, ['--version'], RUNS * 2);
  results.push(`cordon --version: ${version.toFixed(1)} ms (target <= 150 ms: ${version <= 150 ? 'met' : 'NOT met'}; bare node start-up ${node.toFixed(1)} ms)`);
  console.log('summary:');
  for (const r of results) console.log(`  ${r}`);
} finally {
  rmSync(home, { recursive: true, force: true });
}
