/** app:// serves only known asset types from inside the renderer folder, always with the CSP. */
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { appResponseHeaders, isInside, resolveAppAsset } from './app-protocol.js';
import { CONTENT_SECURITY_POLICY } from './window-factory.js';

const root = resolve('/opt/cordon/dist/renderer');

test('app URLs map to files under the renderer folder', () => {
  assert.deepEqual(resolveAppAsset('app://cordon/', root), { ok: true, file: join(root, 'index.html'), contentType: 'text/html; charset=utf-8' });
  assert.deepEqual(resolveAppAsset('app://cordon/index.html?x=1#/a', root), { ok: true, file: join(root, 'index.html'), contentType: 'text/html; charset=utf-8' });
  const js = resolveAppAsset('app://cordon/assets/index-3f2a.js', root);
  assert.ok(js.ok);
  assert.equal(js.file, join(root, 'assets', 'index-3f2a.js'));
  assert.equal(js.contentType, 'text/javascript; charset=utf-8');
});

test('nothing outside the renderer folder, from another origin, or of an unknown type is served', () => {
  // Dot segments, plain or encoded: either refused, or (the URL parser already resolved them) still inside the folder.
  for (const url of ['app://cordon/../core/api/cordon-api.js', 'app://cordon/%2e%2e/%2e%2e/etc/passwd.js', 'app://cordon/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json', 'app://cordon/..%2f..%2f..%2fetc%2fx.css']) {
    const r = resolveAppAsset(url, root);
    if (r.ok) assert.ok(isInside(root, r.file), `${url} → ${r.file}`);
    else assert.ok(r.status === 400 || r.status === 403, `${url}: ${r.status}`);
  }
  assert.deepEqual(resolveAppAsset('app://cordon/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json', root), { ok: false, status: 403, reason: 'outside the renderer folder' });
  for (const url of ['app://cordon/a%5c..%5c..%5cx.js', 'app://cordon/x%00.js']) assert.deepEqual(resolveAppAsset(url, root), { ok: false, status: 400, reason: 'malformed path' }, url);
  assert.deepEqual(resolveAppAsset('https://evil.example/index.html', root), { ok: false, status: 403, reason: 'not the app origin' });
  assert.equal(resolveAppAsset('app://cordon/assets/index.js.map', root).ok, false);
  assert.equal(resolveAppAsset('app://cordon/secrets.txt', root).ok, false);
});

test('isInside: a sibling with the same prefix is outside', () => {
  assert.equal(isInside('/a/renderer', '/a/renderer/x.js'), true);
  assert.equal(isInside('/a/renderer', '/a/renderer-evil/x.js'), false);
  assert.equal(isInside('/a/renderer', '/a'), false);
});

test('every answer carries the CSP and nosniff', () => {
  const h = appResponseHeaders('text/html; charset=utf-8');
  assert.equal(h['Content-Security-Policy'], CONTENT_SECURITY_POLICY);
  assert.equal(h['X-Content-Type-Options'], 'nosniff');
});
