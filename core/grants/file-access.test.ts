import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRequestPath } from './file-access.js';

test('a requested path must be absolute (or ~/…), bounded and free of control characters; it is normalised', () => {
  assert.deepEqual(checkRequestPath('/srv/data/../notes/', '/home/u'), { ok: true, path: '/srv/notes' });
  assert.deepEqual(checkRequestPath('~/projects/x', '/home/u'), { ok: true, path: '/home/u/projects/x' });
  assert.deepEqual(checkRequestPath('~', '/home/u'), { ok: true, path: '/home/u' });
  for (const bad of ['', 'relative/path', '../etc', '~root/.ssh', '/tmp/a\nb', '/tmp/\u001b[2J', `/${'a'.repeat(1024)}`]) {
    const r = checkRequestPath(bad, '/home/u');
    assert.equal(r.ok, false, JSON.stringify(bad));
    if (!r.ok) assert.equal(r.code, 'bad_request');
  }
});
