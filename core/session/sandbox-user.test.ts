import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeUserMapping, resolveSandboxUser, sudoCaller, type HostUser } from './sandbox-user.js';

const root: HostUser = { uid: 0, gid: 0, sudo: null };

test('"auto" is the invoking user; never root, nor root\'s group', () => {
  assert.deepEqual(resolveSandboxUser('auto', { uid: 1001, gid: 1002, sudo: null }), { uid: 1001, gid: 1002, source: 'invoking_user' });
  assert.deepEqual(resolveSandboxUser('auto', { uid: 1001, gid: 0, sudo: null }), { uid: 1001, gid: 1001, source: 'invoking_user' });
  assert.deepEqual(resolveSandboxUser('auto', root), { uid: 1000, gid: 1000, source: 'root_fallback' });
});

test('under sudo, "auto" is the account behind sudo', () => {
  assert.deepEqual(resolveSandboxUser('auto', { ...root, sudo: { uid: 1005, gid: 1006 } }), { uid: 1005, gid: 1006, source: 'sudo_user' });
  // sudo from root itself is plain root.
  assert.deepEqual(resolveSandboxUser('auto', { ...root, sudo: { uid: 0, gid: 0 } }), { uid: 1000, gid: 1000, source: 'root_fallback' });
  assert.deepEqual(resolveSandboxUser('auto', { ...root, sudo: { uid: 1005, gid: 0 } }), { uid: 1005, gid: 1005, source: 'sudo_user' });
});

test('a profile that names uid:gid wins over everything', () => {
  assert.deepEqual(resolveSandboxUser('2000:3000', { ...root, sudo: { uid: 1005, gid: 1006 } }), { uid: 2000, gid: 3000, source: 'profile' });
  assert.throws(() => resolveSandboxUser('0:0', root), /neither "auto" nor UID:GID/);
});

test('SUDO_UID/SUDO_GID count only for a root process and only when well-formed', () => {
  assert.deepEqual(sudoCaller(0, '1005', '1006'), { uid: 1005, gid: 1006 });
  assert.equal(sudoCaller(1000, '1005', '1006'), null, 'inherited by a non-root process: meaningless');
  assert.equal(sudoCaller(0, '1005', undefined), null);
  assert.equal(sudoCaller(0, '10x5', '1006'), null);
  assert.equal(sudoCaller(0, '-1', '1006'), null);
  assert.equal(sudoCaller(0, '4294967295', '1006'), null, '(uid_t)-1 is not an account');
});

test('doctor\'s sentence names both sides of the mapping', () => {
  const sudo: HostUser = { ...root, sudo: { uid: 1005, gid: 1006 } };
  assert.match(describeUserMapping(sudo, resolveSandboxUser('auto', sudo), 'standard'), /root through sudo from uid 1005: sandboxes of profile standard run as uid 1005, gid 1006/);
  assert.match(describeUserMapping(root, resolveSandboxUser('auto', root), 'strict'), /runs as root \(not through sudo\).*run as uid 1000, gid 1000.*readable .* by uid 1000/);
});
