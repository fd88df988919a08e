import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { DEFAULT_POLICY, type EffectivePolicy } from '../policy/policy-schema.js';
import { docxFixture } from '../testing/zip-writer.js';
import { classifyHostPath, dropFiles, takeFile, type FileTransferDeps, type TransferSession } from './file-transfer.js';

const KEY = 'AKIAQ3EGRTWXZ7PLKM4N';
const root = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-gate-ft-')));
after(() => rmSync(root, { recursive: true, force: true }));
const home = join(root, 'home');
mkdirSync(join(home, '.ssh'), { recursive: true });
writeFileSync(join(home, '.ssh', 'id_ed25519'), 'PRIVATE KEY MATERIAL');
const rules = { home, cordonHome: join(home, '.local', 'share', 'cordon'), policyDeny: [join(root, 'denied')] };
let n = 0;

function setup(policy: Partial<EffectivePolicy['gates']['dragDrop']> = {}, answer = false): { deps: FileTransferDeps; audit: MemoryAuditSink; session: TransferSession; ws: string; asked: string[] } {
  const ws = join(root, `ws${n++}`);
  mkdirSync(ws);
  const audit = new MemoryAuditSink();
  const asked: string[] = [];
  const p = { ...DEFAULT_POLICY, gates: { ...DEFAULT_POLICY.gates, dragDrop: { ...DEFAULT_POLICY.gates.dragDrop, ...policy } } };
  return { deps: { policy: p, rules, audit, ask: (q) => (asked.push(q.target), Promise.resolve(answer)) }, audit, session: { id: 'abcdef012345', workspaces: [{ path: ws, mode: 'rw' }] }, ws, asked };
}
function file(name: string, data: string | Buffer): string {
  const p = join(root, `src${n++}`);
  mkdirSync(p);
  writeFileSync(join(p, name), data);
  return join(p, name);
}

test('classifyHostPath: credential stores and denied folders are protected, a file in home is not', () => {
  assert.equal(classifyHostPath(join(home, '.ssh', 'id_ed25519'), rules).kind, 'protected');
  assert.equal(classifyHostPath(join(root, 'denied', 'x'), rules).kind, 'protected');
  assert.equal(classifyHostPath('/etc/passwd', rules).kind, 'protected');
  assert.equal(classifyHostPath(join(home, 'notes.txt'), rules).kind, 'ok');
});

test('drop: a key from ~/.ssh is refused, directly or through a link planted in a workspace', async () => {
  const { deps, session, ws, audit } = setup({ toSandbox: 'allow' });
  const link = join(ws, 'notes.txt');
  symlinkSync(join(home, '.ssh', 'id_ed25519'), link);
  const r = await dropFiles(deps, session, [join(home, '.ssh', 'id_ed25519'), link]);
  assert.deepEqual(r.map((o) => o.kind === 'refused' && o.decision.reason), ['protected_source', 'protected_source']);
  assert.equal(existsSync(join(ws, 'cordon-inbox')), false, 'nothing was written');
  assert.equal(audit.events.length, 2);
  assert.ok(!JSON.stringify(audit.events).includes('PRIVATE KEY MATERIAL'));
});

test('drop: text with a secret arrives redacted; a clean file arrives byte for byte; names do not collide', async () => {
  const { deps, session, ws, audit } = setup();
  const clean = Buffer.from('hello\u0000 not text but fine');
  const r = await dropFiles(deps, session, [file('env.txt', `AWS_ACCESS_KEY_ID=${KEY}\n`), file('blob.bin', clean), file('blob.bin', clean)]);
  assert.deepEqual(r.map((o) => o.kind), ['delivered', 'delivered', 'delivered']);
  assert.equal(readFileSync(join(ws, 'cordon-inbox', 'env.txt'), 'utf8'), 'AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key_id]\n');
  assert.deepEqual(readFileSync(join(ws, 'cordon-inbox', 'blob.bin')), clean);
  assert.deepEqual(readdirSync(join(ws, 'cordon-inbox')).sort(), ['blob-1.bin', 'blob.bin', 'env.txt']);
  const red = audit.events.find((e) => e.kind === 'gate.redact');
  assert.equal(red?.details?.['sha256'], createHash('sha256').update(`AWS_ACCESS_KEY_ID=${KEY}\n`).digest('hex'));
  assert.ok(!JSON.stringify(audit.events).includes(KEY));
});

test('drop: a labelled .docx, a blocked type, an oversized file and a document holding a secret are refused', async () => {
  const { deps, session } = setup({ blockLabels: ['Confidential'], blockTypes: ['.exe'], maxBytes: 64 * 1024 });
  const r = await dropFiles(deps, session, [
    file('plan.docx', docxFixture(['nothing secret'], { name: 'Confidential', id: '1a2b3c4d-1111-2222-3333-444455556666' })),
    file('setup.exe', 'MZ'),
    file('big.txt', 'x'.repeat(64 * 1024 + 1)),
    file('keys.docx', docxFixture([`key ${KEY}`])),
  ]);
  assert.deepEqual(r.map((o) => o.kind === 'refused' && o.decision.reason), ['blocked_label', 'blocked_type', 'too_large', 'cannot_redact']);
  const ok = await dropFiles(deps, session, [file('plain.docx', docxFixture(['nothing secret']))]);
  assert.equal(ok[0]?.kind, 'delivered');
});

test('drop: an inbox the agent replaced by a link is not written through', async () => {
  const { deps, session, ws } = setup();
  const elsewhere = join(root, `elsewhere${n++}`);
  mkdirSync(elsewhere);
  symlinkSync(elsewhere, join(ws, 'cordon-inbox'));
  const r = await dropFiles(deps, session, [file('a.txt', 'hi')]);
  assert.equal(r[0]?.kind === 'refused' && r[0].decision.reason, 'write_failed');
  assert.deepEqual(readdirSync(elsewhere), []);
});

test('drop with ask follows the answer', async () => {
  const yes = setup({ toSandbox: 'ask' }, true);
  assert.equal((await dropFiles(yes.deps, yes.session, [file('a.txt', 'hi')]))[0]?.kind, 'delivered');
  assert.equal(yes.asked.length, 1);
  const no = setup({ toSandbox: 'ask' }, false);
  const r = await dropFiles(no.deps, no.session, [file('a.txt', 'hi')]);
  assert.equal(r[0]?.kind === 'refused' && r[0].decision.reason, 'not_approved');
});

test('take: a file comes out redacted; links, "..", outside paths and existing destinations are refused; --force replaces', async () => {
  const { deps, session, ws, audit } = setup();
  writeFileSync(join(ws, 'out.txt'), `card ${KEY}\n`);
  symlinkSync(join(home, '.ssh', 'id_ed25519'), join(ws, 'report.txt'));
  const dest = join(root, `dest${n++}`);
  mkdirSync(dest);
  const ok = await takeFile(deps, session, 'out.txt', { force: false, cwd: dest });
  assert.equal(ok.kind, 'delivered');
  assert.equal(readFileSync(join(dest, 'out.txt'), 'utf8'), 'card [REDACTED:aws_access_key_id]\n');
  const again = await takeFile(deps, session, join(ws, 'out.txt'), { force: false, cwd: dest });
  assert.equal(again.kind === 'refused' && again.decision.reason, 'destination_exists');
  writeFileSync(join(ws, 'out.txt'), 'new\n');
  assert.equal((await takeFile(deps, session, join(ws, 'out.txt'), { force: true, cwd: dest, dest })).kind, 'delivered');
  assert.equal(readFileSync(join(dest, 'out.txt'), 'utf8'), 'new\n');
  for (const bad of ['report.txt', '../x', join(home, '.ssh', 'id_ed25519'), `${ws}/../etc`]) {
    const r = await takeFile(deps, session, bad, { force: false, cwd: dest });
    assert.equal(r.kind === 'refused' && r.decision.reason, 'outside_workspace', bad);
  }
  const prot = await takeFile(deps, session, 'out.txt', { force: true, cwd: dest, dest: join(home, '.ssh', 'authorized_keys') });
  assert.equal(prot.kind === 'refused' && prot.decision.reason, 'protected_destination');
  assert.ok(!JSON.stringify(audit.events).includes(KEY) && !JSON.stringify(audit.events).includes('PRIVATE KEY'));
});

test('take: binary content needs mode allow to come out', async () => {
  const { deps, session, ws } = setup();
  writeFileSync(join(ws, 'img.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2]));
  const dest = join(root, `dest${n++}`);
  mkdirSync(dest);
  const r = await takeFile(deps, session, 'img.png', { force: false, cwd: dest });
  assert.equal(r.kind === 'refused' && r.decision.reason, 'unscannable');
  const allowed = setup({ fromSandbox: 'allow' });
  writeFileSync(join(allowed.ws, 'img.png'), 'png');
  assert.equal((await takeFile(allowed.deps, allowed.session, 'img.png', { force: false, cwd: dest })).kind, 'delivered');
});
