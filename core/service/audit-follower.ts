/**
 * The audit log is Cordon's event bus (DESIGN.md): every decision any Cordon
 * process makes on this machine is appended to `audit.jsonl`, so following
 * that file shows the app the CLI's sessions and the reverse.
 *
 * The follower reads from where it last stopped whenever the folder changes
 * (fs.watch) and on a slow poll as a safety net (network file systems and
 * some container overlays deliver no events). It survives the file being
 * rotated (renamed away and recreated: the old file is read to its end first)
 * and truncated (reading starts again from the top). A line that does not
 * parse is skipped and counted, never delivered half-read: a writer appends
 * whole lines under a lock, but a reader can see a line before its newline.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_FILE } from '../audit/audit-log.js';
import type { AuditRecordView } from '../api/cordon-api.js';

export interface AuditFollowerOptions {
  readonly auditDir: string;
  /** Start at the current end of the log (true) or deliver what it already holds (false). */
  readonly fromEnd: boolean;
  /** Safety-net poll interval in ms (default 1000). */
  readonly pollMs?: number;
}

interface OpenLog {
  fd: number;
  ino: number;
  offset: number;
  partial: string;
}

export class AuditFollower {
  private log: OpenLog | null = null;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(record: AuditRecordView) => void>();
  private readonly file: string;
  private skipped = 0;
  private closed = false;

  constructor(private readonly opts: AuditFollowerOptions) {
    this.file = join(opts.auditDir, AUDIT_FILE);
  }

  /** Lines that did not parse as audit records since the start. */
  get skippedLines(): number {
    return this.skipped;
  }

  start(): void {
    if (this.opts.fromEnd) {
      const st = statOrNull(this.file);
      if (st) this.log = this.open(st.ino, st.size);
    }
    try {
      // The folder, not the file: a rotated or recreated file keeps being seen.
      this.watcher = watch(this.opts.auditDir, { persistent: false }, () => this.poll());
      this.watcher.on('error', () => undefined);
    } catch {
      // No watcher on this file system: the poll below still delivers.
    }
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 1000);
    this.timer.unref();
    this.poll();
  }

  subscribe(listener: (record: AuditRecordView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.log) closeSync(this.log.fd);
    this.log = null;
  }

  /** Reads whatever was appended since the last call; safe to call at any time. */
  poll(): void {
    if (this.closed) return;
    const st = statOrNull(this.file);
    if (this.log && (!st || st.ino !== this.log.ino)) {
      // Rotated or removed: what the old file got before the switch is still ours.
      this.drain(this.log);
      closeSync(this.log.fd);
      this.log = null;
    }
    if (!st) return;
    this.log ??= this.open(st.ino, 0);
    if (!this.log) return;
    const size = fstatSync(this.log.fd).size;
    if (size < this.log.offset) {
      // Truncated in place: start over from the top.
      this.log.offset = 0;
      this.log.partial = '';
    }
    this.drain(this.log);
  }

  private open(ino: number, offset: number): OpenLog | null {
    try {
      return { fd: openSync(this.file, 'r'), ino, offset, partial: '' };
    } catch {
      return null;
    }
  }

  private drain(log: OpenLog): void {
    const chunk = Buffer.allocUnsafe(256 * 1024);
    for (;;) {
      const n = readSync(log.fd, chunk, 0, chunk.length, log.offset);
      if (n <= 0) break;
      log.offset += n;
      const text = log.partial + chunk.toString('utf8', 0, n);
      const lines = text.split('\n');
      log.partial = lines.pop() ?? '';
      for (const line of lines) this.deliver(line);
    }
  }

  private deliver(line: string): void {
    if (line === '') return;
    const view = auditRecordView(line);
    if (view === null) {
      this.skipped++;
      return;
    }
    for (const l of this.listeners) l(view);
  }
}

/** One line of `audit.jsonl` as the UI sees it, or null when it is not an audit record. */
export function auditRecordView(line: string): AuditRecordView | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  const cordon = r['cordon'];
  if (typeof r['seq'] !== 'number' || typeof r['time'] !== 'number' || typeof cordon !== 'object' || cordon === null) return null;
  const { kind, session_id: sessionId, ...details } = cordon as Record<string, unknown>;
  if (typeof kind !== 'string') return null;
  return {
    seq: r['seq'],
    time: r['time'],
    kind,
    sessionId: typeof sessionId === 'string' ? sessionId : null,
    outcome: r['status'] === 'Success' ? 'success' : 'failure',
    severity: typeof r['severity'] === 'string' ? r['severity'].toLowerCase() : 'informational',
    message: typeof r['message'] === 'string' ? r['message'] : '',
    details,
  };
}

function statOrNull(file: string): { ino: number; size: number } | null {
  try {
    const st = statSync(file);
    return { ino: st.ino, size: st.size };
  } catch {
    return null;
  }
}
