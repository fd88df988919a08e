#!/usr/bin/env node
// `npm run app`: starts the Cordon app with the Electron binary installed in
// node_modules/electron, after checking that the parts it loads were built.
// Where the binary is missing (its download comes from GitHub, which some
// machines cannot reach), says so and what to do instead, and exits 1.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const electronDir = join(root, 'node_modules', 'electron');

/** The Electron executable, or null with the reason. */
function electronBinary() {
  if (!existsSync(join(electronDir, 'package.json'))) return { path: null, why: 'the electron package is not installed (npm install)' };
  const pathFile = join(electronDir, 'path.txt');
  if (!existsSync(pathFile)) return { path: null, why: 'node_modules/electron has no path.txt: its binary was never downloaded (ELECTRON_SKIP_BINARY_DOWNLOAD, or no access to GitHub)' };
  const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH ?? join(electronDir, 'dist');
  const exe = join(dist, readFileSync(pathFile, 'utf8').trim());
  return existsSync(exe) ? { path: exe, why: null } : { path: null, why: `${exe} does not exist` };
}

const bin = electronBinary();
if (bin.path === null) {
  console.error(`cordon app: the Electron binary is not installed here (${bin.why}).
  Its download comes from GitHub (https://github.com/electron/electron/releases).
  - Run the same UI in your browser instead:  cordon ui
  - Or install Electron where GitHub is reachable:  npx install-electron   (or: rm -rf node_modules/electron && npm install)
  - Or point at an unpacked Electron ${readVersion()} build:  ELECTRON_OVERRIDE_DIST_PATH=/path/to/electron-dist npm run app`);
  process.exit(1);
}

const missing = ['dist/electron/main.js', 'dist/electron/preload.cjs', 'dist/renderer/index.html'].filter((f) => !existsSync(join(root, f)));
if (missing.length > 0) {
  console.error(`cordon app: not built yet (missing ${missing.join(', ')}). Run: npm run build && npm run build:electron, and build the renderer (dist/renderer).`);
  process.exit(1);
}

const child = spawn(bin.path, [root, ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));

function readVersion() {
  try {
    return JSON.parse(readFileSync(join(electronDir, 'package.json'), 'utf8')).version;
  } catch {
    return '';
  }
}
