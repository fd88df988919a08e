/**
 * Delivery of the audit log to every destination in `audit.export` (issue
 * 20), at least once and in order, from the log itself as the spool (see
 * audit-cursor.ts). One process at a time serves a destination (a lease file
 * beside its cursor); a failing receiver is retried with exponential backoff
 * (1 s doubling to 60 s) and raises one alert per outage; a destination more
 * than `maxBacklogRecords` behind raises one "spool full" alert and keeps
 * trying — nothing is dropped while the log holds it.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import { AUDIT_FILE } from '../audit/audit-log.js';
import { recordDetectionFinding } from '../audit/detection-finding.js';
import type { ExportDestination } from '../policy/policy-schema.js';
import { readAfter, readCursor, writeCursor, type Cursor } from './audit-cursor.js';
import { transportFor, type ExportTransport, type TransportContext } from './export-transports.js';

export const BATCH_RECORDS = 500;

/** The stable name of a destination's cursor and lease. */
export function destinationName(d: ExportDestination): string {
  if (d.name) return d.name;
  const where = d.type === 'file' ? d.path : d.url;
  return `${d.type}-${createHash('sha256').update(where).digest('hex').slice(0, 8)}`;
}

export interface ExporterOptions {
  readonly auditDir: string;
  readonly audit: AuditSink;
  readonly destinations: readonly ExportDestination[];
  readonly maxBacklogRecords: number;
  readonly transport: TransportContext;
  /** Milliseconds between looks at the log when idle (default 500). */
  readonly pollMs?: number;
  /** First retry delay; doubles to maxBackoffMs (defaults 1000 and 60000). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

export interface AuditExport {
  /** Names of the destinations this process serves (others are served by another Cordon process). */
  readonly serving: readonly string[];
  /** Resolves once every served destination has taken every record present now, or TIMEOUTMS passed; true if caught up. */
  drain(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

export function startAuditExport(opts: ExporterOptions): AuditExport {
  const loops: DestinationLoop[] = [];
  for (const d of opts.destinations) {
    const name = destinationName(d);
    const lease = takeLease(opts.auditDir, name);
    if (!lease) continue;
    loops.push(new DestinationLoop(name, d, transportFor(d, opts.transport), lease, opts));
  }
  for (const l of loops) l.start();
  return {
    serving: loops.map((l) => l.name),
    drain: async (timeoutMs) => (await Promise.all(loops.map((l) => l.drain(timeoutMs)))).every(Boolean),
    stop: async () => {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}

class DestinationLoop {
  private saved: Cursor;
  private sent: Cursor;
  private stopped = false;
  private failing: string | null = null;
  private full = false;
  private backoff: number;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    readonly name: string,
    private readonly dest: ExportDestination,
    private readonly transport: ExportTransport,
    private readonly releaseLease: () => void,
    private readonly opts: ExporterOptions,
  ) {
    this.saved = readCursor(opts.auditDir, name);
    this.sent = this.saved;
    this.backoff = opts.backoffMs ?? 1000;
  }

  start(): void {
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const { records, next, backlog } = readAfter(this.opts.auditDir, this.sent, BATCH_RECORDS);
      this.watchBacklog(backlog + (this.sent.seq - this.saved.seq));
      if (records.length === 0) {
        await this.sleep(this.opts.pollMs ?? 500);
        continue;
      }
      const r = await this.transport.send(records);
      if (r.ok) {
        // Written-only transports confirm the previous batch; acknowledged ones this one.
        const confirmed = this.transport.confirmsByNextWrite ? this.sent : next;
        if (confirmed.seq > this.saved.seq) {
          writeCursor(this.opts.auditDir, this.name, confirmed);
          this.saved = confirmed;
        }
        this.sent = next;
        this.backoff = this.opts.backoffMs ?? 1000;
        if (this.failing !== null) this.recovered();
        continue;
      }
      // Re-send everything not confirmed, after a pause.
      this.sent = this.saved;
      if (this.failing === null) this.alert(r.why, r.auth === true);
      this.failing = r.why;
      await this.sleep(this.backoff);
      this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 60_000);
    }
  }

  private watchBacklog(backlog: number): void {
    if (!this.full && backlog > this.opts.maxBacklogRecords) {
      this.full = true;
      recordDetectionFinding(this.opts.audit, {
        kind: 'audit.export_spool_full',
        severity: 'high',
        message: `audit export to ${this.name} is ${backlog} records behind (limit ${this.opts.maxBacklogRecords}); records are kept and retried, none is dropped`,
        details: { destination: this.name, type: this.dest.type, backlog, limit: this.opts.maxBacklogRecords },
      });
    } else if (this.full && backlog <= this.opts.maxBacklogRecords / 2) {
      this.full = false;
    }
  }

  private alert(why: string, auth: boolean): void {
    recordDetectionFinding(this.opts.audit, {
      kind: 'audit.export_failed',
      severity: auth ? 'high' : 'medium',
      message: `audit export to ${this.name} (${this.dest.type}) failing: ${why}; records stay spooled and are retried`,
      details: { destination: this.name, type: this.dest.type, reason: auth ? 'auth_rejected' : 'unreachable', from_seq: this.saved.seq + 1 },
    });
  }

  private recovered(): void {
    this.opts.audit.record({
      kind: 'audit.export_recovered',
      ocsfClass: 'api_activity',
      activity: { id: 99, name: 'Other' },
      outcome: 'success',
      message: `audit export to ${this.name} delivers again (was failing: ${this.failing ?? ''})`,
      details: { destination: this.name, type: this.dest.type },
    });
    this.failing = null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  async drain(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    const target = lastSeq(this.opts.auditDir);
    while (Date.now() < end) {
      if (this.sent.seq >= target && this.failing === null) return true;
      this.wake?.();
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
    this.transport.close();
    this.releaseLease();
  }
}

function lastSeq(auditDir: string): number {
  try {
    return (JSON.parse(readFileSync(join(auditDir, 'audit.head'), 'utf8')) as { seq?: number }).seq ?? 0;
  } catch {
    return existsSync(join(auditDir, AUDIT_FILE)) && statSync(join(auditDir, AUDIT_FILE)).size > 0 ? Number.MAX_SAFE_INTEGER : 0;
  }
}

/** One exporting process per destination: an O_EXCL lease with our pid; a dead holder's lease is taken over. */
function takeLease(auditDir: string, name: string): (() => void) | null {
  const dir = join(auditDir, 'export');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${name}.lease`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, 'utf8') === String(process.pid)) unlinkSync(file);
        } catch {
          // Gone already.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return null;
      const holder = Number(readFileSync(file, 'utf8'));
      if (holder === process.pid) return null;
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) return null;
      try {
        unlinkSync(file);
      } catch {
        return null;
      }
    }
  }
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
