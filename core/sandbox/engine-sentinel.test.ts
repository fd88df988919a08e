// Tests `cordon-sentinel` (core/sandbox/sentinel/) on the host against a
// stand-in engine: an HTTP server on a Unix socket that records what it is
// asked. The sentinel is built here with its build.sh (a missing gcc fails the
// test). The launcher is a child Node process, so it can really die.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { waitUntil } from '../testing/wait-until.js';
import { ensureSentinel } from './engine-sentinel.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-sentinel-'));
const engineSocket = join(dir, 'engine.sock');
const CONTAINER = 'c0ffee'.repeat(10) + 'abcd';
let binary = '';
let engine: Server;
const requests: Array<{ method: string; url: string; at: number }> = [];

before(async () => {
  const built = ensureSentinel(join(dir, 'cache'));
  assert.ok(built.ok, built.ok ? '' : built.message);
  binary = built.path;
  engine = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', at: Date.now() });
    res.statusCode = 204;
    res.end();
  });
  await new Promise<void>((r) => engine.listen(engineSocket, r));
});

after(() => {
  engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const moduleUrl = new URL('./engine-sentinel.js', import.meta.url).href;

/**
 * A launcher in its own process group: arms a sentinel for CONTAINER, says
 * "armed", and stands it down when it reads a line on stdin.
 */
function launcher(): { child: ReturnType<typeof spawn>; armed: Promise<void> } {
  const script = `
    const { startSentinel } = await import(${JSON.stringify(moduleUrl)});
    const s = startSentinel({ binary: ${JSON.stringify(binary)}, engineSocket: ${JSON.stringify(engineSocket)}, containerId: ${JSON.stringify(CONTAINER)} });
    if (!s) process.exit(3);
    process.stdout.write('armed\\n');
    process.stdin.once('data', () => { s.standDown(); setTimeout(() => process.exit(0), 50); });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  const armed = new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`launcher exited ${String(code)}`)));
  });
  return { child, armed };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test("when the launcher's whole process group is killed, the sentinel asks the engine to kill the container, after its grace", async () => {
  requests.length = 0;
  const { child, armed } = launcher();
  await armed;
  const killedAt = Date.now();
  // The group, not just the pid: the sentinel's own session keeps it out of reach.
  process.kill(-(child.pid ?? 0), 'SIGKILL');
  await waitUntil('the sentinel to ask the engine', () => requests.length > 0, 3000);
  assert.equal(requests.length, 1);
  const req = requests[0];
  assert.equal(req?.method, 'POST');
  assert.equal(req?.url, `/containers/${CONTAINER}/kill?signal=KILL`);
  const after = (req?.at ?? 0) - killedAt;
  // The grace lets the relay end the sandbox first, with its own status.
  assert.ok(after >= 240 && after < 1000, `asked ${after} ms after the launcher died`);
});

test('a launcher that stands its sentinel down before exiting gets no kill', async () => {
  requests.length = 0;
  const { child, armed } = launcher();
  await armed;
  child.stdin?.write('done\n');
  await new Promise((r) => child.once('exit', r));
  await sleep(800);
  assert.deepEqual(requests, []);
});

test('a container id that is not hex is refused before anything is sent', () => {
  const r = spawnSync(binary, ['--engine', engineSocket, '--container', 'abc/../../v1/kill'], { input: '', encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /usage: cordon-sentinel/);
});
