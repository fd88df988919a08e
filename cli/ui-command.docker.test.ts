/**
 * `cordon ui` through its real entry point, bin/cordon: the printed URL, a
 * real WebSocket client calling the real session service (app.info and
 * doctor.run, which asks Docker Engine), and a clean exit on SIGTERM.
 *
 * The success path needs the built renderer (dist/renderer/index.html, made
 * by `npm run build`); without it the command must refuse clearly, and that
 * is what these tests check instead, saying so in the test output.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { API_METHODS } from '../core/api/cordon-api.js';
import { REPO_ROOT, TestEnv, collect } from './test-harness.js';

const t = new TestEnv('ui-command');
after(() => t.cleanup());

const BUILT = existsSync(join(REPO_ROOT, 'dist', 'renderer', 'index.html'));
const URL_LINE = /^Cordon UI: (http:\/\/127\.0\.0\.1:(\d+)\/)#token=([0-9a-f]{64})$/m;

/** Resolves with the printed URL's parts once the line appears on stdout. */
function printedUrl(child: ChildProcess): Promise<{ base: string; port: number; token: string; stdout: () => string; stderr: () => string }> {
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 30 s; stderr: ${err}`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = URL_LINE.exec(out);
      if (m?.[1] && m[2] && m[3]) {
        clearTimeout(timer);
        resolve({ base: m[1], port: Number(m[2]), token: m[3], stdout: () => out, stderr: () => err });
      }
    });
    child.on('exit', (code) => reject(new Error(`cordon ui exited (${code}) before printing its URL; stderr: ${err}`)));
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function call(ws: WebSocket, id: number, method: string): Promise<{ id: number; ok: boolean; value?: unknown; error?: unknown }> {
  return new Promise((resolve) => {
    const onMessage = (d: Buffer): void => {
      const msg = JSON.parse(d.toString('utf8')) as { id?: number; ok: boolean; value?: unknown };
      if (msg.id !== id) return;
      ws.off('message', onMessage);
      resolve(msg as { id: number; ok: boolean; value?: unknown });
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ id, method, params: {} }));
  });
}

function notBuilt(c: TestContext, r: { code: number | null; stderr: string }): void {
  c.diagnostic('dist/renderer/index.html is missing: checked the refusal, not the served UI');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the UI is not built: .*dist\/renderer\/index\.html is missing\. Run `npm run build`/);
}

test('cordon ui --port 0 prints its URL, answers app.info and doctor.run over the socket, and exits 0 on SIGTERM', async (c) => {
  if (!BUILT) {
    notBuilt(c, await t.run(['ui', '--port', '0']));
    return;
  }
  const child = t.spawn(['ui', '--port', '0']);
  const done = exited(child);
  try {
    const url = await printedUrl(child);
    assert.ok(url.port > 0);
    // The line stands alone on stdout, and nothing else goes there.
    assert.equal(url.stdout(), `Cordon UI: ${url.base}#token=${url.token}\n`);

    const shell = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: url.port, path: '/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(shell, 200);

    const ws = new WebSocket(`ws://127.0.0.1:${url.port}/api`, ['cordon.v1', `cordon-token.${url.token}`], { origin: `http://127.0.0.1:${url.port}` });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    assert.equal(ws.protocol, 'cordon.v1');
    const info = await call(ws, 1, 'app.info');
    assert.equal(info.ok, true, JSON.stringify(info));
    assert.ok(API_METHODS['app.info'].response.safeParse(info.value).success, JSON.stringify(info.value));
    const doctor = await call(ws, 2, 'doctor.run');
    assert.equal(doctor.ok, true, JSON.stringify(doctor));
    const report = API_METHODS['doctor.run'].response.safeParse(doctor.value);
    assert.ok(report.success, JSON.stringify(doctor.value));
    assert.ok(report.data.checks.some((k) => k.check === 'docker' && k.status === 'ok'), JSON.stringify(report.data.checks));
    ws.close();

    child.kill('SIGTERM');
    assert.deepEqual(await done, { code: 0, signal: null }, url.stderr());
    assert.ok(!url.stderr().includes(url.token), 'the token reached stderr');
  } finally {
    child.kill('SIGKILL');
  }
});

test('cordon ui on a port in use fails naming the port', async (c) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as AddressInfo).port;
  try {
    const r = await t.run(['ui', '--port', String(port)], { timeoutMs: 30_000 });
    if (!BUILT) {
      notBuilt(c, r);
      return;
    }
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`));
    assert.equal(r.stdout, '', 'no URL is printed for a server that did not start');
  } finally {
    holder.close();
  }
});

test('cordon ui refuses a port that is not a number as a usage error', async () => {
  const r = await collect(t.spawn(['ui', '--port', '80x']), undefined, 30_000);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--port takes a port number from 0 to 65535/);
});

test('cordon ui whose service cannot load (CORDON_HOME under a file) says why and exits 1, without waiting for a page', async (c) => {
  if (!BUILT) {
    notBuilt(c, await t.run(['ui', '--port', '0']));
    return;
  }
  const blocker = join(t.home, 'not-a-folder');
  writeFileSync(blocker, 'x');
  const t0 = Date.now();
  const r = await t.run(['ui', '--port', '0'], { env: { CORDON_HOME: join(blocker, 'cordon') }, timeoutMs: 30_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the Cordon service did not start: .*ENOTDIR/);
  // The service loads a second after the URL when no page comes, so the command cannot linger.
  assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
});
