import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export type HelperBuild = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly message: string };

/**
 * Returns the path of one of Cordon's small C helpers (the in-sandbox relay,
 * the tunnel splicer), building it from `<sourceDir>/<name>.c` with
 * `<sourceDir>/build.sh` into `<cacheDir>/<hash>/<name>` when missing. The key
 * hashes every C source and header in the folder and the build script, so a
 * changed source or flag is rebuilt rather than reused. Never throws: every failure is a message that
 * says what to do.
 */
export function ensureHelperBuilt(helper: {
  /** Binary and source name, e.g. `cordon-relay`. */
  readonly name: string;
  /** What it is, for messages: "in-sandbox relay". */
  readonly what: string;
  readonly sourceDir: string;
  readonly cacheDir: string;
  /** Mode of the cache folder and the binary. */
  readonly mode: number;
}): HelperBuild {
  const sourceFile = join(helper.sourceDir, `${helper.name}.c`);
  const scriptFile = join(helper.sourceDir, 'build.sh');
  let source: Buffer;
  let script: Buffer;
  try {
    source = readFileSync(sourceFile);
  } catch {
    return { ok: false, message: `the ${helper.what} source ${sourceFile} is missing; reinstall Cordon` };
  }
  try {
    script = readFileSync(scriptFile);
  } catch {
    return { ok: false, message: `the ${helper.what} build script ${scriptFile} is missing; reinstall Cordon` };
  }
  const hash = createHash('sha256').update(source).update(script);
  // The helper's other translation units and headers (the relay's home-seed.c).
  try {
    for (const f of readdirSync(helper.sourceDir).filter((n) => /\.[ch]$/.test(n) && n !== `${helper.name}.c`).sort()) {
      hash.update(f).update(readFileSync(join(helper.sourceDir, f)));
    }
  } catch {
    return { ok: false, message: `the ${helper.what} sources in ${helper.sourceDir} cannot be read; reinstall Cordon` };
  }
  const digest = hash.digest('hex').slice(0, 16);
  const dir = join(helper.cacheDir, digest);
  const bin = join(dir, helper.name);
  if (existsSync(bin)) return { ok: true, path: bin };
  try {
    mkdirSync(dir, { recursive: true, mode: helper.mode });
    const tmp = `${bin}.${process.pid}.tmp`;
    const r = spawnSync('sh', [scriptFile, tmp], { encoding: 'utf8' });
    if (r.status !== 0) {
      return { ok: false, message: `cannot build the ${helper.what}: ${(r.stderr || r.error?.message || 'build failed').trim()} (scripts/setup.sh installs gcc)` };
    }
    chmodSync(tmp, helper.mode);
    renameSync(tmp, bin);
    return { ok: true, path: bin };
  } catch (e) {
    return { ok: false, message: `cannot build the ${helper.what}: ${e instanceof Error ? e.message : String(e)}` };
  }
}
