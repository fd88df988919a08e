/**
 * files.drop and files.take carry bytes and paths from the renderer: the
 * dispatcher must refuse every request the contract does not describe
 * (oversized content, hostile names, extra fields, a session prefix) before
 * a handler runs, and let out of a drop's answer only the fields the view
 * lists (never content).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApiDispatcher, type ApiHandlers } from './api-dispatch.js';
import { DROP_CONTENT_MAX_BYTES, dropNameProblem, type DropOutcomeView } from './transfer-contract.js';

const SID = '0123456789ab';
const OUTCOME: DropOutcomeView = { sessionId: SID, name: 'a.txt', outcome: 'arrived', reason: 'clean', message: 'file "a.txt": clean', sandboxPath: '/w/cordon-inbox/a.txt', findings: [] };

function dispatcher(calls: unknown[], answer: () => unknown = () => OUTCOME) {
  const handlers = new Proxy({}, { get: () => (req: unknown) => (calls.push(req), answer()) });
  return createApiDispatcher(handlers as ApiHandlers);
}

const b64 = (n: number): string => Buffer.alloc(n, 0x61).toString('base64');

test('the name rule: separators, dots, control and text-direction characters and long names are refused', () => {
  for (const bad of ['', '.', '..', '../x', 'a/b', 'a\\b', 'a\u0000b', '\u001b[31mred', 'invoice\u202Etxt.exe', 'x\u2066y', 'bell\u0007', 'c1\u009b', 'é'.repeat(128)]) {
    assert.notEqual(dropNameProblem(bad), null, JSON.stringify(bad));
  }
  for (const good of ['a.txt', 'Quarterly report (final).docx', '.env', 'résumé.pdf', 'é'.repeat(127), '日本語.txt']) assert.equal(dropNameProblem(good), null, good);
});

test('files.drop: oversized content, bad names, non-base64, relative paths, a session prefix and extra fields are refused before any handler runs', async () => {
  const calls: unknown[] = [];
  const d = dispatcher(calls);
  const cases: Array<[unknown, string]> = [
    [{ sessionId: SID, file: { name: 'big.bin', content: b64(DROP_CONTENT_MAX_BYTES + 3) } }, 'file'],
    [{ sessionId: SID, file: { name: '../../.bashrc', content: b64(3) } }, 'file'],
    [{ sessionId: SID, file: { name: 'inv\u202Etxt.exe', content: b64(3) } }, 'file'],
    [{ sessionId: SID, file: { name: 'a.txt', content: 'not base64!' } }, 'file'],
    [{ sessionId: SID, file: { path: 'relative/notes.txt' } }, 'file'],
    [{ sessionId: SID, file: { name: 'a.txt', content: b64(3), path: '/etc/passwd' } }, 'file'],
    [{ sessionId: SID, file: { name: 'a.txt', content: b64(3) }, shell: 'rm -rf /' }, ''],
    [{ sessionId: '0123', file: { name: 'a.txt', content: b64(3) } }, 'sessionId'],
    [{ sessionId: SID, files: [] }, ''],
  ];
  for (const [req, field] of cases) {
    const r = await d('files.drop', req);
    assert.equal(r.ok, false, JSON.stringify(req).slice(0, 200));
    if (!r.ok) {
      assert.equal(r.error.code, 'invalid_request');
      if (field !== '') assert.equal(r.error.field?.split('.')[0], field, r.error.message);
    }
  }
  assert.deepEqual(calls, [], 'a handler ran for a refused request');
  // The largest allowed file and a path both pass the contract.
  assert.equal((await d('files.drop', { sessionId: SID, file: { name: 'max.bin', content: b64(DROP_CONTENT_MAX_BYTES) } })).ok, true);
  assert.equal((await d('files.drop', { sessionId: SID, file: { path: '/home/u/notes.txt' } })).ok, true);
  assert.equal(calls.length, 2);
});

test('the largest allowed drop fits the bridge frame (1 MiB) with its envelope', () => {
  const frame = JSON.stringify({ id: 4_294_967_295, method: 'files.drop', params: { sessionId: 'f'.repeat(32), file: { name: 'n'.repeat(255), content: b64(DROP_CONTENT_MAX_BYTES) } } });
  assert.ok(frame.length < 1024 * 1024, `${frame.length}`);
});

test('files.take: only download or drag, exact fields', async () => {
  const calls: unknown[] = [];
  const d = dispatcher(calls, () => ({ outcome: 'refused', reason: 'x', message: 'y' }));
  for (const req of [
    { sessionId: SID, workspace: '/w', path: 'a.txt', as: 'copy' },
    { sessionId: SID, workspace: '/w', path: '', as: 'download' },
    { sessionId: SID, workspace: '/w', path: 'a.txt', as: 'download', dest: '/home/u/.bashrc' },
  ]) {
    const r = await d('files.take', req);
    assert.equal(r.ok === false && r.error.code, 'invalid_request', JSON.stringify(req));
  }
  assert.deepEqual(calls, []);
});

test('a drop answer that carries anything beyond the view (content, say) does not leave core', async () => {
  const d = dispatcher([], () => ({ ...OUTCOME, content: 'AKIAZ3MXQ7VJ2XKLP4NQ' }));
  const r = await d('files.drop', { sessionId: SID, file: { name: 'a.txt', content: b64(3) } });
  assert.equal(r.ok, false);
  assert.ok(!JSON.stringify(r).includes('AKIAZ3MXQ7VJ2XKLP4NQ'));
});
