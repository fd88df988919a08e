import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * The folder Cordon is installed in (the one holding its package.json and
 * sandbox-profiles/). Found by walking up from this module, so it is the same
 * whether the code runs from dist/ as compiled files or from the bundle.
 */
export function installRoot(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'cordon') return (cached = dir);
      } catch {
        // Not ours: keep walking.
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the Cordon installation folder (no package.json named "cordon" above the code)');
    dir = up;
  }
}
