// Tests the in-sandbox relay (sandbox-profiles/relay/cordon-relay.c) on the
// host: it is compiled here with build.sh (a missing gcc fails the test, it is
// never skipped), then run against a Unix-socket echo server on loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';
import { waitUntil } from '../testing/wait-until.js';
import { LIFELINE_HELD, RELAY_EXIT_LIFELINE_LOST } from '../session/session-lifeline.js';

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cordon-relay-'));
const relayBin = join(dir, 'cordon-relay');
const echoPath = join(dir, 'echo.sock');
let echo: net.Server;

before(async () => {
  const build = spawnSync('sh', [join(repoRoot, 'sandbox-profiles/relay/build.sh'), relayBin], { encoding: 'utf8' });
  assert.equal(build.status, 0, `building cordon-relay failed (is gcc with static libc installed?):\n${build.stderr}`);
  echo = net.createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(echoPath, r));
});

after(() => {
  echo.close();
  rmSync(dir, { recursive: true, force: true });
});


/** The relay's data paths: splice up only (the default, safe under gVisor),
 * splice both ways (what runc sessions ask for), and read/send, which gVisor
 * falls back to. All are tested here, on the host, so the fallback is not only
 * exercised under runsc. */
const DATA_PATHS = [
  { name: 'splice', env: {}, args: [] },
  { name: 'splice both ways', env: {}, args: ['--splice', 'both'] },
  { name: 'read/send', env: { CORDON_RELAY_SPLICE: 'off' }, args: [] },
] as const;

function runRelay(
  port: number,
  to: string,
  cmd: string[],
  env: Record<string, string> = {},
  args: readonly string[] = [],
): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; stderr: () => string } {
  const child = spawn(relayBin, ['--listen', `127.0.0.1:${port}`, '--to', to, ...args, '--', ...cmd], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, exited, stderr: () => err };
}

/** Connects to the relay, retrying while it starts up. */
async function connect(port: number): Promise<net.Socket> {
  for (let i = 0; i < 100; i++) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error('relay never listened');
}

/** Sends `payload`, half-closes, and collects everything until the relay closes. */
function roundTrip(s: net.Socket, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', () => undefined);
    s.end(payload);
  });
}

for (const path of DATA_PATHS) {
  void test(`relays many concurrent connections to the Unix socket, byte for byte (${path.name})`, async () => {
    const port = await freePort();
    const r = runRelay(port, echoPath, ['sleep', '30'], path.env, path.args);
    try {
      await connect(port).then((s) => s.destroy());
      const payloads = Array.from({ length: 40 }, (_, i) => Buffer.alloc(200_000 + i * 997, i + 1));
      const results = await Promise.all(payloads.map(async (p) => roundTrip(await connect(port), p)));
      for (const [i, got] of results.entries()) assert.ok(got.equals(payloads[i]!), `connection ${i} echoed ${got.length} of ${payloads[i]!.length} bytes`);
    } finally {
      r.child.kill('SIGTERM');
      const e = await r.exited;
      // SIGTERM was forwarded to `sleep`, which died of it: 128 + 15.
      assert.equal(e.code, 143);
    }
  });

  void test(`moves large random streams both ways at once without losing, repeating or reordering a byte (${path.name})`, async () => {
    const port = await freePort();
    const r = runRelay(port, echoPath, ['sleep', '30'], path.env, path.args);
    try {
      // Random data of uneven sizes: a chunk dropped, doubled or swapped between
      // pipe, buffer and socket changes the digest. The echo makes every
      // connection carry the stream up and back down concurrently.
      const sizes = [24 * 1024 * 1024 + 13, 8 * 1024 * 1024 + 4099, 1, 65_537];
      const results = await Promise.all(
        sizes.map(async (n) => {
          const data = randomBytes(n);
          const got = await roundTrip(await connect(port), data);
          return { sent: n, got: got.length, same: createHash('sha256').update(got).digest('hex') === createHash('sha256').update(data).digest('hex') };
        }),
      );
      for (const x of results) assert.ok(x.same && x.got === x.sent, `sent ${x.sent} bytes, got back ${x.got}${x.same ? '' : ' (different bytes)'}`);
    } finally {
      r.child.kill('SIGTERM');
      await r.exited;
    }
  });
}

void test('a half-close from the proxy side reaches the client, which can still send', async () => {
  // The proxy stand-in answers, then ends its side while still reading: the
  // client must see EOF, and bytes it sends afterwards must still arrive.
  const halfPath = join(dir, 'half.sock');
  let serverGot: Promise<string> = Promise.resolve('');
  const half = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    serverGot = new Promise((resolve) => {
      let got = '';
      s.on('data', (c: Buffer) => {
        got += c.toString();
        if (got === 'hello') s.end('bye');
      });
      s.on('end', () => {
        resolve(got);
        s.destroy();
      });
    });
  });
  await new Promise<void>((res) => half.listen(halfPath, res));
  const port = await freePort();
  const r = runRelay(port, halfPath, ['sleep', '30']);
  try {
    (await connect(port)).destroy(); // listening now
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.on('error', () => undefined);
    s.setEncoding('utf8');
    let got = '';
    s.on('data', (c: string) => (got += c));
    s.write('hello');
    await new Promise<void>((res) => s.once('end', () => res()));
    assert.equal(got, 'bye');
    s.end(' and more after your EOF');
    assert.equal(await serverGot, 'hello and more after your EOF');
  } finally {
    r.child.kill('SIGTERM');
    await r.exited;
    half.close();
  }
});

void test('idle tunnels hold two descriptors each and little memory (pipes are pooled, not kept)', async () => {
  const port = await freePort();
  const r = runRelay(port, echoPath, ['sleep', '60']);
  const held: net.Socket[] = [];
  try {
    const pid = r.child.pid ?? 0;
    (await connect(port)).destroy();
    await new Promise((res) => setTimeout(res, 200)); // the relay has closed the probe's two sockets
    const fdsBefore = readdirSync(`/proc/${pid}/fd`).length;
    // Each tunnel moves data once (so it used a pipe if splice works), then idles.
    for (let i = 0; i < 600; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const s = await connect(port);
          s.on('error', () => undefined);
          await new Promise<void>((res) => {
            s.once('data', () => res());
            s.write(Buffer.alloc(100_000, 7));
          });
          return s;
        }),
      );
      held.push(...batch);
    }
    await new Promise((res) => setTimeout(res, 200));
    const fds = readdirSync(`/proc/${pid}/fd`).length - fdsBefore;
    // Two sockets per tunnel, plus at most the pool of idle pipes (32, two ends each).
    assert.ok(fds <= 2 * held.length + 64, `${fds} descriptors for ${held.length} idle tunnels`);
    assert.ok(fds >= 2 * held.length, `only ${fds} descriptors for ${held.length} tunnels: are they relayed?`);
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    assert.ok(rssKb < 4096, `relay RSS ${rssKb} kB with ${held.length} idle tunnels`);
  } finally {
    for (const s of held) s.destroy();
    r.child.kill('SIGTERM');
    await r.exited;
  }
});

/** CPU time (user+system, ms) the process has used, from /proc. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

void test('a paused reader costs the relay no CPU, and every byte still arrives', async () => {
  const bulkPath = join(dir, 'bulk.sock');
  const bulk = net.createServer((s) => {
    s.on('error', () => undefined);
    s.end(Buffer.alloc(4 * 1024 * 1024, 1));
  });
  await new Promise<void>((r) => bulk.listen(bulkPath, r));
  const port = await freePort();
  const r = runRelay(port, bulkPath, ['sleep', '30']);
  try {
    const s = await connect(port);
    s.pause(); // the relay and the kernel now hold data for us; the relay must sleep, not poll in a loop
    await new Promise((res) => setTimeout(res, 300));
    const pid = r.child.pid ?? 0;
    const before = cpuMs(pid);
    await new Promise((res) => setTimeout(res, 1000));
    const spent = cpuMs(pid) - before;
    assert.ok(spent < 200, `relay used ${spent} ms of CPU in 1 s while waiting`);
    let got = 0;
    await new Promise<void>((resolve) => {
      s.on('data', (c: Buffer) => (got += c.length));
      s.on('close', () => resolve());
      s.resume();
    });
    assert.equal(got, 4 * 1024 * 1024);
  } finally {
    r.child.kill('SIGTERM');
    await r.exited;
    bulk.close();
  }
});

void test("exits with the command's status", async () => {
  const r = runRelay(await freePort(), echoPath, ['sh', '-c', 'exit 7']);
  assert.equal((await r.exited).code, 7);
  const missing = runRelay(await freePort(), echoPath, ['/nonexistent/cmd']);
  assert.equal((await missing.exited).code, 127);
  assert.match(missing.stderr(), /cannot run \/nonexistent\/cmd/);
});

void test('forwards SIGTERM, SIGINT and SIGHUP to the command', async () => {
  for (const [sig, code] of [['SIGTERM', 42], ['SIGINT', 43], ['SIGHUP', 44]] as const) {
    const port = await freePort();
    const name = sig.slice(3);
    // The command traps the signal and exits with a code only it knows; the relay
    // listening proves the trap is installed before we signal (sh sets traps first).
    const r = runRelay(port, echoPath, ['sh', '-c', `trap 'exit ${code}' ${name}; while :; do sleep 0.05; done`]);
    (await connect(port)).destroy();
    await new Promise((res) => setTimeout(res, 100));
    r.child.kill(sig);
    assert.equal((await r.exited).code, code, sig);
  }
});

void test('reaps orphaned grandchildren (no zombies)', async () => {
  // The command orphans a `sleep`, checks the relay adopted it, waits for it to
  // exit, then fails with 3 if any zombie child of the relay is left.
  const script = [
    '(sleep 1.5 &)',
    'orphan=""',
    'for try in 1 2 3 4 5 6 7 8 9 10; do',
    '  for f in /proc/[0-9]*/status; do',
    '    grep -q "^Name:[[:space:]]*sleep$" $f 2>/dev/null && grep -q "^PPid:[[:space:]]*$PPID$" $f 2>/dev/null && orphan=${f%/status}',
    '  done',
    '  [ -n "$orphan" ] && break',
    '  sleep 0.05',
    'done',
    '[ -n "$orphan" ] || exit 4',
    // Once the orphan has exited, the relay must reap it: its /proc entry disappears.
    'for try in $(seq 1 100); do [ -e $orphan ] || exit 0; sleep 0.05; done',
    'grep -q "^State:[[:space:]]*Z" $orphan/status && exit 3',
    'exit 5',
  ].join('\n');
  const r = runRelay(await freePort(), echoPath, ['sh', '-c', script]);
  assert.equal((await r.exited).code, 0);
});

void test('fails closed: with the proxy socket gone, connections are closed without data', async () => {
  const port = await freePort();
  const r = runRelay(port, join(dir, 'missing.sock'), ['sleep', '30']);
  try {
    const s = await connect(port);
    const got = await roundTrip(s, Buffer.from('GET http://example.test/ HTTP/1.1\r\n\r\n'));
    assert.equal(got.length, 0);
  } finally {
    r.child.kill('SIGTERM');
    await r.exited;
  }
});

/**
 * A stand-in for the launcher's lifeline socket: resolves with the relay's
 * connection, confirmed with the launcher's byte unless CONFIRM is false.
 */
async function lifelineServer(path: string, confirm = true): Promise<{ server: net.Server; held: Promise<net.Socket> }> {
  const server = net.createServer({ pauseOnConnect: true });
  const held = new Promise<net.Socket>((resolve) =>
    server.once('connection', (s) => {
      if (confirm) s.write(LIFELINE_HELD);
      resolve(s);
    }),
  );
  await new Promise<void>((r) => server.listen(path, r));
  return { server, held };
}

void test('when the lifeline closes, the relay kills a command that ignores signals and exits at once with its own status', async () => {
  const path = join(dir, 'lifeline-close.sock');
  const { server, held } = await lifelineServer(path);
  const marker = join(dir, 'lifeline-started');
  // The command ignores every signal it can and announces itself once running.
  const r = runRelay(await freePort(), echoPath, ['sh', '-c', `trap '' TERM INT HUP QUIT USR1 USR2; echo $$ > ${marker}; while :; do sleep 0.05; done`], {}, ['--lifeline', path]);
  try {
    const conn = await held;
    await waitUntil('the command to start', () => existsSync(marker) && readFileSync(marker, 'utf8').endsWith('\n'));
    const cmdPid = Number(readFileSync(marker, 'utf8'));
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(r.child.exitCode, null, 'the relay ended while its lifeline was held');
    const closedAt = Date.now();
    conn.destroy();
    const exit = await r.exited;
    const tookMs = Date.now() - closedAt;
    assert.equal(exit.code, RELAY_EXIT_LIFELINE_LOST, r.stderr());
    assert.ok(tookMs < 500, `the relay took ${tookMs} ms to notice`);
    assert.match(r.stderr(), /lifeline closed/);
    await waitUntil('the command to die with the relay', () => !alive(cmdPid), 3000);
  } finally {
    r.child.kill('SIGKILL');
    server.close();
  }
});

void test('without its lifeline the relay never runs the command (fail closed)', async () => {
  const marker = join(dir, 'no-lifeline-ran');
  const r = runRelay(await freePort(), echoPath, ['sh', '-c', `touch ${marker}`], {}, ['--lifeline', join(dir, 'no-such-lifeline.sock')]);
  const exit = await r.exited;
  assert.equal(exit.code, 111);
  assert.match(r.stderr(), /cannot reach the launcher's lifeline .*not starting the command/);
  assert.ok(!existsSync(marker), 'the command ran without a lifeline');
});

void test('the relay starts the command only after the launcher confirms the lifeline, and never if it closes unconfirmed', async () => {
  const path = join(dir, 'lifeline-unconfirmed.sock');
  const { server, held } = await lifelineServer(path, false);
  const marker = join(dir, 'unconfirmed-ran');
  const r = runRelay(await freePort(), echoPath, ['sh', '-c', `touch ${marker}`], {}, ['--lifeline', path]);
  try {
    const conn = await held;
    // Connected but not confirmed: the command must not exist yet.
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(r.child.exitCode, null, r.stderr());
    assert.ok(!existsSync(marker), 'the command ran before the launcher confirmed its lifeline');
    conn.destroy();
    const exit = await r.exited;
    assert.equal(exit.code, 111, r.stderr());
    assert.match(r.stderr(), /closed before the launcher confirmed it; not starting the command/);
    assert.ok(!existsSync(marker), 'the command ran without a confirmed lifeline');
  } finally {
    r.child.kill('SIGKILL');
    server.close();
  }
});

void test("terminal stop signals do not stop the relay (gVisor would deliver them to its init), and its command keeps the default actions", async () => {
  const r = runRelay(await freePort(), echoPath, ['sleep', '30']);
  try {
    let cmdPid = 0;
    await waitUntil('the command to start', () => (cmdPid = childOf(r.child.pid ?? 0)) > 0);
    for (const sig of ['SIGTSTP', 'SIGTTIN', 'SIGTTOU'] as const) r.child.kill(sig);
    await new Promise((res) => setTimeout(res, 100));
    assert.match(readFileSync(`/proc/${r.child.pid}/stat`, 'utf8'), /^\S+ \(.*\) [SR] /, 'the relay was stopped');
    // SigIgn is a hex mask; bits 20-22 are SIGTSTP, SIGTTIN and SIGTTOU.
    const ignored = BigInt(`0x${/^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${cmdPid}/status`, 'utf8'))?.[1] ?? '0'}`);
    assert.equal(ignored & 0x700000n, 0n, 'the command inherited ignored stop signals');
  } finally {
    r.child.kill('SIGKILL');
    await r.exited;
  }
});

void test('the relay is not dumpable: a process of the same user cannot read its memory or environment, but can read the command\'s', async () => {
  // As root the relay runs as an unprivileged user, so the check is not waived
  // by root's CAP_SYS_PTRACE; its command (dumpable again after exec) is the control.
  const asUser = process.getuid?.() === 0 ? { uid: 1000, gid: 1000 } : {};
  chmodSync(dir, 0o755);
  const child = spawn(relayBin, ['--listen', `127.0.0.1:${await freePort()}`, '--to', echoPath, '--', 'sleep', '30'], { stdio: 'ignore', ...asUser });
  try {
    let cmdPid = 0;
    // Until it has exec'd, the child is still a copy of the (non-dumpable) relay.
    await waitUntil('the command to start', () => (cmdPid = childOf(child.pid ?? 0)) > 0 && commOf(cmdPid) === 'sleep');
    const read = (file: string) => spawnSync('cat', [file], { ...asUser, encoding: 'utf8' });
    assert.equal(read(`/proc/${cmdPid}/environ`).status, 0, 'control: the command\'s environment should be readable');
    const environ = read(`/proc/${child.pid}/environ`);
    assert.notEqual(environ.status, 0);
    assert.match(environ.stderr, /Permission denied/);
    const mem = spawnSync('sh', ['-c', `echo x > /proc/${child.pid}/mem`], { ...asUser, encoding: 'utf8' });
    assert.notEqual(mem.status, 0);
    assert.match(mem.stderr, /Permission denied/);
  } finally {
    child.kill('SIGKILL');
  }
});

function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The command name of PID, or '' once it is gone. */
function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The first child of PID, or 0. */
function childOf(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0] ?? 0) || 0;
  } catch {
    return 0;
  }
}

void test('bad arguments exit 2 with usage', () => {
  const res = spawnSync(relayBin, ['--listen', 'nope'], { encoding: 'utf8' });
  assert.equal(res.status, 2);
  assert.match(res.stderr, /usage: cordon-relay/);
  const splice = spawnSync(relayBin, ['--listen', '127.0.0.1:1', '--to', echoPath, '--splice', 'sideways'], { encoding: 'utf8' });
  assert.equal(splice.status, 2);
  assert.match(splice.stderr, /--splice up\|both\|off/);
});

// --home-seed (home-seed.c): the seed is copied into $HOME before the command
// starts, as regular files only, never through or as a symlink, never over
// what is there.
void test('the seed is in $HOME when the command starts: files 0600, folders kept, links and existing files untouched', async () => {
  const seed = join(dir, 'seed');
  const home = join(dir, 'home');
  const outside = join(dir, 'outside.txt');
  writeFileSync(outside, 'host file');
  mkdirSync(join(seed, '.config', 'tool'), { recursive: true });
  writeFileSync(join(seed, '.claude.json'), '{"hasCompletedOnboarding":true}\n');
  writeFileSync(join(seed, '.config', 'tool', 'settings.json'), 'nested');
  writeFileSync(join(seed, 'kept.txt'), 'from the seed');
  symlinkSync(outside, join(seed, 'link-to-host'));
  mkdirSync(home);
  writeFileSync(join(home, 'kept.txt'), 'already here');
  // A symlink where a seed folder goes must not be followed out of the home.
  mkdirSync(join(dir, 'elsewhere'));
  symlinkSync(join(dir, 'elsewhere'), join(home, '.config'));
  const port = await freePort();
  const r = spawnSync(relayBin, ['--listen', `127.0.0.1:${port}`, '--to', echoPath, '--home-seed', seed, '--', 'sh', '-c', 'cat "$HOME/.claude.json"'], {
    env: { ...process.env, HOME: home },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '{"hasCompletedOnboarding":true}\n', 'the command sees the seed at once');
  assert.equal(lstatSync(join(home, '.claude.json')).mode & 0o777, 0o600);
  assert.throws(() => lstatSync(join(dir, 'elsewhere', 'tool')), /ENOENT/, 'nothing was written through the planted link');
  assert.equal(readFileSync(join(home, 'kept.txt'), 'utf8'), 'already here', 'an existing file wins');
  assert.throws(() => lstatSync(join(home, 'link-to-host')), /ENOENT/, 'a symlink in the seed is not copied');
  assert.equal(readFileSync(outside, 'utf8'), 'host file');
});

void test('folders in the seed are recreated in an empty home', async () => {
  const seed = join(dir, 'seed-nested');
  const home = join(dir, 'home-nested');
  mkdirSync(join(seed, '.claude', 'deep'), { recursive: true });
  writeFileSync(join(seed, '.claude', 'deep', 'settings.json'), 'nested');
  mkdirSync(home);
  const port = await freePort();
  const r = spawnSync(relayBin, ['--listen', `127.0.0.1:${port}`, '--to', echoPath, '--home-seed', seed, '--', 'cat', join(home, '.claude', 'deep', 'settings.json')], {
    env: { ...process.env, HOME: home },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'nested');
  assert.equal(lstatSync(join(home, '.claude')).mode & 0o777, 0o700);
});
