/**
 * The guest's side of the mount plan and the session file: workspaces become
 * virtiofs shares, protection mounts become read-only binds inside them (in
 * the host's order), Cordon's files go under /run, and the session file is
 * what cordon-vminit parses.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { planGuest } from './microvm-engine.js';
import { encodeGuestSession, sessionArchive } from './vm-initramfs.js';
import { writeCpio } from './cpio.js';

test('workspaces are shares, protection mounts are binds of the same path inside them, Cordon files are copied, grants are left out', () => {
  const layout = planGuest({
    mounts: [
      { hostPath: '/home/u/proj', containerPath: '/home/u/proj', readOnly: false, kind: 'workspace' },
      { hostPath: '/home/u/proj/.git', containerPath: '/home/u/proj/.git', readOnly: false, kind: 'anchor' },
      { hostPath: '/home/u/proj/.git/hooks', containerPath: '/home/u/proj/.git/hooks', readOnly: true, kind: 'protect' },
      { hostPath: '/data/ref', containerPath: '/data/ref', readOnly: true, kind: 'workspace' },
      { hostPath: '/s/egress', containerPath: '/run/cordon/egress', readOnly: true, kind: 'cordon' },
      { hostPath: '/c/relay', containerPath: '/run/cordon/cordon-relay', readOnly: true, kind: 'cordon' },
      { hostPath: '/s/grants', containerPath: '/run/cordon/grants', readOnly: true, kind: 'cordon' },
    ],
  });
  assert.ok(layout.ok);
  assert.deepEqual(layout.shares, [
    { tag: 'ws0', hostPath: '/home/u/proj', readOnly: false },
    { tag: 'ws1', hostPath: '/data/ref', readOnly: true },
  ]);
  assert.deepEqual(layout.mounts, [
    { kind: 'virtiofs', tag: 'ws0', target: '/home/u/proj', readOnly: false },
    { kind: 'bind', source: '/home/u/proj/.git', target: '/home/u/proj/.git', readOnly: false },
    { kind: 'bind', source: '/home/u/proj/.git/hooks', target: '/home/u/proj/.git/hooks', readOnly: true },
    { kind: 'virtiofs', tag: 'ws1', target: '/data/ref', readOnly: true },
  ]);
  assert.deepEqual(layout.files, [{ hostPath: '/c/relay', guestPath: '/run/cordon/cordon-relay' }]);
  assert.equal(layout.socketDir, '/s/egress');
});

test('a protection mount outside every workspace (or a sibling with a common prefix) is refused, not silently dropped', () => {
  const layout = planGuest({
    mounts: [
      { hostPath: '/home/u/proj', containerPath: '/home/u/proj', readOnly: false, kind: 'workspace' },
      { hostPath: '/home/u/project2/.bashrc', containerPath: '/home/u/project2/.bashrc', readOnly: true, kind: 'protect' },
      { hostPath: '/s/egress', containerPath: '/run/cordon/egress', readOnly: true, kind: 'cordon' },
    ],
  });
  assert.equal(layout.ok, false);
  assert.ok(!layout.ok && layout.message.includes('/home/u/project2/.bashrc'));
});

test('the session file is NUL-separated in cordon-vminit\'s order, and a NUL inside a field is refused', () => {
  const s = {
    uid: 1000,
    gid: 1001,
    workdir: '/w',
    home: '/home/agent',
    tty: false,
    rows: 24,
    cols: 80,
    tmpfsMiB: 64,
    mounts: [{ kind: 'virtiofs' as const, tag: 'ws0', target: '/w', readOnly: false }],
    argv: ['/run/cordon/cordon-relay', '--', 'sh', '-c', 'echo "a b"'],
    env: ['A=1', 'B=two words'],
  };
  const fields = encodeGuestSession(s).toString().split('\0');
  assert.deepEqual(fields, ['cordon-vm-session-1', '1000', '1001', '/w', '/home/agent', '0', '24', '80', '64', '1', 'virtiofs', 'ws0', '/w', '0', '5', '/run/cordon/cordon-relay', '--', 'sh', '-c', 'echo "a b"', '2', 'A=1', 'B=two words', '']);
  assert.throws(() => encodeGuestSession({ ...s, env: ['A=x\0y'] }), /NUL/);
});

test('the session archive holds the session file (0600) and Cordon files under /run only, without symlinks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vminit-'));
  try {
    mkdirSync(join(dir, 'tools'));
    writeFileSync(join(dir, 'tools', 'cordon-clipboard'), '#!/bin/sh\n', { mode: 0o755 });
    const archive = sessionArchive(
      { uid: 1000, gid: 1000, workdir: '/', home: '/h', tty: false, rows: 1, cols: 1, tmpfsMiB: 1, mounts: [], argv: ['x'], env: [] },
      [{ hostPath: join(dir, 'tools'), guestPath: '/run/cordon/bin' }],
    ).toString('latin1');
    assert.ok(archive.startsWith('070701'));
    assert.ok(archive.includes('cordon/session\0'));
    assert.ok(archive.includes('cordon/files/run/cordon/bin/cordon-clipboard\0'));
    assert.ok(archive.includes('TRAILER!!!'));
    assert.throws(() => sessionArchive({ uid: 1, gid: 1, workdir: '/', home: '/h', tty: false, rows: 1, cols: 1, tmpfsMiB: 1, mounts: [], argv: ['x'], env: [] }, [{ hostPath: dir, guestPath: '/etc/evil' }]), /under \/run/);
    assert.throws(() => writeCpio([{ kind: 'dir', path: '../x', mode: 0o755 }]), /bad initramfs path/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
