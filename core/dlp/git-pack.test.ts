import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { MemoryAuditSink } from '../audit/audit-event.js';
import type { ModelRequest } from '../egress/model-route.js';
import { parseReceivePack } from './git-pack.js';
import { createInspectDlp } from './inspect-dlp.js';
import { compileDlpPolicy, DlpPolicySchema } from './policy.js';

// Packs made by real git (pack-objects), so the parser is checked against git's own writer, not against itself.
const AWS = 'AKIAQ3EGRJ2KZ7XNP4VB';
const repo = mkdtempSync(join(tmpdir(), 'cordon-git-pack-'));
const git = (...args: string[]): string => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();
const packOf = (revs: string, thin = false): Buffer => execFileSync('git', ['-C', repo, 'pack-objects', '--stdout', '--revs', ...(thin ? ['--thin'] : [])], { input: `${revs}\n` });
const ZERO = '0'.repeat(40);
const pkt = (s: string): string => `${(s.length + 4).toString(16).padStart(4, '0')}${s}`;
/** A receive-pack request body as git sends it: one ref update with capabilities, a flush, the pack. */
const body = (pack: Buffer, tip: string): Buffer => Buffer.concat([Buffer.from(pkt(`${ZERO} ${tip} refs/heads/main\0 report-status side-band-64k agent=git/2\n`) + '0000'), pack]);
/** Prose long enough for git to store a second version as a delta. */
const prose = Array.from({ length: 300 }, (_, i) => `line ${i}: the proxy scans every request before it leaves the sandbox`).join('\n');

git('init', '-q', '-b', 'main');
writeFileSync(join(repo, 'notes.md'), `${prose}\n`);
git('add', '.');
git('commit', '-q', '-m', 'clean');
const clean = git('rev-parse', 'HEAD');
writeFileSync(join(repo, 'notes.md'), `${prose}\ndeploy key ${AWS}\n`);
git('commit', '-q', '-am', 'add the deploy key');
const dirty = git('rev-parse', 'HEAD');
after(() => rmSync(repo, { recursive: true, force: true }));

describe('git receive-pack bodies', () => {
  test('every object of a real pack is read, deltas against objects in the pack resolved', () => {
    const pack = packOf(dirty);
    writeFileSync(join(repo, 'p.pack'), pack);
    // The premise: git stored one version of notes.md as a delta (else this test proves nothing about deltas).
    execFileSync('git', ['-C', repo, 'index-pack', 'p.pack']);
    assert.match(execFileSync('git', ['-C', repo, 'verify-pack', '-v', 'p.idx'], { encoding: 'utf8' }), /chain length = 1/);
    const r = parseReceivePack(body(pack, dirty));
    assert.ok(r.ok, r.ok ? '' : r.detail);
    assert.equal(r.unreadableDeltas, 0);
    const blobs = r.objects.filter((o) => o.kind === 'blob').map((o) => o.content.toString());
    assert.deepEqual(blobs.sort(), [`${prose}\n`, `${prose}\ndeploy key ${AWS}\n`].sort());
    assert.equal(r.objects.filter((o) => o.kind === 'commit').length, 2);
    assert.match(r.commands, /refs\/heads\/main/);
  });

  test('a thin pack: the delta against the server\'s object is unreadable, its inserts are returned', () => {
    const r = parseReceivePack(body(packOf(`${dirty}\n^${clean}`, true), dirty));
    assert.ok(r.ok, r.ok ? '' : r.detail);
    assert.equal(r.unreadableDeltas, 1);
    assert.ok(r.deltaInserts.some((b) => b.toString().includes(AWS)));
  });

  test('no pack (a deletion, or git\'s 0000 probe) is valid and empty', () => {
    const probe = parseReceivePack(Buffer.from('0000'));
    assert.ok(probe.ok && probe.objects.length === 0);
  });

  test('malformed or over-limit packs fail closed with a reason', () => {
    const good = body(packOf(dirty), dirty);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 30] = (flipped[flipped.length - 30] ?? 0) ^ 1;
    const cases: Array<[string, Buffer, string]> = [
      ['checksum', flipped, 'pack_malformed'],
      ['truncated', good.subarray(0, good.length - 25), 'pack_malformed'],
      ['no flush', Buffer.from(pkt('x\n')), 'pack_malformed'],
      ['not hex', Buffer.from('zzzz'), 'pack_malformed'],
      ['not a pack', Buffer.from('0000NOTAPACK-and-some-more-bytes-here'), 'pack_malformed'],
    ];
    for (const [name, b, reason] of cases) {
      const r = parseReceivePack(b);
      assert.ok(!r.ok && r.reason === reason, `${name}: ${JSON.stringify(r.ok ? 'ok' : r)}`);
    }
    const limited = (l: Partial<{ maxObjects: number; maxObjectBytes: number; maxInflatedBytes: number }>): string => {
      const r = parseReceivePack(good, { maxObjects: 100, maxObjectBytes: 1 << 20, maxInflatedBytes: 1 << 22, ...l });
      return r.ok ? 'ok' : r.reason;
    };
    assert.equal(limited({}), 'ok');
    assert.equal(limited({ maxObjects: 5 }), 'pack_too_large');
    assert.equal(limited({ maxObjectBytes: 1000 }), 'pack_too_large');
    assert.equal(limited({ maxInflatedBytes: 20_000 }), 'pack_too_large');
  });

  test('an object that inflates past its declared size (a bomb) is refused', () => {
    // One blob declaring 10 bytes whose stream holds 1 MiB.
    const obj = Buffer.concat([Buffer.from([0x3a]), deflateSync(Buffer.alloc(1 << 20, 'a'))]);
    const head = Buffer.from('PACK\0\0\0\x02\0\0\0\x01', 'latin1');
    const unsummed = Buffer.concat([head, obj]);
    const pack = Buffer.concat([unsummed, createHash('sha1').update(unsummed).digest()]);
    const r = parseReceivePack(body(pack, dirty));
    assert.ok(!r.ok && r.reason === 'pack_malformed', JSON.stringify(r));
  });
});

describe('DLP on a git push', () => {
  const policy = compileDlpPolicy(DlpPolicySchema.parse({ categories: { secret: 'redact', pii: 'redact', custom: 'redact' } }));
  const push = (b: Buffer): ModelRequest => ({ provider: '', host: 'git.test', method: 'POST', path: '/r.git/git-receive-pack', headers: { 'content-type': 'application/x-git-receive-pack-request' }, body: b, sessionId: 's' });

  test('a secret in a pushed commit blocks even where policy says redact; a clean push passes; no value in the audit', async () => {
    const audit = new MemoryAuditSink();
    const dlp = createInspectDlp({ sessionId: 's', policy, audit });
    const blocked = await dlp.filter.apply(push(body(packOf(dirty), dirty)));
    assert.ok(blocked.kind === 'deny' && blocked.reason === 'dlp_blocked' && blocked.status === 403, JSON.stringify(blocked));
    assert.match(blocked.message, /cannot be redacted/);
    assert.equal((await dlp.filter.apply(push(body(packOf(clean), clean)))).kind, 'allow');
    assert.ok(!JSON.stringify(audit.events).includes(AWS));
    assert.ok(audit.events.some((e) => e.kind === 'dlp.block'));
  });

  test('a thin pack: a secret in its inserts is dlp_blocked, a clean one is refused as unscannable', async () => {
    const dlp = createInspectDlp({ sessionId: 's', policy, audit: new MemoryAuditSink() });
    const r = await dlp.filter.apply(push(body(packOf(`${dirty}\n^${clean}`, true), dirty)));
    assert.ok(r.kind === 'deny' && r.reason === 'dlp_blocked', JSON.stringify(r));
    writeFileSync(join(repo, 'notes.md'), `${prose}\none more clean line\n`);
    git('commit', '-q', '-am', 'clean again');
    const third = git('rev-parse', 'HEAD');
    const u = await dlp.filter.apply(push(body(packOf(`${third}\n^${dirty}`, true), third)));
    assert.ok(u.kind === 'deny' && u.reason === 'dlp_pack_unscannable' && /--no-thin/.test(u.message), JSON.stringify(u));
    git('reset', '-q', '--hard', dirty);
  });

  test('a malformed pack is refused, not passed as binary', async () => {
    const dlp = createInspectDlp({ sessionId: 's', policy, audit: new MemoryAuditSink() });
    const r = await dlp.filter.apply(push(Buffer.from('0000PACKgarbage-garbage-garbage-garbage')));
    assert.ok(r.kind === 'deny' && r.reason === 'dlp_pack_malformed' && r.status === 400, JSON.stringify(r));
  });
});
