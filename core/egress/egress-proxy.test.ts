// Integration tests for the egress proxy over real sockets. Every destination
// is a loopback server; blocked private/metadata addresses are only classified.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { compileEgressPolicy, modelRoutesOf, type CompiledEgressPolicy } from './egress-policy.js';
import { EgressProxy, type EgressProxyOptions, type HostResolver } from './egress-proxy.js';
import { parseIp, type IpAddress } from './ip-address.js';
import { upstreamProxyFromEnv } from './upstream-proxy.js';
import { mintPhantomToken, PhantomStreamScanner } from '../keys/phantom.js';
import { makeTestCerts, type TestCerts } from './test-certs.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-egress-'));
let sockCounter = 0;
const proxies: EgressProxy[] = [];
let target: http.Server;
let targetPort = 0;
let certs: TestCerts;
/** Requests the loopback target has answered: a refusal must leave it unchanged. */
let targetRequests = 0;
const targetHits = (): number => targetRequests;

function policy(input: unknown): CompiledEgressPolicy {
  const r = compileEgressPolicy(input);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.policy;
}

/** A resolver that must never be asked: tests pin or use literals, and never touch real DNS. */
const noDns: HostResolver = () => Promise.resolve({ ok: false, why: 'ENOTFOUND' });

async function startProxy(p: unknown, extra: Partial<EgressProxyOptions> = {}): Promise<{ proxy: EgressProxy; audit: MemoryAuditSink; socketPath: string }> {
  const audit = new MemoryAuditSink();
  const socketPath = join(dir, `p${++sockCounter}.sock`);
  const proxy = new EgressProxy({ socketPath, policy: policy(p), audit, resolver: noDns, hostAddresses: () => [], sessionId: 'test-session', ...extra });
  await proxy.start();
  proxies.push(proxy);
  return { proxy, audit, socketPath };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A proxy-form (absolute-URI) request sent over the proxy's Unix socket. */
function viaProxy(socketPath: string, url: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: url, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Sends raw bytes and returns everything the proxy sends back until it closes (or `waitMs`). */
function raw(socketPath: string, text: string | Buffer, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, waitMs);
    s.on('data', (c: Buffer) => (out += c.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', () => undefined);
    s.write(text);
  });
}

/** Opens a CONNECT tunnel; resolves with the status and, on 200, the socket. */
function connectTunnel(socketPath: string, authority: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; socket: net.Socket | null; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'CONNECT', path: authority, agent: false });
    req.on('connect', (res: http.IncomingMessage, socket: net.Socket) => resolve({ status: res.statusCode ?? 0, headers: res.headers, socket, body: '' }));
    req.on('response', (res: http.IncomingMessage) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, socket: null, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends one HTTP/1.0 GET over an open tunnel socket and returns the whole reply. */
function getOverSocket(socket: net.Socket, host: string): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    socket.on('data', (c: Buffer) => (out += c.toString()));
    socket.on('end', () => resolve(out));
    socket.write(`GET /tunnel HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
  });
}

before(async () => {
  target = http.createServer((req, res) => {
    targetRequests++;
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-seen-host': req.headers.host ?? '' });
      res.end(`hello ${req.method} ${req.url} ${body}`);
    });
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetPort = (target.address() as net.AddressInfo).port;
  certs = makeTestCerts(['provider.test']);
});

after(async () => {
  for (const p of proxies) await p.stop();
  target.close();
  target.closeAllConnections();
  certs.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

void test('allowed name reaches a loopback server through resolve + allowRanges, with an audit record', async () => {
  const { socketPath, audit } = await startProxy({ allow: [`example.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'example.test': '127.0.0.1' } });
  const r = await viaProxy(socketPath, `http://Example.Test.:${targetPort}/path?q=1`, { method: 'POST', body: 'abc', headers: { 'proxy-authorization': 'Basic c2VjcmV0', host: 'evil.test' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'hello POST /path?q=1 abc');
  assert.equal(r.headers['x-seen-host'], `example.test:${targetPort}`, 'Host header rebuilt from the checked URL');
  await new Promise((res) => setTimeout(res, 50));
  const ev = audit.events.find((e) => e.kind === 'egress.allow');
  assert.ok(ev, 'allow event recorded');
  assert.equal(ev.sessionId, 'test-session');
  assert.equal(ev.details?.['host'], 'example.test');
  assert.equal(ev.details?.['address'], '127.0.0.1');
  assert.equal(ev.details?.['bytesUp'], 3);
  assert.ok(Number(ev.details?.['bytesDown']) > 0);
  assert.equal(typeof ev.details?.['durationMs'], 'number');
  assert.doesNotMatch(JSON.stringify(audit.events), /c2VjcmV0/, 'proxy credentials never reach the audit log');
});

void test('a phantom in a plain-HTTP body is refused with credential_leak before its bytes leave, however the body is split', async () => {
  const received: string[] = [];
  const collector = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('latin1')));
    req.on('close', () => received.push(body));
    req.on('end', () => res.end('stored'));
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const port = (collector.address() as net.AddressInfo).port;
  try {
    const { socketPath, audit } = await startProxy({ allow: [`collector.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'collector.test': '127.0.0.1' } }, { bodyGuard: () => new PhantomStreamScanner() });
    const token = mintPhantomToken();
    const upload = (chunks: readonly string[]): Promise<{ status: number; deny: string | undefined }> =>
      new Promise((resolve, reject) => {
        const req = http.request({ socketPath, path: `http://collector.test:${port}/upload`, method: 'POST', headers: { 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, deny: res.headers['x-cordon-deny'] as string | undefined }));
        });
        req.on('error', reject);
        void (async () => {
          for (const c of chunks) {
            req.write(c);
            // Each write arrives on its own, so the token really is split across chunks.
            await new Promise((r) => setTimeout(r, 30));
          }
          req.end();
        })();
      });
    const lead = 'x'.repeat(5000);
    const refused = await upload([`${lead} key=${token.slice(0, 10)}`, `${token.slice(10)} and more`]);
    assert.deepEqual(refused, { status: 403, deny: 'credential_leak' });
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(received.every((b) => !b.includes('cdn_ph_')), 'no part of the token reached the host');
    const clean = await upload([lead, ' cdn_ph_', 'not-a-token']);
    assert.equal(clean.status, 200);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(received.includes(`${lead} cdn_ph_not-a-token`), 'a clean body arrives whole');
    const deny = audit.events.find((e) => e.kind === 'egress.deny');
    assert.equal(deny?.details?.['reason'], 'credential_leak');
    assert.doesNotMatch(JSON.stringify(audit.events), new RegExp(token.slice(7)));
  } finally {
    collector.close();
    collector.closeAllConnections();
  }
});

void test('unlisted host gets 403 with a reason code and a one-line body', async () => {
  const { socketPath, audit } = await startProxy({ allow: ['api.example.test'] });
  const r = await viaProxy(socketPath, 'http://unlisted.example/');
  assert.equal(r.status, 403);
  assert.equal(r.headers['x-cordon-deny'], 'host_not_allowed');
  assert.match(r.body, /^Cordon blocked unlisted\.example:80: .*allow list\.\n$/);
  const t = await connectTunnel(socketPath, 'unlisted.example:443');
  assert.equal(t.status, 403);
  assert.equal(t.headers['x-cordon-deny'], 'host_not_allowed');
  const denies = audit.events.filter((e) => e.kind === 'egress.deny');
  assert.equal(denies.length, 2);
  assert.equal(denies[0]?.outcome, 'failure');
  assert.equal(denies[0]?.details?.['reason'], 'host_not_allowed');
});

void test('every spelling of loopback is refused when loopback is not in allowRanges', async () => {
  const p = targetPort;
  const { socketPath } = await startProxy({
    allow: [`127.0.0.1:${p}`, `[::ffff:127.0.0.1]:${p}`, `[::1]:${p}`, `loop.test:${p}`],
    resolve: { 'loop.test': '127.0.0.1' },
  });
  for (const url of [`http://[::ffff:127.0.0.1]:${p}/`, `http://0x7f000001:${p}/`, `http://017700000001:${p}/`, `http://2130706433:${p}/`, `http://127.1:${p}/`, `http://loop.test:${p}/`]) {
    const r = await viaProxy(socketPath, url);
    assert.equal(r.status, 403, url);
    assert.equal(r.headers['x-cordon-deny'], 'address_blocked', url);
  }
  for (const authority of [`0x7f000001:${p}`, `017700000001:${p}`, `2130706433:${p}`, `0x7f.1:${p}`, `[::ffff:127.0.0.1]:${p}`, `loop.test:${p}`]) {
    const t = await connectTunnel(socketPath, authority);
    assert.equal(t.status, 403, authority);
    assert.equal(t.headers['x-cordon-deny'], 'address_blocked', authority);
  }
});

void test('CONNECT tunnel relays both ways and records bytes on close', async () => {
  const { socketPath, audit } = await startProxy({ allow: [`tunnel.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'tunnel.test': '127.0.0.1' } });
  const t = await connectTunnel(socketPath, `tunnel.test:${targetPort}`);
  assert.equal(t.status, 200);
  assert.ok(t.socket);
  const reply = await getOverSocket(t.socket, 'tunnel.test');
  assert.match(reply, /^HTTP\/1\.1 200/);
  assert.match(reply, /hello GET \/tunnel/);
  await new Promise((r) => setTimeout(r, 100));
  const ev = audit.events.find((e) => e.kind === 'egress.allow');
  assert.ok(ev);
  assert.equal(ev.details?.['channel'], 'connect');
  assert.ok(Number(ev.details?.['bytesUp']) > 20);
  assert.ok(Number(ev.details?.['bytesDown']) > 20);
});

void test('a tunnel delivers every byte to a slow reader after the server closes', async () => {
  const size = 8 * 1024 * 1024;
  const bulk = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end(Buffer.alloc(size, 7)));
  });
  await new Promise<void>((r) => bulk.listen(0, '127.0.0.1', r));
  const port = (bulk.address() as net.AddressInfo).port;
  try {
    const { socketPath } = await startProxy({ allow: [`bulk.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'bulk.test': '127.0.0.1' } });
    const t = await connectTunnel(socketPath, `bulk.test:${port}`);
    assert.ok(t.socket);
    const sock = t.socket;
    let got = 0;
    await new Promise<void>((resolve) => {
      sock.on('data', (c: Buffer) => (got += c.length));
      sock.on('close', () => resolve());
      sock.write('go');
      // Read in short bursts so the proxy is still buffering when the server closes.
      const iv = setInterval(() => {
        sock.resume();
        setTimeout(() => sock.pause(), 2);
      }, 5);
      sock.on('close', () => clearInterval(iv));
    });
    assert.equal(got, size);
  } finally {
    bulk.close();
  }
});

void test('every resolved address is checked, the name is resolved once, and only the checked address is dialled', async () => {
  let calls = 0;
  const answers: IpAddress[][] = [[parseIp('127.0.0.1')!], [parseIp('127.0.0.1')!, parseIp('10.0.0.1')!]];
  const resolver: HostResolver = () => Promise.resolve({ ok: true, addresses: answers[Math.min(calls++, 1)]! });
  const { socketPath } = await startProxy({ allow: [`rebind.test:${targetPort}`], allowRanges: ['127.0.0.0/8'] }, { resolver });
  const ok = await viaProxy(socketPath, `http://rebind.test:${targetPort}/`);
  assert.equal(ok.status, 200);
  assert.equal(calls, 1, 'one lookup per request');
  // Second answer mixes in a private address: refused without dialling anything.
  const bad = await viaProxy(socketPath, `http://rebind.test:${targetPort}/`);
  assert.equal(bad.status, 403);
  assert.equal(bad.headers['x-cordon-deny'], 'address_blocked');
  assert.match(bad.body, /10\.0\.0\.1 is private/);
});

void test('a dual-stack name falls back to its next checked address when the first refuses', async () => {
  const resolver: HostResolver = () => Promise.resolve({ ok: true, addresses: [parseIp('::1')!, parseIp('127.0.0.1')!] });
  const { socketPath, audit } = await startProxy({ allow: [`dual.test:${targetPort}`], allowRanges: ['127.0.0.0/8', '::1/128'] }, { resolver });
  // The target listens on 127.0.0.1 only, so [::1] is refused and 127.0.0.1 answers.
  const t = await connectTunnel(socketPath, `dual.test:${targetPort}`);
  assert.equal(t.status, 200);
  assert.ok(t.socket);
  assert.match(await getOverSocket(t.socket, 'dual.test'), /hello GET/);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(audit.events.find((e) => e.kind === 'egress.allow')?.details?.['address'], '127.0.0.1', 'audit names the address really dialled');
});

void test('metadata, private and link-local names are refused by classification alone', async () => {
  const { socketPath, audit } = await startProxy({
    mode: 'report',
    allow: ['meta.test'],
    resolve: { 'meta.test': '169.254.169.254' },
  });
  // Even report mode keeps cloud metadata closed; nothing is dialled.
  const t = await connectTunnel(socketPath, 'meta.test:80');
  assert.equal(t.status, 403);
  assert.equal(t.headers['x-cordon-deny'], 'address_blocked');
  assert.equal(audit.events[0]?.details?.['addressCategory'], 'cloud_metadata');
});

void test('deny beats allow, telemetry host denied while the vendor API host is allowed', async () => {
  const { socketPath } = await startProxy({ allow: ['*.vendor.test', `api.vendor.test:${targetPort}`], deny: ['statsig.vendor.test'], allowRanges: ['127.0.0.0/8'], resolve: { 'api.vendor.test': '127.0.0.1', 'statsig.vendor.test': '127.0.0.1' } });
  const api = await viaProxy(socketPath, `http://api.vendor.test:${targetPort}/`);
  assert.equal(api.status, 200);
  const telemetry = await viaProxy(socketPath, 'http://statsig.vendor.test/');
  assert.equal(telemetry.status, 403);
  assert.equal(telemetry.headers['x-cordon-deny'], 'host_denied');
  const apex = await viaProxy(socketPath, 'http://vendor.test/');
  assert.equal(apex.headers['x-cordon-deny'], 'host_not_allowed');
});

void test('report mode lets a would-deny through and records it', async () => {
  const { socketPath, audit } = await startProxy({ mode: 'report', allow: [], resolve: { 'anything.test': '127.0.0.1' } });
  const r = await viaProxy(socketPath, `http://anything.test:${targetPort}/`);
  assert.equal(r.status, 200);
  await new Promise((res) => setTimeout(res, 50));
  const ev = audit.events.find((e) => e.kind === 'egress.would_deny');
  assert.ok(ev);
  assert.equal(ev.details?.['reason'], 'host_not_allowed');
  // An allowed name on a blocked (non-metadata) address is also let through and recorded.
  const r2 = await startProxy({ mode: 'report', allow: [`loop.test:${targetPort}`], resolve: { 'loop.test': '127.0.0.1' } });
  assert.equal((await viaProxy(r2.socketPath, `http://loop.test:${targetPort}/`)).status, 200);
  await new Promise((res) => setTimeout(res, 50));
  const ev2 = r2.audit.events.find((e) => e.kind === 'egress.would_deny');
  assert.equal(ev2?.details?.['reason'], 'address_blocked');
  assert.equal(ev2?.details?.['addressCategory'], 'loopback');
});

void test('setPolicy applies to the next connection without a restart', async () => {
  const { proxy, socketPath } = await startProxy({ allow: [] , allowRanges: ['127.0.0.0/8'], resolve: { 'live.test': '127.0.0.1' } });
  assert.equal((await viaProxy(socketPath, `http://live.test:${targetPort}/`)).status, 403);
  proxy.setPolicy(policy({ allow: [`live.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'live.test': '127.0.0.1' } }));
  assert.equal((await viaProxy(socketPath, `http://live.test:${targetPort}/`)).status, 200);
  proxy.setPolicy(policy({ allow: [`live.test:${targetPort}`], resolve: { 'live.test': '127.0.0.1' } }));
  assert.equal((await viaProxy(socketPath, `http://live.test:${targetPort}/`)).headers['x-cordon-deny'], 'address_blocked');
});

void test('malformed requests get 400 and the proxy keeps serving', async () => {
  const { socketPath } = await startProxy({ allow: [`ok.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'ok.test': '127.0.0.1' } });
  const badConnects = ['nonsense', 'host:0', 'host:99999', 'host:', '[::1', ':443', 'a b:443', '1.2.3.256:443', 'host:443:1'];
  for (const t of badConnects) {
    const reply = await raw(socketPath, `CONNECT ${t} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(reply, /^HTTP\/1\.1 400/, t);
    assert.match(reply, /X-Cordon-Deny: bad_target/, t);
  }
  assert.match(await raw(socketPath, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400/);
  assert.match(await raw(socketPath, 'GET /etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/);
  assert.match(await raw(socketPath, 'GET https://ok.test/ HTTP/1.1\r\nHost: ok.test\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/);
  assert.match(await raw(socketPath, 'GET http://bad host/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/);
  assert.match(await raw(socketPath, 'GET http://a..b/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/);
  assert.equal((await viaProxy(socketPath, `http://ok.test:${targetPort}/`)).status, 200);
});

void test('oversized headers get 431; a slowloris client is cut off while others are served', async () => {
  const { socketPath } = await startProxy(
    { allow: [`ok.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'ok.test': '127.0.0.1' } },
    { limits: { maxHeaderBytes: 4096, headerTimeoutMs: 400 } },
  );
  const big = await raw(socketPath, `GET http://ok.test:${targetPort}/ HTTP/1.1\r\nHost: ok.test\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431/);
  assert.match(big, /X-Cordon-Deny: headers_too_large/);
  // Slowloris: send a partial head and trickle bytes; meanwhile a normal client succeeds.
  const slow = net.connect(socketPath);
  slow.on('error', () => undefined);
  let slowOut = '';
  slow.on('data', (c: Buffer) => (slowOut += c.toString()));
  const slowClosed = new Promise<number>((r) => {
    const t0 = Date.now();
    slow.on('close', () => r(Date.now() - t0));
  });
  slow.write(`GET http://ok.test:${targetPort}/ HTTP/1.1\r\nHost: ok.test\r\n`);
  const trickle = setInterval(() => slow.writable && slow.write('X-A: b\r\n'), 100);
  assert.equal((await viaProxy(socketPath, `http://ok.test:${targetPort}/`)).status, 200);
  const closedAfter = await slowClosed;
  clearInterval(trickle);
  assert.ok(closedAfter < 3000, `slow client closed after ${closedAfter} ms`);
  assert.match(slowOut, /^(HTTP\/1\.1 408|)/);
});

void test('request rate and concurrent tunnel caps answer 429 and 503', async () => {
  const { socketPath } = await startProxy({ allow: [] }, { limits: { requestsPerSecond: 0.001, requestBurst: 2 } });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await viaProxy(socketPath, 'http://x.test/')).status);
  assert.deepEqual(statuses, [403, 403, 429, 429]);
  const limited = await viaProxy(socketPath, 'http://x.test/');
  assert.equal(limited.headers['x-cordon-deny'], 'rate_limited');

  const t = await startProxy({ allow: [`t.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 't.test': '127.0.0.1' } }, { limits: { maxConcurrentTunnels: 1 } });
  const first = await connectTunnel(t.socketPath, `t.test:${targetPort}`);
  assert.equal(first.status, 200);
  const second = await connectTunnel(t.socketPath, `t.test:${targetPort}`);
  assert.equal(second.status, 503);
  assert.equal(second.headers['x-cordon-deny'], 'too_many_tunnels');
  first.socket?.destroy();
  await new Promise((r) => setTimeout(r, 100));
  const third = await connectTunnel(t.socketPath, `t.test:${targetPort}`);
  assert.equal(third.status, 200);
  third.socket?.destroy();
});

/** A minimal loopback corporate proxy: CONNECT only, requires Basic auth, records targets. */
async function startCorporateProxy(expectedAuth: string): Promise<{ server: net.Server; port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.removeListener('data', onData);
      const [line, ...hdrs] = buf.slice(0, end).split('\r\n');
      const m = /^CONNECT (\S+) HTTP/.exec(line ?? '');
      const auth = hdrs.find((h) => h.toLowerCase().startsWith('proxy-authorization:'))?.split(': ')[1];
      const fwd = /^(GET|POST) http:\/\/127\.0\.0\.1:(\d+)(\S*) (HTTP\/1\.1)$/.exec(line ?? '');
      if (fwd && auth === expectedAuth) {
        // Plain-HTTP forwarding (absolute URI), loopback targets only.
        seen.push(`${fwd[1]} http://127.0.0.1:${fwd[2]}${fwd[3]}`);
        const rest = hdrs.filter((h) => !h.toLowerCase().startsWith('proxy-authorization:')).join('\r\n');
        const up = net.connect(Number(fwd[2]), '127.0.0.1', () => {
          up.write(`${fwd[1]} ${fwd[3]} ${fwd[4]}\r\n${rest}\r\n\r\n${buf.slice(end + 4)}`);
          client.pipe(up);
          up.pipe(client);
        });
        up.on('error', () => client.destroy());
        return;
      }
      if (!m?.[1] || auth !== expectedAuth) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
        return;
      }
      seen.push(m[1]);
      const [h, p] = [m[1].slice(0, m[1].lastIndexOf(':')), Number(m[1].slice(m[1].lastIndexOf(':') + 1))];
      // Test-only: this fake corporate proxy only ever dials loopback.
      if (h !== '127.0.0.1') {
        client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
        return;
      }
      const up = net.connect(p, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 OK\r\n\r\n');
        client.pipe(up);
        up.pipe(client);
      });
      up.on('error', () => client.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port, seen };
}

void test('tunnels chain through an upstream proxy with basic auth, and NO_PROXY bypasses it', async () => {
  const auth = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
  const corp = await startCorporateProxy(auth);
  try {
    const env = upstreamProxyFromEnv({ HTTPS_PROXY: `http://alice:s3cret@127.0.0.1:${corp.port}`, NO_PROXY: 'direct.test,.internal' });
    assert.ok(env.ok && env.config);
    if (!env.ok || !env.config) return;
    assert.equal(env.config.https?.display, `http://127.0.0.1:${corp.port}`);
    const { socketPath, audit } = await startProxy(
      { allow: [`chain.test:${targetPort}`, `direct.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'chain.test': '127.0.0.1', 'direct.test': '127.0.0.1' } },
      { upstreamProxy: env.config },
    );
    const t = await connectTunnel(socketPath, `chain.test:${targetPort}`);
    assert.equal(t.status, 200);
    assert.ok(t.socket);
    assert.match(await getOverSocket(t.socket, 'chain.test'), /hello GET \/tunnel/);
    assert.deepEqual(corp.seen, [`127.0.0.1:${targetPort}`]);
    const d = await connectTunnel(socketPath, `direct.test:${targetPort}`);
    assert.equal(d.status, 200);
    d.socket?.destroy();
    assert.equal(corp.seen.length, 1, 'NO_PROXY host went direct');
    await new Promise((r) => setTimeout(r, 100));
    assert.doesNotMatch(JSON.stringify(audit.events), /s3cret|YWxpY2U6czNjcmV0/);
    assert.ok(audit.events.some((e) => e.details?.['upstreamProxy'] === `http://127.0.0.1:${corp.port}`));
  } finally {
    corp.server.close();
  }
});

void test('plain HTTP forwards and the model route also chain through the upstream proxy', async () => {
  const auth = `Basic ${Buffer.from('bob:pw').toString('base64')}`;
  const corp = await startCorporateProxy(auth);
  const provider = await startFakeProvider();
  try {
    const env = upstreamProxyFromEnv({ http_proxy: `http://bob:pw@127.0.0.1:${corp.port}`, https_proxy: `http://bob:pw@127.0.0.1:${corp.port}` });
    assert.ok(env.ok && env.config);
    if (!env.ok || !env.config) return;
    const { socketPath } = await startProxy(
      { allow: [`fwd.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'fwd.test': '127.0.0.1' } },
      { upstreamProxy: env.config, modelRoutes: modelRoutesOf({ fake: { baseUrl: `https://127.0.0.1:${provider.port}`, caFile: certs.caFile } }) },
    );
    const r = await viaProxy(socketPath, `http://fwd.test:${targetPort}/via-corp`, { headers: { connection: 'close' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'hello GET /via-corp ');
    assert.equal(corp.seen[0], `GET http://127.0.0.1:${targetPort}/via-corp`);
    const m = await modelRequest(socketPath, '/model/fake/v1/messages', '{"x":1}');
    assert.equal(m.res.statusCode, 200, m.res.statusCode === 200 ? '' : await readAll(m.res));
    assert.match(await readAll(m.res), /"ok":true/);
    assert.equal(corp.seen[1], `127.0.0.1:${provider.port}`, 'model route tunnelled through the corporate proxy');
  } finally {
    corp.server.close();
    provider.server.close();
    provider.server.closeAllConnections();
  }
});

void test('upstreamProxyFromEnv: lower-case wins, bad schemes are errors, no vars means none', () => {
  assert.deepEqual(upstreamProxyFromEnv({}), { ok: true, config: null });
  const r = upstreamProxyFromEnv({ https_proxy: 'proxy.corp:3128', HTTPS_PROXY: 'http://other:1', NO_PROXY: '*' });
  assert.ok(r.ok && r.config?.https);
  if (r.ok && r.config?.https) {
    assert.equal(r.config.https.host, 'proxy.corp');
    assert.equal(r.config.https.port, 3128);
    assert.equal(r.config.https.authorization, null);
  }
  const bad = upstreamProxyFromEnv({ HTTPS_PROXY: 'socks5://x:1' });
  assert.equal(bad.ok, false);
});

// ---- model route --------------------------------------------------------------

interface FakeProvider {
  server: https.Server;
  port: number;
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  releaseSecondEvent: () => void;
}

async function startFakeProvider(): Promise<FakeProvider> {
  const seen: FakeProvider['seen'] = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const server = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url?.includes('/v1/stream')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: one\ndata: first\n\n');
        // The second event is held until the client has seen the first: proves streaming.
        void gate.then(() => res.end('event: two\ndata: second\n\n'));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, echo: body }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port, seen, releaseSecondEvent: () => release() };
}

/** A proxy whose model route `fake` leads to the fake provider on `port`, by its test name, under the base path `/base`, trusting the test CA. */
function startModelProxy(port: number): ReturnType<typeof startProxy> {
  return startProxy(
    { allow: [], allowRanges: ['127.0.0.0/8'], resolve: { 'provider.test': '127.0.0.1' } },
    { modelRoutes: modelRoutesOf({ fake: { baseUrl: `https://provider.test:${port}/base`, caFile: certs.caFile } }) },
  );
}

/** An origin-form request to the proxy, as an agent with ANTHROPIC_BASE_URL pointing at it sends. */
function modelRequest(socketPath: string, path: string, body: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ res: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: false }, (res) => resolve({ res }));
    req.on('error', reject);
    req.end(body);
  });
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (out += c));
    res.on('end', () => resolve(out));
  });
}

void test('model route: filters rewrite the key, TLS is verified with caFile, SSE streams incrementally', async () => {
  const provider = await startFakeProvider();
  try {
    const { proxy, socketPath, audit } = await startModelProxy(provider.port);
    proxy.addRequestFilter({
      name: 'phantom-key-swap',
      apply: (req) => Promise.resolve(req.headers['x-api-key'] === 'phantom' ? { kind: 'rewrite', headers: { ...req.headers, 'x-api-key': 'real-key' } } : { kind: 'allow' }),
    });
    proxy.addRequestFilter({
      name: 'no-secrets',
      apply: (req) => Promise.resolve(req.body.toString().includes('TOPSECRET') ? { kind: 'deny', status: 403, reason: 'dlp_blocked', message: 'Cordon DLP blocked a secret in the request.' } : { kind: 'allow' }),
    });

    const { res } = await modelRequest(socketPath, '/model/fake/v1/messages?beta=true', '{"hi":1}', { 'x-api-key': 'phantom' });
    assert.equal(res.statusCode, 200);
    assert.match(await readAll(res), /"ok":true/);
    assert.equal(provider.seen[0]?.url, '/base/v1/messages?beta=true');
    assert.equal(provider.seen[0]?.headers['x-api-key'], 'real-key');
    assert.equal(provider.seen[0]?.headers.host, `provider.test:${provider.port}`);

    const rej = await modelRequest(socketPath, '/model/fake/v1/messages', 'TOPSECRET');
    assert.equal(rej.res.statusCode, 403);
    assert.equal(rej.res.headers['x-cordon-deny'], 'dlp_blocked');
    assert.equal(await readAll(rej.res), 'Cordon DLP blocked a secret in the request.\n');
    assert.equal(provider.seen.length, 1, 'rejected request never left');

    const sse = await modelRequest(socketPath, '/model/fake/v1/stream', '{}');
    assert.equal(sse.res.statusCode, 200);
    const first = await new Promise<string>((resolve) => sse.res.once('data', (c: Buffer) => resolve(c.toString())));
    assert.match(first, /data: first/);
    assert.doesNotMatch(first, /second/, 'first event arrived before the upstream finished');
    provider.releaseSecondEvent();
    assert.match(await readAll(sse.res), /data: second/);

    const unknown = await modelRequest(socketPath, '/model/nope/v1/messages', '{}');
    assert.equal(unknown.res.statusCode, 404);
    assert.equal(unknown.res.headers['x-cordon-deny'], 'unknown_provider');
    await readAll(unknown.res);

    await new Promise((r) => setTimeout(r, 50));
    const modelEvents = audit.events.filter((e) => e.details?.['channel'] === 'model');
    assert.ok(modelEvents.length >= 4);
    assert.doesNotMatch(JSON.stringify(audit.events), /real-key|"phantom"|TOPSECRET/, 'no key or body in audit records');
    const okEv = modelEvents.find((e) => e.kind === 'egress.allow');
    assert.deepEqual(okEv?.details?.['filters'], [
      { name: 'phantom-key-swap', action: 'rewrite' },
      { name: 'no-secrets', action: 'allow' },
    ]);
  } finally {
    provider.server.close();
    provider.server.closeAllConnections();
  }
});

void test('model route: a filter may rewrite the path; records show it as sent or as the refusing filter gave it, never the query', async () => {
  const provider = await startFakeProvider();
  try {
    const { proxy, socketPath, audit } = await startModelProxy(provider.port);
    proxy.addRequestFilter({
      name: 'scrub',
      apply: (req) =>
        Promise.resolve(
          req.path.includes('REFUSE')
            ? { kind: 'deny', status: 403, reason: 'scrubbed', message: 'no', path: req.path.replaceAll('SECRETVALUE', 'XXX') }
            : { kind: 'rewrite', path: req.path.replaceAll('SECRETVALUE', 'XXX') },
        ),
    });
    const ok = await modelRequest(socketPath, '/model/fake/v1/files/SECRETVALUE?q=SECRETVALUE', '{}');
    assert.equal(ok.res.statusCode, 200);
    await readAll(ok.res);
    assert.equal(provider.seen[0]?.url, '/base/v1/files/XXX?q=XXX');
    const no = await modelRequest(socketPath, '/model/fake/v1/REFUSE/SECRETVALUE', '{}');
    assert.equal(no.res.statusCode, 403);
    await readAll(no.res);
    await new Promise((r) => setTimeout(r, 50));
    const paths = audit.events.filter((e) => e.details?.['channel'] === 'model').map((e) => [e.kind, e.details?.['path']]);
    assert.deepEqual(paths, [
      ['egress.allow', '/v1/files/XXX'],
      ['egress.deny', '/v1/REFUSE/XXX'],
    ]);
    assert.doesNotMatch(JSON.stringify(audit.events), /SECRETVALUE/);
  } finally {
    provider.server.close();
    provider.server.closeAllConnections();
  }
});

void test('model route: response transform, body limit, untrusted certificate and blocked provider address', async () => {
  const provider = await startFakeProvider();
  try {
    const upper = (): Transform =>
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          cb(null, Buffer.from(chunk.toString().toUpperCase()));
        },
      });
    const { socketPath } = await startProxy(
      { allow: [], allowRanges: ['127.0.0.0/8'] },
      {
        modelRoutes: modelRoutesOf({
          good: { baseUrl: `https://127.0.0.1:${provider.port}`, caFile: certs.caFile },
          untrusted: { baseUrl: `https://127.0.0.1:${provider.port}` },
        }),
        responseTransforms: [() => upper()],
        limits: { maxInspectedBodyBytes: 1024 },
      },
    );
    const ok = await modelRequest(socketPath, '/model/good/v1/messages', '{"a":"b"}');
    assert.equal(ok.res.statusCode, 200);
    assert.equal(ok.res.headers['content-length'], undefined);
    assert.match(await readAll(ok.res), /"OK":TRUE/);
    assert.equal(provider.seen[0]?.headers['accept-encoding'], 'identity');

    const big = await modelRequest(socketPath, '/model/good/v1/messages', 'x'.repeat(5000));
    assert.equal(big.res.statusCode, 413);
    assert.equal(big.res.headers['x-cordon-deny'], 'body_too_large');

    const bad = await modelRequest(socketPath, '/model/untrusted/v1/messages', '{}');
    assert.equal(bad.res.statusCode, 502);
    assert.equal(bad.res.headers['x-cordon-deny'], 'upstream_failed');
    await readAll(bad.res);
    assert.equal(provider.seen.length, 1, 'nothing was sent over the unverified connection');

    const blocked = await startProxy({ allow: [] }, { modelRoutes: modelRoutesOf({ good: { baseUrl: `https://127.0.0.1:${provider.port}`, caFile: certs.caFile } }) });
    const b = await modelRequest(blocked.socketPath, '/model/good/v1/messages', '{}');
    assert.equal(b.res.statusCode, 403);
    assert.equal(b.res.headers['x-cordon-deny'], 'address_blocked');
    await readAll(b.res);
  } finally {
    provider.server.close();
    provider.server.closeAllConnections();
  }
});

void test('a filter that throws fails closed', async () => {
  const { socketPath } = await startProxy({ allow: [] }, { modelRoutes: modelRoutesOf({ p: { baseUrl: 'https://127.0.0.1:1' } }), filters: [{ name: 'broken', apply: () => Promise.reject(new Error('boom')) }] });
  const r = await modelRequest(socketPath, '/model/p/v1/messages', '{}');
  assert.equal(r.res.statusCode, 500);
  assert.equal(r.res.headers['x-cordon-deny'], 'filter_failed');
  await readAll(r.res);
});

void test('clients that vanish mid-request, mid-body or mid-tunnel do not disturb the proxy', async () => {
  const provider = await startFakeProvider();
  try {
    const { socketPath } = await startProxy(
      { allow: [`ok.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'ok.test': '127.0.0.1' } },
      { modelRoutes: modelRoutesOf({ fake: { baseUrl: `https://127.0.0.1:${provider.port}`, caFile: certs.caFile } }) },
    );
    const abrupt = (text: string, afterMs: number): Promise<void> =>
      new Promise((resolve) => {
        const s = net.connect(socketPath, () => {
          s.write(text);
          setTimeout(() => {
            s.destroy();
            resolve();
          }, afterMs);
        });
        s.on('error', () => resolve());
      });
    const attempts: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      attempts.push(abrupt(`POST http://ok.test:${targetPort}/ HTTP/1.1\r\nHost: ok.test\r\nContent-Length: 100000\r\n\r\npartial`, i % 5));
      attempts.push(abrupt(`CONNECT ok.test:${targetPort} HTTP/1.1\r\nHost: ok.test\r\n\r\nGET / HTTP/1.1\r\n`, i % 5));
      attempts.push(abrupt(`POST /model/fake/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"a":`, i % 5));
      attempts.push(abrupt(`POST /model/fake/v1/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}`, 20 + (i % 5)));
      attempts.push(abrupt('GET http://ok.test', 0));
    }
    await Promise.all(attempts);
    assert.equal((await viaProxy(socketPath, `http://ok.test:${targetPort}/`)).status, 200);
    const m = await modelRequest(socketPath, '/model/fake/v1/messages', '{}');
    assert.equal(m.res.statusCode, 200);
    await readAll(m.res);
  } finally {
    provider.releaseSecondEvent();
    provider.server.close();
    provider.server.closeAllConnections();
  }
});

void test('start() explains an over-long socket path and refuses to replace a non-socket file', async () => {
  const audit = new MemoryAuditSink();
  const long = new EgressProxy({ socketPath: join(dir, 'x'.repeat(120)), policy: policy({}), audit });
  await assert.rejects(long.start(), /at most 103/);
  const file = join(dir, 'not-a-socket');
  writeFileSync(file, 'keep me');
  const clash = new EgressProxy({ socketPath: file, policy: policy({}), audit });
  await assert.rejects(clash.start(), /not a socket/);
});

void test('stop() closes the socket; new connections then fail (fail closed)', async () => {
  const { proxy, socketPath } = await startProxy({ allow: [] });
  await proxy.stop();
  await assert.rejects(viaProxy(socketPath, 'http://x.test/'));
});

void test('a vendor API host is refused for CONNECT and plain HTTP whatever egress.allow says, in report mode too', async () => {
  for (const mode of ['enforce', 'report'] as const) {
    const before = targetHits();
    const { socketPath, audit } = await startProxy(
      { mode, allow: ['api.anthropic.com', `llm.corp.test:${targetPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'api.anthropic.com': '127.0.0.1', 'llm.corp.test': '127.0.0.1' } },
      { modelRoutes: modelRoutesOf({ corp: { baseUrl: `https://LLM.corp.test:${targetPort}` } }) },
    );
    const tunnel = await connectTunnel(socketPath, 'api.anthropic.com:443');
    assert.equal(tunnel.status, 403, mode);
    assert.equal(tunnel.headers['x-cordon-deny'], 'model_route_only');
    const said = await raw(socketPath, 'CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n\r\n');
    assert.match(said, /model route/, 'the refusal tells the agent where to go instead');
    const corp = await connectTunnel(socketPath, `llm.corp.test:${targetPort}`);
    assert.equal(corp.headers['x-cordon-deny'], 'model_route_only', 'a provider from policy is a vendor too');
    const plain = await viaProxy(socketPath, `http://llm.corp.test:${targetPort}/v1/messages`, { method: 'POST', body: '{}' });
    assert.equal(plain.status, 403);
    assert.equal(plain.headers['x-cordon-deny'], 'model_route_only');
    assert.equal(targetHits(), before, 'nothing reached the vendor stand-in');
    assert.equal(audit.events.filter((e) => e.kind === 'egress.deny' && e.details?.['reason'] === 'model_route_only').length, 4);
  }
});

void test('audit records name the rule that decided: the allow entry, the deny entry, the address check, the rule report mode waived', async () => {
  const { socketPath, audit } = await startProxy({
    allow: ['*.rules.test', `ok.rules.test:${targetPort}`],
    deny: ['no.rules.test'],
    allowRanges: ['127.0.0.0/8'],
    resolve: { 'ok.rules.test': '127.0.0.1', 'no.rules.test': '127.0.0.1', 'meta.rules.test': '169.254.169.254' },
  });
  assert.equal((await viaProxy(socketPath, `http://ok.rules.test:${targetPort}/`)).status, 200);
  assert.equal((await viaProxy(socketPath, 'http://no.rules.test/')).status, 403);
  assert.equal((await connectTunnel(socketPath, 'meta.rules.test:443')).status, 403);
  assert.equal((await connectTunnel(socketPath, 'elsewhere.test:443')).status, 403);
  await new Promise((res) => setTimeout(res, 50));
  const ruleOf = (kind: string, host: string): unknown => audit.events.find((e) => e.kind === kind && e.details?.['host'] === host)?.details?.['rule'];
  assert.deepEqual(ruleOf('egress.allow', 'ok.rules.test'), { rule: 'allow_list', pattern: `ok.rules.test:${targetPort}` });
  assert.deepEqual(ruleOf('egress.deny', 'no.rules.test'), { rule: 'deny_list', pattern: 'no.rules.test' });
  assert.deepEqual(ruleOf('egress.deny', 'meta.rules.test'), { rule: 'address', category: 'cloud_metadata' });
  assert.deepEqual(ruleOf('egress.deny', 'elsewhere.test'), { rule: 'default_deny' });
  const report = await startProxy({ mode: 'report', resolve: { 'any.rules.test': '127.0.0.1' }, allowRanges: ['127.0.0.0/8'] });
  assert.equal((await viaProxy(report.socketPath, `http://any.rules.test:${targetPort}/`)).status, 200);
  await new Promise((res) => setTimeout(res, 50));
  const would = report.audit.events.find((e) => e.kind === 'egress.would_deny');
  assert.deepEqual(would?.details?.['rule'], { rule: 'default_deny' });
});
