/**
 * What can be checked about packaging without packaging (electron-builder
 * needs the Electron binary and, for AppImage, tools from GitHub): the
 * config parses, builds all four installers, hardens the binary with every
 * fuse, and its `files` globs ship core, the app and the UI but no test,
 * source map or TypeScript source. The globs are evaluated with Node's own
 * matcher against a file list, in electron-builder's order (a later `!`
 * pattern removes what an earlier one added).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, matchesGlob, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../', import.meta.url));

interface BuilderConfig {
  readonly files: readonly string[];
  readonly asar: boolean;
  readonly extraMetadata?: { readonly main?: string };
  readonly electronFuses: Readonly<Record<string, boolean>>;
  readonly linux: { readonly target: readonly string[] };
  readonly mac: { readonly target: readonly string[] };
  readonly win: { readonly target: readonly string[] };
}

const config = JSON.parse(readFileSync(join(repoRoot, 'build', 'electron-builder.json'), 'utf8')) as BuilderConfig;
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { main?: string };

/** Whether FILE (relative, forward slashes) is packaged: the last pattern that matches decides. */
function packaged(file: string): boolean {
  let inside = false;
  for (const pattern of config.files) {
    const negated = pattern.startsWith('!');
    if (matchesGlob(file, negated ? pattern.slice(1) : pattern)) inside = !negated;
  }
  return inside;
}

test('AppImage, deb, dmg and nsis are built', () => {
  assert.deepEqual([...config.linux.target].sort(), ['AppImage', 'deb']);
  assert.deepEqual(config.mac.target, ['dmg']);
  assert.deepEqual(config.win.target, ['nsis']);
});

test('the binary is hardened with every fuse, and the app is loaded only from its asar', () => {
  const f = config.electronFuses;
  assert.equal(f['runAsNode'], false, 'ELECTRON_RUN_AS_NODE would turn the signed app into a plain Node');
  assert.equal(f['enableNodeOptionsEnvironmentVariable'], false, 'NODE_OPTIONS could preload code');
  assert.equal(f['enableNodeCliInspectArguments'], false, '--inspect would open a debugger into main');
  assert.equal(f['enableEmbeddedAsarIntegrityValidation'], true);
  assert.equal(f['onlyLoadAppFromAsar'], true);
  assert.equal(f['grantFileProtocolExtraPrivileges'], false, 'the UI is served from app://, file:// needs no extra rights');
  assert.equal(config.asar, true, 'onlyLoadAppFromAsar needs an asar');
});

test('the packaged main is the one package.json names', () => {
  assert.equal(config.extraMetadata?.main, 'dist/electron/main.js');
  assert.equal(pkg.main, 'dist/electron/main.js');
  assert.ok(packaged('dist/electron/main.js'));
});

test('files ship core, the app, the UI and the sandbox profiles, and no tests, maps or sources', () => {
  for (const f of ['package.json', 'dist/core/api/cordon-api.js', 'dist/core/service/open-service.js', 'dist/electron/main.js', 'dist/electron/preload.cjs', 'dist/renderer/index.html', 'dist/renderer/assets/index-3f2a.js', 'sandbox-profiles/strict.json', 'sandbox-profiles/seccomp/cordon-default.json', 'core/sandbox/sentinel/cordon-sentinel.c', 'core/egress/splice/build.sh']) {
    assert.equal(packaged(f), true, `${f} must be packaged`);
  }
  for (const f of [
    'dist/core/api/cordon-api.test.js',
    'dist/core/sandbox/docker-engine.docker.test.js',
    'dist/electron/window-factory.test.js',
    'dist/core/api/cordon-api.js.map',
    'dist/electron/preload.js',
    'dist/cli/main.js',
    'dist/bench/launch-bench.js',
    'dist/e2e/electron/app-window.e2e.test.js',
    'core/api/cordon-api.ts',
    'electron/main.ts',
    'renderer/main.tsx',
    'e2e/README.md',
    'sandbox-profiles/relay/relay-bench.c',
  ]) {
    assert.equal(packaged(f), false, `${f} must not be packaged`);
  }
});

test('against the real build: every compiled test and map under dist/ is left out', () => {
  const dist = join(repoRoot, 'dist');
  assert.ok(existsSync(join(dist, 'core')), 'run `npm run build` first');
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
  const files = walk(dist).map((f) => relative(repoRoot, f).split('\\').join('/'));
  const shipped = files.filter(packaged);
  assert.ok(shipped.some((f) => f.startsWith('dist/core/')) && shipped.some((f) => f.startsWith('dist/electron/')));
  assert.deepEqual(shipped.filter((f) => /\.test\.js$|\.map$|\.ts$/.test(f)), []);
});
