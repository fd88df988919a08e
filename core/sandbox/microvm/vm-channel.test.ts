/**
 * The host end of the microVM channel against a guest that misbehaves
 * (threats V6, V7): every rule a frame can break closes the whole channel,
 * streams reach only the session's own sockets, and windows bound what the
 * host buffers. Real Unix sockets on both sides; the "guest" is this test
 * writing frames, as a compromised guest kernel could.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ChannelHost, encodeFrame, FrameDecoder, FrameType, MAX_FRAME, MAX_STREAMS, WINDOW } from './vm-channel.js';

let dir: string;
let proxy: Server;
let lifeline: Server;
const proxyConns: Socket[] = [];
let proxyBytes = Buffer.alloc(0);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmch-'));
  proxy = createServer((s) => {
    proxyConns.push(s);
    s.on('data', (d: Buffer) => {
      proxyBytes = Buffer.concat([proxyBytes, d]);
      if (d.toString().includes('PING')) s.write('PONG');
    });
    s.on('error', () => undefined);
  });
  lifeline = createServer((s) => {
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => proxy.listen(join(dir, 'proxy.sock'), r));
  await new Promise<void>((r) => lifeline.listen(join(dir, 'lifeline.sock'), r));
});
after(() => {
  proxy.close();
  lifeline.close();
  rmSync(dir, { recursive: true, force: true });
});

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v, 0);
  return b;
}

let channels = 0;

/** A channel over a real Unix socket: what the test writes on its end is what "the guest" sends. */
async function channel(stdin: PassThrough | null = null) {
  const path = join(dir, `ch${channels++}.sock`);
  const accepted = new Promise<Socket>((resolve) => {
    const srv = createServer((sock) => {
      srv.close();
      resolve(sock);
    });
    srv.listen(path);
  });
  await new Promise((r) => setTimeout(r, 10));
  const guest = connect(path);
  const hostSide = await accepted;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const events: { exit: number | null; broken: string | null } = { exit: null, broken: null };
  const host = new ChannelHost(hostSide, { 1: join(dir, 'proxy.sock'), 2: join(dir, 'lifeline.sock') }, { stdin, stdout, stderr }, {
    onExit: (c) => (events.exit = c),
    onBroken: (r) => (events.broken = r),
  });
  const fromHost = new FrameDecoder();
  const received: { type: number; stream: number; payload: Buffer }[] = [];
  guest.on('data', (c: Buffer) => received.push(...fromHost.push(c)));
  guest.on('error', () => undefined);
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  let err = '';
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { host, send: (b: Buffer) => guest.write(b), events, received, out: () => out, err: () => err };
}

const tick = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the microVM channel, host side', () => {
  test('stdout, stderr and the exit status arrive in order; the host answers the exit with its goodbye', async () => {
    const c = await channel();
    c.send(Buffer.concat([encodeFrame(FrameType.stdout, 0, Buffer.from('out-1 ')), encodeFrame(FrameType.stderr, 0, Buffer.from('err-1')), encodeFrame(FrameType.stdout, 0, Buffer.from('out-2')), encodeFrame(FrameType.exit, 0, u32(42))]));
    await tick();
    assert.equal(c.out(), 'out-1 out-2');
    assert.equal(c.err(), 'err-1');
    assert.equal(c.events.exit, 42);
    assert.equal(c.events.broken, null);
    assert.ok(c.received.some((f) => f.type === FrameType.stdinEof), 'no stdin: end of file sent at once');
    assert.ok(c.received.some((f) => f.type === FrameType.bye));
    c.host.close();
  });

  test('a stream opened with code 1 reaches the session proxy, both ways, with credit', async () => {
    const c = await channel();
    proxyBytes = Buffer.alloc(0);
    c.send(encodeFrame(FrameType.open, 1, Buffer.from([1])));
    c.send(encodeFrame(FrameType.data, 1, Buffer.from('PING')));
    await tick(100);
    assert.equal(proxyBytes.toString(), 'PING');
    const data = c.received.filter((f) => f.type === FrameType.data && f.stream === 1);
    assert.equal(Buffer.concat(data.map((f) => f.payload)).toString(), 'PONG');
    assert.ok(c.received.some((f) => f.type === FrameType.credit && f.stream === 1 && f.payload.readUInt32BE(0) === 4), 'the 4 bytes written were credited back');
    assert.equal(c.events.broken, null);
    c.host.close();
  });

  test('the host sends no more than the window the guest granted, and resumes with credit', async () => {
    const c = await channel();
    c.send(encodeFrame(FrameType.open, 1, Buffer.from([1])));
    await tick(100);
    const conn = proxyConns[proxyConns.length - 1] as Socket;
    conn.write(Buffer.alloc(WINDOW + 100_000, 0x61));
    await tick(200);
    const sent = (): number => c.received.filter((f) => f.type === FrameType.data && f.stream === 1).reduce((n, f) => n + f.payload.length, 0);
    assert.equal(sent(), WINDOW, 'more than the window went out before any credit');
    c.send(encodeFrame(FrameType.credit, 1, u32(WINDOW)));
    await tick(200);
    assert.equal(sent(), WINDOW + 100_000);
    c.host.close();
  });

  const violations: Array<[string, Buffer[]]> = [
    ['an unknown target code', [encodeFrame(FrameType.open, 1, Buffer.from([3]))]],
    ['a path instead of a code', [encodeFrame(FrameType.open, 1, Buffer.from('/etc/passwd'))]],
    ['a stream reopened', [encodeFrame(FrameType.open, 1, Buffer.from([1])), encodeFrame(FrameType.open, 1, Buffer.from([1]))]],
    ['data for a stream never opened', [encodeFrame(FrameType.data, 9, Buffer.from('x'))]],
    // The lifeline never reads: once the kernel's socket buffer is full, unwritten bytes count against the window.
    ['data beyond the window', [encodeFrame(FrameType.open, 1, Buffer.from([2])), ...Array.from({ length: 16 }, () => encodeFrame(FrameType.data, 1, Buffer.alloc(MAX_FRAME)))]],
    ['credit beyond the window', [encodeFrame(FrameType.open, 1, Buffer.from([1])), encodeFrame(FrameType.credit, 1, u32(1))]],
    ['stdin credit beyond the window', [encodeFrame(FrameType.credit, 0, u32(1))]],
    ['a second exit status', [encodeFrame(FrameType.exit, 0, u32(0)), encodeFrame(FrameType.exit, 0, u32(1))]],
    ['a host-only frame from the guest', [encodeFrame(FrameType.stdin, 0, Buffer.from('x'))]],
    ['a frame longer than the limit', [Buffer.concat([Buffer.from([FrameType.stdout, 0, 0, 0, 0]), u32(MAX_FRAME + 1)])]],
  ];
  for (const [name, frames] of violations) {
    test(`${name} closes the channel`, async () => {
      const c = await channel();
      c.send(Buffer.concat(frames));
      await tick(100);
      assert.ok(c.events.broken, `not refused: ${name}`);
      // Closed means closed: a valid frame afterwards does nothing.
      c.send(encodeFrame(FrameType.stdout, 0, Buffer.from('after')));
      await tick();
      assert.ok(!c.out().includes('after'));
    });
  }

  test('more streams than the limit closes the channel', async () => {
    const c = await channel();
    for (let i = 1; i <= MAX_STREAMS + 1; i++) c.send(encodeFrame(FrameType.open, i, Buffer.from([2])));
    await tick(300);
    assert.match(c.events.broken ?? '', /too many streams/);
  });

  test('stdin goes to the guest within its credit', async () => {
    const stdin = new PassThrough();
    const c = await channel(stdin);
    stdin.write(Buffer.alloc(WINDOW + 5000, 0x62));
    await tick(100);
    const sent = (): number => c.received.filter((f) => f.type === FrameType.stdin).reduce((n, f) => n + f.payload.length, 0);
    assert.equal(sent(), WINDOW, 'more input than the guest has room for went out');
    stdin.end();
    await tick(50);
    assert.ok(!c.received.some((f) => f.type === FrameType.stdinEof), 'end of file overtook unsent input');
    c.send(encodeFrame(FrameType.credit, 0, u32(WINDOW)));
    await tick(100);
    assert.equal(sent(), WINDOW + 5000);
    assert.ok(c.received.some((f) => f.type === FrameType.stdinEof));
    c.host.close();
  });
});
