/**
 * The fake Anthropic vendor (fake-vendor.ts) against the REAL Claude Code
 * binary, run on the host: `claude -p hi` must print the fake reply. Claude
 * trusts the throwaway test CA through NODE_EXTRA_CA_CERTS. All of its traffic
 * stays on loopback: nonessential traffic is switched off, and HTTPS_PROXY
 * points at a loopback trap that refuses (and records) any host other than
 * the fake vendor, so nothing can leave the machine even if Claude tried.
 * A second run preloads the connect shim as the sandbox does and goes through
 * a real EgressProxy's model route, which only its Unix socket can reach.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { MemoryAuditSink } from '../core/audit/audit-event.js';
import { ConnectionGate } from '../core/egress/connection-gate.js';
import { compileEgressPolicy, modelRoutesOf } from '../core/egress/egress-policy.js';
import { EgressProxy } from '../core/egress/egress-proxy.js';
import { freePort } from '../core/egress/free-port.js';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { ensureConnectShim, SHIM_SOCKET_NAME } from '../core/session/session-egress.js';
import { CLAUDE_CODE_VERSION } from '../core/image/image-build.js';
import { resolveCordonPaths } from '../core/paths/cordon-paths.js';
import { startFakeVendor, type FakeVendor } from './fake-vendor.js';

const REPLY = 'fake-vendor-reply-7f3a';
const CLAUDE_TIMEOUT_MS = 60_000;
const NPM_PACK_TIMEOUT_MS = 180_000;

const scratch: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(d);
  return d;
}

/**
 * The Claude Code native binary: the one `cordon image build` caches, else a
 * local npm install in /tmp/cc, else `npm pack` into a temporary folder.
 * Throws (never skips) when none of these works.
 */
function locateClaude(): string {
  const candidates = [
    join(resolveCordonPaths(process.env, process.platform).cacheDir, 'image', `claude-${CLAUDE_CODE_VERSION}`, 'package', 'claude'),
    '/tmp/cc/node_modules/@anthropic-ai/claude-code-linux-x64/claude',
  ];
  for (const c of candidates) if (existsSync(c)) return c;
  const arch = process.arch === 'x64' || process.arch === 'arm64' ? process.arch : undefined;
  if (process.platform !== 'linux' || arch === undefined) {
    throw new Error(`no Claude Code binary: none at ${candidates.join(' or ')}, and npm has no Linux build for ${process.platform}/${process.arch}`);
  }
  const pkg = `@anthropic-ai/claude-code-linux-${arch}@${CLAUDE_CODE_VERSION}`;
  const dir = tempDir('cordon-claude-');
  const pack = spawnSync('npm', ['pack', '--silent', pkg, '--pack-destination', dir], { encoding: 'utf8', timeout: NPM_PACK_TIMEOUT_MS });
  const tgz = readdirSync(dir).find((n) => n.endsWith('.tgz'));
  if (pack.status !== 0 || tgz === undefined) {
    throw new Error(`no Claude Code binary: none at ${candidates.join(' or ')}, and \`npm pack ${pkg}\` failed: ${pack.error?.message ?? pack.stderr}`);
  }
  const untar = spawnSync('tar', ['-xzf', join(dir, tgz), '-C', dir, 'package/claude'], { encoding: 'utf8', timeout: 60_000 });
  const bin = join(dir, 'package', 'claude');
  if (untar.status !== 0 || !existsSync(bin)) throw new Error(`no Claude Code binary: could not extract package/claude from ${pkg}: ${untar.stderr}`);
  return bin;
}

interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

function run(bin: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe('fake vendor with the real Claude Code binary', () => {
  let certs: TestCerts;
  let vendor: FakeVendor;
  let trap: Server;
  let trapPort = 0;
  /** What Claude tried to reach other than the fake vendor. */
  const strays: string[] = [];

  before(async () => {
    certs = makeTestCerts();
    vendor = await startFakeVendor({ key: certs.keyPem, cert: certs.certPem, replyText: REPLY });
    trap = createHttpServer((req, res) => {
      strays.push(`${req.method ?? ''} ${req.url ?? ''}`);
      res.writeHead(403).end();
    });
    trap.on('connect', (req: IncomingMessage, socket: Duplex) => {
      strays.push(`CONNECT ${req.url ?? ''}`);
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    trapPort = (trap.address() as AddressInfo).port;
  });

  after(async () => {
    await vendor.close();
    trap.closeAllConnections();
    await new Promise<void>((r) => trap.close(() => r()));
    certs.cleanup();
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
  });

  test('`claude -p hi` prints the fake reply, sending the API key to /v1/messages and nothing anywhere else', { timeout: NPM_PACK_TIMEOUT_MS + CLAUDE_TIMEOUT_MS + 30_000 }, async () => {
    const bin = locateClaude();
    const trapUrl = `http://127.0.0.1:${trapPort}`;
    // A minimal environment: nothing of the caller's (keys, proxies, config) leaks in.
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: tempDir('cordon-claude-home-'),
      ANTHROPIC_BASE_URL: `https://localhost:${vendor.port}`,
      ANTHROPIC_API_KEY: 'test-key',
      NODE_EXTRA_CA_CERTS: certs.caFile,
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      HTTPS_PROXY: trapUrl,
      https_proxy: trapUrl,
      HTTP_PROXY: trapUrl,
      http_proxy: trapUrl,
      NO_PROXY: 'localhost,127.0.0.1',
      no_proxy: 'localhost,127.0.0.1',
    };
    const r = await run(bin, ['-p', 'hi'], env, CLAUDE_TIMEOUT_MS);
    const seen = vendor.requests.map((q) => `${q.method} ${q.path}`).join(', ');
    const detail = `binary ${bin}; exit ${String(r.code)} signal ${String(r.signal)} after ${r.ms} ms; vendor saw [${seen}]; stderr: ${r.stderr.slice(0, 2000)}`;
    assert.equal(r.signal, null, `claude was killed (timeout ${CLAUDE_TIMEOUT_MS} ms?): ${detail}`);
    assert.equal(r.code, 0, detail);
    assert.ok(r.stdout.includes(REPLY), `stdout ${JSON.stringify(r.stdout)} lacks the fake reply: ${detail}`);
    const messages = vendor.requests.filter((q) => q.method === 'POST' && q.path.split('?', 1)[0] === '/v1/messages');
    assert.ok(messages.length > 0, `no POST /v1/messages: ${detail}`);
    for (const m of messages) assert.equal(m.headers['x-api-key'], 'test-key', `POST ${m.path} carried the wrong API key`);
    assert.deepEqual(strays, [], 'claude tried to reach hosts other than the fake vendor');
  });

  test('preloaded with the connect shim as in the sandbox, `claude -p hi` reaches the vendor through a real EgressProxy\'s model route on the shim socket', { timeout: NPM_PACK_TIMEOUT_MS + CLAUDE_TIMEOUT_MS + 30_000 }, async () => {
    const bin = locateClaude();
    const shimBuild = ensureConnectShim(tempDir('cordon-shim-cache-'));
    if (!shimBuild.ok) throw new Error(shimBuild.message);
    // Nothing listens on this port over TCP: Claude's connections can only work through the shim.
    const port = await freePort();
    const sockets = tempDir('cordon-shim-');
    const policy = compileEgressPolicy({ allowRanges: ['127.0.0.0/8', '::1/128'] });
    if (!policy.ok) throw new Error(policy.errors.join('; '));
    const audit = new MemoryAuditSink();
    const proxy = new EgressProxy({
      socketPath: join(sockets, 'proxy.sock'),
      shim: await ConnectionGate.listen(join(sockets, SHIM_SOCKET_NAME), { mode: 0o600 }),
      policy: policy.policy,
      modelRoutes: modelRoutesOf({ anthropic: { baseUrl: `https://localhost:${vendor.port}`, caFile: certs.caFile } }),
      audit,
      selfAuthorities: [`127.0.0.1:${port}`],
    });
    await proxy.start();
    try {
      const proxyUrl = `http://127.0.0.1:${port}`;
      const env: Record<string, string> = {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: tempDir('cordon-claude-home-'),
        ANTHROPIC_BASE_URL: `${proxyUrl}/model/anthropic`,
        ANTHROPIC_API_KEY: 'test-key',
        DISABLE_AUTOUPDATER: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        HTTPS_PROXY: proxyUrl,
        https_proxy: proxyUrl,
        HTTP_PROXY: proxyUrl,
        http_proxy: proxyUrl,
        NO_PROXY: '',
        no_proxy: '',
        LD_PRELOAD: shimBuild.path,
        CORDON_EGRESS_PORT: String(port),
        CORDON_EGRESS_SOCKET: join(sockets, SHIM_SOCKET_NAME),
      };
      const r = await run(bin, ['-p', 'hi'], env, CLAUDE_TIMEOUT_MS);
      const kinds = audit.events.map((e) => `${e.kind} ${String(e.details?.['host'])} via ${String(e.details?.['clientPath'])}`).join(', ');
      const detail = `binary ${bin}; exit ${String(r.code)} signal ${String(r.signal)} after ${r.ms} ms; proxy audited [${kinds}]; stderr: ${r.stderr.slice(0, 2000)}`;
      assert.equal(r.code, 0, detail);
      assert.ok(r.stdout.includes(REPLY), `stdout ${JSON.stringify(r.stdout)} lacks the fake reply: ${detail}`);
      const model = audit.events.filter((e) => e.details?.['channel'] === 'model');
      assert.ok(model.length > 0, `no model-route request audited: ${detail}`);
      for (const e of model) assert.equal(e.details?.['clientPath'], 'shim', detail);
      assert.deepEqual(audit.events.filter((e) => e.kind === 'egress.deny'), [], `claude tried to go elsewhere: ${detail}`);
    } finally {
      await proxy.stop();
    }
  });
});
