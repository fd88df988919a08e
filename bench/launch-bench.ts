/**
 * `npm run bench:launch`: how much Cordon adds to starting a sandbox.
 *
 * Median wall time of `cordon exec -- true` against bare `docker run --rm
 * --network none <same image> true`, measured in the same run, for the
 * standard (runc) and strict (gVisor) profiles; the vm profile (a QEMU
 * microVM, issue 21: KVM where /dev/kvm is usable, else TCG) against a bare
 * boot of the same QEMU, kernel and modules that powers off at once; and
 * `cordon --version` start-up. Prints figures and ratios; asserts nothing
 * (targets: Cordon ≤ 1.5× bare docker run on runc; CLI start-up ≤ 150 ms).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { qemuArgs } from '../core/sandbox/microvm/qemu-args.js';
import { chooseAccelerator, findVmAssets, hostTscKhz } from '../core/sandbox/microvm/vm-assets.js';
import { rootImageDir } from '../core/sandbox/microvm/vm-rootfs.js';

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
  let runcCordon = 0;
  for (const [profile, runtime] of [
    ['standard', 'runc'],
    ['strict', 'runsc'],
  ] as const) {
    console.log(`profile ${profile} (${runtime}):`);
    const bare = measure(`docker run --rm --network none (${runtime})`, 'docker', ['run', '--rm', '--network', 'none', '--runtime', runtime, IMAGE, 'true'], RUNS);
    const cordon = measure(`cordon exec --profile ${profile} -- true`, BIN, ['exec', '--profile', profile, '--', 'true'], RUNS);
    if (runtime === 'runc') runcCordon = cordon;
    const ratio = cordon / bare;
    results.push(`${profile}: cordon/docker = ${ratio.toFixed(2)}x${runtime === 'runc' ? ` (target <= 1.50x: ${ratio <= 1.5 ? 'met' : 'NOT met'})` : ''}`);
    console.log(`  ratio cordon / bare docker run: ${ratio.toFixed(2)}x`);
  }
  const vm = benchVm();
  if (vm) results.push(`vm (${vm.accel}): cordon exec ${vm.cordon.toFixed(0)} ms, bare QEMU boot ${vm.bare.toFixed(0)} ms, cordon/bare boot = ${(vm.cordon / vm.bare).toFixed(2)}x, vm/runc = ${(vm.cordon / runcCordon).toFixed(1)}x`);
  else results.push('vm: not measured (QEMU, the guest kernel or virtiofsd is missing; scripts/setup.sh installs them)');
  console.log('CLI start-up:');
  const node = measure('node -e 0 (baseline)', process.execPath, ['-e', '0'], RUNS * 2);
  const version = measure('cordon --version', BIN, ['--version'], RUNS * 2);
  results.push(`cordon --version: ${version.toFixed(1)} ms (target <= 150 ms: ${version <= 150 ? 'met' : 'NOT met'}; bare node start-up ${node.toFixed(1)} ms)`);
  console.log('summary:');
  for (const r of results) console.log(`  ${r}`);
} finally {
  rmSync(home, { recursive: true, force: true });
}

/**
 * The vm profile against the floor of any microVM here: the same QEMU
 * machine, kernel and guest init booting with no session (init loads the
 * modules, finds no session and powers off). The first `cordon exec` (the
 * warm-up) builds the root image and initramfs into the cache.
 */
function benchVm(): { cordon: number; bare: number; accel: string } | null {
  const found = findVmAssets();
  if (!found.ok) return null;
  const accel = chooseAccelerator();
  const runs = Math.max(3, Math.round(RUNS / 3));
  console.log(`profile vm (microvm, ${accel === 'kvm' ? 'KVM' : 'TCG: software emulation, no usable /dev/kvm'}):`);
  const cordon = measure('cordon exec --profile vm -- true', BIN, ['exec', '--profile', 'vm', '--', 'true'], runs);
  const cache = join(home, 'state', 'cache', 'vm');
  const base = readdirSync(join(cache, 'initramfs')).find((n) => n.startsWith('base-'));
  const root = readdirSync(rootImageDir(join(home, 'state', 'cache'))).find((n) => n.endsWith('.ext4'));
  if (!base || !root) throw new Error('the vm warm-up left no initramfs or root image in the cache');
  const args = qemuArgs({
    accelerator: accel,
    memoryMiB: 1024,
    cpus: 2,
    kernel: found.assets.kernel,
    initrd: join(cache, 'initramfs', base),
    rootImage: join(rootImageDir(join(home, 'state', 'cache')), root),
    consoleLog: '/dev/null',
    channelSocket: '',
    shares: [],
    tscKhz: accel === 'tcg' ? hostTscKhz() : null,
  });
  // No channel: the bare boot has no session to carry.
  const bareArgs = args.filter((a, i) => !(a.startsWith('socket,id=channel') || a.startsWith('virtserialport') || (args[i + 1] ?? '').startsWith('socket,id=channel') || (args[i + 1] ?? '').startsWith('virtserialport')));
  const bare = measure('bare QEMU microvm boot (kernel, modules, off)', found.assets.qemu, bareArgs, runs);
  console.log(`  ratio cordon / bare boot: ${(cordon / bare).toFixed(2)}x`);
  return { cordon, bare, accel };
}
