import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import type { ModelRequest } from '../egress/model-route.js';
import type { CredentialSource } from '../keys/credential-source.js';
import { mintPhantomToken } from '../keys/phantom.js';
import { ServiceCredentialSchema } from './credentials-policy.js';
import { maskStream, setupServiceCredentials } from './service-credentials.js';

const REAL = 'ghp_R3alT0kenValue0123456789abcdefABCDEF';
const source = (secret = REAL): CredentialSource => ({ provider: 'github', get: () => Promise.resolve({ ok: true, secret, expiresAt: null }) });

function setup(extra: Record<string, unknown> = {}) {
  const audit = new MemoryAuditSink();
  const policy = ServiceCredentialSchema.parse({ hosts: ['api.github.test', '*.github.test'], env: 'GH_TOKEN', ...extra });
  const creds = setupServiceCredentials({ sessionId: 's1', credentials: { github: policy }, sourceFor: () => source(), audit });
  const phantom = creds.env['GH_TOKEN'] ?? '';
  return { audit, creds, phantom };
}

function req(host: string, headers: Record<string, string>, body = '', path = '/user'): ModelRequest {
  return { provider: '', host, method: 'POST', path, headers, body: Buffer.from(body), sessionId: 's1' };
}

/** Everything a refusal left behind: the record and the message. */
function assertNoSecret(audit: MemoryAuditSink, text: string, phantom: string): void {
  const all = JSON.stringify(audit.events) + text;
  assert.ok(!all.includes(REAL), 'the real value leaked');
  assert.ok(!all.includes(phantom), 'the phantom was written down');
}

describe('service credentials', () => {
  test('the sandbox gets a phantom in the variable; on its own host, in its header, the real value is swapped in', async () => {
    const { creds, phantom } = setup();
    assert.match(phantom, /^cdn_ph_[A-Za-z0-9_-]{43}$/);
    const r = await creds.filter.apply(req('api.github.test', { authorization: `Bearer ${phantom}`, accept: 'application/json' }));
    assert.equal(r.kind, 'rewrite');
    assert.ok(r.kind === 'rewrite');
    assert.equal(r.headers?.['authorization'], `Bearer ${REAL}`);
    assert.equal(r.headers?.['accept-encoding'], 'identity');
    assert.deepEqual(creds.swappedHeaders(req('api.github.test', {})), ['authorization']);
  });

  test('refused (credential_leak) on another host, in another header, in the URL, in the body; audited without a value', async () => {
    const { creds, phantom, audit } = setup();
    const cases: ModelRequest[] = [
      req('evil.test', { authorization: `Bearer ${phantom}` }),
      req('api.github.test', { 'x-other': phantom }),
      req('api.github.test', {}, '', `/x?token=${phantom}`),
      req('api.github.test', {}, '', `/${phantom}/x`),
      req('api.github.test', {}, JSON.stringify({ token: phantom })),
      // Another phantom (the model route's, say) on a credential host.
      req('api.github.test', { authorization: `Bearer ${mintPhantomToken()}` }),
    ];
    for (const c of cases) {
      const r = await creds.filter.apply(c);
      assert.equal(r.kind, 'deny', JSON.stringify(c.headers) + c.path);
      assert.ok(r.kind === 'deny' && r.reason === 'credential_leak' && r.status === 403);
      assertNoSecret(audit, r.message, phantom);
    }
    assert.equal(audit.events.filter((e) => (e.details as Record<string, unknown>)['reason'] === 'credential_leak').length, cases.length);
  });

  test('basic: the phantom as the password keeps the user name; a query credential swaps its own parameter only', async () => {
    const basic = setup({ scheme: 'basic' });
    const b64 = Buffer.from(`x-access-token:${basic.phantom}`).toString('base64');
    const r = await basic.creds.filter.apply(req('git.github.test', { authorization: `Basic ${b64}` }));
    assert.ok(r.kind === 'rewrite');
    assert.equal(Buffer.from((r.headers?.['authorization'] ?? '').slice(6), 'base64').toString(), `x-access-token:${REAL}`);
    const q = setup({ scheme: 'query', queryParam: 'access_token' });
    const r2 = await q.creds.filter.apply(req('api.github.test', {}, '', `/repos?per_page=5&access_token=${q.phantom}`));
    assert.ok(r2.kind === 'rewrite');
    assert.equal(r2.path, `/repos?per_page=5&access_token=${REAL}`);
    const r3 = await q.creds.filter.apply(req('api.github.test', {}, '', `/repos?other=${q.phantom}`));
    assert.equal(r3.kind, 'deny');
  });

  test('a credential that cannot be had refuses the request (401 no_credential)', async () => {
    const audit = new MemoryAuditSink();
    const failing: CredentialSource = { provider: 'github', get: () => Promise.resolve({ ok: false, reason: 'locked', message: 'the keychain is locked' }) };
    const creds = setupServiceCredentials({ sessionId: 's1', credentials: { github: ServiceCredentialSchema.parse({ hosts: ['api.github.test'], env: 'GH_TOKEN' }) }, sourceFor: () => failing, audit });
    const r = await creds.filter.apply(req('api.github.test', { authorization: `Bearer ${creds.env['GH_TOKEN'] ?? ''}` }));
    assert.ok(r.kind === 'deny' && r.reason === 'no_credential' && r.status === 401);
  });

  test('a response echoing the real value gives the agent the phantom back, split across chunks too', async () => {
    const { creds, phantom } = setup();
    const swapped = await creds.filter.apply(req('api.github.test', { authorization: `Bearer ${phantom}` }));
    assert.ok(swapped.kind === 'rewrite');
    const final = req('api.github.test', swapped.headers ?? {});
    assert.equal(creds.maskHeader(final, `token ${REAL}`), `token ${phantom}`);
    const t = creds.responseTransform({ request: final, status: 200, headers: {} });
    assert.ok(t);
    const text = `a${REAL}b${REAL}`;
    const chunks = [text.slice(0, 10), text.slice(10, 50), text.slice(50)].map((s) => Buffer.from(s));
    const out: Buffer[] = [];
    for await (const c of Readable.from(chunks).pipe(t)) out.push(c as Buffer);
    assert.equal(Buffer.concat(out).toString(), `a${phantom}b${phantom}`);
    creds.revoke();
    const after = await creds.filter.apply(req('api.github.test', { authorization: `Bearer ${phantom}` }));
    assert.equal(after.kind, 'deny', 'a revoked phantom still worked');
  });

  test('maskStream holds back no more than it must', async () => {
    const out: Buffer[] = [];
    for await (const c of Readable.from([Buffer.from('0123456789')]).pipe(maskStream([['abc', 'X']]))) out.push(c as Buffer);
    assert.equal(Buffer.concat(out).toString(), '0123456789');
  });

  test('policy: reserved variables and a format without {} are refused', () => {
    assert.equal(ServiceCredentialSchema.safeParse({ hosts: ['a.test'], env: 'HTTPS_PROXY' }).success, false);
    assert.equal(ServiceCredentialSchema.safeParse({ hosts: ['a.test'], env: 'LD_PRELOAD' }).success, false);
    assert.equal(ServiceCredentialSchema.safeParse({ hosts: ['a.test'], env: 'T', format: 'Bearer' }).success, false);
    assert.equal(ServiceCredentialSchema.safeParse({ hosts: ['*'], env: 'T' }).success, false);
    assert.equal(ServiceCredentialSchema.safeParse({ hosts: ['a.test'], env: 'T', scheme: 'query' }).success, false);
  });
  test('a reload: a kept credential keeps its phantom and takes its new hosts; a removed one is refused everywhere; an added one gets a phantom that swaps on its host', async () => {
    const { creds, phantom, audit } = setup();
    const npm = ServiceCredentialSchema.parse({ hosts: ['registry.npm.test'], env: 'NPM_TOKEN' });
    // The github entry moves to another host; npm is added.
    const moved = ServiceCredentialSchema.parse({ hosts: ['gh.other.test'], env: 'GH_TOKEN' });
    const change = creds.update({ github: moved, npm });
    assert.deepEqual([change.added, change.removed, change.changed], [['npm'], [], ['github']]);
    const npmPhantom = change.env['NPM_TOKEN'] ?? '';
    assert.match(npmPhantom, /^cdn_ph_[A-Za-z0-9_-]{43}$/);
    assert.equal(creds.currentEnv()['GH_TOKEN'], phantom, 'a kept credential got a new phantom: the agent\'s variable would stop working');
    const oldHost = await creds.filter.apply(req('api.github.test', { authorization: `Bearer ${phantom}` }));
    assert.ok(oldHost.kind === 'deny' && oldHost.reason === 'credential_leak', 'the former host still gets the credential');
    const newHost = await creds.filter.apply(req('gh.other.test', { authorization: `Bearer ${phantom}` }));
    assert.ok(newHost.kind === 'rewrite' && newHost.headers?.['authorization'] === `Bearer ${REAL}`);
    const added = await creds.filter.apply(req('registry.npm.test', { authorization: `Bearer ${npmPhantom}` }));
    assert.ok(added.kind === 'rewrite' && added.headers?.['authorization'] === `Bearer ${REAL}`);
    // Removed: the phantom is unknown now, refused on the host that took it a moment ago.
    const removal = creds.update({ npm });
    assert.deepEqual(removal.removed, ['github']);
    const gone = await creds.filter.apply(req('gh.other.test', { authorization: `Bearer ${phantom}` }));
    assert.ok(gone.kind === 'deny' && gone.reason === 'credential_leak' && gone.status === 403);
    assert.equal(audit.events.at(-1)?.details?.['credential'], null, 'a removed credential is still named as known');
    assert.deepEqual(Object.keys(creds.currentEnv()), ['NPM_TOKEN']);
    // Its real value, handed out before, is still masked in answers on any host.
    assert.equal(creds.maskHeader(req('anything.test', {}), `x ${REAL} y`), `x ${phantom} y`);
    assertNoSecret(audit, '', phantom);
  });
});
