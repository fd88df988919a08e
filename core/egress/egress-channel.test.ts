// End-to-end over the real channel an agent uses, on the host: curl -> cordon-relay
// (loopback TCP) -> EgressProxy (Unix socket) -> loopback server. Then the proxy
// is stopped to prove the channel fails closed. Loopback only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { compileEgressPolicy } from './egress-policy.js';
import { EgressProxy } from './egress-proxy.js';
import { makeTestCerts, type TestCerts } from './test-certs.js';
import { freePort } from './free-port.js';

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cordon-channel-'));
const relayBin = join(dir, 'cordon-relay');
let certs: TestCerts;
let plain: http.Server;
let secure: https.Server;
let plainPort = 0;
let securePort = 0;

before(async () => {
  const build = spawnSync('sh', [join(repoRoot, 'sandbox-profiles/relay/build.sh'), relayBin], { encoding: 'utf8' });
  assert.equal(build.status, 0, `building cordon-relay failed:\n${build.stderr}`);
  assert.equal(spawnSync('curl', ['--version']).status, 0, 'curl is required for the channel test');
  certs = makeTestCerts(['secure.test']);
  plain = http.createServer((_req, res) => res.end('plain ok\n'));
  secure = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (_req, res) => res.end('secure ok\n'));
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
  plainPort = (plain.address() as net.AddressInfo).port;
  securePort = (secure.address() as net.AddressInfo).port;
});

after(() => {
  plain.close();
  secure.close();
  certs.cleanup();
  rmSync(dir, { recursive: true, force: true });
});


/** Runs `curl ARGS` as the relay's command, with the proxy variables a sandbox gets. */
function curlViaRelay(relayPort: number, socketPath: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proxyUrl = `http://127.0.0.1:${relayPort}`;
    const child = spawn(relayBin, ['--listen', `127.0.0.1:${relayPort}`, '--to', socketPath, '--', 'curl', '-sS', '--max-time', '10', ...args], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, http_proxy: proxyUrl, https_proxy: proxyUrl, NO_PROXY: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

void test('curl through relay and proxy: allowed, denied, https tunnel, then fail closed when the proxy dies', async () => {
  const socketPath = join(dir, 'proxy.sock');
  const audit = new MemoryAuditSink();
  const r = compileEgressPolicy({
    allow: [`plain.test:${plainPort}`, `secure.test:${securePort}`],
    allowRanges: ['127.0.0.0/8'],
    resolve: { 'plain.test': '127.0.0.1', 'secure.test': '127.0.0.1' },
  });
  assert.ok(r.ok);
  if (!r.ok) return;
  const proxy = new EgressProxy({ socketPath, policy: r.policy, audit, hostAddresses: () => [], resolver: () => Promise.resolve({ ok: false, why: 'ENOTFOUND' }) });
  await proxy.start();
  try {
    // The relay starts listening before curl runs, so curl's first connect finds it.
    const ok = await curlViaRelay(await freePort(), socketPath, [`http://plain.test:${plainPort}/`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'plain ok\n');

    const tunnel = await curlViaRelay(await freePort(), socketPath, ['--cacert', certs.caFile, `https://secure.test:${securePort}/`]);
    assert.equal(tunnel.code, 0, tunnel.stderr);
    assert.equal(tunnel.stdout, 'secure ok\n');

    const denied = await curlViaRelay(await freePort(), socketPath, ['-i', 'http://unlisted.test/']);
    assert.match(denied.stdout, /^HTTP\/1\.1 403/);
    assert.match(denied.stdout, /X-Cordon-Deny: host_not_allowed/i);

    const loop = await curlViaRelay(await freePort(), socketPath, ['-i', `http://0x7f000001:${plainPort}/`]);
    assert.match(loop.stdout, /X-Cordon-Deny: host_not_allowed|X-Cordon-Deny: address_blocked/i);

  } finally {
    await proxy.stop();
  }
  // Proxy gone: the relay closes every connection, so curl fails; nothing falls back to a direct route.
  const dead = await curlViaRelay(await freePort(), socketPath, [`http://plain.test:${plainPort}/`]);
  assert.notEqual(dead.code, 0);
  assert.equal(dead.stdout, '');
  await new Promise((res) => setTimeout(res, 50));
  assert.ok(audit.events.some((e) => e.kind === 'egress.allow' && e.details?.['channel'] === 'connect'));
  assert.ok(audit.events.some((e) => e.kind === 'egress.deny'));
});
