// Inspected CONNECT tunnels (issue 19) over real sockets: loopback servers
// only, a throwaway test CA for the upstream servers and a throwaway
// inspection CA (key in a memory slot) for the leaves.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { createInspectDlp } from '../dlp/inspect-dlp.js';
import { compileDlpPolicy, DlpPolicySchema } from '../dlp/policy.js';
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
      if (req.url?.startsWith('/slow')) {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('late');
        }, 300);
        return;
      }
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

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  alpn: string | false;
}

/** A TLS connection through an inspected tunnel that offers ALPN PROTOCOLS (default h2 only). */
async function tunnelTls(socketPath: string, host: string, protocols: string[] = ['h2'], cas: string[] = [ca.certPem, certs.caPem]): Promise<tls.TLSSocket> {
  const t = await connect(socketPath, `${host}:${port}`);
  if (!t.socket) throw new Error(`CONNECT refused: ${t.status} ${t.deny}`);
  const secure = tls.connect({ socket: t.socket, servername: host, ca: cas, ALPNProtocols: protocols });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  return secure;
}

/** HTTP/2 requests on one inspected connection, as curl --http2 or Node's client in the sandbox make them. */
async function h2session(socketPath: string, host: string, cas?: string[]): Promise<{ session: http2.ClientHttp2Session; alpn: string | false }> {
  const secure = await tunnelTls(socketPath, host, ['h2', 'http/1.1'], cas);
  const session = http2.connect(`https://${host}:${port}`, { createConnection: () => secure });
  session.on('error', () => undefined);
  return { session, alpn: secure.alpnProtocol ?? false };
}

function h2ask(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string, chunked = false): Promise<H2Answer & { rst: number }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers[':method'] === 'CONNECT' ? headers : { ':method': 'POST', ':path': '/', ...headers });
    let head: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (head = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => resolve({ status: Number(head[':status'] ?? 0), headers: head, body: Buffer.concat(chunks), alpn: 'h2', rst: req.rstCode ?? 0 }));
    req.on('error', (e: Error) => (req.rstCode ? undefined : reject(e)));
    if (chunked && body !== undefined) {
      const b = Buffer.from(body);
      req.write(b.subarray(0, 3));
      setTimeout(() => req.end(b.subarray(3)), 20);
    } else if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** One HTTP/2 request on a new inspected connection. */
async function h2request(socketPath: string, host: string, opts: { path?: string; method?: string; headers?: http2.OutgoingHttpHeaders; body?: Buffer | string; cas?: string[]; chunked?: boolean } = {}): Promise<H2Answer & { rst: number }> {
  const { session, alpn } = await h2session(socketPath, host, opts.cas);
  try {
    const a = await h2ask(session, { ':method': opts.method ?? 'POST', ':path': opts.path ?? '/', ':authority': `${host}:${port}`, ...opts.headers }, opts.body, opts.chunked);
    return { ...a, alpn };
  } finally {
    session.close();
  }
}

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

describe('HTTP/2 inside inspected tunnels', { timeout: 120_000 }, () => {
  test('the leaf offers h2: a request is read by node:http2, filtered, and sent to the server as HTTP/1.1; the audit names the version', async () => {
    const { audit, socketPath } = await startProxy(egress(), { inspectFilters: [refuser, upper] });
    seen.length = 0;
    const a = await h2request(socketPath, 'upstream.test', { path: '/h2?q=1', body: 'quiet words', chunked: true, headers: { cookie: 'a=1', 'x-multi': 'one' } });
    assert.equal(a.alpn, 'h2');
    assert.equal(a.status, 201);
    assert.equal(a.body.toString(), 'POST /h2?q=1\nQUIET WORDSSDROW TEIUQ');
    assert.equal(a.headers['x-custom'], 'Yes');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.body.toString(), 'QUIET WORDS');
    assert.equal(seen[0]?.headers['content-length'], '11', 'the server did not get a fresh Content-Length');
    assert.equal(seen[0]?.headers.host, `upstream.test:${port}`);
    assert.equal(seen[0]?.headers.cookie, 'a=1');
    const blocked = await h2request(socketPath, 'upstream.test', { body: 'my SECRET' });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.headers['x-cordon-deny'], 'dlp_blocked');
    assert.equal(seen.length, 1, 'the refused request reached the server');
    const allowRec = audit.events.find((e) => e.kind === 'egress.allow' && (e.details as Record<string, unknown>)['httpVersion'] === '2');
    assert.ok(allowRec, JSON.stringify(audit.events.map((e) => e.details)));
    assert.equal((allowRec.details as Record<string, unknown>)['path'], '/h2');
    const deny = audit.events.find((e) => e.kind === 'egress.deny' && (e.details as Record<string, unknown>)['reason'] === 'dlp_blocked');
    assert.equal((deny?.details as Record<string, unknown> | undefined)?.['httpVersion'], '2');
  });

  test("the session's real DLP sees the same request either way: JSON, form, multipart, gzip and br bodies, a URL and a header reach the server identically redacted over HTTP/1.1 and HTTP/2", async () => {
    const AWS = 'AKIAQ3EGRJ2KZ7XNP4VB';
    const audit = new MemoryAuditSink();
    const dlp = createInspectDlp({ sessionId: 's1', policy: compileDlpPolicy(DlpPolicySchema.parse({ categories: { secret: 'redact', pii: 'redact', custom: 'redact' } })), audit });
    const { socketPath } = await startProxy(egress(), { inspectFilters: [dlp.filter] });
    const boundary = 'b0undary';
    const cases: Array<{ path: string; headers: Record<string, string>; body: Buffer }> = [
      { path: '/json', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ note: `key ${AWS}`, n: 1 })) },
      { path: '/form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(`a=1&key=${encodeURIComponent(`id ${AWS}`)}`) },
      { path: '/multipart', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\nkey ${AWS}\r\n--${boundary}--\r\n`) },
      { path: '/gzip', headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip' }, body: gzipSync(`zipped ${AWS}`) },
      { path: '/br', headers: { 'content-type': 'text/plain', 'content-encoding': 'br' }, body: brotliCompressSync(Buffer.from(`brotli ${AWS}`)) },
      { path: `/url?key=${AWS}`, headers: {}, body: Buffer.from('') },
      { path: '/header', headers: { 'x-note': `key ${AWS}` }, body: Buffer.from('plain') },
    ];
    for (const c of cases) {
      seen.length = 0;
      const one = await request(socketPath, 'upstream.test', { path: c.path, headers: c.headers, body: c.body });
      const two = await h2request(socketPath, 'upstream.test', { path: c.path, headers: c.headers, body: c.body });
      assert.equal(one.status, two.status, c.path);
      assert.equal(seen.length, 2, c.path);
      const [a, b] = seen;
      const wire = (x: (typeof seen)[number] | undefined): string => JSON.stringify({ url: x?.url, body: x?.body.toString('latin1'), headers: Object.entries(x?.headers ?? {}).filter(([k]) => k !== 'connection').sort() });
      assert.equal(wire(b), wire(a), `${c.path}: HTTP/2 sent the server something else than HTTP/1.1`);
      assert.ok(!wire(a).includes(AWS), `${c.path}: the key reached the server: ${wire(a)}`);
    }
    assert.ok(!JSON.stringify(audit.events).includes(AWS), 'a value reached the audit records');
  });

  test('many streams on one connection: split cookies are joined with "; ", each stream is its own filtered request', async () => {
    const bodies: string[] = [];
    const spy: RequestFilter = { name: 'spy', apply: (r) => (bodies.push(`${r.path} ${r.headers['cookie'] ?? ''} ${r.body.toString()}`), Promise.resolve(allow())) };
    const { socketPath } = await startProxy(egress(), { inspectFilters: [spy] });
    const { session } = await h2session(socketPath, 'upstream.test');
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => h2ask(session, { ':path': `/s/${i}`, ':authority': `upstream.test:${port}`, cookie: ['a=1', `b=${i}`] }, `body ${i}`)));
      answers.forEach((a, i) => assert.equal(a.body.toString(), `POST /s/${i}\nbody ${i}${Buffer.from(`body ${i}`).reverse().toString()}`));
      assert.equal(bodies.length, 20);
      assert.ok(bodies.includes('/s/7 a=1; b=7 body 7'), bodies.join('|'));
    } finally {
      session.close();
    }
  });

  test(':authority for another host is refused (421 host_mismatch), and so is a host header that disagrees with it', async () => {
    const { socketPath } = await startProxy();
    seen.length = 0;
    const a = await h2request(socketPath, 'upstream.test', { headers: { ':authority': `plain.test:${port}` } });
    assert.equal(a.status, 421);
    assert.equal(a.headers['x-cordon-deny'], 'host_mismatch');
    const b = await h2request(socketPath, 'upstream.test', { headers: { host: `plain.test:${port}` } });
    assert.equal(b.status, 421);
    assert.equal(seen.length, 0);
  });

  test('CONNECT inside h2 is refused (upgrade_not_inspected); a body over the limit gets 413 and the stream is ended', async () => {
    const { audit, socketPath } = await startProxy(egress(), { limits: { maxInspectedBodyBytes: 1000 } });
    seen.length = 0;
    const { session } = await h2session(socketPath, 'upstream.test');
    try {
      const c = await h2ask(session, { ':method': 'CONNECT', ':authority': `upstream.test:${port}` });
      assert.equal(c.status, 403);
      assert.equal(c.headers['x-cordon-deny'], 'upgrade_not_inspected');
      const big = await h2ask(session, { ':path': '/big', ':authority': `upstream.test:${port}` }, 'x'.repeat(50_000));
      assert.equal(big.status, 413);
      assert.equal(big.headers['x-cordon-deny'], 'body_too_large');
      const declared = await h2ask(session, { ':path': '/big', ':authority': `upstream.test:${port}`, 'content-length': '5000' }, 'x'.repeat(5000));
      assert.equal(declared.status, 413);
      // The connection is still good for the next request.
      assert.equal((await h2ask(session, { ':path': '/after', ':authority': `upstream.test:${port}` }, 'ok')).status, 201);
    } finally {
      session.close();
    }
    assert.deepEqual(seen.map((x) => x.url), ['/after']);
    assert.ok(audit.events.some((e) => (e.details as Record<string, unknown>)['reason'] === 'upgrade_not_inspected'));
  });

  test('responses: HEAD and 204-style answers, set-cookie lists and hop-by-hop headers are carried as HTTP/2 allows', async () => {
    const { socketPath } = await startProxy();
    const head = await h2request(socketPath, 'upstream.test', { method: 'HEAD', path: '/head' });
    assert.equal(head.status, 201);
    assert.equal(head.body.length, 0);
    const get = await h2request(socketPath, 'upstream.test', { method: 'GET', path: '/echo-auth', headers: { authorization: 'Bearer abc' } });
    assert.equal(get.status, 200);
    assert.equal(get.headers['x-echo'], 'Bearer abc');
    assert.equal(get.headers['connection'], undefined);
  });

  test('expect: 100-continue over HTTP/2 is answered by Cordon and not sent on; the body arrives whole', async () => {
    const { socketPath } = await startProxy();
    seen.length = 0;
    const a = await h2request(socketPath, 'upstream.test', { path: '/expect', headers: { expect: '100-continue' }, body: 'after continue' });
    assert.equal(a.status, 201);
    assert.equal(seen[0]?.body.toString(), 'after continue');
    assert.equal(seen[0]?.headers.expect, undefined);
  });

  test('a client that resets its stream while the server is still answering costs nothing: the proxy stays up, the connection goes on', async () => {
    const { socketPath } = await startProxy();
    const { session } = await h2session(socketPath, 'upstream.test');
    try {
      for (let i = 0; i < 5; i++) {
        const req = session.request({ ':method': 'GET', ':path': `/slow/${i}`, ':authority': `upstream.test:${port}` });
        req.on('error', () => undefined);
        req.end();
        setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), 50 + i * 60);
      }
      await new Promise((r) => setTimeout(r, 700));
      assert.equal((await h2ask(session, { ':path': '/after-resets', ':authority': `upstream.test:${port}` }, 'x')).status, 201);
    } finally {
      session.close();
    }
  });

  test('property: an inspected HTTP/2 exchange returns the bytes and headers an opaque HTTP/1.1 tunnel returns, for random bodies', async () => {
    const inspected = await startProxy();
    const opaque = await startProxy(egress({ inspect: [] }));
    const dropped = /^(date|connection|keep-alive|transfer-encoding)$/;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 70_000 }), fc.constantFrom('/', '/a/b?c=d', '/%7E?x'), async (bytes, path) => {
        const body = Buffer.from(bytes);
        const a = await h2request(inspected.socketPath, 'upstream.test', { body, path, cas: [ca.certPem] });
        const b = await request(opaque.socketPath, 'upstream.test', { body, path, cas: [certs.caPem] });
        assert.equal(a.status, b.status);
        assert.ok(a.body.equals(b.body), 'bodies differ');
        const h1 = b.rawHeaders.filter((_, i) => i % 2 === 0).map((h, i) => `${h.toLowerCase()}: ${b.rawHeaders[2 * i + 1] ?? ''}`).filter((h) => !dropped.test(h.split(':')[0] ?? ''));
        const h2 = Object.entries(a.headers).filter(([k]) => !k.startsWith(':') && !dropped.test(k)).map(([k, v]) => `${k}: ${String(v)}`);
        assert.deepEqual(h2.sort(), h1.sort());
      }),
      { numRuns: 15 },
    );
  });
});

/** HTTP/2 frames written by hand: the attacks a well-behaved client library will not send. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Frame types (RFC 9113 §6). */
const F = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7, CONTINUATION: 9 } as const;
function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, bits: number, mask: number): Buffer {
  const max = (1 << bits) - 1;
  if (value < max) return Buffer.from([mask | value]);
  const out = [mask | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
/** A literal header field without indexing, new name, no Huffman: bytes exactly as given. */
function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v]);
}
const END_STREAM = 1;
const END_HEADERS = 4;

interface RawH2 {
  socket: tls.TLSSocket;
  frames: Array<{ type: number; flags: number; stream: number; payload: Buffer }>;
  closed: Promise<void>;
}

/** A raw HTTP/2 connection through an inspected tunnel: preface and SETTINGS sent, the server's SETTINGS acknowledged. */
async function rawH2(socketPath: string): Promise<RawH2> {
  const socket = await tunnelTls(socketPath, 'upstream.test', ['h2']);
  assert.equal(socket.alpnProtocol, 'h2');
  const frames: RawH2['frames'] = [];
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const f = { type: buf[3] ?? 0, flags: buf[4] ?? 0, stream: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) };
      buf = buf.subarray(9 + len);
      frames.push(f);
      if (f.type === F.SETTINGS && (f.flags & 1) === 0 && socket.writable) socket.write(frame(F.SETTINGS, 1, 0));
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(Buffer.concat([PREFACE, frame(F.SETTINGS, 0, 0)]));
  return { socket, frames, closed };
}
const basic = (path = '/raw'): Buffer[] => [literal(':method', 'POST'), literal(':scheme', 'https'), literal(':path', path), literal(':authority', `upstream.test:${port}`)];
/** The server's answer to STREAM: a HEADERS frame (its :status byte), RST_STREAM, or GOAWAY for the connection; null while none came. */
function outcome(c: RawH2, stream: number): string | null {
  for (const f of c.frames) {
    // An indexed :status (RFC 7541 Appendix A: 0x8c is 400, 0x8d 404) or a literal one.
    if (f.stream === stream && f.type === F.HEADERS) return `headers:${(f.payload[0] ?? 0).toString(16)}`;
    if (f.stream === stream && f.type === F.RST_STREAM) return `rst:${f.payload.readUInt32BE(0)}`;
    if (f.type === F.GOAWAY) return `goaway:${f.payload.readUInt32BE(4)}`;
  }
  return c.socket.destroyed ? 'closed' : null;
}

describe('HTTP/2 smuggling and floods against the inspecting proxy (raw frames)', { timeout: 120_000 }, () => {
  const cases: Array<[string, () => Buffer[], Buffer | null]> = [
    ['CR LF in a header value (a second header, or request, on the HTTP/1.1 side)', () => [...basic(), literal('x-a', 'b\r\nx-smuggled: 1')], null],
    ['an upper-case header name', () => [...basic(), literal('X-Upper', '1')], null],
    ['a transfer-encoding header', () => [...basic(), literal('transfer-encoding', 'chunked')], Buffer.from('0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['a connection header', () => [...basic(), literal('connection', 'keep-alive')], null],
    ['a content-length shorter than the DATA', () => [...basic(), literal('content-length', '3')], Buffer.from('abcdefghijkl')],
    ['a content-length longer than the DATA', () => [...basic(), literal('content-length', '30')], Buffer.from('abc')],
    ['a duplicated :path', () => [...basic(), literal(':path', '/other')], null],
    ['a pseudo-header after a regular one', () => [literal(':method', 'POST'), literal(':scheme', 'https'), literal('x-a', '1'), literal(':path', '/p'), literal(':authority', `upstream.test:${port}`)], null],
    ['an unknown pseudo-header', () => [...basic(), literal(':smuggle', '1')], null],
    ['a :protocol (extended CONNECT, never enabled)', () => [literal(':method', 'CONNECT'), literal(':protocol', 'websocket'), literal(':scheme', 'https'), literal(':path', '/ws'), literal(':authority', `upstream.test:${port}`)], null],
    ['a space in a header name', () => [...basic(), literal('x a', '1')], null],
    ['a NUL in a header value', () => [...basic(), literal('x-a', 'a\0b')], null],
  ];
  for (const [name, fields, data] of cases) {
    test(`never smuggled to the server: ${name}`, async () => {
      const { socketPath } = await startProxy();
      seen.length = 0;
      const c = await rawH2(socketPath);
      const block = Buffer.concat(fields());
      c.socket.write(frame(F.HEADERS, END_HEADERS | (data ? 0 : END_STREAM), 1, block));
      if (data) c.socket.write(frame(F.DATA, END_STREAM, 1, data));
      assert.ok(await waitFor(() => outcome(c, 1) !== null), 'no answer');
      await new Promise((r) => setTimeout(r, 100));
      // nghttp2 resets the stream, or drops the one field that is not valid HTTP/2 (a CR, LF or NUL in a value, a space in a name: RFC 9113 §8.2.1)
      // and the request goes on without it. Either way the server sees one request at most, with only the headers Cordon writes.
      const o = outcome(c, 1) ?? '';
      assert.ok(o.startsWith('rst:') || o.startsWith('goaway:') || o === 'closed' || o.startsWith('headers'), o);
      assert.ok(seen.length <= 1 && seen.every((x) => x.url === '/raw'), `smuggled: ${JSON.stringify(seen.map((x) => x.url))}`);
      for (const x of seen) assert.deepEqual(Object.keys(x.headers).filter((h) => !['host', 'content-length', 'connection'].includes(h)), [], `a malformed field reached the server: ${JSON.stringify(x.headers)}`);
      c.socket.destroy();
      // The proxy goes on serving.
      assert.equal((await h2request(socketPath, 'upstream.test', { body: 'after' })).status, 201);
    });
  }

  test('a header list over the limit (64 KiB over CONTINUATION) is refused; the proxy stays up', async () => {
    const { audit, socketPath } = await startProxy();
    seen.length = 0;
    const c = await rawH2(socketPath);
    const block = Buffer.concat([...basic(), literal('x-big', 'v'.repeat(65_000))]);
    c.socket.write(frame(F.HEADERS, END_STREAM, 1, block.subarray(0, 16_000)));
    for (let at = 16_000; at < block.length; at += 16_000) c.socket.write(frame(F.CONTINUATION, at + 16_000 >= block.length ? END_HEADERS : 0, 1, block.subarray(at, at + 16_000)));
    assert.ok(await waitFor(() => outcome(c, 1) !== null), 'no answer');
    const o = outcome(c, 1) ?? '';
    const ours = audit.events.some((e) => (e.details as Record<string, unknown>)['reason'] === 'headers_too_large');
    assert.ok(o.startsWith('rst:') || o.startsWith('goaway:') || o === 'closed' || (o.startsWith('headers') && ours), o);
    assert.equal(seen.length, 0);
    assert.equal((await h2request(socketPath, 'upstream.test', { body: 'after' })).status, 201);
  });

  test('CONTINUATION frames without end (CONTINUATION flood) close the connection long before the client is done', async () => {
    const { socketPath } = await startProxy();
    const c = await rawH2(socketPath);
    c.socket.write(frame(F.HEADERS, 0, 1, Buffer.concat(basic())));
    let sent = 0;
    const chunk = frame(F.CONTINUATION, 0, 1, Buffer.concat(Array.from({ length: 100 }, (_, i) => literal(`x-${i}`, 'v'.repeat(100)))));
    while (!c.socket.destroyed && sent < 4000) {
      if (!c.socket.write(chunk)) await Promise.race([new Promise((r) => c.socket.once('drain', r)), c.closed]);
      sent++;
    }
    await Promise.race([c.closed, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(c.socket.destroyed || outcome(c, 1)?.startsWith('goaway'), `still open after ${sent} CONTINUATION frames`);
    assert.ok(sent < 4000, 'the proxy read every frame');
    assert.equal((await h2request(socketPath, 'upstream.test', { body: 'after' })).status, 201);
  });

  test('an HPACK dynamic table size update beyond the advertised 4096 ends the connection (COMPRESSION_ERROR)', async () => {
    const { audit, socketPath } = await startProxy(egress(), { limits: { headerTimeoutMs: 500 } });
    seen.length = 0;
    const c = await rawH2(socketPath);
    c.socket.write(frame(F.HEADERS, END_HEADERS | END_STREAM, 1, Buffer.concat([hpackInt(1 << 20, 5, 0x20), ...basic()])));
    assert.ok(await waitFor(() => outcome(c, 1) !== null), 'no answer');
    assert.match(outcome(c, 1) ?? '', /^goaway:9$|^closed$/, 'not a COMPRESSION_ERROR');
    assert.equal(seen.length, 0);
    // nghttp2 answered the frame itself (GOAWAY), so no request record exists; the client leaves, the connection is
    // closed after the header timeout (Node no longer reads it), and the tunnel's close record follows.
    c.socket.destroy();
    assert.ok(await waitFor(() => audit.events.some((e) => (e.details as Record<string, unknown>)['dataPath'] === 'inspect')), 'the tunnel close was not audited');
    assert.ok(!audit.events.some((e) => e.kind === 'egress.allow' && (e.details as Record<string, unknown>)['method'] !== undefined));
  });

  test('more streams than SETTINGS_MAX_CONCURRENT_STREAMS at once: the extra ones are refused, none is served twice', async () => {
    const { socketPath } = await startProxy(egress(), { limits: { requestsPerSecond: 10_000, requestBurst: 10_000 } });
    seen.length = 0;
    const c = await rawH2(socketPath);
    // Streams left open (no END_STREAM): each holds a slot.
    const open: Buffer[] = [];
    for (let i = 0; i < 150; i++) open.push(frame(F.HEADERS, END_HEADERS, 1 + 2 * i, Buffer.concat(basic(`/c/${i}`))));
    c.socket.write(Buffer.concat(open));
    assert.ok(await waitFor(() => c.frames.some((f) => f.type === F.RST_STREAM) || c.socket.destroyed), 'no stream was refused');
    const refused = c.frames.filter((f) => f.type === F.RST_STREAM).length;
    assert.ok(refused >= 50 || c.socket.destroyed, `only ${refused} of 150 refused`);
    assert.equal(seen.length, 0, 'a stream without its end reached the server');
    c.socket.destroy();
  });

  test('rapid reset (HEADERS then RST_STREAM, a thousand times) closes the connection, audited http2_flood; the proxy goes on', async () => {
    const { audit, socketPath } = await startProxy(egress(), { limits: { requestsPerSecond: 10_000, requestBurst: 10_000 } });
    seen.length = 0;
    const c = await rawH2(socketPath);
    let i = 0;
    for (; i < 1000 && !c.socket.destroyed; i++) {
      const id = 1 + 2 * i;
      const rst = Buffer.alloc(4);
      rst.writeUInt32BE(8, 0);
      c.socket.write(Buffer.concat([frame(F.HEADERS, END_HEADERS, id, Buffer.concat(basic(`/r/${i}`))), frame(F.RST_STREAM, 0, id, rst)]));
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await Promise.race([c.closed, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(c.socket.destroyed, 'the flooding connection is still open');
    assert.ok(await waitFor(() => audit.events.some((e) => (e.details as Record<string, unknown>)['reason'] === 'http2_flood')), 'the flood was not audited');
    assert.equal(seen.length, 0);
    assert.equal((await h2request(socketPath, 'upstream.test', { body: 'after' })).status, 201);
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
