// Inspected CONNECT tunnels (issue 19) over real sockets: loopback servers
// only, a throwaway test CA for the upstream servers and a throwaway
// inspection CA (key in a memory slot) for the leaves.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { allow, deny } from '../decision.js';
import { loadOrCreateInspectionCa, MemoryCaKeySlot, type InspectionCa } from '../inspect/inspection-ca.js';
import { LeafIssuer } from '../inspect/leaf-issuer.js';
import { compileEgressPolicy } from './egress-policy.js';
import { EgressProxy, type EgressProxyOptions, type HostResolver } from './egress-proxy.js';
import type { RequestFilter } from './model-route.js';
import { makeTestCerts, type TestCerts } from './test-certs.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-inspect-'));
let certs: TestCerts;
let ca: InspectionCa;
let server: https.Server;
let port = 0;
const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }> = [];
const proxies: EgressProxy[] = [];
let sockets = 0;
const noDns: HostResolver = () => Promise.resolve({ ok: false, why: 'ENOTFOUND' });

before(async () => {
  certs = makeTestCerts(['upstream.test', 'plain.test']);
  const r = await loadOrCreateInspectionCa(join(dir, 'ca'), new MemoryCaKeySlot());
  assert.ok(r.ok);
  ca = r.value;
  server = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url?.startsWith('/echo-auth')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-echo': String(req.headers.authorization ?? '') });
        res.end(`you sent ${String(req.headers.authorization ?? '')}`);
        return;
      }
      // The response is a function of the request: the property test compares two paths' answers.
      res.writeHead(201, { 'content-type': 'application/octet-stream', 'x-len': String(body.length), 'x-custom': 'Yes' });
      res.end(Buffer.concat([Buffer.from(`${req.method} ${req.url}\n`), body, Buffer.from(body).reverse()]));
    });
  });
  await new Promise<void>((r2) => server.listen(0, '127.0.0.1', r2));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  for (const p of proxies) await p.stop();
  server.close();
  certs.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function egress(extra: Record<string, unknown> = {}): unknown {
  return {
    allow: [`upstream.test:${port}`, `plain.test:${port}`, `wrongname.test:${port}`],
    inspect: ['upstream.test', 'wrongname.test'],
    allowRanges: ['127.0.0.0/8'],
    resolve: { 'upstream.test': '127.0.0.1', 'plain.test': '127.0.0.1', 'wrongname.test': '127.0.0.1' },
    caFile: certs.caFile,
    ...extra,
  };
}

async function startProxy(policyInput: unknown = egress(), extra: Partial<EgressProxyOptions> = {}): Promise<{ proxy: EgressProxy; audit: MemoryAuditSink; socketPath: string }> {
  const compiled = compileEgressPolicy(policyInput);
  if (!compiled.ok) throw new Error(compiled.errors.join('; '));
  const audit = new MemoryAuditSink();
  const socketPath = join(dir, `p${++sockets}.sock`);
  const proxy = new EgressProxy({ socketPath, policy: compiled.policy, audit, resolver: noDns, hostAddresses: () => [], sessionId: 's1', inspection: { leaves: new LeafIssuer(ca) }, ...extra });
  await proxy.start();
  proxies.push(proxy);
  return { proxy, audit, socketPath };
}

/** CONNECT through the proxy; the raw tunnel socket on 200, else the refusal. */
function connect(socketPath: string, target: string): Promise<{ status: number; deny: string | undefined; socket: net.Socket | null }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'CONNECT', path: target, agent: false });
    req.on('connect', (res: http.IncomingMessage, socket: net.Socket) => resolve({ status: res.statusCode ?? 0, deny: res.headers['x-cordon-deny'] as string | undefined, socket }));
    req.on('response', (res: http.IncomingMessage) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, deny: res.headers['x-cordon-deny'] as string | undefined, socket: null });
    });
    req.on('error', reject);
    req.end();
  });
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  peerIssuer: string;
}

/** An HTTPS request the way a client in the sandbox makes it: CONNECT, then TLS trusting CAS, then HTTP/1.1. */
async function request(socketPath: string, host: string, opts: { path?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | string; servername?: string; cas?: string[]; chunked?: boolean } = {}): Promise<Answer> {
  const t = await connect(socketPath, `${host}:${port}`);
  if (!t.socket) throw new Error(`CONNECT refused: ${t.status} ${t.deny}`);
  const secure = tls.connect({ socket: t.socket, servername: opts.servername ?? host, ca: opts.cas ?? [ca.certPem, certs.caPem] });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  const peerIssuer = new X509Certificate(secure.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)).issuer;
  return new Promise((resolve, reject) => {
    const req = http.request({ createConnection: () => secure, host, port, path: opts.path ?? '/', method: opts.method ?? 'POST', headers: { host: `${host}:${port}`, ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        secure.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), peerIssuer });
      });
    });
    req.on('error', reject);
    if (opts.chunked && opts.body !== undefined) {
      const b = Buffer.from(opts.body);
      req.write(b.subarray(0, 3));
      setTimeout(() => req.end(b.subarray(3)), 20);
    } else req.end(opts.body);
  });
}

const upper: RequestFilter = { name: 'upper', apply: (r) => Promise.resolve({ kind: 'rewrite', body: Buffer.from(r.body.toString('utf8').toUpperCase()) }) };
const refuser: RequestFilter = { name: 'refuser', apply: (r) => Promise.resolve(r.body.includes('SECRET') ? deny('dlp_blocked', 'Cordon DLP blocked this request.', { status: 403 }) : allow()) };

describe('inspected tunnels', { timeout: 60_000 }, () => {
  test("a request passes through Cordon's leaf to the real server, and is audited as inspected", async () => {
    const { audit, socketPath } = await startProxy();
    seen.length = 0;
    const a = await request(socketPath, 'upstream.test', { path: '/x?q=1', body: 'hello' });
    assert.equal(a.status, 201);
    assert.match(a.peerIssuer, /Cordon inspection CA/, 'the client did not see the inspection leaf');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.body.toString(), 'hello');
    assert.equal(seen[0]?.url, '/x?q=1');
    assert.equal(seen[0]?.headers.host, `upstream.test:${port}`);
    assert.equal(a.body.toString(), `POST /x?q=1\nhelloolleh`);
    const allowRec = audit.events.find((e) => e.kind === 'egress.allow' && (e.details as Record<string, unknown>)['inspected'] === true);
    assert.ok(allowRec, JSON.stringify(audit.events.map((e) => e.kind)));
    assert.equal((allowRec.details as Record<string, unknown>)['inspectRule'], 'upstream.test');
  });

  test('new tunnels to the same checked destination reuse a pooled upstream connection; another proxy (session) does not', async () => {
    let handshakes = 0;
    const count = (): void => {
      handshakes++;
    };
    server.on('secureConnection', count);
    try {
      const { socketPath } = await startProxy();
      for (let i = 0; i < 3; i++) assert.equal((await request(socketPath, 'upstream.test', { path: `/pool/${i}` })).status, 201);
      assert.equal(handshakes, 1, 'each new tunnel paid its own upstream handshake');
      const other = await startProxy();
      assert.equal((await request(other.socketPath, 'upstream.test', { path: '/pool/other' })).status, 201);
      assert.equal(handshakes, 2, "one session's upstream connection served another's");
    } finally {
      server.off('secureConnection', count);
    }
  });

  test('the filters see and rewrite the body: the server receives what they sent; a refusal never reaches it', async () => {
    const { socketPath } = await startProxy(egress(), { inspectFilters: [refuser, upper] });
    seen.length = 0;
    const ok = await request(socketPath, 'upstream.test', { body: 'quiet words' });
    assert.equal(ok.status, 201);
    assert.equal(seen[0]?.body.toString(), 'QUIET WORDS');
    const blocked = await request(socketPath, 'upstream.test', { body: 'my SECRET' });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.headers['x-cordon-deny'], 'dlp_blocked');
    assert.equal(seen.length, 1, 'the refused request reached the server');
  });

  test('a chunked upload arrives as one filtered body with a length; a gzip body is passed to the filters as sent', async () => {
    const bodies: Buffer[] = [];
    const spy: RequestFilter = { name: 'spy', apply: (r) => (bodies.push(r.body), Promise.resolve(allow())) };
    const { socketPath } = await startProxy(egress(), { inspectFilters: [spy] });
    seen.length = 0;
    await request(socketPath, 'upstream.test', { body: 'abcdefgh', chunked: true });
    assert.equal(bodies[0]?.toString(), 'abcdefgh');
    assert.equal(seen[0]?.headers['content-length'], '8');
    assert.equal(seen[0]?.headers['transfer-encoding'], undefined);
    const gz = gzipSync('zipped');
    await request(socketPath, 'upstream.test', { body: gz, headers: { 'content-encoding': 'gzip' } });
    assert.deepEqual(bodies[1], gz);
  });

  test('a host that is allowed but not inspected stays an opaque tunnel: the client sees the server\'s own certificate', async () => {
    const { socketPath } = await startProxy(egress(), { inspectFilters: [upper] });
    seen.length = 0;
    const a = await request(socketPath, 'plain.test', { body: 'lower' });
    assert.match(a.peerIssuer, /Cordon Test CA/);
    assert.equal(seen[0]?.body.toString(), 'lower', 'a filter ran on an opaque tunnel');
  });

  test('inspect never allows by itself; a private address behind an inspected name is refused as for any tunnel', async () => {
    const { socketPath } = await startProxy(egress({ allow: [], inspect: ['upstream.test'] }));
    assert.equal((await connect(socketPath, `upstream.test:${port}`)).deny, 'host_not_allowed');
    const p2 = await startProxy(egress({ allowRanges: [] }));
    assert.equal((await connect(p2.socketPath, `upstream.test:${port}`)).deny, 'address_blocked');
  });

  test('a ClientHello naming another host is refused (sni_mismatch), and so is a Host header for another host', async () => {
    const { audit, socketPath } = await startProxy();
    await assert.rejects(request(socketPath, 'upstream.test', { servername: 'bank.test' }));
    assert.ok(await waitFor(() => audit.events.some((e) => (e.details as Record<string, unknown>)['reason'] === 'sni_mismatch')));
    const a = await request(socketPath, 'upstream.test', { headers: { host: 'plain.test' } });
    assert.equal(a.status, 421);
    assert.equal(a.headers['x-cordon-deny'], 'host_mismatch');
  });

  test('a server whose certificate does not verify (unknown CA, wrong name) is refused: 502 upstream_tls_failed', async () => {
    const noCa = await startProxy(egress({ caFile: undefined }));
    seen.length = 0;
    const a = await request(noCa.socketPath, 'upstream.test');
    assert.equal(a.status, 502);
    assert.equal(a.headers['x-cordon-deny'], 'upstream_tls_failed');
    const { socketPath } = await startProxy();
    const b = await request(socketPath, 'wrongname.test');
    assert.equal(b.status, 502);
    assert.equal(b.headers['x-cordon-deny'], 'upstream_tls_failed');
    assert.equal(seen.length, 0, 'a request reached a server that did not verify');
  });

  test('no inspection CA in the session: an inspected host is refused, not tunnelled unseen', async () => {
    const { socketPath } = await startProxy(egress(), { inspection: null });
    const t = await connect(socketPath, `upstream.test:${port}`);
    assert.equal(t.status, 403);
    assert.equal(t.deny, 'inspection_unavailable');
  });

  test('not TLS, garbage after the handshake and upgrades are closed and audited; the proxy goes on serving', async () => {
    const { audit, socketPath } = await startProxy();
    const t = await connect(socketPath, `upstream.test:${port}`);
    t.socket?.write('GET / HTTP/1.1\r\nHost: upstream.test\r\n\r\n');
    await new Promise((r) => t.socket?.once('close', r));
    const t2 = await connect(socketPath, `upstream.test:${port}`);
    const s = tls.connect({ socket: t2.socket ?? undefined, servername: 'upstream.test', ca: ca.certPem });
    await new Promise((r) => s.once('secureConnect', r));
    s.write('\x00\x01 not http at all\r\n\r\n');
    await new Promise((r) => s.once('close', r));
    const up = await request(socketPath, 'upstream.test', { method: 'GET', headers: { connection: 'upgrade', upgrade: 'websocket' } }).catch((e: Error) => e);
    assert.ok(up instanceof Error || up.status === 403);
    const reasons = audit.events.map((e) => (e.details as Record<string, unknown>)['reason']);
    for (const r of ['not_tls', 'not_http', 'upgrade_not_inspected']) assert.ok(reasons.includes(r), `${r} not audited: ${JSON.stringify(reasons)}`);
    assert.equal((await request(socketPath, 'upstream.test', { body: 'still here' })).status, 201);
  });

  test('a body over the inspection limit is refused with 413', async () => {
    const { socketPath } = await startProxy(egress(), { limits: { maxInspectedBodyBytes: 1000 } });
    const a = await request(socketPath, 'upstream.test', { body: 'x'.repeat(5000) }).catch((e: Error) => e);
    assert.ok(!(a instanceof Error) && a.status === 413, String(a instanceof Error ? a.message : a.status));
  });

  test('property: an inspected and an opaque tunnel return byte-identical responses for random bodies', async () => {
    const inspected = await startProxy();
    const opaque = await startProxy(egress({ inspect: [] }));
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 70_000 }), fc.constantFrom('/', '/a/b?c=d', '/%7E?x'), async (bytes, path) => {
        const body = Buffer.from(bytes);
        const a = await request(inspected.socketPath, 'upstream.test', { body, path, cas: [ca.certPem] });
        const b = await request(opaque.socketPath, 'upstream.test', { body, path, cas: [certs.caPem] });
        assert.equal(a.status, b.status);
        assert.ok(a.body.equals(b.body), 'bodies differ');
        const strip = (raw: string[]): string[] => raw.filter((_, i) => i % 2 === 0).map((h, i) => `${h}: ${raw[2 * i + 1] ?? ''}`).filter((h) => !/^(date|connection|keep-alive|transfer-encoding):/i.test(h));
        assert.deepEqual(strip(a.rawHeaders), strip(b.rawHeaders));
      }),
      { numRuns: 25 },
    );
  });
});

async function waitFor(check: () => boolean, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}
