/**
 * The session security suite's core under the vm profile (issue 21): real
 * `cordon exec --profile vm` sessions in real QEMU microVMs (TCG on a machine
 * without /dev/kvm), with the real egress proxy, keychain and Claude Code.
 * Each VM boot costs seconds under software emulation, so one session checks
 * many properties at once; each check prints a line the test asserts on.
 *
 * What the container suite checks that cannot apply here: Docker's seccomp
 * profile and AppArmor (the guest kernel is the boundary; QEMU runs under its
 * own seccomp sandbox, see qemu-args.test.ts), the connect shim and listener
 * hand-off (no shared host socket), live grants (not shared into a VM).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { verifyEvidenceBundle } from '../core/response/evidence-bundle.js';
import { vmRunRoot } from '../core/sandbox/microvm/microvm-engine.js';
import { startFakeVendor, type FakeVendor } from './fake-vendor.js';
import { chownTree, collect, CORDON_BIN, eventually, REPO_ROOT, TestEnv } from './test-harness.js';

const t = new TestEnv('vmsec');
const HOST_SECRET = `host-secret-vm-${randomBytes(6).toString('hex')}`;
const REAL_KEY = `sk-ant-api03-REAL-${randomBytes(24).toString('hex')}`;
const REPLY = `vm-fake-reply-${randomBytes(4).toString('hex')}`;
const ALLOWED_BODY = `allowed-${randomBytes(4).toString('hex')}`;
let server: Server;
let port = 0;
let certs: TestCerts;
let vendor: FakeVendor;

/** This environment's VM folders (as root: under /run/cordon-vm, where the unprivileged QEMU can reach them). */
const RUN_ROOT = vmRunRoot(join(t.cordonHome, 'cache'), process.geteuid?.() ?? 0);

/** QEMU and virtiofsd processes started for this test environment (their arguments name its VM folders). */
function vmProcesses(): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (/qemu-system|virtiofsd/.test(cmdline) && cmdline.includes(RUN_ROOT)) out.push({ pid: Number(name), cmdline });
  }
  return out;
}

/** Starts `cordon ARGS` (whose command prints "started" first) and waits until the command runs in its VM. */
async function startInVm(args: string[]): Promise<{ child: ReturnType<typeof t.spawn>; done: ReturnType<typeof collect> }> {
  const child = t.spawn(args);
  const done = collect(child, undefined, 180_000);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  assert.ok(await eventually(() => out.includes('started'), 150_000, 200), 'the VM never ran the command');
  return { child, done };
}

const qemuRunning = (): boolean => vmProcesses().some((p) => p.cmdline.includes('qemu-system'));

before(async () => {
  mkdirSync(join(t.home, '.ssh'), { recursive: true });
  writeFileSync(join(t.home, '.ssh', 'id_ed25519'), HOST_SECRET);
  mkdirSync(join(t.home, '.aws'), { recursive: true });
  writeFileSync(join(t.home, '.aws', 'credentials'), HOST_SECRET);
  server = createServer((_q, s) => s.end(ALLOWED_BODY));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  certs = makeTestCerts(['api.anthropic.test']);
  vendor = await startFakeVendor({ key: certs.keyPem, cert: certs.certPem, replyText: REPLY });
  writeFileSync(
    join(t.cordonHome, 'policy.json'),
    JSON.stringify({
      providers: { anthropic: { baseUrl: `https://api.anthropic.test:${vendor.port}`, caFile: certs.caFile } },
      egress: { allow: [`allowed.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'allowed.test': '127.0.0.1', 'api.anthropic.test': '127.0.0.1' } },
    }),
  );
});
after(async () => {
  server.close();
  await vendor.close();
  certs.cleanup();
  t.cleanup();
});

describe('a session under the vm profile', () => {
  test('runs on its own kernel with only lo, no DNS, the proxy as the only way out, its workspace writable, protected and credential paths out of reach, and its exit code', async () => {
    const ws = t.workspace('ws');
    mkdirSync(join(ws, '.git', 'hooks'), { recursive: true });
    writeFileSync(join(ws, '.git', 'config'), '[core]\n\tbare = false\n');
    writeFileSync(join(ws, '.bashrc'), 'original\n');
    writeFileSync(join(ws, 'readme.txt'), 'from-the-host\n');
    writeFileSync(join(ws, 'evil'), '#!/bin/sh\n');
    for (const p of ['.git', '.git/hooks', '.git/config', '.bashrc', 'readme.txt', 'evil']) chownTree(join(ws, p));
    // Symlinks planted on the host toward host secrets resolve inside the guest, where they lead nowhere (threat V4).
    symlinkSync(join(t.home, '.ssh'), join(ws, 'to-ssh'));
    symlinkSync('/', join(ws, 'to-root'));
    const ro = t.workspace('ws-ro');
    writeFileSync(join(ro, 'ref.txt'), 'reference\n');
    const attacks: Array<[string, string]> = [
      ['write', 'echo pwned > .bashrc'],
      ['delete', 'rm -f .bashrc'],
      ['rename it', 'mv .bashrc moved'],
      ['move a file over it', 'mv evil .bashrc'],
      ['write git config', 'echo "[core] fsmonitor = evil" >> .git/config'],
      ['plant a hook', 'cp evil .git/hooks/pre-commit'],
      ['rename the hooks folder', 'mv .git/hooks hooks-away'],
      ['rename the folder above it', 'mv .git git-away'],
      ['create a missing protected file', 'echo "{}" > .mcp.json'],
      ['create inside a missing protected folder', 'mkdir -p .claude && echo "{}" > .claude/settings.json'],
      ['remount it writable', 'mount -o remount,rw .bashrc'],
    ];
    const script = [
      'echo "kernel=$(uname -r)"',
      'echo "ifaces=$(ls /sys/class/net | tr "\\n" " ")"',
      'getent hosts example.com; echo "getent=$?"',
      `curl -s -m 20 -o /dev/null -D - http://denied.test:${port}/ | tr -d '\\r' | grep -E '^HTTP|^X-Cordon-Deny' | sed 's/^/denied /'`,
      `echo "allowed-body=$(curl -s -m 20 http://allowed.test:${port}/)"`,
      'echo "read=$(cat readme.txt)"',
      'echo from-the-guest > made-in-vm.txt && echo "write=ok"',
      `cat ${t.home}/.ssh/id_ed25519 ${t.home}/.aws/credentials 2>/dev/null; grep -rl ${HOST_SECRET} /home /tmp /root /etc /opt /srv /mnt 2>/dev/null; echo "cred-search-done"`,
      'touch /usr/bin/evil 2>/dev/null || echo "rootfs=ro"',
      `cat to-ssh/id_ed25519 to-root${t.home}/.aws/credentials 2>/dev/null; echo "links-done"`,
      `echo "ro-read=$(cat ${ro}/ref.txt)"; echo x > ${ro}/new.txt 2>/dev/null || echo "ro-write=refused"`,
      'grep -E "^Cap(Eff|Prm|Bnd):" /proc/self/status',
      'echo "uid=$(id -u)"',
      ...attacks.map(([name, cmd]) => `if ( ${cmd} ) 2>/dev/null; then echo "ATTACK-SUCCEEDED ${name}"; else echo "attack-failed ${name}"; fi`),
      'exit 7',
    ].join('\n');
    const hostKernel = spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim();
    const r = await t.run(['exec', '--profile', 'vm', '--workspace', ws, '--workspace', `${ro}:ro`, '--', 'sh', '-c', script], { timeoutMs: 240_000 });
    assert.equal(r.code, 7, `exit code not propagated: ${r.stderr}\n${r.stdout}`);
    const kernel = /^kernel=(.+)$/m.exec(r.stdout)?.[1];
    assert.ok(kernel, r.stdout);
    assert.notEqual(kernel, hostKernel, 'the guest runs the host kernel');
    assert.match(kernel, /cloud-amd64$/);
    assert.match(r.stdout, /^ifaces=lo $/m);
    assert.match(r.stdout, /^getent=2$/m);
    assert.match(r.stdout, /^denied HTTP\/1\.1 403/m);
    assert.match(r.stdout, /^denied X-Cordon-Deny: host_not_allowed$/m);
    assert.match(r.stdout, new RegExp(`^allowed-body=${ALLOWED_BODY}$`, 'm'));
    assert.match(r.stdout, /^read=from-the-host$/m);
    assert.match(r.stdout, /^write=ok$/m);
    assert.equal(readFileSync(join(ws, 'made-in-vm.txt'), 'utf8'), 'from-the-guest\n');
    assert.match(r.stdout, /^cred-search-done$/m);
    assert.ok(!r.stdout.includes(HOST_SECRET), 'a host secret is visible inside the VM');
    assert.match(r.stdout, /^rootfs=ro$/m);
    assert.match(r.stdout, /^links-done$/m);
    assert.match(r.stdout, /^ro-read=reference$/m);
    assert.match(r.stdout, /^ro-write=refused$/m);
    assert.ok(!existsSync(join(ro, 'new.txt')));
    for (const k of ['CapEff', 'CapPrm', 'CapBnd']) assert.match(r.stdout, new RegExp(`^${k}:\\s+0{16}$`, 'm'));
    assert.match(r.stdout, /^uid=1000$/m);
    for (const [name] of attacks) assert.match(r.stdout, new RegExp(`^attack-failed ${name}$`, 'm'), `attack "${name}" was not stopped:\n${r.stdout}`);
    assert.equal(readFileSync(join(ws, '.bashrc'), 'utf8'), 'original\n');
    assert.equal(readFileSync(join(ws, '.git', 'config'), 'utf8'), '[core]\n\tbare = false\n');
    assert.deepEqual(readdirSync(join(ws, '.git', 'hooks')), []);
    // The audit record says how the VM ran (KVM or software emulation).
    const start = t.auditRecords().find((e) => e.cordon['kind'] === 'session.start' && e.cordon['profile'] === 'vm');
    const accel = start?.cordon['accelerator'];
    assert.ok(accel === 'tcg' || accel === 'kvm', JSON.stringify(start?.cordon));
    let kvmUsable = false;
    try {
      readFileSync('/dev/kvm');
    } catch (err) {
      kvmUsable = (err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'EACCES';
    }
    if (!kvmUsable) assert.equal(accel, 'tcg');
    assert.equal(start?.cordon['runtime'], 'microvm');
    assert.ok(!qemuRunning(), 'QEMU outlived the session');
  });

  test('stdin reaches the command, and its output comes back whole', async () => {
    const input = Array.from({ length: 2000 }, (_, i) => `line-${i}`).join('\n') + '\n';
    const r = await t.run(['exec', '--profile', 'vm', '--', 'sh', '-c', 'wc -l; echo done >&2'], { input, timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '2000');
    assert.match(r.stderr, /^done$/m);
  });

  test('cordon launch: the command runs on a terminal of the launcher\'s size, reads what is typed, and its exit code comes back', async () => {
    // A profile like vm whose agent is a small script (no key needed).
    const vm = JSON.parse(readFileSync(join(REPO_ROOT, 'sandbox-profiles', 'vm.json'), 'utf8')) as Record<string, unknown>;
    delete vm['$schema'];
    delete vm['provider'];
    mkdirSync(join(t.cordonHome, 'profiles'), { recursive: true });
    writeFileSync(
      join(t.cordonHome, 'profiles', 'vmtty.json'),
      JSON.stringify({ ...vm, name: 'vmtty', agent: 'generic', seccomp: join(REPO_ROOT, 'sandbox-profiles', 'seccomp', 'cordon-default.json'), command: ['sh', '-c', 'echo "tty=$(tty)"; echo "size=$(stty size)"; echo ready; read x; echo "got=$x"; exit 4'] }),
    );
    const child = spawn('script', ['-qec', `stty rows 33 cols 101; ${JSON.stringify(CORDON_BIN)} launch --profile vmtty; echo "rc=$?"`, '/dev/null'], { env: t.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    try {
      assert.ok(await eventually(() => out.includes('ready'), 150_000, 200), `no prompt: ${out}`);
      child.stdin.write('typed-in-vm\r');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
    } finally {
      child.kill('SIGKILL');
    }
    const text = out.replace(/\r/g, '');
    assert.match(text, /^tty=\/dev\/pts\/\d+$/m);
    assert.match(text, /^size=33 101$/m);
    assert.match(text, /^got=typed-in-vm$/m);
    assert.match(text, /^rc=4$/m);
  });

  test('Ctrl-C ends the VM (exit 130), and the phantom key is in no host process argument', async () => {
    const { child, done } = await startInVm(['exec', '--profile', 'vm', '--', 'sh', '-c', 'echo started; sleep 300']);
    const procs = vmProcesses();
    assert.ok(procs.some((p) => p.cmdline.includes('qemu-system')), 'no QEMU process found');
    if (process.geteuid?.() === 0) {
      // Cordon runs as root here: QEMU must not (threat V2).
      const qemu = procs.find((p) => p.cmdline.includes('qemu-system'));
      const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(readFileSync(`/proc/${qemu?.pid ?? 0}/status`, 'utf8'));
      assert.ok(uids && uids.slice(1).every((u) => u !== '0'), `QEMU runs as root: ${uids?.[0] ?? 'no status'}`);
      assert.match(readFileSync(`/proc/${qemu?.pid ?? 0}/status`, 'utf8'), /^CapEff:\s+0{16}$/m);
    }
    for (const p of procs) {
      assert.ok(!p.cmdline.includes('cdn_ph_'), `a phantom is in the arguments of ${p.pid}`);
      assert.ok(!/(^|\0)-(net|netdev|nic)\0(?!none)/.test(p.cmdline), `a network device in ${p.cmdline}`);
    }
    // `cordon ps` lists the VM session like a container one.
    const ps = await t.run(['ps', '--json']);
    const listed = (JSON.parse(ps.stdout) as Array<{ runtime: string; containerId: string; state: string }>).find((x) => x.runtime === 'microvm');
    assert.ok(listed && listed.containerId.startsWith('vm-') && listed.state === 'running', ps.stdout);
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.ok(await eventually(() => vmProcesses().length === 0, 10_000), `left behind: ${JSON.stringify(vmProcesses())}`);
    assert.deepEqual(readdirSync(RUN_ROOT), []);
  });

  test('cordon stop from another process ends the VM session (137, like a killed container)', async () => {
    const { done } = await startInVm(['exec', '--profile', 'vm', '--', 'sh', '-c', 'echo started; sleep 300']);
    const ps = JSON.parse((await t.run(['ps', '--json'])).stdout) as Array<{ session: string; runtime: string }>;
    const session = ps.find((x) => x.runtime === 'microvm')?.session ?? '';
    const stop = await t.run(['stop', session]);
    assert.equal(stop.code, 0, stop.stderr);
    const r = await done;
    assert.equal(r.code, 137, r.stderr);
    assert.ok(await eventually(() => vmProcesses().length === 0, 5_000), `left behind: ${JSON.stringify(vmProcesses())}`);
  });

  test('cordon quarantine freezes the VM, bundles what the host can see (saying what it cannot), then stops it', async () => {
    const ws = t.workspace('ws-quarantine');
    const { done } = await startInVm(['exec', '--profile', 'vm', '--workspace', ws, '--', 'sh', '-c', 'echo started; while true; do date +%s%N >> beat.txt; sleep 0.1; done']);
    const ps = JSON.parse((await t.run(['ps', '--json'])).stdout) as Array<{ session: string; runtime: string }>;
    const session = ps.find((x) => x.runtime === 'microvm')?.session ?? '';
    const q = await t.run(['quarantine', session, '--reason', 'test: vm quarantine']);
    // Contained, paused and bundled; a VM's writable layer is guest memory, so nothing is kept: exit 1, saying so.
    assert.match(q.stderr, /phantom revoked and egress closed/);
    assert.match(q.stderr, /sandbox paused/);
    assert.match(q.stderr, /evidence bundle complete .*\(signed\)/);
    assert.match(q.stderr, /file system could not be kept/);
    assert.equal(q.code, 1, q.stderr);
    const h = await done;
    assert.equal(h.code, 125, h.stderr);
    assert.match(h.stderr, /quarantined by cordon quarantine/);
    assert.ok(await eventually(() => vmProcesses().length === 0, 5_000), `left behind: ${JSON.stringify(vmProcesses())}`);
    const beats = readFileSync(join(ws, 'beat.txt'), 'utf8').trim().split('\n').length;
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(readFileSync(join(ws, 'beat.txt'), 'utf8').trim().split('\n').length, beats, 'the agent wrote on after the quarantine');
    const evidence = t.auditRecords().find((r) => r.cordon['kind'] === 'quarantine.evidence');
    assert.ok(evidence, 'quarantine.evidence audited');
    const bundle = q.stdout.trim();
    const check = verifyEvidenceBundle(bundle, [String(evidence.cordon['key_fingerprint'])]);
    assert.ok(check.ok, check.ok ? '' : check.reason);
    const names = check.manifest.files.map((f) => f.name);
    for (const n of ['container-inspect.json', 'recent-output.txt', 'proxy-connections.json', 'workspace-changes.json']) assert.ok(names.includes(n), `${n} in the bundle (has: ${names.join(', ')})`);
    const tar = gunzipSync(readFileSync(bundle)).toString('latin1');
    assert.match(tar, /guest memory/, 'the bundle says why the file system changes are missing');
    assert.ok(!tar.includes('cdn_ph_'), 'a phantom is in the bundle');
  });

  test('a killed launcher ends the VM: no QEMU or virtiofsd is left', async () => {
    const ws = t.workspace('ws-kill');
    const { child, done } = await startInVm(['exec', '--profile', 'vm', '--workspace', ws, '--', 'sh', '-c', 'echo started; while true; do date +%s%N >> beat.txt; sleep 0.2; done']);
    child.kill('SIGKILL');
    await done;
    const killedAt = Date.now();
    assert.ok(await eventually(() => vmProcesses().length === 0, 5_000, 20), `left behind: ${JSON.stringify(vmProcesses())}`);
    console.log(`# VM processes gone ${Date.now() - killedAt} ms after the launcher's SIGKILL`);
    const lines = readFileSync(join(ws, 'beat.txt'), 'utf8').trim().split('\n').length;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(readFileSync(join(ws, 'beat.txt'), 'utf8').trim().split('\n').length, lines, 'the agent kept writing after its VM should have ended');
    // The next command sweeps the dead session's VM folder.
    const ps = await t.run(['ps']);
    assert.equal(ps.code, 0, ps.stderr);
    assert.ok(await eventually(() => readdirSync(RUN_ROOT).length === 0, 5_000), 'the dead VM folder was not swept');
  });

  test('claude -p in the VM answers through the model route with the phantom; the vendor gets the real key', async () => {
    assert.ok(process.env['DBUS_SESSION_BUS_ADDRESS'], 'run through scripts/run-tests.mjs (it starts a throwaway Secret Service)');
    const set = await t.run(['keys', 'set', 'anthropic'], { input: `${REAL_KEY}\n` });
    assert.equal(set.code, 0, set.stderr);
    const ws = t.workspace('ws-claude');
    vendor.requests.length = 0;
    const r = await t.run(['exec', '--profile', 'vm', '--workspace', ws, '--', 'sh', '-c', `echo "PHANTOM=$ANTHROPIC_API_KEY"; env > ${ws}/env.txt; claude -p hi`], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, `claude failed: ${r.stdout.slice(-800)} ${r.stderr.slice(-800)}`);
    assert.ok(r.stdout.includes(REPLY), r.stdout);
    const phantom = /^PHANTOM=(cdn_ph_[A-Za-z0-9_-]{43})$/m.exec(r.stdout)?.[1];
    assert.ok(phantom, 'the key variable holds a phantom');
    const messages = vendor.requests.filter((q) => q.method === 'POST' && q.path.startsWith('/v1/messages'));
    assert.ok(messages.length >= 1, `vendor saw: ${vendor.requests.map((q) => `${q.method} ${q.path}`).join(', ')}`);
    for (const q of messages) {
      assert.equal(q.headers['x-api-key'], REAL_KEY);
      assert.ok(!JSON.stringify(q).includes('cdn_ph_'), 'a phantom reached the vendor');
    }
    assert.ok(!readFileSync(join(ws, 'env.txt'), 'utf8').includes(REAL_KEY), 'the real key is inside the VM');
    assert.ok(!JSON.stringify(t.auditRecords()).includes(REAL_KEY), 'the real key reached the audit log');
  });
});
