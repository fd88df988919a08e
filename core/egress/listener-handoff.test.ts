// The listener handoff (runc sessions): the in-sandbox relay offers its
// listening socket, the splice helper checks it, and the proxy accepts the
// sandbox's connections itself. Real relay and helper (built with gcc), a real
// EgressProxy, loopback sockets only. A hostile "sandbox" (testdata/offer-fd.c)
// offers everything that is not the relay's listener.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MemoryAuditSink } from '../audit/audit-event.js';
import { startLoopbackProxy } from '../testing/loopback-proxy.js';
import { waitUntil } from '../testing/wait-until.js';
import { ConnectionGate } from './connection-gate.js';
import type { EgressProxy } from './egress-proxy.js';
import { freePort } from './free-port.js';
import { ensureSpliceHelper } from './tunnel-splicer.js';

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cordon-handoff-'));
const relayBin = join(dir, 'cordon-relay');
const offerBin = join(dir, 'offer-fd');
let helper = '';
let echoPort = 0;
let counter = 0;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  const built = ensureSpliceHelper(join(dir, 'cache'));
  if (!built.ok) throw new Error(built.message);
  helper = built.path;
  const relay = spawnSync('sh', [join(repoRoot, 'sandbox-profiles/relay/build.sh'), relayBin], { encoding: 'utf8' });
  assert.equal(relay.status, 0, relay.stderr);
  const offer = spawnSync('gcc', ['-O1', '-Wall', '-Werror', '-o', offerBin, join(repoRoot, 'core/egress/testdata/offer-fd.c')], { encoding: 'utf8' });
  assert.equal(offer.status, 0, offer.stderr);
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
  cleanups.push(() => void echo.close());
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  proxy: EgressProxy;
  audit: MemoryAuditSink;
  notices: string[];
  socketPath: string;
  handoffPath: string;
  port: number;
}

/** A proxy with a handoff gate for the relay port `port`, as a runc session sets it up. */
async function startProxy(opts: { splice: boolean }): Promise<Setup> {
  const n = ++counter;
  const socketPath = join(dir, `p${n}.sock`);
  const handoffPath = join(dir, `h${n}.sock`);
  const port = await freePort();
  const gate = await ConnectionGate.listen(handoffPath, { mode: 0o600, pauseOnConnect: true });
  const { proxy, audit, notices } = await startLoopbackProxy(socketPath, { name: 'echo.test', port: echoPort }, {
    spliceHelper: opts.splice ? helper : null,
    handoff: { gate, port },
  });
  cleanups.push(() => proxy.stop());
  return { proxy, audit, notices, socketPath, handoffPath, port };
}

function startRelay(s: Setup, listenPort = s.port): ChildProcess {
  const child = spawn(relayBin, ['--listen', `127.0.0.1:${listenPort}`, '--to', s.socketPath, '--splice', 'both', '--handoff', s.handoffPath, '--', 'sleep', '60'], { stdio: 'ignore' });
  cleanups.push(() => {
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  });
  return child;
}

/** Opens a CONNECT tunnel to the echo server via 127.0.0.1:port and echoes `text` through it. */
function echoThrough(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    let open = false;
    s.setTimeout(5000, () => s.destroy(new Error('timed out')));
    s.once('error', reject);
    s.once('connect', () => s.write(`CONNECT echo.test:${echoPort} HTTP/1.1\r\nHost: echo.test:${echoPort}\r\n\r\n`));
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.startsWith('HTTP/1.1 200')) return reject(new Error(buf.split('\r\n')[0]));
        open = true;
        buf = buf.slice(end + 4);
        s.write(text);
      }
      if (buf.length >= text.length) {
        s.destroy();
        resolve(buf);
      }
    });
  });
}

/** Resolves with the error code of a plain TCP connect to the port, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await tryConnect(port)) === 'connected') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** What each open descriptor of PID refers to ('' for one closed while we looked). */
function descriptorTargets(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((f) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${f}`);
    } catch {
      return '';
    }
  });
}

function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

void test('the relay hands its listener over: connections reach the proxy with the relay stopped, and stop when the proxy stops', async () => {
  const s = await startProxy({ splice: true });
  assert.equal(s.proxy.clientPath, 'relay');
  const relay = startRelay(s);
  await waitUntil('the handoff', () => s.proxy.clientPath === 'listener');
  assert.deepEqual(s.notices, []);
  // Frozen relay: whatever still works goes around it, straight to the proxy.
  relay.kill('SIGSTOP');
  assert.equal(await echoThrough(s.port, 'through the handed-over listener'), 'through the handed-over listener');
  // One offer per session: the handoff socket is gone.
  assert.notEqual(await tryOffer(s.handoffPath, 'tcp', await freePort()), 'answer: A');
  // The proxy stopping takes the sandbox's only listener with it: refused, though the relay lives.
  await s.proxy.stop();
  assert.equal(await tryConnect(s.port), 'ECONNREFUSED');
  relay.kill('SIGCONT');
  assert.equal(relay.exitCode, null, 'the relay is still running');
});

void test('bulk bytes through the handed-over listener arrive intact both ways, carried by the splice helper and audited', async () => {
  const s = await startProxy({ splice: true });
  startRelay(s);
  await waitUntil('the handoff', () => s.proxy.clientPath === 'listener');
  // Random bytes up, echoed back down, while both directions run at once,
  // spliced by the helper between two TCP sockets (no Unix socket in between).
  const data = randomBytes(24 * 1024 * 1024 + 4099);
  const got = await new Promise<Buffer>((resolve, reject) => {
    const c = net.connect(s.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let head = '';
    let open = false;
    c.once('error', reject);
    c.once('connect', () => c.write(`CONNECT echo.test:${echoPort} HTTP/1.1\r\nHost: echo.test:${echoPort}\r\n\r\n`));
    c.on('data', (d: Buffer) => {
      if (open) return void chunks.push(d);
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.startsWith('HTTP/1.1 200')) return reject(new Error(head.split('\r\n')[0]));
      open = true;
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (rest.length > 0) chunks.push(rest);
      c.end(data); // half-close: the echo server's end comes back once everything is echoed
    });
    c.once('end', () => {
      c.destroy();
      resolve(Buffer.concat(chunks));
    });
  });
  assert.equal(got.length, data.length);
  assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
  await waitUntil('the tunnel record', () => s.audit.events.some((e) => e.details?.['dataPath'] === 'splice'));
  const rec = s.audit.events.find((e) => e.details?.['dataPath'] === 'splice');
  assert.equal(rec?.details?.['clientPath'], 'listener');
  assert.equal(rec?.details?.['bytesDown'], data.length);
  assert.equal(rec?.details?.['bytesUp'], data.length);
});

void test('the relay keeps relaying when the handoff is not possible (no splice helper)', async () => {
  const s = await startProxy({ splice: false });
  const relay = startRelay(s);
  await waitListening(s.port);
  assert.equal(await echoThrough(s.port, 'via the relay'), 'via the relay');
  assert.equal(s.proxy.clientPath, 'relay');
  // The relay, not the proxy, accepts: frozen, a new tunnel gets no answer.
  relay.kill('SIGSTOP');
  await assert.rejects(echoThroughWithin(s.port, 300), /timed out/);
  relay.kill('SIGCONT');
  assert.equal(await echoThrough(s.port, 'again'), 'again');
  // The records say so too: these connections came through the relay's hop.
  await waitUntil('the tunnel records', () => s.audit.events.filter((e) => e.kind === 'egress.allow').length >= 2);
  assert.deepEqual([...new Set(s.audit.events.filter((e) => e.kind === 'egress.allow').map((e) => e.details?.['clientPath']))], ['relay']);
});

void test("a listener bound to another port is refused and the relay keeps relaying", async () => {
  const s = await startProxy({ splice: true });
  const otherPort = await freePort();
  startRelay(s, otherPort); // the relay listens where the proxy does not expect it
  await waitUntil('the refusal notice', () => s.notices.length > 0);
  assert.match(s.notices[0] ?? '', /not bound to the relay's address/);
  assert.equal(s.proxy.clientPath, 'relay');
  await waitListening(otherPort);
  assert.equal(await echoThrough(otherPort, 'still relayed'), 'still relayed');
});

function tryOffer(path: string, kind: string, port?: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(offerBin, [path, kind, ...(port === undefined ? [] : [String(port)])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => resolve(code === 0 ? out.trim() : `exit ${code}: ${out.trim()}`));
  });
}

function echoThroughWithin(port: number, ms: number): Promise<string> {
  return Promise.race([echoThrough(port, 'x'), new Promise<string>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);
}

for (const [kind, reason] of [
  ['bytes', /not exactly one descriptor/],
  ['unix', /not an IPv4 socket/],
  ['connected', /not listening/],
  ['two', /not exactly one descriptor/],
  ['wrongbyte', /not an offer/],
] as const) {
  void test(`a hostile offer (${kind}) is refused, its descriptors closed, and the proxy keeps serving`, async () => {
    const s = await startProxy({ splice: true });
    const helperPid = s.proxy.spliceHelperPid;
    assert.ok(helperPid);
    // Counted once the helper is up (its epoll set exists), before the offer.
    await waitUntil('the helper to start', () => descriptorTargets(helperPid).some((t) => t.includes('eventpoll')));
    const before = openDescriptors(helperPid);
    const answer = await tryOffer(s.handoffPath, kind, kind === 'connected' ? echoPort : s.port);
    assert.equal(answer, 'answer: none');
    await waitUntil('the refusal notice', () => s.notices.length > 0);
    assert.match(s.notices[0] ?? '', reason);
    assert.equal(s.proxy.clientPath, 'relay');
    // Nothing the offer carried stayed open in the helper.
    await waitUntil('the helper to close what it was sent', () => openDescriptors(helperPid) <= before, 2000);
    // Nobody accepts on the offered port: it was never taken over.
    assert.notEqual(await tryConnect(s.port), 'connected');
    // And the proxy is unharmed: a relay without a handoff still gets through it.
    const p2 = await freePort();
    startRelay({ ...s, handoffPath: join(dir, 'none.sock') }, p2);
    await waitListening(p2);
    assert.equal(await echoThrough(p2, 'unharmed'), 'unharmed');
  });
}
