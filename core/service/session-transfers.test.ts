/**
 * The UI's drop and take handlers over the real gate and real files (no
 * Docker: a session here is its record). What they hold
 * (docs/threat-model-gate.md G15-G19): bytes from a browser are judged like
 * `cordon drop`'s files; a host path is accepted only where the service
 * trusts the renderer, and even then a credential store is refused; the UI
 * names a session by its whole id; a take hands out only what the gate
 * passed, never through a planted link.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { ApiFailure } from '../api/api-dispatch.js';
import type { SessionSummary } from '../api/cordon-api.js';
import type { CordonPaths } from '../paths/cordon-paths.js';
import { DEFAULT_POLICY, type EffectivePolicy } from '../policy/policy-schema.js';
import type { PolicyLoadResult } from '../policy/policy-loader.js';
import type { SessionStore } from '../session/session-store.js';
import { docxFixture } from '../testing/zip-writer.js';
import { SessionTransfers } from './session-transfers.js';

const KEY = 'AKIAZ3MXQ7VJ2XKLP4NQ';
const SID = 'abcdef012345';
const root = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-transfers-')));
after(() => rmSync(root, { recursive: true, force: true }));
const home = join(root, 'home');
mkdirSync(join(home, '.ssh'), { recursive: true });
writeFileSync(join(home, '.ssh', 'id_ed25519'), 'PRIVATE KEY MATERIAL');
let n = 0;

function setup(opts: { trust?: boolean; changed?: boolean; drag?: string[]; gates?: Partial<EffectivePolicy['gates']['dragDrop']> } = {}) {
  const ws = join(root, `ws${n++}`);
  mkdirSync(ws);
  const audit = new MemoryAuditSink();
  const policy = { ...DEFAULT_POLICY, gates: { ...DEFAULT_POLICY.gates, dragDrop: { ...DEFAULT_POLICY.gates.dragDrop, blockLabels: ['Confidential'], ...opts.gates } } };
  const summary = { id: SID } as SessionSummary;
  const t = new SessionTransfers({
    paths: { home: join(home, '.cordon'), userHome: home } as CordonPaths,
    audit,
    loadPolicy: () => ({ ok: true, policy }) as unknown as PolicyLoadResult,
    listSessions: () => Promise.resolve({ ok: true, sessions: [summary] }),
    sessions: () => ({ read: (id: string) => (id === SID ? { workspaces: [{ path: ws, mode: 'rw' }] } : null) }) as unknown as SessionStore,
    approvals: () => ({ ask: () => Promise.reject(new Error('no queue in this test')) }),
    trustsRendererPaths: opts.trust === true,
    ...(opts.drag ? { startDrag: (f: string) => void opts.drag?.push(f) } : {}),
    isChanged: () => opts.changed === true,
  });
  return { t, h: t.handlers(), ws, audit };
}

async function refusedWith(p: unknown, code: string): Promise<void> {
  await assert.rejects(Promise.resolve(p), (e: unknown) => e instanceof ApiFailure && e.code === code);
}

test('files.drop with bytes: a key arrives redacted in cordon-inbox; a .docx labelled Confidential is refused; nothing but codes and names in the answer or the audit', async () => {
  const { h, ws, audit } = setup();
  const r = await h['files.drop']({ sessionId: SID, file: { name: 'env.txt', content: Buffer.from(`AWS_ACCESS_KEY_ID=${KEY}\n`).toString('base64') } });
  assert.equal(r.outcome, 'redacted');
  assert.equal(r.sandboxPath, join(ws, 'cordon-inbox', 'env.txt'));
  assert.deepEqual(r.findings, [{ detector: 'aws_access_key_id', count: 1 }]);
  assert.equal(readFileSync(join(ws, 'cordon-inbox', 'env.txt'), 'utf8'), 'AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key_id]\n');
  const doc = await h['files.drop']({ sessionId: SID, file: { name: 'plan.docx', content: docxFixture(['Merger plan'], { name: 'Confidential', id: '1a2b3c4d-1111-2222-3333-444455556666' }).toString('base64') } });
  assert.equal(doc.outcome, 'refused');
  assert.equal(doc.reason, 'blocked_label');
  assert.match(doc.message, /Confidential/);
  assert.equal(existsSync(join(ws, 'cordon-inbox', 'plan.docx')), false);
  const everything = JSON.stringify([r, doc, audit.events]);
  assert.ok(!everything.includes(KEY) && !everything.includes('Merger plan'), 'content leaked into an answer or the audit');
});

test('files.drop with bytes: over gates.dragDrop.maxBytes is refused; a hostile name is refused and not echoed', async () => {
  const { h, ws } = setup({ gates: { maxBytes: 10 } });
  const big = await h['files.drop']({ sessionId: SID, file: { name: 'big.txt', content: Buffer.alloc(11, 0x61).toString('base64') } });
  assert.equal(big.outcome === 'refused' && big.reason, 'too_large');
  // The contract refuses such a name first; core refuses it again for any other caller.
  const { t } = setup();
  const [o] = await t.drop({ id: SID, workspaces: [{ path: ws, mode: 'rw' }] }, [{ name: '../../evil', bytes: Buffer.from('x') }], () => undefined);
  assert.equal(o?.kind === 'refused' && o.decision.reason, 'bad_name');
  assert.equal(existsSync(join(root, 'evil')), false);
});

test('files.drop with a host path: refused where the renderer is a browser; in the app a credential store is still refused and an ordinary file goes through the gate', async () => {
  const browser = setup();
  await refusedWith(browser.h['files.drop']({ sessionId: SID, file: { path: join(home, 'notes.txt') } }), 'forbidden');
  const app = setup({ trust: true });
  const ssh = await app.h['files.drop']({ sessionId: SID, file: { path: join(home, '.ssh', 'id_ed25519') } });
  assert.equal(ssh.outcome === 'refused' && ssh.reason, 'protected_source');
  writeFileSync(join(home, 'notes.txt'), `key ${KEY}\n`);
  const ok = await app.h['files.drop']({ sessionId: SID, file: { path: join(home, 'notes.txt') } });
  assert.equal(ok.outcome, 'redacted');
  assert.equal(readFileSync(join(app.ws, 'cordon-inbox', 'notes.txt'), 'utf8'), 'key [REDACTED:aws_access_key_id]\n');
});

test('the UI names a session by its whole id: a prefix or an unknown id is not found', async () => {
  const { h } = setup();
  const file = { name: 'a.txt', content: Buffer.from('hi').toString('base64') };
  await refusedWith(h['files.drop']({ sessionId: SID.slice(0, 6), file }), 'not_found');
  await refusedWith(h['files.drop']({ sessionId: 'ffffffffffff', file }), 'not_found');
});

test('files.take: a download carries what the gate passed; a planted link and unlisted files are refused; a drag needs the app and hands it a private copy', async () => {
  const listed = setup({ changed: true });
  writeFileSync(join(listed.ws, 'out.txt'), `card ${KEY}\n`);
  symlinkSync(join(home, '.ssh', 'id_ed25519'), join(listed.ws, 'planted.txt'));
  const dl = await listed.h['files.take']({ sessionId: SID, workspace: listed.ws, path: 'out.txt', as: 'download' });
  assert.equal(dl.outcome, 'download');
  if (dl.outcome === 'download') {
    assert.equal(Buffer.from(dl.content, 'base64').toString('utf8'), 'card [REDACTED:aws_access_key_id]\n');
    assert.equal(dl.redacted, true);
  }
  const link = await listed.h['files.take']({ sessionId: SID, workspace: listed.ws, path: 'planted.txt', as: 'download' });
  assert.equal(link.outcome === 'refused' && link.reason, 'outside_workspace');
  assert.ok(!JSON.stringify(link).includes('PRIVATE KEY'));
  await refusedWith(listed.h['files.take']({ sessionId: SID, workspace: listed.ws, path: 'out.txt', as: 'drag' }), 'unavailable');

  const unlisted = setup({ changed: false });
  writeFileSync(join(unlisted.ws, 'out.txt'), 'x');
  await refusedWith(unlisted.h['files.take']({ sessionId: SID, workspace: unlisted.ws, path: 'out.txt', as: 'download' }), 'not_found');

  const drags: string[] = [];
  const app = setup({ changed: true, drag: drags });
  writeFileSync(join(app.ws, 'out.txt'), `card ${KEY}\n`);
  const dragged = await app.h['files.take']({ sessionId: SID, workspace: app.ws, path: 'out.txt', as: 'drag' });
  assert.equal(dragged.outcome, 'dragging');
  assert.equal(drags.length, 1);
  const copy = drags[0] ?? '';
  assert.ok(!copy.startsWith(app.ws), 'the drag handed out the agent\'s own file');
  assert.equal(readFileSync(copy, 'utf8'), 'card [REDACTED:aws_access_key_id]\n');
  assert.equal(statSync(dirname(copy)).mode & 0o777, 0o700);
  await app.t.close();
  assert.equal(existsSync(copy), false, 'the drag copy outlived the service');
});
