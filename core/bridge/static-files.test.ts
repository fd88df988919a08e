import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lookupStatic } from './static-files.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-static-')));
const root = join(base, 'renderer');
mkdirSync(join(root, 'assets'), { recursive: true });
writeFileSync(join(root, 'index.html'), '<!doctype html>');
writeFileSync(join(root, 'assets', 'app.js'), 'export {}');
writeFileSync(join(base, 'secret.txt'), 'outside');
symlinkSync(join(base, 'secret.txt'), join(root, 'assets', 'link-out.txt'));
symlinkSync(join(root, 'assets', 'app.js'), join(root, 'assets', 'link-in.js'));
mkdirSync(join(root, 'sub.d'));
after(() => rmSync(base, { recursive: true, force: true }));

test('static: / and extension-less routes get the shell; assets get their type', () => {
  for (const p of ['/', '/sessions', '/settings/keys/']) {
    const r = lookupStatic(root, p);
    assert.equal(r.kind === 'file' && r.file, join(root, 'index.html'), p);
  }
  const js = lookupStatic(root, '/assets/app.js');
  assert.deepEqual(js, { kind: 'file', file: join(root, 'assets', 'app.js'), contentType: 'text/javascript; charset=utf-8' });
});

test('static: nothing outside the folder, however the path is spelled', () => {
  for (const p of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt', '/assets%2f..%2f..%2fsecret.txt', '/..%5csecret.txt', '/a%00.js', '/%zz.js', 'secret.txt']) {
    const r = lookupStatic(root, p);
    assert.equal(r.kind, 'refused', p);
  }
});

test('static: a symlink leading out is refused, one staying inside is served; directories are never listed', () => {
  assert.deepEqual(lookupStatic(root, '/assets/link-out.txt'), { kind: 'refused', reason: 'outside' });
  assert.equal(lookupStatic(root, '/assets/link-in.js').kind, 'file');
  assert.deepEqual(lookupStatic(root, '/sub.d'), { kind: 'refused', reason: 'missing' });
  assert.deepEqual(lookupStatic(root, '/missing.css'), { kind: 'refused', reason: 'missing' });
});
