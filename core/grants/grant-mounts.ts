/**
 * How a granted folder reaches a sandbox that is already running (issue 17).
 *
 * Docker cannot add a mount to a running container. Every session therefore
 * gets, at start, one folder of its own, `<session>/grants`, mounted at
 * {@link SANDBOX_GRANTS_DIR}; grants appear inside it. Two mechanisms:
 *
 * - **live** (the launcher may mount: root on Linux). `grants` is made a
 *   shared mount point of its own peer group and mounted into the sandbox
 *   with `rslave` propagation, so a bind mount made later on the host under
 *   `grants/` appears inside, and its unmount disappears inside. A grant is
 *   assembled in a private staging folder first — the source bound there,
 *   made read-only, write-protected paths inside it bound read-only over
 *   themselves — and only then moved under `grants/`. The order matters: a
 *   mount's read-only flag is per mount and is not propagated, so a mount
 *   made read-only after it already appeared in the sandbox would stay
 *   writable there; a mount moved in whole is copied with its flags. Works
 *   under runc and gVisor (whose gofer's mount namespace is a slave too).
 * - **copy** (no mount privilege: an unprivileged launcher, Docker Desktop).
 *   The folder is copied into `grants/` (bounded); `grants` is mounted
 *   read-only, so the copy is a read-only snapshot: changes never reach the
 *   host and write is never granted.
 *
 * Every host-side step is an argv-only call of util-linux `mount`/`umount`
 * (no shell); paths come from realpath and Cordon's own folders.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Where a session's grants appear inside the sandbox. */
export const SANDBOX_GRANTS_DIR = '/run/cordon/grants';

export type GrantMechanism = 'live' | 'copy';

/** Bounds of a copy-in grant: a request must not fill the disk or stall the proxy. */
export const COPY_LIMITS = { maxBytes: 256 * 1024 * 1024, maxEntries: 20_000 } as const;

/** A path inside the granted folder to bind read-only over itself (a write-protected path), or read-write (an anchor). */
export interface GrantSubMount {
  readonly hostPath: string;
  readonly readOnly: boolean;
}

export class GrantMountError extends Error {
  override readonly name = 'GrantMountError';
}

function run(cmd: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { timeout: 10_000 }, (err, _out, stderr) => {
      if (err) reject(new GrantMountError(`${cmd} ${args[0] ?? ''} failed: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

/** Mount points at or below DIR (this process's mount namespace), deepest first. */
export function mountsBelow(dir: string): string[] {
  let table: string;
  try {
    table = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of table.split('\n')) {
    // Field 5 is the mount point, with spaces and the like octal-escaped.
    const mountPoint = line.split(' ')[4];
    if (!mountPoint) continue;
    const p = mountPoint.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(`${dir}/`)) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

/**
 * Unmounts everything at or below DIR (detaching lazily what is busy).
 * Returns the mount points that are still there afterwards: non-empty means
 * DIR must not be deleted, or the user's own files under a grant would go.
 */
export async function releaseMountsBelow(dir: string): Promise<string[]> {
  for (const m of mountsBelow(dir)) {
    await run('umount', [m]).catch(() => run('umount', ['-l', m]).catch(() => undefined));
  }
  return mountsBelow(dir);
}

/**
 * Chooses the mechanism for a session and prepares its grants folder
 * (`<sessionDir>/grants`) and, for live grants, its private staging folder.
 * Live needs root on Linux and a working `mount`; anything else is copy.
 */
export async function prepareGrantsFolder(sessionDir: string): Promise<{ dir: string; stage: string | null; mechanism: GrantMechanism }> {
  const dir = join(sessionDir, 'grants');
  mkdirSync(dir, { mode: 0o755 });
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { dir, stage: null, mechanism: 'copy' };
  const stage = join(sessionDir, 'grant-stage');
  mkdirSync(stage, { mode: 0o700 });
  try {
    // Its own mount point and peer group: events under it reach the sandbox's
    // slave copy and nothing else (make-private cuts it from its parent's group).
    await run('mount', ['--bind', dir, dir]);
    await run('mount', ['--make-private', dir]);
    await run('mount', ['--make-shared', dir]);
    // Staging must be private: a mount cannot be moved out from under a shared parent.
    await run('mount', ['--bind', stage, stage]);
    await run('mount', ['--make-private', stage]);
    return { dir, stage, mechanism: 'live' };
  } catch {
    await releaseMountsBelow(dir);
    await releaseMountsBelow(stage);
    rmdirSync(stage);
    return { dir, stage: null, mechanism: 'copy' };
  }
}

/**
 * Assembles a live grant in STAGE and moves it to `dir/name`. SOURCE is a
 * realpath; SUBMOUNTS lie inside it (parents before children).
 */
export async function mountLiveGrant(opts: {
  readonly source: string;
  readonly readOnly: boolean;
  readonly subMounts: readonly GrantSubMount[];
  readonly stage: string;
  readonly dir: string;
  readonly name: string;
}): Promise<void> {
  const staged = join(opts.stage, opts.name);
  const target = join(opts.dir, opts.name);
  mkdirSync(staged, { mode: 0o755 });
  try {
    await run('mount', ['--bind', opts.source, staged]);
    if (opts.readOnly) await run('mount', ['-o', 'remount,bind,ro', staged]);
    for (const sub of opts.subMounts) {
      const rel = relative(opts.source, sub.hostPath);
      if (rel === '' || rel.startsWith('..')) continue;
      const at = join(staged, rel);
      await run('mount', ['--bind', sub.hostPath, at]);
      if (sub.readOnly) await run('mount', ['-o', 'remount,bind,ro', at]);
    }
    mkdirSync(target, { mode: 0o755 });
    await run('mount', ['--move', staged, target]);
  } catch (err) {
    await releaseMountsBelow(staged);
    if (existsSync(target) && mountsBelow(target).length === 0) rmdirSync(target);
    throw err;
  } finally {
    if (existsSync(staged) && mountsBelow(staged).length === 0) rmdirSync(staged);
  }
}

/** Copies SOURCE into `dir/name` (atomically appearing), refusing folders over {@link COPY_LIMITS}. */
export function copyGrant(opts: { readonly source: string; readonly dir: string; readonly name: string }): void {
  const size = measure(opts.source);
  if (size.bytes > COPY_LIMITS.maxBytes || size.entries > COPY_LIMITS.maxEntries) {
    throw new GrantMountError(
      `${opts.source} is too large to copy into the sandbox (${size.entries} entries, ${Math.round(size.bytes / 1048576)} MiB; the limit is ${COPY_LIMITS.maxEntries} entries and ${COPY_LIMITS.maxBytes / 1048576} MiB): grant a narrower folder`,
    );
  }
  const tmp = join(opts.dir, `.${opts.name}.partial`);
  rmSync(tmp, { recursive: true, force: true });
  // Links are copied as links (never followed out of the folder); sockets and devices are left out.
  cpSync(opts.source, tmp, { recursive: true, dereference: false, verbatimSymlinks: true, filter: (src) => isPlain(src) });
  renameSync(tmp, join(opts.dir, opts.name));
}

/** Removes grant NAME: unmounts a live one, deletes a copy. False when a mount could not be released (then nothing is deleted). */
export async function removeGrant(dir: string, name: string): Promise<boolean> {
  const target = join(dir, name);
  if (!existsSync(target)) return true;
  if (mountsBelow(target).length > 0) {
    const left = await releaseMountsBelow(target);
    if (left.length > 0) return false;
    rmdirSync(target);
    return true;
  }
  rmSync(target, { recursive: true, force: true });
  return true;
}

function isPlain(path: string): boolean {
  const st = lstatSync(path);
  return st.isFile() || st.isDirectory() || st.isSymbolicLink();
}

/** Bytes and entries below PATH, stopping early once over the limits. */
function measure(path: string): { bytes: number; entries: number } {
  let bytes = 0;
  let entries = 0;
  const stack = [path];
  while (stack.length > 0) {
    const p = stack.pop() as string;
    const st = lstatSync(p);
    entries += 1;
    if (st.isFile()) bytes += st.size;
    if (st.isDirectory()) for (const n of readdirSync(p)) stack.push(join(p, n));
    if (bytes > COPY_LIMITS.maxBytes || entries > COPY_LIMITS.maxEntries) break;
  }
  return { bytes, entries };
}
