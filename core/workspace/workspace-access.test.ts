import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decideWorkspaceAccess } from './workspace-access.js';

const SANDBOX = { uid: 1000, gid: 1000 };

test('a root-owned 0700 folder (what mktemp -d makes as root) is refused with the folder, its owner and mode, and the fix', () => {
  const d = decideWorkspaceAccess('/tmp/tmp.Xy12', 'rw', { uid: 0, gid: 0, mode: 0o40700, ownerName: 'root', groupName: 'root' }, SANDBOX);
  assert.equal(d.kind, 'deny');
  assert.ok(d.kind === 'deny');
  assert.equal(d.reason, 'sandbox_cannot_read');
  assert.match(d.message, /^the sandbox runs as uid 1000, gid 1000, which cannot read \/tmp\/tmp\.Xy12 \(owner uid 0 \(root\), group gid 0 \(root\), mode 0700\)\./);
  assert.match(d.message, /Fix: `chown -R 1000:1000 \/tmp\/tmp\.Xy12`/);
  assert.match(d.message, /cordon doctor/);
  assert.match(d.message, /not ACLs/);
  // Root cannot be the sandbox's user, so running as the owner is offered only for other owners.
  assert.doesNotMatch(d.message, /run cordon as uid/);
  const other = decideWorkspaceAccess('/w', 'rw', { uid: 1001, gid: 1001, mode: 0o700 }, SANDBOX);
  assert.ok(other.kind === 'deny');
  assert.match(other.message, /or run cordon as uid 1001 \(or through sudo from that account: the sandbox takes SUDO_UID\/SUDO_GID\)/);
});

test('read-only needs r and x; read-write needs w as well, and says so', () => {
  const open = { uid: 0, gid: 0, mode: 0o755 };
  assert.deepEqual(decideWorkspaceAccess('/w', 'ro', open, SANDBOX), { kind: 'allow' });
  const rw = decideWorkspaceAccess('/w', 'rw', open, SANDBOX);
  assert.ok(rw.kind === 'deny');
  assert.equal(rw.reason, 'sandbox_cannot_write');
  assert.match(rw.message, /cannot write to \/w .*mode 0755/);
  // Read without search (r--) is not enough to use a folder.
  assert.equal(decideWorkspaceAccess('/w', 'ro', { uid: 0, gid: 0, mode: 0o744 }, SANDBOX).kind, 'deny');
  // For read-only use, opening the folder for reading is offered as a fix.
  const ro = decideWorkspaceAccess('/w', 'ro', { uid: 0, gid: 0, mode: 0o700 }, SANDBOX);
  assert.ok(ro.kind === 'deny');
  assert.match(ro.message, /`chmod o\+rx \/w` or `chown 1000:1000 \/w`/);
});

test('as in the kernel, the owner bits alone apply to the owner, and the group bits to the group', () => {
  // Owner with no rights, others with all: the owner is still refused.
  assert.equal(decideWorkspaceAccess('/w', 'ro', { uid: 1000, gid: 0, mode: 0o077 }, SANDBOX).kind, 'deny');
  assert.equal(decideWorkspaceAccess('/w', 'rw', { uid: 0, gid: 1000, mode: 0o707 }, SANDBOX).kind, 'deny');
  assert.equal(decideWorkspaceAccess('/w', 'rw', { uid: 0, gid: 1000, mode: 0o770 }, SANDBOX).kind, 'allow');
  assert.equal(decideWorkspaceAccess('/w', 'rw', { uid: 1000, gid: 1000, mode: 0o700 }, SANDBOX).kind, 'allow');
});

/**
 * Differential: the decision against the kernel's own answer for every
 * permission mode, with the folder owned by the sandbox's user, by its group
 * only, and by neither. As root the kernel is asked as uid 1000 through
 * setpriv (root itself would pass every check); otherwise as this user, for
 * folders it owns.
 */
test('the decision matches the kernel for every mode and ownership', () => {
  const root = mkdtempSync(join(tmpdir(), 'cordon-access-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? SANDBOX : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const owners = asRoot
    ? [
        { uid: user.uid, gid: 0 },
        { uid: 0, gid: user.gid },
        { uid: 0, gid: 0 },
      ]
    : [{ uid: user.uid, gid: user.gid }];
  const cases: Array<{ dir: string; uid: number; gid: number; mode: number }> = [];
  for (const [o, owner] of owners.entries()) {
    for (let mode = 0; mode <= 0o777; mode++) {
      const dir = join(root, `${o}-${mode.toString(8)}`);
      mkdirSync(dir);
      if (asRoot) chownSync(dir, owner.uid, owner.gid);
      chmodSync(dir, mode);
      cases.push({ dir, ...owner, mode });
    }
  }
  const kernel = kernelAnswers(
    cases.map((c) => c.dir),
    asRoot,
  );
  for (const c of cases) {
    const k = kernel.get(c.dir);
    assert.ok(k, c.dir);
    const expect = (m: 'ro' | 'rw'): 'allow' | 'deny' => (k.r && k.x && (m === 'ro' || k.w) ? 'allow' : 'deny');
    for (const m of ['ro', 'rw'] as const) {
      assert.equal(decideWorkspaceAccess(c.dir, m, c, user).kind, expect(m), `${m} ${c.uid}:${c.gid} ${c.mode.toString(8)}`);
    }
  }
});

/** What access(2) answers for each of DIRS: as this process, or (when root) as the sandbox's uid:gid with no other groups. */
function kernelAnswers(dirs: readonly string[], asSandboxUser: boolean): Map<string, { r: boolean; w: boolean; x: boolean }> {
  const probe = `const fs = require('node:fs');
    const can = (d, m) => { try { fs.accessSync(d, m); return true; } catch { return false; } };
    const dirs = JSON.parse(fs.readFileSync(0, 'utf8'));
    process.stdout.write(JSON.stringify(dirs.map((d) => [d, { r: can(d, fs.constants.R_OK), w: can(d, fs.constants.W_OK), x: can(d, fs.constants.X_OK) }])));`;
  const [cmd, args] = asSandboxUser
    ? ['setpriv', [`--reuid=${SANDBOX.uid}`, `--regid=${SANDBOX.gid}`, '--clear-groups', process.execPath, '-e', probe]]
    : [process.execPath, ['-e', probe]];
  const r = spawnSync(cmd, args, { input: JSON.stringify(dirs), encoding: 'utf8' });
  assert.equal(r.status, 0, `the probe (util-linux setpriv when root) must run: ${r.stderr}`);
  return new Map(JSON.parse(r.stdout) as Array<[string, { r: boolean; w: boolean; x: boolean }]>);
}
