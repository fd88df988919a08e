/**
 * One session's monitoring (issue 20, items 3-4), in the process hosting it:
 * - a sink in front of the audit log that feeds every record of the session
 *   to the detection rules (detection-rules.ts) and records their alerts;
 * - a workspace watcher (chokidar) over its read-write workspaces: every
 *   modification and deletion counts toward the mass-change rule, and a
 *   sensitive file created or changed anywhere (sensitive-files.ts) is an
 *   alert at once;
 * - at the end, sensitive files the session created or changed are moved to
 *   `$CORDON_HOME/evidence/<session>-neutralised/` with a report, unless
 *   policy keeps them (`monitoring.neutraliseSensitiveFiles: false`);
 * - with `monitoring.quarantineOnAlert`, a high-severity alert quarantines
 *   the session (once).
 */
import { watch } from 'chokidar';
import { copyFileSync, lstatSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { AuditEventInput, AuditSink } from '../audit/audit-event.js';
import { recordDetectionFinding } from '../audit/detection-finding.js';
import type { MonitoringPolicy } from '../policy/policy-schema.js';
import { RuleWindows, type Alert } from './detection-rules.js';
import { judgeSensitive } from './sensitive-files.js';

export interface SensitiveFinding {
  readonly workspace: string;
  /** Relative to the workspace, '/'-separated. */
  readonly path: string;
  readonly reason: string;
  readonly at: string;
  readonly event: 'add' | 'change';
}

/** Folders not watched: churn (git's object store, package installs) that no rule reads and that would cost a watch each. */
/** How long after a content-judged file was found clean it is judged again. */
const RECHECK_MS = 500;

const UNWATCHED = /(^|[/\\])(\.git[/\\](objects|lfs|logs)|node_modules)([/\\]|$)/;

export class SessionMonitor {
  readonly sink: AuditSink;
  private readonly rules: RuleWindows;
  private readonly found: SensitiveFinding[] = [];
  private readonly seen = new Set<string>();
  /** Files judged by their content and found clean, by path, with their workspace: judged again later (see judge). */
  private readonly recheck = new Map<string, string>();
  private watcher: { close(): Promise<void> } | null = null;
  private quarantine: ((reason: string) => void) | null = null;
  private quarantined = false;
  /** The `monitoring` section in force: from session start, replaced by each valid policy reload. */
  private policy: MonitoringPolicy;

  constructor(
    private readonly opts: {
      readonly sessionId: string;
      readonly audit: AuditSink;
      readonly policy: MonitoringPolicy;
      /** `$CORDON_HOME/evidence`. */
      readonly evidenceDir: string;
      readonly notify: (message: string) => void;
      readonly now?: () => number;
    },
  ) {
    this.policy = opts.policy;
    this.rules = new RuleWindows(opts.policy);
    this.sink = { record: (e) => this.record(e) };
  }

  /**
   * A policy reload: new thresholds apply to the next event (the windows keep
   * what they counted), a new sensitive-file list to the next file created or
   * changed, and `quarantineOnAlert` / `neutraliseSensitiveFiles` from now on.
   */
  setPolicy(p: MonitoringPolicy): void {
    this.policy = p;
    this.rules.setPolicy(p);
  }

  /** Sensitive files found so far (for a quarantine's bundle). */
  findings(): readonly SensitiveFinding[] {
    return [...this.found];
  }

  /** What quarantineOnAlert calls; set once the session can be quarantined. */
  onQuarantine(fn: (reason: string) => void): void {
    this.quarantine = fn;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private record(e: AuditEventInput): void {
    this.opts.audit.record(e);
    this.feed({ kind: e.kind, sessionId: e.sessionId ?? null, at: this.now(), details: e.details ?? {} });
  }

  private feed(e: Parameters<RuleWindows['observe']>[0]): void {
    const alert = this.rules.observe(e);
    if (alert) this.raise(alert);
  }

  private raise(a: Alert): void {
    recordDetectionFinding(this.opts.audit, { kind: `monitor.${a.rule}`, severity: a.severity, message: a.message, sessionId: a.sessionId, details: { rule: a.rule, count: a.count, window_seconds: a.seconds } });
    if (a.severity === 'high' || a.severity === 'critical') this.maybeQuarantine(a.message);
  }

  private maybeQuarantine(reason: string): void {
    if (!this.policy.quarantineOnAlert || this.quarantined || !this.quarantine) return;
    this.quarantined = true;
    this.quarantine(`automatic, monitoring.quarantineOnAlert: ${reason}`);
  }

  /**
   * Starts watching ROOTS (read-write workspaces, realpaths). Resolves once
   * the initial scan is done or after READYMS, whichever is first; changes
   * made during a slower scan may be missed (stated, threat W4).
   */
  async watch(roots: readonly string[], readyMs = 2000): Promise<void> {
    if (roots.length === 0) return;
    const w = watch([...roots], { ignoreInitial: true, followSymlinks: false, depth: 64, ignored: (p: string) => UNWATCHED.test(p), persistent: true });
    this.watcher = w;
    const rootOf = (p: string): string | undefined => roots.find((r) => p === r || p.startsWith(r + sep));
    const onFile = (event: 'add' | 'change' | 'unlink', p: string): void => {
      const root = rootOf(p);
      if (!root) return;
      if (event !== 'add') this.feed({ kind: 'monitor.file_changed', sessionId: this.opts.sessionId, at: this.now(), details: { event } });
      if (event === 'unlink') return;
      this.judge(event, root, p);
    };
    w.on('add', (p: string) => onFile('add', p));
    w.on('change', (p: string) => onFile('change', p));
    w.on('unlink', (p: string) => onFile('unlink', p));
    w.on('error', (err: unknown) => this.opts.notify(`workspace watcher: ${(err as Error).message}`));
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, readyMs);
      w.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /**
   * Judges file P (in workspace ROOT) and raises a finding once per file and
   * reason. A file judged by its content (a git config) and found clean is
   * judged again RECHECK_MS later and at close: created and then written
   * within one tick of the file system's clock, its write can look like no
   * change to the watcher (same mtime, and our own read moved its atime past
   * it), so `printf '[core]…' > .git/config` could otherwise pass unseen.
   */
  private judge(event: 'add' | 'change', root: string, p: string): void {
    const rel = relative(root, p).split(sep).join('/');
    let read = false;
    const verdict = judgeSensitive(rel, this.policy.sensitiveFiles, () => {
      read = true;
      return readBounded(p);
    });
    if (!verdict.sensitive) {
      if (read && !this.recheck.has(p)) {
        this.recheck.set(p, root);
        setTimeout(() => {
          if (this.watcher !== null && this.recheck.has(p)) this.judge('change', root, p);
        }, RECHECK_MS).unref();
      }
      return;
    }
    this.recheck.delete(p);
    const key = `${root}\0${rel}\0${verdict.reason}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.found.push({ workspace: root, path: rel, reason: verdict.reason, at: new Date(this.now()).toISOString(), event });
    recordDetectionFinding(this.opts.audit, {
      kind: 'monitor.sensitive_file',
      severity: 'high',
      message: `session ${this.opts.sessionId} ${event === 'add' ? 'created' : 'changed'} a sensitive file in ${root}: ${verdict.reason}`,
      sessionId: this.opts.sessionId,
      details: { workspace: root, path: rel, reason: verdict.reason, event },
    });
    this.maybeQuarantine(verdict.reason);
  }

  /**
   * Stops watching and, unless policy keeps them, moves the sensitive files
   * this session created or changed out of the workspace, with a report.
   * Returns the folder they went to (null when nothing was moved).
   */
  async close(): Promise<string | null> {
    await this.watcher?.close().catch(() => undefined);
    this.watcher = null;
    // Content-judged files last seen clean, judged once more now that the session is over.
    for (const [p, root] of [...this.recheck]) this.judge('change', root, p);
    this.recheck.clear();
    if (!this.policy.neutraliseSensitiveFiles || this.found.length === 0) return null;
    const stamp = new Date(this.now()).toISOString().replace(/[:.]/g, '-');
    const dest = join(this.opts.evidenceDir, `${this.opts.sessionId}-neutralised-${stamp}`);
    const moved: Array<{ from: string; to: string; reason: string }> = [];
    const kept: Array<{ path: string; why: string }> = [];
    const roots = [...new Set(this.found.map((f) => f.workspace))];
    for (const f of this.found) {
      const from = join(f.workspace, ...f.path.split('/'));
      const to = join(dest, String(roots.indexOf(f.workspace)), ...f.path.split('/'));
      try {
        const st = lstatSync(from);
        // A symlink is moved as a link; a folder (a hooks dir) is not a finding.
        if (st.isDirectory()) continue;
        mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
        moveFile(from, to);
        moved.push({ from, to, reason: f.reason });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') kept.push({ path: from, why: (err as Error).message });
      }
    }
    if (moved.length === 0 && kept.length === 0) return null;
    mkdirSync(dest, { recursive: true, mode: 0o700 });
    writeFileSync(
      join(dest, 'report.json'),
      JSON.stringify({ session: this.opts.sessionId, at: new Date(this.now()).toISOString(), moved, notMoved: kept, restore: moved.map((m) => `mv ${JSON.stringify(m.to)} ${JSON.stringify(m.from)}`) }, null, 2) + '\n',
      { mode: 0o600 },
    );
    this.opts.audit.record({
      kind: 'monitor.neutralised',
      ocsfClass: 'file_activity',
      activity: { id: 6, name: 'Rename' },
      outcome: kept.length === 0 ? 'success' : 'failure',
      severity: 'medium',
      message: `session ${this.opts.sessionId}: ${moved.length} sensitive file(s) moved out of the workspace to ${dest}${kept.length > 0 ? `; ${kept.length} could not be moved` : ''} (report.json says how to restore them)`,
      sessionId: this.opts.sessionId,
      details: { dir: dest, moved: moved.map((m) => m.from), not_moved: kept },
    });
    return dest;
  }
}

function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    copyFileSync(from, to);
    unlinkSync(from);
  }
}

/** A git config's text, at most 64 KiB (a larger one is judged on its start). */
function readBounded(p: string): string | null {
  try {
    return readFileSync(p).subarray(0, 64 * 1024).toString('utf8');
  } catch {
    return null;
  }
}
