/**
 * Reading the audit log past a destination's cursor (issue 20). The log
 * itself is the spool: nothing is copied, a destination's progress is one
 * small file `audit/export/<name>.cursor` ({seq, offset}), written only after
 * the receiver took the records, so a crash or an outage re-sends rather than
 * loses (at-least-once; receivers de-duplicate by seq).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_FILE } from '../audit/audit-log.js';
import { exportRecord, type ExportRecord } from './export-format.js';

export interface Cursor {
  /** Last seq the destination took (0: none). */
  readonly seq: number;
  /** Byte offset in audit.jsonl just after that record's line. */
  readonly offset: number;
}

export function cursorFile(auditDir: string, name: string): string {
  return join(auditDir, 'export', `${name}.cursor`);
}

export function readCursor(auditDir: string, name: string): Cursor {
  try {
    const c = JSON.parse(readFileSync(cursorFile(auditDir, name), 'utf8')) as { seq?: unknown; offset?: unknown };
    if (typeof c.seq === 'number' && typeof c.offset === 'number' && c.seq >= 0 && c.offset >= 0) return { seq: c.seq, offset: c.offset };
  } catch {
    // No cursor yet: from the start.
  }
  return { seq: 0, offset: 0 };
}

export function writeCursor(auditDir: string, name: string, c: Cursor): void {
  const file = cursorFile(auditDir, name);
  mkdirSync(join(auditDir, 'export'), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, JSON.stringify(c) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/**
 * Up to MAX records after CURSOR, with the cursor after the last of them.
 * The offset is only a hint: if the line there is not seq+1 (the log was
 * rotated or rewritten), the file is scanned from the start by seq.
 */
export function readAfter(auditDir: string, cursor: Cursor, max: number): { records: ExportRecord[]; next: Cursor; backlog: number } {
  const file = join(auditDir, AUDIT_FILE);
  if (!existsSync(file)) return { records: [], next: cursor, backlog: 0 };
  const size = statSync(file).size;
  let start = cursor.offset <= size ? cursor.offset : 0;
  let text = readFrom(file, start, size);
  const first = text.slice(0, text.indexOf('\n'));
  if (text !== '' && exportRecord(first)?.seq !== cursor.seq + 1) {
    start = 0;
    text = readFrom(file, 0, size);
  }
  const records: ExportRecord[] = [];
  let offset = start;
  let lastSeq = cursor.seq;
  let nextOffset = cursor.offset;
  let backlog = 0;
  for (let at = 0; at < text.length; ) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) break; // a line still being written
    const line = text.slice(at, nl);
    const bytes = Buffer.byteLength(line, 'utf8') + 1;
    at = nl + 1;
    offset += bytes;
    const r = exportRecord(line);
    if (!r || r.seq <= cursor.seq) continue;
    backlog++;
    if (records.length < max) {
      records.push(r);
      lastSeq = r.seq;
      nextOffset = offset;
    }
  }
  return { records, next: { seq: lastSeq, offset: nextOffset }, backlog };
}

function readFrom(file: string, start: number, end: number): string {
  if (end <= start) return '';
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(end - start);
    readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
