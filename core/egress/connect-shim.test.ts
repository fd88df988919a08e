// The connect shim (sandbox-profiles/connect-shim): a preload library that
// sends a program's connect() to the proxy's loopback port to the proxy's Unix
// socket instead. Real shim and real programs (a C probe built with gcc, Node
// itself), a real EgressProxy, loopback and Unix sockets only.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../testing/wait-until.js';
import { ensureConnectShim, SHIM_SOCKET_NAME } from '../session/session-egress.js';
import { startLoopbackProxy } from '../testing/loopback-proxy.js';
import { ConnectionGate } from './connection-gate.js';
import { freePort } from './free-port.js';

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cordon-shim-'));
const probeBin = join(dir, 'shim-probe');
/** The same probe over musl, the C library of Alpine images (scripts/setup.sh installs musl-tools). */
const muslProbeBin = join(dir, 'shim-probe-musl');
const unixPath = join(dir, SHIM_SOCKET_NAME);
let shim = '';
/** Nothing listens here over TCP: only the shim can make a connection to it work. */
let shimPort = 0;
/** An ordinary TCP server, for what must stay TCP. */
let tcpPort = 0;
const cleanups: (() => Promise<void> | void)[] = [];

/** Answers every line with where it arrived: "via-unix" or "via-tcp". */
function lineServer(answer: string): net.Server {
  return net.createServer((s) => {
    s.on('error', () => undefined);
    s.on('data', () => s.write(`${answer}\n`));
  });
}

before(async () => {
  const built = ensureConnectShim(join(dir, 'cache'), join(repoRoot, 'sandbox-profiles/connect-shim'));
  if (!built.ok) throw new Error(built.message);
  shim = built.path;
  const probe = spawnSync('gcc', ['-O1', '-Wall', '-Werror', '-o', probeBin, join(repoRoot, 'core/egress/testdata/shim-probe.c')], { encoding: 'utf8' });
  assert.equal(probe.status, 0, probe.stderr);
  const musl = spawnSync('musl-gcc', ['-O1', '-Wall', '-Werror', '-o', muslProbeBin, join(repoRoot, 'core/egress/testdata/shim-probe.c')], { encoding: 'utf8' });
  assert.equal(musl.status, 0, `musl-gcc: ${musl.error?.message ?? musl.stderr} (scripts/setup.sh installs musl-tools)`);
  const unix = lineServer('via-unix');
  await new Promise<void>((r) => unix.listen(unixPath, r));
  const tcp = lineServer('via-tcp');
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  tcpPort = (tcp.address() as net.AddressInfo).port;
  shimPort = await freePort();
  cleanups.push(() => void unix.close(), () => void tcp.close());
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs BIN with ARGS (asynchronously: the servers live in this process) and returns stdout as key=value pairs. */
function runProbe(bin: string, args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; out: Record<string, string>; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const out: Record<string, string> = {};
      for (const line of stdout.split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
      }
      resolve({ code, out, stdout, stderr });
    });
  });
}

const shimEnv = (socket: string = unixPath, port: number = shimPort): Record<string, string> => ({ LD_PRELOAD: shim, CORDON_EGRESS_PORT: String(port), CORDON_EGRESS_SOCKET: socket });

test('without the shim, nothing answers on the port the shim is told about (so what follows can only be the shim)', async () => {
  const r = await runProbe(probeBin, [String(shimPort), 'blocking'], {});
  assert.equal(r.out['connect'], 'ECONNREFUSED', r.stdout);
});

for (const [libc, mode] of [['glibc', 'blocking'], ['glibc', 'nonblocking'], ['musl', 'blocking'], ['musl', 'nonblocking']] as const) {
  test(`[${libc}] a ${mode} connect to 127.0.0.1:PORT gets the proxy's Unix socket, and the program still sees the TCP socket it asked for`, async () => {
    const r = await runProbe(libc === 'musl' ? muslProbeBin : probeBin, [String(shimPort), mode], shimEnv());
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.out['connect'], '0');
    assert.equal(r.out['domain'], 'unix', 'the descriptor really is a Unix socket');
    assert.equal(r.out['reply'], 'via-unix');
    // The descriptor keeps the flags the program created it with.
    assert.equal(r.out['nonblock'], mode === 'nonblocking' ? '1' : '0');
    assert.equal(r.out['cloexec'], '1');
    // getpeername/getsockname answer as for TCP, within the sockaddr_in-sized buffer.
    assert.equal(r.out['peer'], `127.0.0.1:${shimPort} family=2 len=16`);
    assert.equal(r.out['local'], '127.0.0.1:0 family=2 len=16');
    // TCP_NODELAY succeeds as a no-op; a receive timeout set before connect carries over.
    assert.equal(r.out['nodelay'], '0');
    assert.equal(r.out['rcvtimeo'], '7');
    // Connecting again: already connected, as TCP would say.
    assert.equal(r.out['again'], 'EISCONN');
    assert.equal(r.out['domain_after'], 'unix');
  });
}

test('connections to any other address or port stay TCP', async () => {
  const r = await runProbe(probeBin, [String(tcpPort), 'blocking'], shimEnv());
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.equal(r.out['domain'], 'inet');
  assert.equal(r.out['reply'], 'via-tcp');
  assert.equal(r.out['peer'], `127.0.0.1:${tcpPort} family=2 len=16`);
  assert.equal(r.out['again'], 'EISCONN');
});

test('a socket already connected over TCP stays TCP when the program connects it again (status check after a fallback)', async () => {
  // The first connect goes over TCP (as after a fallback), the second names the shim's port.
  const r = await runProbe(probeBin, [String(tcpPort), 'nonblocking', 'tcp-first'], shimEnv(unixPath, tcpPort));
  const plain = await runProbe(probeBin, [String(tcpPort), 'nonblocking'], {});
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.equal(r.out['domain'], 'inet');
  // Whatever the kernel answers a second connect on a connected TCP socket, unchanged.
  assert.equal(r.out['again'], plain.out['again']);
  assert.equal(r.out['domain_after'], 'inet');
  assert.equal(r.out['reply'], 'via-tcp');
});

test('when the proxy socket is missing, or the variables are unset or malformed, the program connects over TCP as it asked', async () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['missing socket', shimEnv(join(dir, 'nothing-here.sock'), tcpPort)],
    ['relative socket path', shimEnv('cordon-shim.sock', tcpPort)],
    ['no variables', { LD_PRELOAD: shim }],
    ['port not a number', { ...shimEnv(unixPath, tcpPort), CORDON_EGRESS_PORT: `${tcpPort}x` }],
    ['port out of range', { ...shimEnv(unixPath, tcpPort), CORDON_EGRESS_PORT: '70000' }],
  ];
  for (const [label, env] of cases) {
    const r = await runProbe(probeBin, [String(tcpPort), 'nonblocking'], env);
    assert.equal(r.code, 0, `${label}: ${r.stdout}\n${r.stderr}`);
    assert.equal(r.out['domain'], 'inet', label);
    assert.equal(r.out['reply'], 'via-tcp', label);
    assert.equal(r.stderr, '', `${label}: the loader or the shim complained`);
  }
});

test('Node, preloaded as in the sandbox: a CONNECT tunnel through a real EgressProxy arrives on its shim socket and is audited as clientPath "shim"', async () => {
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = (echo.address() as net.AddressInfo).port;
  const shimSocket = join(dir, 'proxy-shim', SHIM_SOCKET_NAME);
  mkdirSync(join(dir, 'proxy-shim'));
  const { proxy, audit } = await startLoopbackProxy(join(dir, 'proxy.sock'), { name: 'echo.test', port: echoPort }, { shim: await ConnectionGate.listen(shimSocket, { mode: 0o600 }) });
  try {
    // The child sees 127.0.0.1:PORT as its peer, sends a CONNECT, then bytes through the tunnel.
    const script = `
      const net = require('node:net');
      const s = net.connect(${shimPort}, '127.0.0.1', () => {
        s.setNoDelay(true);
        s.setKeepAlive(true, 1000);
        console.log('peer ' + s.remoteAddress + ':' + s.remotePort);
        s.write('CONNECT echo.test:${echoPort} HTTP/1.1\\r\\nHost: echo.test:${echoPort}\\r\\n\\r\\n');
      });
      let buf = '';
      let sent = false;
      s.on('data', (d) => {
        buf += d;
        if (!sent && buf.includes('\\r\\n\\r\\n')) {
          sent = true;
          console.log('status ' + buf.split('\\r\\n')[0]);
          buf = '';
          s.end('through-the-tunnel');
        }
      });
      s.on('end', () => console.log('echo ' + buf));
      s.on('error', (e) => { console.log('error ' + e.message); process.exitCode = 1; });
    `;
    const r = await runProbe(process.execPath, ['-e', script], shimEnv(shimSocket));
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^peer 127\\.0\\.0\\.1:${shimPort}$`, 'm'));
    assert.match(r.stdout, /^status HTTP\/1\.1 200/m);
    assert.match(r.stdout, /^echo through-the-tunnel$/m);
    const closed = () => audit.events.find((e) => e.kind === 'egress.allow' && e.details?.['host'] === 'echo.test');
    await waitUntil('the tunnel is audited', () => closed() !== undefined);
    assert.equal(closed()?.details?.['clientPath'], 'shim');
  } finally {
    await proxy.stop();
    echo.close();
  }
});
