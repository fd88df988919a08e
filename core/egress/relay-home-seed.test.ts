// The relay's --home-seed (sandbox-profiles/relay/home-seed.c), run on the
// host: it copies the seed into $HOME before the command starts, as regular
// files only, never through or as a symlink, never over what is there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cordon-seed-relay-'));
const relayBin = join(dir, 'cordon-relay');
let proxy: net.Server;

before(async () => {
  const build = spawnSync('sh', [join(repoRoot, 'sandbox-profiles/relay/build.sh'), relayBin], { encoding: 'utf8' });
  assert.equal(build.status, 0, `building cordon-relay failed:\n${build.stderr}`);
  proxy = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => proxy.listen(join(dir, 'proxy.sock'), r));
});
after(() => {
  proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

void test('the seed is in $HOME when the command starts: files 0600, folders kept, links and existing files untouched', async () => {
  const seed = join(dir, 'seed');
  const home = join(dir, 'home');
  const outside = join(dir, 'outside.txt');
  writeFileSync(outside, 'host file');
  mkdirSync(join(seed, '.config', 'tool'), { recursive: true });
  writeFileSync(join(seed, '.claude.json'), '{"hasCompletedOnboarding":true}\n');
  writeFileSync(join(seed, '.config', 'tool', 'settings.json'), 'nested');
  writeFileSync(join(seed, 'kept.txt'), 'from the seed');
  symlinkSync(outside, join(seed, 'link-to-host'));
  mkdirSync(home);
  writeFileSync(join(home, 'kept.txt'), 'already here');
  // A symlink where a seed folder goes must not be followed out of the home.
  mkdirSync(join(dir, 'elsewhere'));
  symlinkSync(join(dir, 'elsewhere'), join(home, '.config'));
  const port = await freePort();
  const r = spawnSync(relayBin, ['--listen', `127.0.0.1:${port}`, '--to', join(dir, 'proxy.sock'), '--home-seed', seed, '--', 'sh', '-c', 'cat "$HOME/.claude.json"'], {
    env: { ...process.env, HOME: home },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '{"hasCompletedOnboarding":true}\n', 'the command sees the seed at once');
  assert.equal(lstatSync(join(home, '.claude.json')).mode & 0o777, 0o600);
  assert.throws(() => lstatSync(join(dir, 'elsewhere', 'tool')), /ENOENT/, 'nothing was written through the planted link');
  assert.equal(readFileSync(join(home, 'kept.txt'), 'utf8'), 'already here', 'an existing file wins');
  assert.throws(() => lstatSync(join(home, 'link-to-host')), /ENOENT/, 'a symlink in the seed is not copied');
  assert.equal(readFileSync(outside, 'utf8'), 'host file');
});

void test('folders in the seed are recreated in an empty home', async () => {
  const seed = join(dir, 'seed-nested');
  const home = join(dir, 'home-nested');
  mkdirSync(join(seed, '.claude', 'deep'), { recursive: true });
  writeFileSync(join(seed, '.claude', 'deep', 'settings.json'), 'nested');
  mkdirSync(home);
  const port = await freePort();
  const r = spawnSync(relayBin, ['--listen', `127.0.0.1:${port}`, '--to', join(dir, 'proxy.sock'), '--home-seed', seed, '--', 'cat', join(home, '.claude', 'deep', 'settings.json')], {
    env: { ...process.env, HOME: home },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'nested');
  assert.equal(lstatSync(join(home, '.claude')).mode & 0o777, 0o700);
});
