import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryCaKeySlot, type CaKeySlot } from '../inspect/inspection-ca.js';
import { makeTestCerts, type TestCerts } from '../egress/test-certs.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';

/**
 * Stand-ins for `cordon demo`'s inspection steps (issue 19): a GitHub-like
 * service (an API that wants a token, and a git smart-HTTP remote) and a
 * paste site, both HTTPS on 127.0.0.1 with a throwaway CA. The demo session
 * inspects both, holds a phantom GitHub-style token whose real value only
 * this process knows, and uses its own throwaway inspection CA (key in
 * memory, never the keychain), so the demo needs neither a keychain nor the
 * network. Nothing is scripted: each step's verdict is read from what the
 * sandbox saw and what these servers received.
 */
export const DEMO_GITHUB_HOST = 'github.demo.cordon.test';
export const DEMO_PASTE_HOST = 'paste.demo.cordon.test';
/** What the stand-in GitHub accepts: the real token, which only the host holds (a made-up value, GitHub's shape). */
export const DEMO_REAL_TOKEN = 'ghp_DemoRealTokenOnlyTheHostHolds0123456';

export interface DemoRequest {
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly auth: string;
}

export interface DemoServices {
  readonly port: number;
  /** Every request the stand-ins received, in order. */
  readonly received: DemoRequest[];
  /** The demo session's own inspection CA: a key in memory, its certificate in a temp folder. */
  readonly inspectionCa: { readonly slot: CaKeySlot; readonly dir: string };
  /** The effective policy with both stand-ins allowed, inspected and pinned to loopback, and the `github` credential. */
  policyFor(base: EffectivePolicy): EffectivePolicy;
  close(): void;
}

const pkt = (s: string): string => `${(Buffer.byteLength(s) + 4).toString(16).padStart(4, '0')}${s}`;

export async function startDemoServices(): Promise<DemoServices> {
  const certs: TestCerts = makeTestCerts([DEMO_GITHUB_HOST, DEMO_PASTE_HOST]);
  const caDir = mkdtempSync(join(tmpdir(), 'cordon-demo-ca-'));
  const received: DemoRequest[] = [];
  const server: Server = createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
      const path = req.url ?? '/';
      const auth = String(req.headers.authorization ?? '');
      received.push({ host, method: req.method ?? '', path: path.split('?')[0] ?? '/', auth });
      if (host === DEMO_GITHUB_HOST && path === '/user') {
        const ok = auth === `Bearer ${DEMO_REAL_TOKEN}`;
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
        res.end(ok ? '{"login":"octocat"}' : '{"message":"Bad credentials"}');
        return;
      }
      // Just enough of git's smart HTTP for a push to an empty repository to succeed if it ever got here.
      if (host === DEMO_GITHUB_HOST && path === '/demo.git/info/refs?service=git-receive-pack') {
        res.writeHead(200, { 'content-type': 'application/x-git-receive-pack-advertisement', 'cache-control': 'no-cache' });
        res.end(`${pkt('# service=git-receive-pack\n')}0000${pkt(`${'0'.repeat(40)} capabilities^{}\0report-status delete-refs ofs-delta\n`)}0000`);
        return;
      }
      if (host === DEMO_GITHUB_HOST && path === '/demo.git/git-receive-pack') {
        res.writeHead(200, { 'content-type': 'application/x-git-receive-pack-result', 'cache-control': 'no-cache' });
        res.end(`${pkt('unpack ok\n')}${pkt('ok refs/heads/main\n')}0000`);
        return;
      }
      res.writeHead(host === DEMO_PASTE_HOST ? 201 : 404, { 'content-type': 'text/plain' });
      res.end('ok\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  // Stands in for the keychain: the demo needs no real token.
  const credentialCommand = [process.execPath, '-e', `console.log(JSON.stringify({token:${JSON.stringify(DEMO_REAL_TOKEN)},expiresAt:new Date(Date.now()+36e5).toISOString()}))`];
  const hosts = [DEMO_GITHUB_HOST, DEMO_PASTE_HOST];
  return {
    port,
    received,
    inspectionCa: { slot: new MemoryCaKeySlot(), dir: caDir },
    policyFor: (base) => ({
      ...base,
      credentials: { ...base.credentials, 'demo-github': { hosts: [DEMO_GITHUB_HOST], env: 'GH_TOKEN', header: 'Authorization', format: 'Bearer {}', scheme: 'header', credentialCommand } },
      egress: {
        ...base.egress,
        allow: [...base.egress.allow, ...hosts.map((h) => `${h}:${port}`)],
        inspect: [...(base.egress.inspect ?? []), ...hosts],
        allowRanges: [...base.egress.allowRanges, '127.0.0.1/32'],
        resolve: { ...base.egress.resolve, ...Object.fromEntries(hosts.map((h) => [h, '127.0.0.1'])) },
        caFile: certs.caFile,
      },
    }),
    close: () => {
      server.close();
      certs.cleanup();
      rmSync(caDir, { recursive: true, force: true });
    },
  };
}
