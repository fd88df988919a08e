import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { OCSF_CLASSES, SEVERITY, type AuditEventInput, type AuditSink } from './audit-event.js';

/**
 * The tamper-evident audit log: `audit.jsonl`, one OCSF-shaped JSON record a line.
 *
 * Chain: every record carries `prev_hash` (the previous record's `hash`) and
 * `hash` = SHA-256 of the record's own text without its hash field. Editing a
 * record breaks its own hash; removing or reordering breaks `seq` and `prev_hash`.
 * Removing the newest records is caught by `audit.head`, which holds the last
 * seq and hash. Several Cordon processes append to one log, so appends take a
 * lock file and read the tail from disk rather than trusting memory.
 */

export const AUDIT_FILE = 'audit.jsonl';
export const HEAD_FILE = 'audit.head';
const LOCK_FILE = 'audit.lock';
export const GENESIS_HASH = '0'.repeat(64);
const OCSF_VERSION = '1.3.0';

export interface AuditLogOptions {
  readonly dir: string;
  readonly productVersion: string;
  readonly now?: () => Date;
}

export class FileAuditLog implements AuditSink {
  private readonly file: string;
  private readonly headFile: string;
  private readonly lockFile: string;
  private readonly now: () => Date;
  private readonly actor: { user: { name: string; uid: number }; process: { pid: number } };

  constructor(private readonly opts: AuditLogOptions) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.file = join(opts.dir, AUDIT_FILE);
    this.headFile = join(opts.dir, HEAD_FILE);
    this.lockFile = join(opts.dir, LOCK_FILE);
    this.now = opts.now ?? (() => new Date());
    let name = 'unknown';
    let uid = -1;
    try {
      const u = userInfo();
      name = u.username;
      uid = u.uid;
    } catch {
      // No passwd entry (containers): keep the defaults.
    }
    this.actor = { user: { name, uid }, process: { pid: process.pid } };
  }

  get path(): string {
    return this.file;
  }

  record(event: AuditEventInput): void {
    this.withLock(() => {
      const tail = readTail(this.file);
      const seq = tail.seq + 1;
      const body = this.serialize(event, seq, tail.hash);
      const hash = sha256(body);
      const line = `${body.slice(0, -1)},"hash":"${hash}"}\n`;
      const fd = openSync(this.file, 'a', 0o600);
      try {
        writeSync(fd, line);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      const tmp = `${this.headFile}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ seq, hash }) + '\n', { mode: 0o600 });
      renameSync(tmp, this.headFile);
    });
  }

  private serialize(event: AuditEventInput, seq: number, prevHash: string): string {
    const cls = OCSF_CLASSES[event.ocsfClass];
    const time = this.now();
    const severity = event.severity ?? (event.outcome === 'failure' ? 'medium' : 'informational');
    const record = {
      seq,
      time: time.getTime(),
      time_dt: time.toISOString(),
      class_uid: cls.uid,
      class_name: cls.name,
      category_uid: cls.category_uid,
      category_name: cls.category_name,
      activity_id: event.activity.id,
      activity_name: event.activity.name,
      type_uid: cls.uid * 100 + event.activity.id,
      severity_id: SEVERITY[severity],
      severity: capitalize(severity),
      status_id: event.outcome === 'success' ? 1 : 2,
      status: event.outcome === 'success' ? 'Success' : 'Failure',
      message: event.message,
      metadata: {
        version: OCSF_VERSION,
        log_name: 'cordon-audit',
        product: { name: 'Cordon', vendor_name: 'Cordon', version: this.opts.productVersion },
      },
      actor: this.actor,
      device: { hostname: hostname() },
      cordon: { kind: event.kind, ...(event.sessionId !== undefined ? { session_id: event.sessionId } : {}), ...(event.details ?? {}) },
      prev_hash: prevHash,
    };
    return JSON.stringify(record);
  }

  /**
   * A lock file created with O_EXCL. A lock whose owner died (SIGKILL mid-append)
   * is taken over after it is older than the stale limit.
   */
  private withLock(fn: () => void): void {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const fd = openSync(this.lockFile, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (lockIsStale(this.lockFile)) {
          try {
            unlinkSync(this.lockFile);
          } catch {
            // Another process took it over first.
          }
          continue;
        }
        if (Date.now() > deadline) throw new Error(`audit log is locked by another process (${this.lockFile}); if no Cordon process is running, delete that file`);
        sleepMs(5);
      }
    }
    try {
      fn();
    } finally {
      try {
        unlinkSync(this.lockFile);
      } catch {
        // Already gone.
      }
    }
  }
}

function lockIsStale(lockFile: string): boolean {
  try {
    const pid = Number(readFileSync(lockFile, 'utf8'));
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
      }
    }
    return Date.now() - statSync(lockFile).mtimeMs > 30_000;
  } catch {
    return false;
  }
}

const sleepBuffer = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleepBuffer, 0, 0, ms);
}

/** The last record's seq and hash, read from the end of the file. */
function readTail(file: string): { seq: number; hash: string } {
  if (!existsSync(file)) return { seq: 0, hash: GENESIS_HASH };
  const size = statSync(file).size;
  if (size === 0) return { seq: 0, hash: GENESIS_HASH };
  const fd = openSync(file, 'r');
  try {
    let chunk = 4096;
    for (;;) {
      const len = Math.min(chunk, size);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      const text = buf.toString('utf8').replace(/\n+$/, '');
      const nl = text.lastIndexOf('\n');
      if (nl >= 0 || len === size) {
        const last = nl >= 0 ? text.slice(nl + 1) : text;
        const parsed = JSON.parse(last) as { seq?: unknown; hash?: unknown };
        if (typeof parsed.seq !== 'number' || typeof parsed.hash !== 'string') {
          throw new Error(`audit log ${file} ends in a malformed record; run \`cordon audit verify\``);
        }
        return { seq: parsed.seq, hash: parsed.hash };
      }
      chunk *= 4;
    }
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`audit log ${file} ends in a malformed record; run \`cordon audit verify\``);
    throw err;
  } finally {
    closeSync(fd);
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
