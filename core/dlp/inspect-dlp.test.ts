import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import type { ModelRequest } from '../egress/model-route.js';
import { createInspectDlp, destinationKeyFor } from './inspect-dlp.js';
import { compileDlpPolicy, DlpPolicySchema } from './policy.js';

const AWS = 'AKIAQ3EGRJ2KZ7XNP4VB';
const policy = compileDlpPolicy(DlpPolicySchema.parse({ categories: { secret: 'redact', pii: 'redact', custom: 'redact' }, destinations: { 'gist.github.test': { categories: { secret: 'block' } }, '*.corp.test': { categories: { secret: 'allow' } } } }));

function req(host: string, body: string | Buffer, headers: Record<string, string> = {}, path = '/upload'): ModelRequest {
  return { provider: '', host, method: 'POST', path, headers, body: Buffer.from(body), sessionId: 's' };
}

describe('DLP on inspected requests', () => {
  const audit = new MemoryAuditSink();
  const dlp = createInspectDlp({ sessionId: 's', policy, audit, unscannedHeaders: () => ['authorization'] });

  test('redacted elsewhere, blocked where the destination says so (dlp_blocked, 403)', async () => {
    const r = await dlp.filter.apply(req('api.github.test', JSON.stringify({ files: { a: `key ${AWS}` } }), { 'content-type': 'application/json' }));
    assert.ok(r.kind === 'rewrite');
    assert.ok(!r.body?.toString().includes(AWS));
    assert.match(r.body?.toString() ?? '', /\[REDACTED:aws_access_key_id\]/);
    assert.doesNotThrow(() => JSON.parse(r.body?.toString() ?? ''));
    const b = await dlp.filter.apply(req('gist.github.test', `key ${AWS}`));
    assert.ok(b.kind === 'deny' && b.reason === 'dlp_blocked' && b.status === 403);
    assert.equal((await dlp.filter.apply(req('git.corp.test', `key ${AWS}`))).kind, 'allow');
    assert.ok(!JSON.stringify(audit.events).includes(AWS), 'a value reached the audit log');
    const rec = audit.events.find((e) => e.kind === 'dlp.block');
    assert.equal((rec?.details as Record<string, unknown>)['destinationRule'], 'gist.github.test');
  });

  test('form-encoded, gzip, URL and headers are scanned; the swapped credential header is not', async () => {
    const form = await dlp.filter.apply(req('a.test', `name=x&secret=${encodeURIComponent(`aws ${AWS}`)}`, { 'content-type': 'application/x-www-form-urlencoded' }));
    assert.ok(form.kind === 'rewrite' && !form.body?.toString().includes(AWS.slice(4)), form.kind);
    const gz = await dlp.filter.apply(req('a.test', gzipSync(`aws ${AWS}`), { 'content-encoding': 'gzip' }));
    assert.ok(gz.kind === 'rewrite' && !gz.body?.toString().includes(AWS) && gz.headers?.['content-encoding'] === undefined);
    const url = await dlp.filter.apply(req('a.test', '', {}, `/x?k=${AWS}`));
    assert.ok(url.kind === 'rewrite' && !url.path?.includes(AWS));
    const hdr = await dlp.filter.apply(req('a.test', '', { 'x-note': `aws ${AWS}`, authorization: 'Bearer ghp_R3alT0kenValue0123456789abcdefABCDEF' }));
    assert.ok(hdr.kind === 'rewrite');
    assert.ok(!hdr.headers?.['x-note']?.includes(AWS));
    assert.equal(hdr.headers?.['authorization'], 'Bearer ghp_R3alT0kenValue0123456789abcdefABCDEF', 'the swapped credential was scanned');
  });

  test('multipart with a binary part: clean passes unchanged, a secret in it blocks', async () => {
    const bin = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x81]);
    const part = (inner: Buffer): Buffer => Buffer.concat([Buffer.from('--b\r\nContent-Type: application/octet-stream\r\n\r\n'), inner, Buffer.from('\r\n--b--\r\n')]);
    assert.equal((await dlp.filter.apply(req('a.test', part(bin), { 'content-type': 'multipart/form-data; boundary=b' }))).kind, 'allow');
    const r = await dlp.filter.apply(req('a.test', part(Buffer.concat([bin, Buffer.from(` aws_key=${AWS} `), bin])), { 'content-type': 'multipart/form-data; boundary=b' }));
    assert.ok(r.kind === 'deny' && r.reason === 'dlp_blocked');
  });

  test('destination keys: exact host first, then the longest wildcard', () => {
    assert.equal(destinationKeyFor('a.b.test', ['*.test', '*.b.test', 'x.test']), '*.b.test');
    assert.equal(destinationKeyFor('b.test', ['*.b.test']), null);
    assert.equal(destinationKeyFor('x.test', ['*.test', 'x.test']), 'x.test');
  });
});
