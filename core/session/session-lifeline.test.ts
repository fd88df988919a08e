import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { waitUntil } from '../testing/wait-until.js';
import { LIFELINE_HELD, Lifeline } from './session-lifeline.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-lifeline-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Connects like the relay does; resolves with the socket, the bytes it got so far and a promise of its end (EOF, reset or error). */
function dial(path: string): Promise<{ socket: net.Socket; ended: Promise<number>; got: () => Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    const chunks: Buffer[] = [];
    const ended = new Promise<number>((r) => {
      socket.once('close', () => r(Date.now()));
      socket.on('error', () => undefined);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('connect', () => resolve({ socket, ended, got: () => Buffer.concat(chunks) }));
    socket.once('error', reject);
  });
}

test('only the first connection is kept: the socket stops accepting once the relay holds it', async () => {
  const path = join(dir, 'first.sock');
  const lifeline = await Lifeline.bind(path);
  try {
    const relay = await dial(path);
    // The relay starts the agent only once this byte arrives ...
    await waitUntil('the launcher to confirm the lifeline', () => relay.got().length > 0);
    assert.deepEqual(relay.got(), LIFELINE_HELD);
    assert.ok(lifeline.connected);
    // ... so what an agent would try next, a second connection to hold or to impersonate, cannot even connect.
    const second = await dial(path).then(
      (c) => c.ended.then(() => 'connected'),
      (e: NodeJS.ErrnoException) => e.code ?? 'error',
    );
    assert.match(second, /^(ENOENT|ECONNREFUSED)$/);
    const early = await Promise.race([relay.ended.then(() => 'ended'), new Promise((r) => setTimeout(() => r('open'), 200))]);
    assert.equal(early, 'open', "the relay's lifeline broke while the launcher lives");
    relay.socket.destroy();
  } finally {
    await lifeline.close();
  }
});

test('close() ends the lifeline: the relay sees it at once', async () => {
  const path = join(dir, 'close.sock');
  const lifeline = await Lifeline.bind(path);
  const relay = await dial(path);
  await waitUntil('the relay to hold the lifeline', () => lifeline.connected);
  const closedAt = Date.now();
  await lifeline.close();
  const endedAt = await relay.ended;
  assert.ok(endedAt - closedAt < 200, `took ${endedAt - closedAt} ms`);
});

test("the launcher's death ends the lifeline even while a process it started lives on (its end is close-on-exec)", async () => {
  const path = join(dir, 'death.sock');
  const pidFile = join(dir, 'grandchild.pid');
  const moduleUrl = new URL('./session-lifeline.js', import.meta.url).href;
  // A launcher: binds the lifeline, and once the relay holds it starts a
  // long-lived child, which would keep the lifeline open if it inherited it.
  const script = `
    import { spawn } from 'node:child_process';
    import { writeFileSync } from 'node:fs';
    const { Lifeline } = await import(${JSON.stringify(moduleUrl)});
    const lifeline = await Lifeline.bind(${JSON.stringify(path)});
    process.stdout.write('bound\\n');
    const t = setInterval(() => {
      if (!lifeline.connected) return;
      clearInterval(t);
      const c = spawn('sleep', ['30'], { stdio: 'ignore', detached: true });
      writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));
    }, 10);
  `;
  const launcher = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let grandchild = 0;
  try {
    await new Promise<void>((resolve) => launcher.stdout.once('data', () => resolve()));
    const relay = await dial(path);
    await waitUntil('the launcher to start its child', () => {
      try {
        grandchild = Number(readFileSync(pidFile, 'utf8'));
      } catch {
        return false;
      }
      return grandchild > 0;
    });
    const killedAt = Date.now();
    launcher.kill('SIGKILL');
    const endedAt = await relay.ended;
    assert.ok(endedAt - killedAt < 500, `took ${endedAt - killedAt} ms`);
    assert.doesNotThrow(() => process.kill(grandchild, 0), 'control: the child must still be running');
  } finally {
    launcher.kill('SIGKILL');
    if (grandchild > 0) process.kill(grandchild, 'SIGKILL');
  }
});
