/**
 * "What changed" for a chat session (issue 16, item 3): which files the agent
 * created, modified and deleted in its workspace roots since the session
 * started, and the diff of each.
 *
 * Model: a baseline taken at start(), and a set of changed paths kept by
 * re-judging a path against its baseline whenever chokidar reports it. Judging
 * against the baseline (not counting events) is what makes a file edited and
 * then put back drop out of the list, and a file created and then deleted
 * vanish.
 *
 * The workspace is hostile (README.md): the walk never follows a link and
 * skips `.git/`; the baseline keeps text content only up to per-file and total
 * byte caps and stops walking at a file count; the change set is capped; file
 * contents are only ever read through readContained (no link on the path).
 */
import { lstat, opendir, readlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { posix } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { fileKind, SNIFF_BYTES, type FileKind } from './file-kind.js';
import { checkRelPath, readContained, type PreviewRefusal } from './file-preview.js';
import { diffLines, type LineDiff } from './line-diff.js';

/** One changed path. `path` is relative to `root`, '/'-separated, raw as the agent named it: render it as text. */
export interface FileChange {
  readonly root: string;
  readonly path: string;
  readonly change: 'created' | 'modified' | 'deleted';
  /** Preview kind of the current content (the baseline's for a deleted file); 'unknown' for links and special files. */
  readonly kind: FileKind | 'unknown';
  /** Current size in bytes; null for a deleted file or a symbolic link. */
  readonly size: number | null;
  /** What is at the path now (what was there, for a deleted one): a link is listed but never previewed. */
  readonly entry: 'file' | 'symlink' | 'other';
  /** Epoch ms when this path was last seen changing. */
  readonly at: number;
}

/**
 * The changes, newest first, at most `maxListed`. `overflow` counts changed
 * paths not in `changes` (past the cap, or past the tracking cap). A root in
 * `incompleteBaselines` had more files than the walk keeps: a path unknown to
 * its baseline is reported 'modified', never 'created'.
 */
export interface ChangeList {
  readonly changes: readonly FileChange[];
  readonly overflow: number;
  readonly incompleteBaselines: readonly string[];
}

/** Why a diff has no "before" side. */
export type NoBaselineReason = 'not_walked' | 'too_large' | 'budget' | 'not_a_file';

/** A diff of one listed path against its baseline, or why there is none. */
export type ChangeDiff =
  | { readonly kind: 'diff'; readonly diff: LineDiff }
  | { readonly kind: 'no_baseline'; readonly reason: NoBaselineReason; readonly message: string }
  | { readonly kind: 'binary' }
  | PreviewRefusal;

/** Caps on what watching costs. */
export interface WorkspaceChangesLimits {
  /** Entries (files and folders) walked for the baseline, across all roots (default 100,000). */
  readonly maxBaselineEntries: number;
  /** Text files up to this size keep their content for diffs (default 1 MB); also the most read for a diff's current side. */
  readonly maxTextBytes: number;
  /** Total content kept in the baseline (default 64 MB). */
  readonly maxBaselineBytes: number;
  /** Most changes list() returns (default 5,000). */
  readonly maxListed: number;
  /** Most changed paths tracked; past this, new paths only count toward overflow (default 50,000). */
  readonly maxTracked: number;
  /** Folder depth watched below each root (default 64). */
  readonly maxDepth: number;
  /** Quiet time before onChange is called (default 100 ms). */
  readonly debounceMs: number;
}

export const DEFAULT_WORKSPACE_CHANGES_LIMITS: WorkspaceChangesLimits = {
  maxBaselineEntries: 100_000,
  maxTextBytes: 1024 * 1024,
  maxBaselineBytes: 64 * 1024 * 1024,
  maxListed: 5_000,
  maxTracked: 50_000,
  maxDepth: 64,
  debounceMs: 100,
};

export interface WorkspaceChangesOptions {
  /** Workspace roots: trusted realpaths (the allowlisted folders). */
  readonly roots: readonly string[];
  /** Called (debounced) after the list changed; read it with list(). */
  readonly onChange?: () => void;
  readonly limits?: Partial<WorkspaceChangesLimits>;
  /**
   * Workspace-relative paths the agent cannot write (the profile's
   * `writeProtected`; a trailing "/" marks a folder). Cordon itself puts
   * read-only placeholders there when a session starts and removes them when
   * it ends: those are not the agent's changes, so they are not listed.
   */
  readonly readOnlyPaths?: readonly string[];
}

type Entry = 'file' | 'symlink' | 'other';

interface BaselineEntry {
  readonly entry: Entry;
  readonly size: number;
  readonly mtimeMs: number;
  readonly kind: FileKind | 'unknown';
  /** Text content, when kept. */
  readonly content: Buffer | null;
  /** Why content was not kept, for a file whose kind is text. */
  readonly missing: NoBaselineReason | null;
  readonly linkTarget: string | null;
}

/** Watches workspace roots and lists what changed since start(); see the module comment. */
export class WorkspaceChanges {
  private readonly lim: WorkspaceChangesLimits;
  private readonly baseline = new Map<string, BaselineEntry>();
  private readonly incomplete = new Set<string>();
  private readonly changes = new Map<string, FileChange>();
  private readonly dirty = new Set<string>();
  private untracked = 0;
  private keptBytes = 0;
  private walked = 0;
  private watcher: FSWatcher | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private notifyTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: WorkspaceChangesOptions) {
    this.lim = { ...DEFAULT_WORKSPACE_CHANGES_LIMITS, ...opts.limits };
  }

  /** Takes the baseline, then starts watching; resolves once the watcher is ready. Changes before that are not seen. */
  async start(): Promise<void> {
    for (const root of this.opts.roots) await this.walk(root);
    if (this.closed) return;
    const watcher = watch([...this.opts.roots], {
      ignoreInitial: true,
      followSymlinks: false,
      depth: this.lim.maxDepth,
      ignored: (p: string) => this.ignored(p),
    });
    this.watcher = watcher;
    watcher.on('all', (event, path) => this.onEvent(event, path));
    watcher.on('error', () => undefined); // a folder gone or unreadable: the events we do get still count
    await new Promise<void>((resolve) => watcher.once('ready', resolve));
  }

  /** The current changes (see {@link ChangeList}). Cheap: no file access. */
  list(): ChangeList {
    const all = [...this.changes.values()].sort((a, b) => b.at - a.at || a.path.localeCompare(b.path));
    const changes = all.slice(0, this.lim.maxListed);
    return { changes, overflow: all.length - changes.length + this.untracked, incompleteBaselines: [...this.incomplete] };
  }

  /**
   * The line diff of ROOT/PATH from its baseline to now: from empty for a
   * created file, to empty for a deleted one. Refused like a preview when the
   * path is not a plain file inside the root (a link is always refused).
   */
  async diff(root: string, path: string): Promise<ChangeDiff> {
    if (!this.opts.roots.includes(root)) return { kind: 'refused', reason: 'outside_workspace', message: `${JSON.stringify(root)} is not a watched workspace` };
    const checked = checkRelPath(path);
    if (checked.kind === 'deny') return { kind: 'refused', reason: checked.reason, message: checked.message };
    const shown = JSON.stringify(path);
    const base = this.baseline.get(key(root, path));
    let before: string;
    if (base === undefined) {
      if (this.incomplete.has(root)) return { kind: 'no_baseline', reason: 'not_walked', message: `${shown} was not in the baseline: the workspace had more files than are kept` };
      before = '';
    } else if (base.entry === 'symlink') {
      return { kind: 'refused', reason: 'symlink', message: `${shown} was a symbolic link, which is never read` };
    } else if (base.entry !== 'file') {
      return { kind: 'no_baseline', reason: 'not_a_file', message: `${shown} was not a regular file` };
    } else if (base.content !== null) {
      before = base.content.toString('utf8');
    } else if (base.missing === null) {
      return { kind: 'binary' };
    } else {
      return { kind: 'no_baseline', reason: base.missing, message: base.missing === 'too_large' ? `${shown} was over ${this.lim.maxTextBytes} bytes at the start` : `${shown}'s start content was not kept (baseline memory cap)` };
    }
    const now = await readContained(root, path, this.lim.maxTextBytes);
    let after: string;
    if (now.kind === 'refused') {
      if (now.reason !== 'missing' || base === undefined) return now;
      after = '';
    } else if (!now.complete) {
      return { kind: 'refused', reason: 'too_large', message: `${shown} is ${now.size} bytes; diffs stop at ${this.lim.maxTextBytes}` };
    } else {
      const kind = fileKind(path, now.bytes, true);
      if (kind !== 'text' && kind !== 'markdown') return { kind: 'binary' };
      after = now.bytes.toString('utf8');
    }
    return { kind: 'diff', diff: diffLines(before, after) };
  }

  /** Stops watching and drops pending work; list() keeps answering with the last state. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    await this.watcher?.close();
    await this.flushing;
  }

  private ignored(p: string): boolean {
    const root = this.rootOf(p);
    if (root === null) return false;
    const parts = relative(root, p).split(sep);
    // `.git/` internals churn on every git command and say nothing about the user's files.
    if (parts.includes('.git')) return true;
    const rel = parts.join('/');
    return (this.opts.readOnlyPaths ?? []).some((ro) => (ro.endsWith('/') ? rel === ro.slice(0, -1) || rel.startsWith(ro) : rel === ro));
  }

  private rootOf(p: string): string | null {
    let best: string | null = null;
    for (const r of this.opts.roots) {
      if ((p === r || p.startsWith(r.endsWith(sep) ? r : r + sep)) && (best === null || r.length > best.length)) best = r;
    }
    return best;
  }

  /** Walks ROOT without following links, keeping each entry's baseline, until the entry cap. */
  private async walk(root: string): Promise<void> {
    const stack: string[] = [''];
    while (stack.length > 0 && !this.closed) {
      const rel = stack.pop() ?? '';
      let dir;
      try {
        dir = await opendir(rel === '' ? root : join(root, ...rel.split('/')));
      } catch {
        continue;
      }
      for await (const d of dir) {
        if (++this.walked > this.lim.maxBaselineEntries) {
          this.incomplete.add(root);
          return; // leaving the for-await closes the handle
        }
        const childRel = rel === '' ? d.name : posix.join(rel, d.name);
        if (d.name === '.git') continue;
        if (d.isDirectory()) {
          if (childRel.split('/').length <= this.lim.maxDepth) stack.push(childRel);
          continue;
        }
        const b = await this.snapshot(root, childRel);
        if (b) this.baseline.set(key(root, childRel), b);
      }
    }
  }

  /** What is at ROOT/REL now, for the baseline. */
  private async snapshot(root: string, rel: string): Promise<BaselineEntry | null> {
    const st = await lstat(join(root, ...rel.split('/'))).catch(() => null);
    if (!st || st.isDirectory()) return null;
    if (st.isSymbolicLink()) {
      const target = await readlink(join(root, ...rel.split('/'))).catch(() => null);
      return { entry: 'symlink', size: st.size, mtimeMs: st.mtimeMs, kind: 'unknown', content: null, missing: null, linkTarget: target };
    }
    if (!st.isFile()) return { entry: 'other', size: st.size, mtimeMs: st.mtimeMs, kind: 'unknown', content: null, missing: null, linkTarget: null };
    const small = st.size <= this.lim.maxTextBytes;
    const fits = this.keptBytes + st.size <= this.lim.maxBaselineBytes;
    const read = await readContained(root, rel, small && fits ? this.lim.maxTextBytes : SNIFF_BYTES);
    if (read.kind === 'refused') return null;
    const kind = fileKind(rel, read.bytes, read.complete);
    const text = kind === 'text' || kind === 'markdown';
    if (text && read.complete && small && fits) {
      this.keptBytes += read.bytes.length;
      return { entry: 'file', size: read.size, mtimeMs: read.mtimeMs, kind, content: read.bytes, missing: null, linkTarget: null };
    }
    return { entry: 'file', size: read.size, mtimeMs: read.mtimeMs, kind, content: null, missing: text ? (small ? 'budget' : 'too_large') : null, linkTarget: null };
  }

  private onEvent(event: string, path: string): void {
    const root = this.rootOf(path);
    if (root === null || this.closed) return;
    const rel = relative(root, path).split(sep).join('/');
    if (rel === '') return;
    if (event === 'unlinkDir' || event === 'addDir') {
      // A folder removed or renamed away takes its files with it; chokidar may not name each one.
      const prefix = key(root, rel) + '/';
      for (const k of [...this.baseline.keys(), ...this.changes.keys()]) if (k.startsWith(prefix)) this.dirty.add(k);
      if (event === 'unlinkDir') return this.schedule();
    }
    if (event === 'addDir') return this.schedule();
    this.dirty.add(key(root, rel));
    this.schedule();
  }

  private schedule(): void {
    if (this.flushTimer || this.closed) return;
    // Coalesce bursts: an agent rewriting one file in a loop costs one judgement per flush, not per write.
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flushing = this.flushing.then(() => this.flush()).catch(() => undefined);
    }, 50);
  }

  private async flush(): Promise<void> {
    const batch = [...this.dirty];
    this.dirty.clear();
    let changed = false;
    for (const k of batch) {
      if (this.closed) return;
      const [root, rel] = splitKey(k);
      const next = await this.judge(root, rel);
      const prev = this.changes.get(k);
      if (next === null) {
        if (prev) {
          this.changes.delete(k);
          changed = true;
        }
      } else if (prev || this.changes.size < this.lim.maxTracked) {
        this.changes.set(k, next);
        changed = true;
      } else {
        this.untracked++;
        changed = true;
      }
    }
    if (changed) this.notify();
  }

  /** ROOT/REL's change against its baseline, or null when it matches it (or never existed). */
  private async judge(root: string, rel: string): Promise<FileChange | null> {
    const base = this.baseline.get(key(root, rel)) ?? null;
    const now = await this.snapshotLight(root, rel);
    const at = Date.now();
    if (now === null) {
      if (base === null && !this.incomplete.has(root)) return null;
      return { root, path: rel, change: 'deleted', kind: base?.kind ?? 'unknown', size: null, entry: base?.entry ?? 'file', at };
    }
    const change: FileChange = { root, path: rel, change: base === null && !this.incomplete.has(root) ? 'created' : 'modified', kind: now.kind, size: now.entry === 'symlink' ? null : now.size, entry: now.entry, at };
    if (base === null) return change;
    return (await this.sameAsBaseline(root, rel, base, now)) ? null : change;
  }

  private async sameAsBaseline(root: string, rel: string, base: BaselineEntry, now: { entry: Entry; size: number; mtimeMs: number; linkTarget: string | null }): Promise<boolean> {
    if (base.entry !== now.entry) return false;
    if (base.entry === 'symlink') return base.linkTarget !== null && base.linkTarget === now.linkTarget;
    if (base.content !== null) {
      if (now.size !== base.content.length) return false;
      const read = await readContained(root, rel, this.lim.maxTextBytes);
      return read.kind === 'read' && read.complete && read.bytes.equals(base.content);
    }
    return base.size === now.size && base.mtimeMs === now.mtimeMs;
  }

  /** What is at ROOT/REL now: type, size, mtime, link target, and the kind from its first bytes. Null when absent or a folder. */
  private async snapshotLight(root: string, rel: string): Promise<{ entry: Entry; size: number; mtimeMs: number; kind: FileKind | 'unknown'; linkTarget: string | null } | null> {
    const segments = rel.split('/');
    let path = root;
    for (const [i, s] of segments.entries()) {
      path = join(path, s);
      const st = await lstat(path).catch(() => null);
      if (!st) return null;
      if (i < segments.length - 1) {
        // Below a link or a non-folder nothing is in the workspace: the path is gone from it.
        if (!st.isDirectory()) return null;
        continue;
      }
      if (st.isDirectory()) return null;
      if (st.isSymbolicLink()) return { entry: 'symlink', size: st.size, mtimeMs: st.mtimeMs, kind: 'unknown', linkTarget: await readlink(path).catch(() => null) };
      if (!st.isFile()) return { entry: 'other', size: st.size, mtimeMs: st.mtimeMs, kind: 'unknown', linkTarget: null };
      const head = await readContained(root, rel, SNIFF_BYTES);
      const kind = head.kind === 'read' ? fileKind(rel, head.bytes, head.complete) : 'unknown';
      return { entry: 'file', size: st.size, mtimeMs: st.mtimeMs, kind, linkTarget: null };
    }
    return null;
  }

  private notify(): void {
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = null;
      if (!this.closed) this.opts.onChange?.();
    }, this.lim.debounceMs);
  }
}

// Roots are absolute paths and relative paths never start with NUL, so NUL separates them unambiguously.
function key(root: string, rel: string): string {
  return `${root}\0${rel}`;
}

function splitKey(k: string): [string, string] {
  const i = k.indexOf('\0');
  return [k.slice(0, i), k.slice(i + 1)];
}
