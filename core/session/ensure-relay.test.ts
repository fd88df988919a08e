import assert from 'node:assert/strict';
import { appendFileSync, cpSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensureRelay } from './session-egress.js';

const shipped = fileURLToPath(new URL('../../../sandbox-profiles/relay/', import.meta.url));

test('the relay is built once per source and build script, and a changed build script rebuilds it', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cordon-relay-cache-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = join(root, 'src');
  cpSync(shipped, src, { recursive: true });
  const cache = join(root, 'cache');

  const first = ensureRelay(cache, src);
  assert.ok(first.ok, first.ok ? '' : first.message);
  const built = statSync(first.path);
  assert.ok(built.mode & 0o111, 'the relay is executable');
  const again = ensureRelay(cache, src);
  assert.ok(again.ok);
  assert.equal(again.path, first.path);
  assert.equal(statSync(again.path).mtimeMs, built.mtimeMs, 'a cached relay is reused, not rebuilt');

  appendFileSync(join(src, 'build.sh'), '# a changed flag\n');
  const rebuilt = ensureRelay(cache, src);
  assert.ok(rebuilt.ok);
  assert.notEqual(rebuilt.path, first.path);
  assert.ok(existsSync(rebuilt.path));
});

test('a missing relay source or build script is an error that says to reinstall', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cordon-relay-cache-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const noSource = ensureRelay(join(root, 'cache'), join(root, 'nowhere'));
  assert.equal(noSource.ok, false);
  assert.match(noSource.ok ? '' : noSource.message, /cordon-relay\.c is missing; reinstall Cordon/);
  const src = join(root, 'src');
  cpSync(shipped, src, { recursive: true });
  rmSync(join(src, 'build.sh'));
  const noScript = ensureRelay(join(root, 'cache'), src);
  assert.equal(noScript.ok, false);
  assert.match(noScript.ok ? '' : noScript.message, /build\.sh is missing; reinstall Cordon/);
});
