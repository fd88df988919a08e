import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { ConnectionGate } from './connection-gate.js';

function tempDir(t: test.TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-gate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Connects, sends TEXT at once, and resolves with everything read until the peer ends. */
function exchange(path: string, text: string): { connected: Promise<void>; reply: Promise<string> } {
  const s = net.connect(path);
  const connected = new Promise<void>((resolve, reject) => {
    s.once('connect', () => {
      s.write(text);
      resolve();
    });
    s.once('error', reject);
  });
  const reply = new Promise<string>((resolve, reject) => {
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.once('end', () => resolve(got));
    s.once('error', reject);
  });
  return { connected, reply };
}

test('a connection made before the handler exists is held, bytes intact, and handed over when the gate opens', async (t) => {
  const path = join(tempDir(t), 'proxy.sock');
  const gate = await ConnectionGate.listen(path, { mode: 0o600 });
  t.after(() => gate.close());
  const early = exchange(path, 'first bytes\n');
  await early.connected;
  // Let the gate accept it: it must hold it, not drop it.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(gate.waiting, 1);
  gate.open((socket) => {
    socket.once('data', (d) => socket.end(`echo: ${d.toString()}`));
  });
  assert.equal(gate.waiting, 0);
  assert.equal(await early.reply, 'echo: first bytes\n');
  // And connections after opening go straight to the handler.
  const late = exchange(path, 'second\n');
  assert.equal(await late.reply, 'echo: second\n');
});

test('closing the gate drops held connections and removes the socket: no way in afterwards', async (t) => {
  const path = join(tempDir(t), 'proxy.sock');
  const gate = await ConnectionGate.listen(path, { mode: 0o600 });
  const held = exchange(path, 'x');
  await held.connected;
  await new Promise((r) => setTimeout(r, 50));
  await gate.close();
  assert.equal(await held.reply.catch(() => ''), '');
  assert.equal(existsSync(path), false);
  const after = exchange(path, 'y');
  await assert.rejects(after.connected, /ENOENT|ECONNREFUSED/);
  await after.reply.catch(() => undefined);
  assert.throws(() => gate.open(() => undefined), /closed/);
});

test('the gate never replaces a file that is not a socket, and refuses a path too long for a socket', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'not-a-socket');
  writeFileSync(file, 'keep me');
  await assert.rejects(ConnectionGate.listen(file, { mode: 0o600 }), /exists and is not a socket/);
  assert.equal(existsSync(file), true);
  await assert.rejects(ConnectionGate.listen(join(dir, 'x'.repeat(120)), { mode: 0o600 }), /at most 103/);
});

test('a held connection stays half-open: the client may finish sending and still get the answer', async (t) => {
  const path = join(tempDir(t), 'proxy.sock');
  const gate = await ConnectionGate.listen(path, { mode: 0o600 });
  t.after(() => gate.close());
  const s = net.connect(path, () => s.end('question'));
  const reply = new Promise<string>((resolve, reject) => {
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.once('end', () => resolve(got));
    s.once('error', reject);
  });
  await new Promise((r) => setTimeout(r, 50));
  gate.open((socket) => {
    let heard = '';
    socket.on('data', (d) => (heard += d.toString()));
    // The client's end arrives first; the answer still goes back on the same socket.
    socket.once('end', () => setTimeout(() => socket.end(`heard ${heard}, then EOF`), 30));
  });
  assert.equal(await reply, 'heard question, then EOF');
});
