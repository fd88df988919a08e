/**
 * The microVM's root image (threat V10) against the real Docker Engine and
 * mkfs.ext4: built from the image's own files with their owners, cached under
 * the image's content id, and rebuilt — the old one deleted — when the image
 * behind the same name changes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Docker from 'dockerode';
import { ensureRootImage } from './vm-rootfs.js';

const docker = new Docker();
const TAG = `cordon-test/vm-rootfs:${process.pid}`;
const scratch = mkdtempSync(join(tmpdir(), 'vmroot-'));
after(() => {
  spawnSync('docker', ['rmi', '-f', TAG]);
  rmSync(scratch, { recursive: true, force: true });
});

/** Imports a one-file image under TAG (FROM scratch, as no registry is reachable). */
function importImage(content: string): void {
  const root = join(scratch, `root-${Date.now()}`);
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'hello'), content);
  const tar = spawnSync('tar', ['-C', root, '--owner=0', '--group=0', '-c', '.']);
  const r = spawnSync('docker', ['import', '-c', 'ENV PATH=/bin:/usr/bin', '-', TAG], { input: tar.stdout });
  assert.equal(r.status, 0, r.stderr.toString());
}

function catInImage(img: string, path: string): string {
  return spawnSync('debugfs', ['-R', `cat ${path}`, img], { encoding: 'utf8' }).stdout;
}

test('the root image holds the image\'s files, is cached per image id, and a changed image gets a new one', async () => {
  const cache = join(scratch, 'cache');
  importImage('first\n');
  const a = await ensureRootImage(docker, TAG, cache, process.geteuid?.() ?? 0);
  assert.ok(a.ok, a.ok ? '' : a.message);
  assert.equal(a.built, true);
  assert.equal(catInImage(a.value.path, '/etc/hello'), 'first\n');
  assert.deepEqual(a.value.env, ['PATH=/bin:/usr/bin']);
  const again = await ensureRootImage(docker, TAG, cache, process.geteuid?.() ?? 0);
  assert.ok(again.ok);
  assert.equal(again.built, false, 'an unchanged image was rebuilt');
  assert.equal(again.value.path, a.value.path);

  importImage('second\n');
  const b = await ensureRootImage(docker, TAG, cache, process.geteuid?.() ?? 0);
  assert.ok(b.ok, b.ok ? '' : b.message);
  assert.equal(b.built, true);
  assert.notEqual(b.value.imageId, a.value.imageId);
  assert.equal(catInImage(b.value.path, '/etc/hello'), 'second\n');
  assert.ok(!existsSync(a.value.path), 'the old image\'s root image was kept');
  // No container is left from the export.
  const left = await docker.listContainers({ all: true, filters: { label: ['dev.cordon.kind=vm-rootfs-export'] } });
  assert.deepEqual(left, []);
});

test('a missing image is an image problem with the fix, not a build failure', async () => {
  const r = await ensureRootImage(docker, 'cordon-test/no-such-image:1', join(scratch, 'cache2'), 0);
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.reason === 'image' && r.message.includes('cordon image build'));
});
