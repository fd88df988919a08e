/**
 * Delivery of the audit log to every destination in `audit.export` (issue
 * 20), at least once and in order, from the log itself as the spool (see
 * audit-cursor.ts). One process at a time serves a destination (a lease file
 * beside its cursor, see DeliveryLease); the others wait and take over when
 * it ends. A failing receiver is retried with exponential backoff (1 s
 * doubling to 60 s) and raises one alert per outage; a destination more than
 * `maxBacklogRecords` behind raises one "spool full" alert and keeps trying —
 * nothing is dropped while the log holds it.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import { AUDIT_FILE } from '../audit/audit-log.js';
import { recordDetectionFinding } from '../audit/detection-finding.js';
import type { ExportDestination } from '../policy/policy-schema.js';
import { readAfter, readCursor, writeCursor, type Cursor } from './audit-cursor.js';
import { transportFor, type ExportTransport, type TransportContext } from './export-transports.js';

export const BATCH_RECORDS = 500;
/** How often a serving process renews its lease, and after how long without renewal another may take it. */
export const LEASE_RENEW_MS = 5_000;
export const LEASE_STALE_MS = 30_000;

/** The stable name of a destination's cursor and lease. */
export function destinationName(d: ExportDestination): string {
  if (d.name) return d.name;
  const where = d.type === 'file' ? d.path : d.url;
  return `${d.type}-${createHash('sha256').update(where).digest('hex').slice(0, 8)}`;
}

/** A destination's lease changed hands: this process now waits for HOLDERPID, serves, or lost it to another. */
export interface LeaseEvent {
  readonly destination: string;
  readonly state: 'waiting' | 'serving' | 'lost';
  /** With `waiting`: the pid named in the lease (null when unreadable). */
  readonly holderPid?: number | null;
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
  /** Milliseconds between tries for a lease another process holds (default 1000). */
  readonly leaseRetryMs?: number;
  readonly onLease?: (e: LeaseEvent) => void;
}

export interface AuditExport {
  /** Names of the destinations this process serves now (the others wait for another Cordon process to end). */
  readonly serving: readonly string[];
  /** Resolves once every served destination has taken every record present now, or TIMEOUTMS passed; true if caught up. */
  drain(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

export function startAuditExport(opts: ExporterOptions): AuditExport {
  const loops = opts.destinations.map((d) => new DestinationLoop(destinationName(d), d, opts));
  for (const l of loops) l.start();
  return {
    get serving() {
      return loops.filter((l) => l.holding).map((l) => l.name);
    },
    drain: async (timeoutMs) => (await Promise.all(loops.map((l) => l.drain(timeoutMs)))).every(Boolean),
    stop: async () => {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}

class DestinationLoop {
  private saved: Cursor = { seq: 0, offset: 0 };
  private sent: Cursor = { seq: 0, offset: 0 };
  private stopped = false;
  private failing: string | null = null;
  private full = false;
  private backoff: number;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private lease: DeliveryLease | null = null;
  private transport: ExportTransport | null = null;
  private renewer: NodeJS.Timeout | null = null;

  constructor(
    readonly name: string,
    private readonly dest: ExportDestination,
    private readonly opts: ExporterOptions,
  ) {
    this.backoff = opts.backoffMs ?? 1000;
  }

  get holding(): boolean {
    return this.lease !== null;
  }

  start(): void {
    // Taken at once when free, so `serving` is true on return and the first batch is read before anything else runs.
    this.tryLease();
    this.running = this.loop();
  }

  /** Takes the lease if it is free; else the pid holding it. */
  private tryLease(): { ok: true } | { ok: false; holderPid: number | null } {
    const got = DeliveryLease.take(this.opts.auditDir, this.name);
    if (!got.ok) return got;
    this.lease = got.lease;
    // Another process may have delivered since we last looked: its cursor is the truth.
    this.saved = readCursor(this.opts.auditDir, this.name);
    this.sent = this.saved;
    this.transport = transportFor(this.dest, this.opts.transport);
    this.renewer = setInterval(() => {
      if (this.lease && !this.lease.renew()) this.wake?.();
    }, LEASE_RENEW_MS);
    this.renewer.unref();
    this.opts.onLease?.({ destination: this.name, state: 'serving' });
    return { ok: true };
  }

  /** Waits for the lease; returns false once stopped. */
  private async acquire(): Promise<boolean> {
    let told = false;
    while (!this.stopped) {
      const got = this.tryLease();
      if (got.ok) return true;
      if (!told) this.opts.onLease?.({ destination: this.name, state: 'waiting', holderPid: got.holderPid });
      told = true;
      await this.sleep(this.opts.leaseRetryMs ?? 1000);
    }
    return false;
  }

  /** Gives the lease up (stopped, or another process took it over). */
  private letGo(): void {
    if (this.renewer) clearInterval(this.renewer);
    this.renewer = null;
    this.transport?.close();
    this.transport = null;
    this.lease?.release();
    this.lease = null;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (!this.lease && !(await this.acquire())) break;
      const transport = this.transport;
      if (!this.lease?.held || !transport) {
        // Taken over (we stalled past LEASE_STALE_MS): the other process carries on from the cursor.
        this.letGo();
        this.opts.onLease?.({ destination: this.name, state: 'lost' });
        continue;
      }
      const { records, next, backlog } = readAfter(this.opts.auditDir, this.sent, BATCH_RECORDS);
      this.watchBacklog(backlog + (this.sent.seq - this.saved.seq));
      if (records.length === 0) {
        await this.sleep(this.opts.pollMs ?? 500);
        continue;
      }
      const r = await transport.send(records);
      if (r.ok) {
        // Written-only transports confirm the previous batch; acknowledged ones this one.
        const confirmed = transport.confirmsByNextWrite ? this.sent : next;
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
    this.letGo();
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

  /** True at once when another process serves this destination: draining is its job. */
  async drain(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    const target = lastSeq(this.opts.auditDir);
    while (Date.now() < end) {
      if (!this.lease || (this.sent.seq >= target && this.failing === null)) return true;
      this.wake?.();
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
    this.letGo();
  }
}

function lastSeq(auditDir: string): number {
  try {
    return (JSON.parse(readFileSync(join(auditDir, 'audit.head'), 'utf8')) as { seq?: number }).seq ?? 0;
  } catch {
    return existsSync(join(auditDir, AUDIT_FILE)) && statSync(join(auditDir, AUDIT_FILE)).size > 0 ? Number.MAX_SAFE_INTEGER : 0;
  }
}

/**
 * One delivering process per destination: `export/<name>.lease`, created
 * with O_EXCL, holding our pid and a random id, renewed (its mtime) every
 * LEASE_RENEW_MS. Another process takes it over when the holder is dead
 * (kill -9 leaves the file behind) or the lease was not renewed for
 * LEASE_STALE_MS (a hung holder, or a pid reused since). A holder that finds
 * the file no longer its own stops delivering. In the rare race where two
 * processes take over one stale lease at once, both deliver until the next
 * renewal: duplicates by seq, never a loss, since each writes the cursor only
 * for what its receiver took.
 */
class DeliveryLease {
  private constructor(
    private readonly file: string,
    private readonly mine: string,
  ) {}

  static take(auditDir: string, name: string): { ok: true; lease: DeliveryLease } | { ok: false; holderPid: number | null } {
    const dir = join(auditDir, 'export');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${name}.lease`);
    const mine = `${process.pid} ${randomUUID()}`;
    let holderPid: number | null = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        writeSync(fd, mine);
        closeSync(fd);
        return { ok: true, lease: new DeliveryLease(file, mine) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return { ok: false, holderPid };
        let text: string;
        let age: number;
        try {
          text = readFileSync(file, 'utf8');
          age = Date.now() - statSync(file).mtimeMs;
        } catch {
          continue; // released between our tries
        }
        const pid = Number(text.split(' ')[0]);
        holderPid = Number.isInteger(pid) && pid > 0 ? pid : null;
        // A lease still being written (empty) is young; a live, renewing holder keeps it.
        if (age < LEASE_STALE_MS && (text === '' || (holderPid !== null && holderPid !== process.pid && alive(holderPid)))) return { ok: false, holderPid };
        if (holderPid === process.pid && age < LEASE_STALE_MS) return { ok: false, holderPid };
        try {
          unlinkSync(file);
        } catch {
          return { ok: false, holderPid };
        }
      }
    }
    return { ok: false, holderPid };
  }

  /** Still ours? */
  get held(): boolean {
    try {
      return readFileSync(this.file, 'utf8') === this.mine;
    } catch {
      return false;
    }
  }

  /** Renews the lease; false when it is no longer ours. */
  renew(): boolean {
    if (!this.held) return false;
    try {
      const now = new Date();
      utimesSync(this.file, now, now);
      return true;
    } catch {
      return false;
    }
  }

  release(): void {
    if (this.held) {
      try {
        unlinkSync(this.file);
      } catch {
        // Gone already.
      }
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
