import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmdirSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { decideMount, isInside, type MountRuleCode, type MountRuleContext } from './mount-rules.js';
import { decideWorkspaceAccess, type WorkspaceAccessRule } from './workspace-access.js';

/**
 * Turns requested workspaces into the exact bind mounts a container gets, and
 * keeps agent, IDE, shell and git configuration inside writable workspaces
 * write-protected against every way of changing what the host later sees there:
 *
 *  - write / truncate            → the path is a read-only bind mount (EROFS)
 *  - delete, rename, replace it  → a mount point cannot be unlinked or renamed (EBUSY)
 *    with a symlink or another file
 *  - rename a folder above it    → every folder between the workspace root and the
 *    and recreate the path          path is itself a (read-write) mount point, so it
 *                                   cannot be renamed either (EBUSY)
 *  - hard-link to it             → links across mounts fail (EXDEV); an existing
 *                                   second link would stay writable, so a protected
 *                                   file with more than one link is refused
 *  - create it where it did not  → a placeholder (empty file or folder) is made on
 *    exist                          the host before start and mounted read-only;
 *                                   it is removed after the session if still empty
 *  - edit what a symlink inside  → targets of links inside protected folders that
 *    a protected folder points to   land in a writable workspace are protected too
 */

export interface WorkspaceRequest {
  /** As typed: absolute, relative to cwd, or starting with "~/". */
  readonly path: string;
  readonly mode: 'ro' | 'rw';
}

export interface PlannedMount {
  readonly hostPath: string;
  /** Workspaces appear at the same absolute path inside the sandbox as on the host. */
  readonly containerPath: string;
  readonly readOnly: boolean;
  /**
   * workspace: a requested folder; protect: a write-protected path; anchor: a
   * folder kept from being renamed; cordon: Cordon's own plumbing (proxy socket, relay).
   */
  readonly kind: 'workspace' | 'protect' | 'anchor' | 'cordon';
  /**
   * Mount propagation; default `rprivate`. `rslave` only for the session's
   * grants folder, so mounts made under it on the host later appear inside
   * (its host side must be a shared mount point: see grant-mounts.ts).
   */
  readonly propagation?: 'rprivate' | 'rslave';
}

export interface Placeholder {
  readonly path: string;
  readonly type: 'file' | 'dir';
}

export interface PlannedWorkspace {
  readonly requested: string;
  readonly realPath: string;
  readonly mode: 'ro' | 'rw';
}

export type RefusalCode = MountRuleCode | WorkspaceAccessRule | 'missing' | 'not_a_directory' | 'protected_symlink' | 'protected_hardlink' | 'too_many_entries';

export interface MountRefusal {
  readonly requested: string;
  readonly realPath: string | null;
  readonly rule: RefusalCode;
  readonly message: string;
}

export type MountPlan =
  | {
      readonly ok: true;
      readonly workspaces: readonly PlannedWorkspace[];
      readonly mounts: readonly PlannedMount[];
      /** Created on the host by `materializePlaceholders`, parents before children. */
      readonly placeholders: readonly Placeholder[];
    }
  | { readonly ok: false; readonly refusals: readonly MountRefusal[]; readonly workspaces: readonly PlannedWorkspace[] };

/** Bounds the scan of protected folders for links, so a huge `.idea/` cannot stall a launch. */
const MAX_PROTECTED_ENTRIES = 20000;

/**
 * Plans mounts for the requested workspaces. Reads the file system but changes
 * nothing: placeholders are only listed. Refuses (all reasons, not just the first)
 * when any workspace is missing, not a folder, or hits a mount rule.
 */
export function planMounts(
  requests: readonly WorkspaceRequest[],
  ctx: MountRuleContext,
  writeProtected: readonly string[],
  cwd: string = process.cwd(),
): MountPlan {
  const refusals: MountRefusal[] = [];
  const workspaces: PlannedWorkspace[] = [];
  const seen = new Map<string, PlannedWorkspace>();

  for (const req of requests) {
    const abs = expandPath(req.path, ctx.home, cwd);
    let real: string;
    try {
      real = realpathSync(abs);
    } catch {
      refusals.push({ requested: req.path, realPath: null, rule: 'missing', message: `${abs} does not exist` });
      continue;
    }
    if (!statSync(real).isDirectory()) {
      refusals.push({ requested: req.path, realPath: real, rule: 'not_a_directory', message: `${real} is not a folder; mount the folder that holds it` });
      continue;
    }
    const decision = decideMount(real, ctx);
    if (decision.kind === 'deny') {
      const via = real !== abs ? ` (${abs} resolves to ${real})` : '';
      refusals.push({ requested: req.path, realPath: real, rule: decision.reason, message: `${decision.message}${via}` });
      continue;
    }
    const prev = seen.get(real);
    if (prev) {
      // The same folder twice: the stricter mode wins.
      if (prev.mode === 'rw' && req.mode === 'ro') {
        const ws: PlannedWorkspace = { requested: prev.requested, realPath: real, mode: 'ro' };
        workspaces[workspaces.indexOf(prev)] = ws;
        seen.set(real, ws);
      }
      continue;
    }
    const ws: PlannedWorkspace = { requested: req.path, realPath: real, mode: req.mode };
    workspaces.push(ws);
    seen.set(real, ws);
  }
  if (refusals.length > 0) return { ok: false, refusals, workspaces };

  const mounts: PlannedMount[] = workspaces.map((w) => ({ hostPath: w.realPath, containerPath: w.realPath, readOnly: w.mode === 'ro', kind: 'workspace' }));
  const placeholders: Placeholder[] = [];
  const writable = workspaces.filter((w) => w.mode === 'rw').map((w) => w.realPath);
  const protector = new Protector(writable, mounts, placeholders, refusals);

  for (const root of writable) {
    for (const entry of writeProtected) protector.protectEntry(root, entry);
  }
  protector.protectLinkTargets();
  if (refusals.length > 0) return { ok: false, refusals, workspaces };
  return { ok: true, workspaces, mounts: dedupeMounts(mounts), placeholders };
}

class Protector {
  private readonly protectedPaths = new Set<string>();
  private readonly anchored = new Set<string>();
  private readonly plannedPaths = new Set<string>();
  private readonly pendingLinkScan: string[] = [];
  private scanned = 0;

  constructor(
    private readonly writableRoots: readonly string[],
    private readonly mounts: PlannedMount[],
    private readonly placeholders: Placeholder[],
    private readonly refusals: MountRefusal[],
  ) {}

  /** Protects workspace-relative ENTRY ("…/" marks a folder) under ROOT. */
  protectEntry(root: string, entry: string): void {
    const isDir = entry.endsWith('/');
    const segments = entry.replace(/\/+$/, '').split('/').filter((s) => s.length > 0);
    let cur = root;
    let missing = false;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i] as string;
      const next = join(cur, seg);
      const isLeaf = i === segments.length - 1;
      if (!missing) {
        const st = lstatOrNull(next);
        if (st === null) {
          missing = true;
        } else if (st.isSymbolicLink()) {
          // A link here could be swapped for one pointing elsewhere, and a mount
          // placed on it would land on its target instead.
          this.refuse(root, 'protected_symlink', `${next} is a symbolic link; protected paths (${entry}) must be real files or folders. Replace the link with what it points to, or remove it`);
          return;
        } else if (!isLeaf && !st.isDirectory()) {
          // e.g. `.git` is a file (a worktree or submodule pointer): protect the
          // pointer itself, since rewriting it redirects git to other hooks.
          this.protectPath(next, null);
          return;
        } else if (isLeaf) {
          this.protectPath(next, null);
          return;
        } else {
          this.anchor(next);
          cur = next;
          continue;
        }
      }
      // From here on the path does not exist: placeholders make it exist.
      if (isLeaf) {
        this.plan({ path: next, type: isDir ? 'dir' : 'file' });
        this.protectPath(next, isDir ? 'dir' : 'file');
      } else {
        this.plan({ path: next, type: 'dir' });
        this.anchor(next);
      }
      cur = next;
    }
  }

  /** Protects absolute PATH (existing, or a placeholder of TYPE). */
  private protectPath(path: string, placeholderType: 'file' | 'dir' | null): void {
    if (this.protectedPaths.has(path)) return;
    this.protectedPaths.add(path);
    this.mounts.push({ hostPath: path, containerPath: path, readOnly: true, kind: 'protect' });
    if (placeholderType !== null) return;
    const st = lstatOrNull(path);
    if (st === null) return;
    if (st.isFile() && st.nlink > 1) {
      this.refuse(path, 'protected_hardlink', `${path} has ${st.nlink} hard links; another name for the same file would stay writable. Replace it with a copy (cp ${path} ${path}.tmp && mv ${path}.tmp ${path})`);
      return;
    }
    if (st.isDirectory()) this.pendingLinkScan.push(path);
  }

  /** Plans a placeholder once, even when several entries share its folder. */
  private plan(ph: Placeholder): void {
    if (this.plannedPaths.has(ph.path)) return;
    this.plannedPaths.add(ph.path);
    this.placeholders.push(ph);
  }

  private anchor(dir: string): void {
    if (this.anchored.has(dir)) return;
    this.anchored.add(dir);
    this.mounts.push({ hostPath: dir, containerPath: dir, readOnly: false, kind: 'anchor' });
  }

  /**
   * A protected folder is read-only, but a symlink or hard link inside it may
   * point at a file in a writable workspace; editing that file would change what
   * the host runs. Such targets are protected too (and scanned in turn).
   */
  protectLinkTargets(): void {
    while (this.pendingLinkScan.length > 0) {
      const dir = this.pendingLinkScan.pop() as string;
      this.scanDir(dir);
    }
  }

  private scanDir(dir: string): void {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (++this.scanned > MAX_PROTECTED_ENTRIES) {
        this.refuse(dir, 'too_many_entries', `more than ${MAX_PROTECTED_ENTRIES} entries inside write-protected folders; Cordon cannot check them for links`);
        return;
      }
      const p = join(dir, name);
      const st = lstatOrNull(p);
      if (st === null) continue;
      if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = realpathSync(p);
        } catch {
          // A dangling link: the agent could create its target. Protect that path.
          target = resolve(dirname(p), readlinkSync(p));
        }
        this.protectTarget(target, p);
      } else if (st.isFile() && st.nlink > 1) {
        this.refuse(p, 'protected_hardlink', `${p} (inside a write-protected folder) has ${st.nlink} hard links; another name for it could stay writable. Replace it with a copy`);
      } else if (st.isDirectory()) {
        this.scanDir(p);
      }
    }
  }

  private protectTarget(target: string, via: string): void {
    const root = this.writableRoots.find((r) => target === r || isInside(target, r));
    if (root === undefined) return; // Not writable from the sandbox: nothing to guard.
    if (target === root) {
      this.refuse(via, 'protected_symlink', `${via} points at the workspace root ${root}; a protected path cannot point at a writable folder`);
      return;
    }
    const rel = target.slice(root.length + 1);
    this.protectEntry(root, lstatOrNull(target)?.isDirectory() === true ? `${rel}/` : rel);
  }

  private refuse(path: string, rule: RefusalCode, message: string): void {
    this.refusals.push({ requested: path, realPath: path, rule, message });
  }
}

/**
 * Refusals for planned workspaces that USER (the sandbox's uid:gid) could not
 * use: see decideWorkspaceAccess. Reads each folder's stat and, for the
 * message, the host's account names; changes nothing.
 */
export function checkWorkspaceAccess(workspaces: readonly PlannedWorkspace[], user: { readonly uid: number; readonly gid: number }): MountRefusal[] {
  const refusals: MountRefusal[] = [];
  for (const w of workspaces) {
    let st: Stats;
    try {
      st = statSync(w.realPath);
    } catch {
      refusals.push({ requested: w.requested, realPath: w.realPath, rule: 'missing', message: `${w.realPath} no longer exists` });
      continue;
    }
    const ownership = { uid: st.uid, gid: st.gid, mode: st.mode, ownerName: accountName('/etc/passwd', st.uid), groupName: accountName('/etc/group', st.gid) };
    const decision = decideWorkspaceAccess(w.realPath, w.mode, ownership, user);
    if (decision.kind === 'deny') refusals.push({ requested: w.requested, realPath: w.realPath, rule: decision.reason, message: decision.message });
  }
  return refusals;
}

/** The name for ID in an /etc/passwd- or /etc/group-style FILE, or null (names serve messages only). */
function accountName(file: string, id: number): string | null {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [name, , field] = line.split(':');
      if (name && field === String(id)) return name;
    }
  } catch {
    // No such file (macOS keeps accounts elsewhere): the number alone says it.
  }
  return null;
}

/** Expands "~/" and makes PATH absolute against CWD. */
export function expandPath(path: string, home: string, cwd: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return isAbsolute(path) ? resolve(path) : resolve(cwd, path);
}

/**
 * Creates the planned placeholders on the host. Returns those actually created
 * (a path that appeared meanwhile is left alone and simply mounted read-only).
 */
export function materializePlaceholders(placeholders: readonly Placeholder[]): Placeholder[] {
  const created: Placeholder[] = [];
  for (const ph of placeholders) {
    try {
      if (ph.type === 'dir') mkdirSync(ph.path, { mode: 0o755 });
      else closeSync(openSync(ph.path, 'wx', 0o644));
      created.push(ph);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return created;
}

/**
 * Removes placeholders left by a session, children before parents, but only
 * while they are still empty: anything a person put there on the host is kept.
 */
export function removePlaceholders(placeholders: readonly Placeholder[]): { removed: string[]; kept: string[] } {
  const removed: string[] = [];
  const kept: string[] = [];
  for (const ph of [...placeholders].reverse()) {
    const st = lstatOrNull(ph.path);
    if (st === null) continue;
    try {
      if (ph.type === 'dir' && st.isDirectory()) {
        rmdirSync(ph.path);
        removed.push(ph.path);
      } else if (ph.type === 'file' && st.isFile() && st.size === 0) {
        unlinkSync(ph.path);
        removed.push(ph.path);
      } else {
        kept.push(ph.path);
      }
    } catch {
      kept.push(ph.path);
    }
  }
  return { removed, kept };
}

function dedupeMounts(mounts: readonly PlannedMount[]): PlannedMount[] {
  const byTarget = new Map<string, PlannedMount>();
  for (const m of mounts) {
    const prev = byTarget.get(m.containerPath);
    // A path both anchored (rw) and protected (ro) stays read-only.
    if (!prev || (m.readOnly && !prev.readOnly)) byTarget.set(m.containerPath, m);
  }
  // Parents before children, so a nested mount is not hidden by its parent.
  return [...byTarget.values()].sort((a, b) => depth(a.containerPath) - depth(b.containerPath) || a.containerPath.localeCompare(b.containerPath));
}

function depth(p: string): number {
  return p.split('/').length;
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}
