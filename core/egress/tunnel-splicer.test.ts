// CONNECT tunnels on both data paths: spliced host-side by cordon-splice, and
// relayed in Node (the fallback). Real sockets, loopback targets, the real
// helper built with gcc; a machine without gcc fails here rather than skips.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MemoryAuditSink } from '../audit/audit-event.js';
import type { EgressProxy, EgressProxyOptions } from './egress-proxy.js';
import { ensureSpliceHelper } from './tunnel-splicer.js';
import { startLoopbackProxy } from '../testing/loopback-proxy.js';
import { waitUntil } from '../testing/wait-until.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-splice-'));
let helper = '';
let sockCounter = 0;
const proxies: EgressProxy[] = [];
const servers: net.Server[] = [];

before(() => {
  const built = ensureSpliceHelper(join(dir, 'cache'));
  if (!built.ok) throw new Error(built.message);
  helper = built.path;
});

after(async () => {
  for (const p of proxies) await p.stop();
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `splice-now`: handed over as soon as established; `splice`: after the default byte threshold; `node`: no helper. */
type Mode = 'splice-now' | 'splice' | 'node';

async function startProxy(port: number, mode: Mode, extra: Partial<EgressProxyOptions> = {}): Promise<{ proxy: EgressProxy; audit: MemoryAuditSink; socketPath: string; notices: string[] }> {
  const socketPath = join(dir, `p${++sockCounter}.sock`);
  const { proxy, audit, notices } = await startLoopbackProxy(socketPath, { name: 'target.test', port }, {
    spliceHelper: mode === 'node' ? null : helper,
    ...(mode === 'splice-now' ? { spliceAfterBytes: 0 } : {}),
    ...extra,
  });
  proxies.push(proxy);
  return { proxy, audit, socketPath, notices };
}

async function listen(onConn: (s: net.Socket) => void): Promise<number> {
  const s = net.createServer({ allowHalfOpen: true }, onConn);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

/** Opens a CONNECT tunnel over the proxy socket; `early` rides in the same write as the CONNECT. Rejects unless 200. */
function openTunnel(socketPath: string, port: number, early: Buffer = Buffer.alloc(0)): Promise<{ socket: net.Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: socketPath, allowHalfOpen: true });
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.removeListener('data', onData);
      s.pause();
      const status = buf.subarray(0, end).toString('latin1').split('\r\n')[0] ?? '';
      if (!status.startsWith('HTTP/1.1 200')) {
        s.destroy();
        reject(new Error(status));
        return;
      }
      resolve({ socket: s, rest: buf.subarray(end + 4) });
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(Buffer.concat([Buffer.from(`CONNECT target.test:${port} HTTP/1.1\r\nHost: target.test:${port}\r\n\r\n`), early]));
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Reads a socket to EOF (starting with `rest`). */
function readAll(s: net.Socket, rest: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks = [rest];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
    s.resume();
  });
}

function closeEvent(audit: MemoryAuditSink): Record<string, unknown> | undefined {
  return audit.events.find((e) => e.kind === 'egress.allow' && e.details?.['channel'] === 'connect')?.details;
}

for (const mode of ['splice-now', 'splice', 'node'] as const) {
  void test(`${mode}: 8 MiB each way arrive intact, audit counts every byte, slot released`, async () => {
    const toServer = randomBytes(8 * 1024 * 1024);
    const toClient = randomBytes(8 * 1024 * 1024 + 13);
    let serverGot: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    const port = await listen((s) => {
      serverGot = readAll(s);
      s.end(toClient);
    });
    const { proxy, audit, socketPath } = await startProxy(port, mode);
    assert.equal(proxy.tunnelDataPath, mode === 'node' ? 'node' : 'splice');
    const { socket, rest } = await openTunnel(socketPath, port);
    const got = readAll(socket, rest);
    socket.end(toServer);
    assert.equal(sha(await got), sha(toClient), 'upstream -> client intact');
    await waitUntil('tunnel slot released', () => proxy.openTunnels === 0);
    assert.equal(sha(await serverGot), sha(toServer), 'client -> upstream intact');
    const ev = closeEvent(audit);
    assert.ok(ev, 'close recorded');
    assert.equal(ev['bytesUp'], toServer.length);
    assert.equal(ev['bytesDown'], toClient.length);
    // Mid-transfer for `splice`: the threshold is crossed long before 8 MiB.
    assert.equal(ev['dataPath'], mode === 'node' ? 'node' : 'splice');
    assert.equal(ev['address'], '127.0.0.1');
  });

  void test(`${mode}: a client half-close reaches the server, which still answers after it`, async () => {
    const port = await listen((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      // Answer only once the client's EOF came through the tunnel.
      s.once('end', () => s.end(`got ${Buffer.concat(chunks).toString()} then EOF`));
    });
    const { proxy, socketPath } = await startProxy(port, mode);
    const { socket, rest } = await openTunnel(socketPath, port);
    const reply = readAll(socket, rest);
    socket.end('question');
    assert.equal((await reply).toString(), 'got question then EOF');
    await waitUntil('tunnel closed', () => proxy.openTunnels === 0);
  });

  void test(`${mode}: bytes sent with the CONNECT and a server that speaks first both get through`, async () => {
    const port = await listen((s) => {
      s.write('BANNER\n');
      s.once('data', (c: Buffer) => s.end(`echo:${c.toString()}`));
    });
    const { socketPath } = await startProxy(port, mode);
    const { socket, rest } = await openTunnel(socketPath, port, Buffer.from('early-bytes'));
    const text = (await readAll(socket, rest)).toString();
    assert.equal(text, 'BANNER\necho:early-bytes');
    socket.destroy();
  });

  void test(`${mode}: the tunnel cap counts open tunnels and frees a slot when one closes`, async () => {
    // Like most servers, it closes once the client has.
    const port = await listen((s) => s.once('end', () => s.end()));
    const { proxy, socketPath } = await startProxy(port, mode, { limits: { maxConcurrentTunnels: 2 } });
    const a = await openTunnel(socketPath, port);
    const b = await openTunnel(socketPath, port);
    await assert.rejects(openTunnel(socketPath, port), /503/);
    a.socket.destroy();
    await waitUntil('one slot freed', () => proxy.openTunnels === 1);
    const c = await openTunnel(socketPath, port);
    b.socket.destroy();
    c.socket.destroy();
  });
}

void test('splice: killing the helper mid-transfer closes its tunnels, audits them, and new tunnels relay in Node', async () => {
  const big = Buffer.alloc(64 * 1024 * 1024, 0x5a);
  const port = await listen((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end(big));
  });
  const { proxy, audit, socketPath, notices } = await startProxy(port, 'splice-now');
  const pid = proxy.spliceHelperPid;
  assert.ok(pid, 'helper running');
  const { socket, rest } = await openTunnel(socketPath, port);
  let received = rest.length;
  const closed = new Promise<void>((resolve) => {
    // The client socket is half-open capable: the tunnel's end shows as EOF.
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  socket.on('error', () => undefined);
  socket.on('data', (c: Buffer) => {
    received += c.length;
    // Slow reader: the helper is killed while the transfer is in flight.
    if (received > 1024 * 1024 && proxy.spliceHelperPid) process.kill(pid, 'SIGKILL');
  });
  socket.resume();
  socket.write('go');
  await closed;
  assert.ok(received < big.length, `transfer was cut short (${received} bytes)`);
  await waitUntil('slot released after helper death', () => proxy.openTunnels === 0);
  const ev = closeEvent(audit);
  assert.ok(ev, 'the cut tunnel is still audited');
  assert.equal(ev['bytesComplete'], false);
  assert.equal(proxy.tunnelDataPath, 'node');
  assert.equal(notices.length, 1, 'said once');
  assert.match(notices[0] ?? '', /killed \(SIGKILL\).*relay through Node/);
  // The proxy still serves: a new tunnel, now relayed in Node.
  const again = await openTunnel(socketPath, port);
  const echoed = readAll(again.socket, again.rest);
  again.socket.write('x');
  assert.equal((await echoed).length, big.length);
  assert.equal(notices.length, 1, 'still said once');
});

void test('a helper that cannot run leaves the proxy on the Node path, said once', async () => {
  const port = await listen((s) => s.end('hi'));
  const { proxy, socketPath, notices } = await startProxy(port, 'splice', { spliceHelper: join(dir, 'no-such-helper') });
  await waitUntil('notice', () => notices.length > 0);
  assert.equal(proxy.tunnelDataPath, 'node');
  const { socket, rest } = await openTunnel(socketPath, port);
  assert.equal((await readAll(socket, rest)).toString(), 'hi');
  assert.equal(notices.length, 1);
});

void test('stopping the proxy ends spliced tunnels and the helper', async () => {
  const port = await listen((s) => s.on('error', () => undefined));
  const { proxy, audit, socketPath } = await startProxy(port, 'splice-now');
  const pid = proxy.spliceHelperPid;
  assert.ok(pid);
  const { socket } = await openTunnel(socketPath, port);
  const closed = new Promise<void>((resolve) => {
    // The client socket is half-open capable: the tunnel's end shows as EOF.
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  socket.on('error', () => undefined);
  socket.resume();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(proxy.openTunnels, 1);
  await proxy.stop();
  await closed;
  assert.equal(proxy.openTunnels, 0);
  assert.ok(closeEvent(audit), 'audited at stop');
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'helper gone');
});

void test('the helper exits when its channel closes (the proxy process died)', async () => {
  const child = spawn(helper, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: {} });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(child.exitCode, null, 'running while the channel is open');
  child.disconnect();
  assert.equal(await exited, 0);
});

void test('the helper refuses to start without a channel', () => {
  const r = spawn(helper, [], { stdio: 'ignore', env: {} });
  return new Promise<void>((resolve) =>
    r.once('exit', (code) => {
      assert.equal(code, 2);
      resolve();
    }),
  );
});

void test('a tunnel handed to the helper relays in both directions interleaved (request/response turns)', async () => {
  const port = await listen((s) => s.on('data', (c: Buffer) => s.write(`<${c.toString()}>`)));
  const { socketPath } = await startProxy(port, 'splice-now');
  const { socket } = await openTunnel(socketPath, port);
  socket.resume();
  for (const word of ['one', 'two', 'three']) {
    const reply = await new Promise<string>((resolve) => {
      socket.once('data', (c: Buffer) => resolve(c.toString()));
      socket.write(word);
    });
    assert.equal(reply, `<${word}>`);
  }
  socket.destroy();
});
