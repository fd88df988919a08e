// DLP on inspected uploads that arrive in pieces (issue 19): a secret split
// across HTTP chunks, TLS records and TCP writes is still found, because the
// proxy scans the body it reassembled, never a piece on its own. Real
// sockets: the proxy with TLS inspection, a loopback HTTPS server behind it
// with a throwaway test CA, the session's DLP filter as sessions run it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { compileEgressPolicy } from '../egress/egress-policy.js';
import { EgressProxy } from '../egress/egress-proxy.js';
import { makeTestCerts, type TestCerts } from '../egress/test-certs.js';
import { loadOrCreateInspectionCa, MemoryCaKeySlot, type InspectionCa } from '../inspect/inspection-ca.js';
import { LeafIssuer } from '../inspect/leaf-issuer.js';
import { createInspectDlp } from './inspect-dlp.js';
import { compileDlpPolicy, DlpPolicySchema } from './policy.js';

const AWS = ['AKIA', 'Q3EGRJ2KZ7XNP4VB'].join('');
const HOSTS = ['redact.test', 'block.test'];
const dir = mkdtempSync(join(tmpdir(), 'cordon-dlps-'));
let certs: TestCerts;
let ca: InspectionCa;
let server: https.Server;
let port = 0;
let proxy: EgressProxy;
const audit = new MemoryAuditSink();
const received: Buffer[] = [];
const socketPath = join(dir, 'p.sock');

before(async () => {
  certs = makeTestCerts(HOSTS);
  const r = await loadOrCreateInspectionCa(join(dir, 'ca'), new MemoryCaKeySlot());
  assert.ok(r.ok);
  ca = r.value;
  server = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      received.push(Buffer.concat(chunks));
      res.end('ok');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
  const egress = compileEgressPolicy({ allow: HOSTS.map((h) => `${h}:${port}`), inspect: HOSTS, allowRanges: ['127.0.0.0/8'], resolve: Object.fromEntries(HOSTS.map((h) => [h, '127.0.0.1'])), caFile: certs.caFile });
  if (!egress.ok) throw new Error(egress.errors.join('; '));
  const policy = compileDlpPolicy(DlpPolicySchema.parse({ categories: { secret: 'redact', pii: 'redact', custom: 'redact' }, destinations: { 'block.test': { categories: { secret: 'block' } } } }));
  const dlp = createInspectDlp({ sessionId: 's', policy, audit });
  proxy = new EgressProxy({ socketPath, policy: egress.policy, audit: { record: () => undefined }, hostAddresses: () => [], sessionId: 's', inspection: { leaves: new LeafIssuer(ca) }, inspectFilters: [dlp.filter] });
  await proxy.start();
});

after(async () => {
  await proxy.stop();
  server.close();
  certs.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A chunked POST through the proxy whose body is written as `pieces`, each
 * in its own write (its own HTTP chunk and TLS record) after a pause, so the
 * proxy receives them apart.
 */
async function upload(host: string, pieces: readonly Buffer[], headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; deny: string | undefined }> {
  const raw = await new Promise<net.Socket>((resolve, reject) => {
    const req = http.request({ socketPath, method: 'CONNECT', path: `${host}:${port}`, agent: false });
    req.once('connect', (res: http.IncomingMessage, s: net.Socket) => (res.statusCode === 200 ? resolve(s) : reject(new Error(`CONNECT ${res.statusCode}`))));
    req.once('error', reject);
    req.end();
  });
  const s = tls.connect({ socket: raw, servername: host, ca: [ca.certPem] });
  await new Promise<void>((resolve, reject) => {
    s.once('secureConnect', resolve);
    s.once('error', reject);
  });
  return new Promise((resolve, reject) => {
    const req = http.request({ createConnection: () => s, host, port, path: '/upload', method: 'POST', headers: { 'content-type': 'text/plain', 'transfer-encoding': 'chunked', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => {
        s.destroy();
        resolve({ status: res.statusCode ?? 0, deny: res.headers['x-cordon-deny'] as string | undefined });
      });
    });
    req.once('error', reject);
    const write = (k: number): void => {
      if (k === pieces.length) {
        req.end();
        return;
      }
      req.write(pieces[k]);
      setTimeout(() => write(k + 1), 5);
    };
    write(0);
  });
}

/** `body` cut at each of `at` (byte offsets). */
function cut(body: Buffer, at: readonly number[]): Buffer[] {
  const edges = [0, ...at, body.length];
  return edges.slice(1).map((end, k) => body.subarray(edges[k], end));
}

describe('DLP on an inspected upload that arrives in pieces', { timeout: 60_000 }, () => {
  const body = Buffer.from(`line one\naws_access_key_id = ${AWS}\nline three\n`);
  const keyAt = body.indexOf(AWS);

  test('a key split across chunks at every place inside it is redacted before the server sees it', async () => {
    for (let k = 1; k < AWS.length; k++) {
      received.length = 0;
      const r = await upload('redact.test', cut(body, [keyAt - 3, keyAt + k, keyAt + AWS.length + 2]));
      assert.equal(r.status, 200);
      const got = received[0]?.toString() ?? '';
      // Neither half either (halves of four characters or more: shorter ones occur in any text, "REDACTED" included).
      const halves = [AWS.slice(0, k), AWS.slice(k)].filter((h) => h.length >= 4);
      assert.ok(!got.includes(AWS) && halves.every((h) => !got.includes(h)), `split at ${k}: the key reached the server`);
      assert.ok(got.includes('[REDACTED:aws_access_key_id]'), `split at ${k}: ${got}`);
      assert.ok(got.startsWith('line one\n') && got.endsWith('\nline three\n'), 'the rest of the body arrives as it was');
    }
  });

  test('one byte per chunk, and a split key where policy blocks: refused, nothing reaches the server', async () => {
    received.length = 0;
    const bytes = await upload('redact.test', [...body].map((b) => Buffer.from([b])));
    assert.equal(bytes.status, 200);
    assert.ok(!received[0]?.toString().includes(AWS));
    received.length = 0;
    const blocked = await upload('block.test', cut(body, [keyAt + 4, keyAt + 12]));
    assert.equal(blocked.status, 403);
    assert.equal(blocked.deny, 'dlp_blocked');
    assert.equal(received.length, 0);
    assert.ok(!JSON.stringify(audit.events).includes(AWS), 'a value reached the audit log');
  });

  test('a gzip body streamed in pieces is inflated whole and scanned', async () => {
    received.length = 0;
    const gz = gzipSync(body);
    const r = await upload('redact.test', cut(gz, [3, Math.floor(gz.length / 2), gz.length - 4]), { 'content-encoding': 'gzip' });
    assert.equal(r.status, 200);
    const got = received[0]?.toString() ?? '';
    assert.ok(!got.includes(AWS) && got.includes('[REDACTED:aws_access_key_id]'), got);
  });
});
