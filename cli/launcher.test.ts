/**
 * bin/cordon, the `cordon` command on Linux and macOS: Node parses
 * NODE_EXTRA_CA_CERTS while starting (~40 ms with a system bundle) though
 * Cordon never uses it, so the launcher sets it aside and cordon.js puts it
 * back for the processes Cordon starts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const launcher = fileURLToPath(new URL('../../bin/cordon', import.meta.url));
const entry = fileURLToPath(new URL('../../bin/cordon.js', import.meta.url));

function tempDir(t: test.TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-launcher-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the launcher runs cordon.js beside the real file, through symlinks, with NODE_EXTRA_CA_CERTS set aside', (t) => {
  const dir = tempDir(t);
  // A stand-in `node` that reports what it was given.
  const fakeBin = join(dir, 'fake');
  mkdirSync(fakeBin);
  writeFileSync(join(fakeBin, 'node'), '#!/bin/sh\necho "extra=${NODE_EXTRA_CA_CERTS-unset}"\necho "saved=${CORDON_SAVED_NODE_EXTRA_CA_CERTS-unset}"\nfor a in "$@"; do echo "arg=$a"; done\n');
  chmodSync(join(fakeBin, 'node'), 0o755);
  // npm links the command; a relative link to an absolute link must resolve too.
  symlinkSync(launcher, join(dir, 'abs-link'));
  mkdirSync(join(dir, 'bin'));
  symlinkSync('../abs-link', join(dir, 'bin', 'cordon'));
  const run = (env: Record<string, string>) =>
    spawnSync(join(dir, 'bin', 'cordon'), ['exec', '--', 'echo', 'two words'], { encoding: 'utf8', env: { PATH: `${fakeBin}:/usr/bin:/bin`, ...env } });

  const withVar = run({ NODE_EXTRA_CA_CERTS: '/corp/ca.pem' });
  assert.equal(withVar.status, 0, withVar.stderr);
  assert.deepEqual(withVar.stdout.trim().split('\n'), ['extra=unset', 'saved=/corp/ca.pem', `arg=${entry}`, 'arg=exec', 'arg=--', 'arg=echo', 'arg=two words']);

  const without = run({});
  assert.match(without.stdout, /^extra=unset\nsaved=unset\n/);
});

test('Cordon itself never loads NODE_EXTRA_CA_CERTS, and puts it back for the processes it starts', (t) => {
  const dir = tempDir(t);
  // Runs before cordon.js and reports the environment Cordon leaves for its children.
  const probe = join(dir, 'probe.mjs');
  writeFileSync(probe, "process.on('exit', () => process.stderr.write(`child-env extra=${process.env.NODE_EXTRA_CA_CERTS} saved=${process.env.CORDON_SAVED_NODE_EXTRA_CA_CERTS}\\n`));\n");
  const missing = join(dir, 'no-such-ca.pem');
  const r = spawnSync(launcher, ['--version'], { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: missing, NODE_OPTIONS: `--import=${probe}` } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+\.\d+\.\d+/);
  // Node warns when it tries to load a missing bundle; Cordon's Node never tries.
  assert.doesNotMatch(r.stderr, /Ignoring extra certs/);
  assert.match(r.stderr, new RegExp(`child-env extra=${missing} saved=undefined`));
  // Control: a plain Node with the same variable does try, so the check above can fail.
  const plain = spawnSync(process.execPath, ['-e', '0'], { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: missing } });
  assert.match(plain.stderr, /Ignoring extra certs/);
});
