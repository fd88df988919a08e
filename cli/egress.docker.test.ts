/**
 * Egress from real sessions (issue 3): curl inside `cordon exec` against test
 * servers on the host's loopback, through the relay and the session's proxy.
 * Every name is pinned with `egress.resolve`, so no test asks DNS and no
 * traffic leaves the machine.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { collect, cordonContainers, eventually, TestEnv } from './test-harness.js';

const t = new TestEnv('egress');
let server: Server;
let port = 0;
let hits = 0;
before(async () => {
  server = createHttpServer((req, res) => {
    hits++;
    res.end(`hello-from-host ${req.headers.host ?? ''}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.close();
  t.cleanup();
});

function setPolicy(policy: unknown): void {
  writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify(policy));
}

/** Shell that prints `RESULT <label> <http code> <X-Cordon-Deny>` for each URL. */
const PROBE = `probe() { out=$(curl -s -m 10 -o /dev/null -D - "$2" 2>/dev/null); code=$(printf '%s' "$out" | head -1 | cut -d' ' -f2); deny=$(printf '%s\\n' "$out" | grep -i '^x-cordon-deny:' | cut -d' ' -f2 | tr -d '\\r'); echo "RESULT $1 \${code:-none} \${deny:--}"; }`;

function results(stdout: string): Map<string, { code: string; deny: string }> {
  const m = new Map<string, { code: string; deny: string }>();
  for (const line of stdout.split('\n')) {
    const f = /^RESULT (\S+) (\S+) (\S+)$/.exec(line);
    if (f) m.set(f[1] as string, { code: f[2] as string, deny: f[3] as string });
  }
  return m;
}

describe('egress through the session proxy', () => {
  for (const profile of ['standard', 'strict']) {
  test(`[${profile}] an allowed, pinned name reaches a loopback server when allowRanges names loopback; an unlisted host gets 403 with a reason`, async () => {
    setPolicy({ egress: { allow: [`example.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'example.test': '127.0.0.1' } } });
    const r = await t.run(['exec', '--profile', profile, '--', 'sh', '-c', `curl -sS -m 10 http://example.test:${port}/; curl -s -m 10 -i http://unlisted.test/ | tr -d '\\r' | grep -E '^(HTTP|X-Cordon-Deny)|refuse|not allowed'`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`hello-from-host example.test:${port}`));
    assert.match(r.stdout, /^HTTP\/1\.1 403/m);
    assert.match(r.stdout, /^X-Cordon-Deny: host_not_allowed$/m);
    const allow = t.auditRecords().find((e) => e.cordon['kind'] === 'egress.allow' && e.cordon['host'] === 'example.test');
    assert.ok(allow, 'allowed connection audited');
    assert.equal(allow.cordon['address'], '127.0.0.1');
    assert.equal(typeof allow.cordon['bytesDown'], 'number');
    assert.ok(t.auditRecords().some((e) => e.cordon['kind'] === 'egress.deny' && e.cordon['host'] === 'unlisted.test' && e.cordon['reason'] === 'host_not_allowed'));
  });

  test(`[${profile}] MiB through a CONNECT tunnel arrive intact both ways, carried host-side by the splice helper and audited with their byte counts`, async (tc) => {
    // Deterministic bytes down; the server answers an upload with its SHA-256.
    const blob = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 32) createHash('sha256').update(String(i)).digest().copy(blob, i);
    const bulk = createHttpServer((req, res) => {
      if (req.url === '/blob') return void res.end(blob);
      const h = createHash('sha256');
      req.on('data', (d: Buffer) => h.update(d));
      req.on('end', () => res.end(`${h.digest('hex')}\n`));
    });
    await new Promise<void>((r) => bulk.listen(0, '127.0.0.1', r));
    tc.after(() => bulk.close());
    const bulkPort = (bulk.address() as AddressInfo).port;
    setPolicy({ egress: { allow: [`bulk.test:${bulkPort}`], allowRanges: ['127.0.0.0/8'], resolve: { 'bulk.test': '127.0.0.1' } } });
    const url = `http://bulk.test:${bulkPort}`;
    // curl -p: a CONNECT tunnel even for http://, the path every HTTPS request takes.
    // The download loads the connect shim, as every dynamically linked program
    // does; the upload runs without it, as a static program would, and takes
    // the proxy's TCP port. The last line is what curl's getpeername() saw.
    const script = `set -e; curl -sS -p -m 60 ${url}/blob | sha256sum | cut -d' ' -f1; head -c 8388608 /dev/urandom > /tmp/up; sha256sum /tmp/up | cut -d' ' -f1; env -u LD_PRELOAD curl -sS -p -m 60 --data-binary @/tmp/up ${url}/upload; curl -sS -p -m 10 -o /dev/null -w '%{remote_ip}:%{remote_port}\\n' ${url}/upload`;
    const r = await t.run(['exec', '--profile', profile, '--', 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    const [down, upLocal, upRemote, peer] = r.stdout.trim().split('\n');
    assert.equal(down, createHash('sha256').update(blob).digest('hex'), 'download intact');
    assert.equal(upRemote, upLocal, 'upload intact');
    assert.equal(peer, '127.0.0.1:3128', 'through the shim, the proxy still looks like 127.0.0.1:3128 to the program');
    const tunnels = t.auditRecords().filter((e) => e.cordon['host'] === 'bulk.test' && e.cordon['port'] === bulkPort && e.cordon['dataPath'] === 'splice');
    assert.ok(tunnels.some((e) => Number(e.cordon['bytesDown']) >= blob.length), 'the download tunnel was spliced and its bytes counted');
    assert.ok(tunnels.some((e) => Number(e.cordon['bytesUp']) >= 8 * 1024 * 1024), 'the upload tunnel was spliced and its bytes counted');
    // With the shim, curl reached the proxy's socket directly, in either runtime.
    const download = tunnels.find((e) => Number(e.cordon['bytesDown']) >= blob.length);
    assert.equal(download?.cordon['clientPath'], 'shim');
    // Without it, runc: the relay handed its listener over and the connection
    // went straight to the proxy (the upload comes after the handoff was
    // answered). gVisor: its sockets cannot leave the sandbox; the relay carried it.
    const upload = tunnels.find((e) => Number(e.cordon['bytesUp']) >= 8 * 1024 * 1024);
    assert.equal(upload?.cordon['clientPath'], profile === 'standard' ? 'listener' : 'relay');
  });
  }

  test('every session preloads the connect shim after nothing else; --env LD_PRELOAD is kept after it; CORDON_CONNECT_SHIM=off leaves it out', async () => {
    setPolicy({ egress: { allow: [`example.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'example.test': '127.0.0.1' } } });
    const show = `echo "preload=$LD_PRELOAD socket=$CORDON_EGRESS_SOCKET port=$CORDON_EGRESS_PORT"; curl -sS -m 10 -o /dev/null -w 'code=%{http_code}\\n' http://example.test:${port}/`;
    const on = await t.run(['exec', '--', 'sh', '-c', show]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /^preload=\/run\/cordon\/cordon-connect\.so socket=\/run\/cordon\/egress\/cordon-shim\.sock port=3128$/m);
    assert.match(on.stdout, /^code=200$/m);
    // The user's library still loads (libc.so.6 is in every glibc image), after Cordon's.
    const theirs = await t.run(['exec', '--env', 'LD_PRELOAD=libc.so.6', '--', 'sh', '-c', show]);
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.match(theirs.stdout, /^preload=\/run\/cordon\/cordon-connect\.so:libc\.so\.6 /m);
    assert.match(theirs.stdout, /^code=200$/m);
    const off = await t.run(['exec', '--', 'sh', '-c', `${show}; ls /run/cordon`], { env: { ...process.env, CORDON_CONNECT_SHIM: 'off' } });
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /^preload= socket= port=$/m);
    assert.match(off.stdout, /^code=200$/m, 'without the shim, the relay port carries the request');
    assert.doesNotMatch(off.stdout, /cordon-connect\.so/, 'nor is the shim mounted');
    const paths = t.auditRecords().filter((e) => e.cordon['kind'] === 'egress.allow' && e.cordon['host'] === 'example.test').map((e) => e.cordon['clientPath']);
    // Without the shim: the relay's port (its listener may not be handed over yet this early).
    assert.deepEqual(paths.slice(-3, -1), ['shim', 'shim']);
    assert.ok(paths.at(-1) === 'listener' || paths.at(-1) === 'relay', String(paths.at(-1)));
  });

  test('without loopback in allowRanges, every spelling of loopback is refused and nothing reaches the server', async () => {
    setPolicy({ egress: { allow: [`example.test:${port}`, `127.0.0.1:${port}`], resolve: { 'example.test': '127.0.0.1' } } });
    const before = hits;
    const urls: Array<[string, string]> = [
      ['name', `http://example.test:${port}/`],
      ['mapped', `http://[::ffff:127.0.0.1]:${port}/`],
      ['hex', `http://0x7f000001:${port}/`],
      ['octal', `http://017700000001:${port}/`],
      ['decimal', `http://2130706433:${port}/`],
      ['dotted', `http://127.0.0.1:${port}/`],
      ['short', `http://127.1:${port}/`],
    ];
    const script = [PROBE, ...urls.map(([l, u]) => `probe ${l} '${u}'`), `curl -s -m 5 --noproxy '*' http://127.0.0.1:${port}/; echo "RESULT direct curl-exit-$? -"`].join('\n');
    const r = await t.run(['exec', '--', 'sh', '-c', script]);
    const res = results(r.stdout);
    for (const [label] of urls) {
      const v = res.get(label);
      assert.equal(v?.code, '403', `${label}: ${JSON.stringify(v)}\n${r.stdout}`);
      assert.ok(v?.deny === 'address_blocked' || v?.deny === 'host_not_allowed', `${label}: ${JSON.stringify(v)}`);
    }
    assert.equal(res.get('name')?.deny, 'address_blocked');
    assert.equal(res.get('dotted')?.deny, 'address_blocked');
    assert.equal(res.get('direct')?.code, 'curl-exit-7');
    assert.equal(hits, before, 'a refused request reached the loopback server');
  });

  test('a vendor API host is reached only through the model route, whatever egress.allow says; telemetry is denied', async () => {
    setPolicy({
      egress: {
        allow: [`api.anthropic.com:${port}`, `statsig.anthropic.com:${port}`, 'api.anthropic.com'],
        allowRanges: ['127.0.0.0/8'],
        resolve: { 'api.anthropic.com': '127.0.0.1', 'statsig.anthropic.com': '127.0.0.1' },
      },
    });
    const before = hits;
    const r = await t.run([
      'exec',
      '--',
      'sh',
      '-c',
      // Plain HTTP and a CONNECT tunnel to the vendor: both would skip the phantom check and DLP.
      `${PROBE}\nprobe api http://api.anthropic.com:${port}/\nprobe tunnel https://api.anthropic.com/v1/messages\nprobe telemetry http://statsig.anthropic.com:${port}/`,
    ]);
    const res = results(r.stdout);
    assert.deepEqual(res.get('api'), { code: '403', deny: 'model_route_only' }, r.stdout);
    assert.deepEqual(res.get('tunnel'), { code: '403', deny: 'model_route_only' }, r.stdout);
    assert.deepEqual(res.get('telemetry'), { code: '403', deny: 'host_denied' });
    assert.equal(hits, before, 'a refused request reached the loopback server');
    const denied = t.auditRecords().filter((e) => e.cordon['kind'] === 'egress.deny' && e.cordon['reason'] === 'model_route_only');
    assert.ok(denied.length >= 2, 'both refusals are audited');
  });

  test('the sandbox chains through the host corporate proxy when HTTPS_PROXY/HTTP_PROXY are set', async () => {
    setPolicy({ egress: { allow: [`example.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'example.test': '127.0.0.1' } } });
    const seen: string[] = [];
    // A minimal corporate proxy on loopback: forwards absolute-form requests and CONNECT.
    const upstream = createHttpServer((req: IncomingMessage, res) => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
      const u = new URL(req.url ?? '');
      const fwd = httpRequest({ host: '127.0.0.1', port: Number(u.port), path: u.pathname, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(fwd);
    });
    upstream.on('connect', (req: IncomingMessage, sock: Socket) => {
      seen.push(`CONNECT ${req.url ?? ''}`);
      const [, p] = (req.url ?? '').split(':');
      const out = connect(Number(p), '127.0.0.1', () => {
        sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        out.pipe(sock);
        sock.pipe(out);
      });
      out.on('error', () => sock.destroy());
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    try {
      const r = await t.run(['exec', '--', 'sh', '-c', `curl -sS -m 10 http://example.test:${port}/chained`], { env: { HTTP_PROXY: up, HTTPS_PROXY: up, NO_PROXY: '' } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /hello-from-host/);
      assert.ok(seen.some((s) => s.includes(`:${port}`)), `upstream proxy saw: ${JSON.stringify(seen)}`);
    } finally {
      upstream.close();
    }
  });

  test('a changed egress policy applies to a running session within 2 seconds, without a restart', async () => {
    setPolicy({ egress: { allow: [`example.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'example.test': '127.0.0.1' } } });
    const ws = t.workspace('ws-live');
    // Each probe line carries the sandbox's clock (the same kernel clock as the host's).
    const script = `${PROBE}
      i=0; while [ $i -lt 200 ]; do
        probe live http://example.test:${port}/ > ${ws}/last
        echo "$(cat ${ws}/last) at $(date +%s%3N)"
        grep -q ' 403 ' ${ws}/last && exit 0
        sleep 0.05; i=$((i+1))
      done; exit 3`;
    const child = t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', script]);
    const done = collect(child, undefined, 60_000);
    assert.ok(await eventually(() => existsSync(join(ws, 'last'))), 'session did not start probing');
    // The policy now drops the host from the allowlist.
    const changedAt = Date.now();
    setPolicy({ egress: { allow: [], allowRanges: ['127.0.0.0/8'], resolve: { 'example.test': '127.0.0.1' } } });
    const r = await done;
    assert.equal(r.code, 0, `still allowed after the change:\n${r.stdout.slice(-400)}`);
    assert.match(r.stdout, /RESULT live 200 -/);
    const denied = /RESULT live 403 host_not_allowed at (\d+)/.exec(r.stdout);
    assert.ok(denied);
    const lag = Number(denied[1]) - changedAt;
    assert.ok(lag < 2000, `the change took ${lag} ms to reach the session`);
    const reload = t.auditRecords().find((e) => e.cordon['kind'] === 'policy.reloaded');
    assert.ok(reload, 'the reload is audited');
    assert.ok(!(reload.cordon['allow'] as string[]).some((h) => h.startsWith('example.test')), 'the audited summary shows the new allowlist');
  });

  test('a managed-policy folder created after the session started is watched: a policy dropped into it reaches the running proxy', async () => {
    setPolicy({ egress: { allow: [`example.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'example.test': '127.0.0.1' } } });
    // No MDM has run yet when the session starts.
    const managed = join(t.policyDir, 'managed');
    rmSync(managed, { recursive: true, force: true });
    const ws = t.workspace('ws-late-managed');
    const script = `${PROBE}
      i=0; while [ $i -lt 300 ]; do
        probe late http://example.test:${port}/ > ${ws}/last
        cat ${ws}/last
        grep -q ' 403 ' ${ws}/last && exit 0
        sleep 0.05; i=$((i+1))
      done; exit 3`;
    const child = t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', script]);
    const done = collect(child, undefined, 60_000);
    try {
      assert.ok(await eventually(() => existsSync(join(ws, 'last'))), 'session did not start probing');
      mkdirSync(managed);
      // As an MDM agent would: the folder first, the policy a moment later.
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(join(managed, '10-it.json'), JSON.stringify({ egress: { deny: ['example.test'] } }));
      const r = await done;
      assert.equal(r.code, 0, `the managed policy never reached the session:\n${r.stdout.slice(-400)}\n${r.stderr}`);
      assert.match(r.stdout, /RESULT late 200 -/);
      assert.match(r.stdout, /RESULT late 403 host_denied/);
      const reload = t.auditRecords().filter((e) => e.cordon['kind'] === 'policy.reloaded').at(-1);
      assert.ok(((reload?.cordon['changed'] as string[] | undefined) ?? []).includes('egress.deny'), JSON.stringify(reload));
    } finally {
      rmSync(managed, { recursive: true, force: true });
      mkdirSync(managed);
    }
  });

  test('an invalid policy change is rejected and audited; the last good policy stays in force', async () => {
    setPolicy({ egress: { allow: [`example.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'example.test': '127.0.0.1' } } });
    const ws = t.workspace('ws-invalid');
    const script = `${PROBE}
      i=0; while [ $i -lt 40 ]; do probe still http://example.test:${port}/; [ -e ${ws}/stop ] && exit 0; sleep 0.1; i=$((i+1)); done`;
    const child = t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', script]);
    const done = collect(child, undefined, 60_000);
    // Counted as they arrive, so a slow machine cannot leave too few probes on either side of the change.
    let probes = 0;
    child.stdout?.on('data', (d: Buffer) => (probes += (d.toString('utf8').match(/RESULT still/g) ?? []).length));
    assert.ok(await eventually(() => probes >= 2, 20_000), 'the probe loop did not start');
    writeFileSync(join(t.cordonHome, 'policy.json'), '{"egress": {"allow": [], "mode": "sometimes"');
    assert.ok(await eventually(() => t.auditRecords().some((e) => e.cordon['kind'] === 'policy.reload_rejected'), 5000), 'rejection not audited');
    const atRejection = probes;
    assert.ok(await eventually(() => probes >= atRejection + 3, 20_000), 'too few probes after the rejected change');
    writeFileSync(join(ws, 'stop'), '');
    const r = await done;
    const codes = r.stdout.split('\n').filter((l) => l.startsWith('RESULT still')).map((l) => l.split(' ')[2]);
    assert.ok(codes.length >= 5, r.stdout);
    assert.ok(codes.every((c) => c === '200'), `a request was refused after the invalid change: ${codes.join(',')}`);
    setPolicy({});
  });

  test('SSE from the model route reaches the sandbox incrementally, over verified TLS to the provider', async () => {
    const certs: TestCerts = makeTestCerts(['api.anthropic.test']);
    let sawPath = '';
    const vendor = createHttpsServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
      sawPath = req.url ?? '';
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('event: first\ndata: {"n":1}\n\n');
      setTimeout(() => res.end('event: second\ndata: {"n":2}\n\n'), 1500);
    });
    await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', r));
    const vport = (vendor.address() as AddressInfo).port;
    setPolicy({
      // A credential command stands in for the keychain, so the key swap passes.
      providers: {
        anthropic: {
          baseUrl: `https://api.anthropic.test:${vport}`,
          caFile: certs.caFile,
          credentialCommand: [process.execPath, '-e', 'console.log(JSON.stringify({token:"t",expiresAt:new Date(Date.now()+36e5).toISOString()}))'],
        },
      },
      egress: { allowRanges: ['127.0.0.0/8'], resolve: { 'api.anthropic.test': '127.0.0.1' } },
    });
    try {
      const script = `curl -sN -m 20 "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" -H 'content-type: application/json' -d '{"stream":true}' | while IFS= read -r line; do if [ -n "$line" ]; then echo "$(date +%s%3N) $line"; fi; done`;
      const r = await t.run(['exec', '--', 'sh', '-c', script]);
      assert.equal(r.code, 0, r.stderr);
      const first = /^(\d+) event: first$/m.exec(r.stdout);
      const second = /^(\d+) event: second$/m.exec(r.stdout);
      assert.ok(first && second, r.stdout);
      const gap = Number(second[1]) - Number(first[1]);
      assert.ok(gap >= 1000, `first event arrived only ${gap} ms before the second: the response was buffered`);
      assert.equal(sawPath, '/v1/messages');
    } finally {
      vendor.close();
      certs.cleanup();
    }
  });

  test('if the proxy stops, the session is ended and recorded as failed (fail closed)', async () => {
    setPolicy({});
    const child = t.spawn(['exec', '--', 'sh', '-c', 'sleep 60']);
    const done = collect(child, undefined, 60_000);
    let sessionId = '';
    assert.ok(
      await eventually(async () => {
        const c = (await cordonContainers()).find((x) => x.Labels['dev.cordon.owner-pid'] === String(child.pid) && x.State === 'running');
        sessionId = c?.Labels['dev.cordon.session'] ?? '';
        return sessionId !== '';
      }),
    );
    const sock = join(t.cordonHome, 'sessions', sessionId, 'egress', 'proxy.sock');
    assert.ok(existsSync(sock));
    rmSync(sock);
    const r = await done;
    assert.equal(r.code, 125);
    assert.match(r.stderr, /egress proxy stopped.*fail closed/);
    assert.deepEqual(await cordonContainers(sessionId), []);
    const fail = t.auditRecords().find((e) => e.cordon['kind'] === 'session.fail' && e.cordon['session_id'] === sessionId);
    assert.equal(fail?.cordon['reason'], 'egress_proxy_down');
    assert.deepEqual(readdirSync(join(t.cordonHome, 'sessions')), []);
  });
});
