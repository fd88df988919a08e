#!/usr/bin/env node
// Runs Cordon's test suite with Node's built-in test runner over the compiled
// tests in dist/. Test files live next to the code they test as *.test.ts;
// files named *.docker.test.ts need a running Docker Engine (and the images
// built by `cordon image build`), *.vm.test.ts QEMU and the microVM guest kernel
// (scripts/setup.sh), *.keyring.test.ts a Secret Service.
//
//   node scripts/run-tests.mjs            every test
//   node scripts/run-tests.mjs --unit     only tests that need no Docker Engine
//   node scripts/run-tests.mjs PATTERN    only test files whose path contains PATTERN
//
// A test that needs something this machine lacks fails; it is never skipped
// silently, so a green run means every listed test ran.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

let files = walk(dist).sort();
if (unitOnly) files = files.filter((f) => !/\.(docker|vm|keyring|e2e)\.test\.js$/.test(f));
if (filters.length > 0) files = files.filter((f) => filters.some((pat) => relative(dist, f).includes(pat)));
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
console.log(`run-tests: ${files.length} test files`);
const nodeArgs = ['--enable-source-maps', '--test', '--test-reporter=spec', ...files];
// Keychain tests (and end-to-end tests that store keys) talk to a real Secret
// Service: when none is on the session bus, run the suite inside a throwaway
// one (one run, one summary). Unit-only runs need none.
const needsKeyring = !unitOnly && !process.env.DBUS_SESSION_BUS_ADDRESS;
const [cmd, cmdArgs] = needsKeyring
  ? [join(root, 'scripts', 'with-secret-service.sh'), [process.execPath, ...nodeArgs]]
  : [process.execPath, nodeArgs];
const res = spawnSync(cmd, cmdArgs, { stdio: 'inherit', env: { ...process.env, CORDON_REPO_ROOT: root } });
process.exit(res.status ?? 1);
