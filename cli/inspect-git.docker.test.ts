/**
 * `git push` over smart HTTP to an inspected host (issue 19): real git in a
 * real `cordon exec` session, pushing through Cordon's proxy to a loopback
 * HTTPS server that runs Debian's `git http-backend` as a CGI program (a test
 * CA, names pinned to loopback). A commit holding an AWS key is refused even
 * though policy says redact (a pack cannot be redacted); a clean one arrives.
 * The inspection CA's key lives in a throwaway Secret Service: run under
 * scripts/with-secret-service.sh.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { TestEnv } from './test-harness.js';

const HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';
const t = new TestEnv('inspect-git');
const AWS = 'AKIAQ3EGRJ2KZ7XNP4VB';
const root = join(t.cordonHome, '..', 'git-root');
const bare = join(root, 'repo.git');
let certs: TestCerts;
let server: Server;
let port = 0;
const posts: Array<{ path: string; status: number }> = [];

/** A CGI host for git-http-backend: request line and headers as CGI variables, the body on stdin, the `Status:` header honoured. */
function gitCgi(): Server {
  return createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://git.test');
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: String(req.headers['content-type'] ?? ''),
      REMOTE_ADDR: '127.0.0.1',
      REMOTE_USER: 'agent',
      GATEWAY_INTERFACE: 'CGI/1.1',
    };
    if (req.headers['content-length'] !== undefined) env['CONTENT_LENGTH'] = String(req.headers['content-length']);
    if (req.headers['content-encoding'] !== undefined) env['HTTP_CONTENT_ENCODING'] = String(req.headers['content-encoding']);
    if (req.headers['git-protocol'] !== undefined) env['GIT_PROTOCOL'] = String(req.headers['git-protocol']);
    const cgi = spawn(HTTP_BACKEND, [], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    req.pipe(cgi.stdin);
    const out: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => out.push(c));
    cgi.on('close', () => {
      const all = Buffer.concat(out);
      const split = all.indexOf('\r\n\r\n') >= 0 ? all.indexOf('\r\n\r\n') : all.indexOf('\n\n');
      const sep = all[split] === 0x0d ? 4 : 2;
      const head = all.subarray(0, Math.max(0, split)).toString('latin1').split(/\r?\n/);
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
        else headers[k] = v;
      }
      if (req.method === 'POST') posts.push({ path: url.pathname, status });
      res.writeHead(status, headers);
      res.end(split < 0 ? Buffer.alloc(0) : all.subarray(split + sep));
    });
  });
}

before(async () => {
  assert.ok(existsSync(HTTP_BACKEND), `${HTTP_BACKEND} is missing (Debian's git package ships it)`);
  certs = makeTestCerts(['git.test']);
  spawnSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  spawnSync('git', ['-C', bare, 'config', 'http.receivepack', 'true']);
  server = gitCgi();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  writeFileSync(
    join(t.cordonHome, 'policy.json'),
    JSON.stringify({
      egress: { allow: [`git.test:${port}`], inspect: ['git.test'], allowRanges: ['127.0.0.0/8'], resolve: { 'git.test': '127.0.0.1' }, caFile: certs.caFile },
      // Redact, not block: a pack cannot be redacted, so a secret in one must still be refused.
      dlp: { categories: { secret: 'redact', pii: 'redact', custom: 'redact' } },
    }),
  );
});
after(() => {
  server.close();
  certs.cleanup();
  t.cleanup();
  spawnSync('rm', ['-rf', root]);
});

describe('git push through an inspected tunnel', () => {
  test('a commit holding an AWS key is refused (dlp_blocked); a clean commit is pushed; no value in the audit log', async () => {
    assert.ok(process.env['DBUS_SESSION_BUS_ADDRESS'], 'run under scripts/with-secret-service.sh');
    const remote = `https://git.test:${port}/repo.git`;
    const g = 'git -c user.name=agent -c user.email=agent@example.test -c init.defaultBranch=main';
    const script = [
      'set -u',
      'cd /tmp && mkdir secret clean',
      `cd /tmp/secret && ${g} init -q && echo "deploy key ${AWS}" > deploy.env && ${g} add . && ${g} commit -qm "add deploy key" && ${g} push ${remote} main:refs/heads/leak > /tmp/push1.txt 2>&1; echo "SECRET_PUSH $?"`,
      'cat /tmp/push1.txt | tr "\\n" " " | sed "s/^/SECRET_OUT /"; echo',
      `cd /tmp/clean && ${g} init -q && echo "hello" > README.md && ${g} add . && ${g} commit -qm "clean" && ${g} push ${remote} main > /tmp/push2.txt 2>&1; echo "CLEAN_PUSH $?"`,
      'cat /tmp/push2.txt | tr "\\n" " " | sed "s/^/CLEAN_OUT /"; echo',
      'echo "CLEAN_HEAD $(git -C /tmp/clean rev-parse HEAD)"',
    ].join('\n');
    const r = await t.run(['exec', '--workspace', t.workspace('ws'), '--', 'sh', '-c', script], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const line = (label: string): string => r.stdout.split('\n').find((l) => l.startsWith(`${label} `)) ?? `${label} (missing)`;
    assert.notEqual(line('SECRET_PUSH'), 'SECRET_PUSH 0', r.stdout);
    assert.match(line('SECRET_OUT'), /403/, 'git did not report the refusal');
    assert.equal(line('CLEAN_PUSH'), 'CLEAN_PUSH 0', r.stdout);
    // The server: the clean commit arrived, the leaking ref never existed, and the key is in none of its objects.
    const head = spawnSync('git', ['-C', bare, 'rev-parse', 'refs/heads/main'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(`CLEAN_HEAD ${head}`, line('CLEAN_HEAD'));
    assert.notEqual(spawnSync('git', ['-C', bare, 'rev-parse', '--verify', '-q', 'refs/heads/leak']).status, 0);
    const everything = spawnSync('sh', ['-c', `git -C ${bare} cat-file --batch-all-objects --batch`], { encoding: 'latin1' }).stdout;
    assert.ok(everything.includes('hello') && !everything.includes(AWS), 'the key reached the server');
    // Only the clean receive-pack POST reached the backend.
    assert.deepEqual(posts.filter((p) => p.path.endsWith('/git-receive-pack')).map((p) => p.status), [200]);
    // The audit: the block is recorded with its finding, the value nowhere.
    const audit = readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8');
    assert.ok(!audit.includes(AWS), 'the key reached the audit log');
    const blocks = t.auditRecords().filter((e) => e.cordon['kind'] === 'dlp.block');
    assert.ok(blocks.some((e) => e.cordon['reason'] === 'dlp_blocked' && JSON.stringify(e.cordon['findings'] ?? '').includes('aws_access_key_id')), JSON.stringify(blocks));
    assert.ok(t.auditRecords().some((e) => e.cordon['kind'] === 'egress.deny' && e.cordon['reason'] === 'dlp_blocked'));
  });
});
