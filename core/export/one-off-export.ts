/**
 * `cordon audit export` (issue 20): the records after SINCE, one a line, as
 * OCSF JSON (the log's own lines, which verify against their hashes) or as
 * RFC 5424 syslog messages (one a line: the JSON in them has no raw newline).
 */
import { readAfter } from './audit-cursor.js';
import { syslogMessage } from './export-format.js';

export type OneOffFormat = 'ocsf-json' | 'syslog';

export function* exportLines(auditDir: string, since: number, format: OneOffFormat, host: string): Generator<string> {
  let cursor = { seq: since, offset: 0 };
  for (;;) {
    const { records, next } = readAfter(auditDir, cursor, 1000);
    if (records.length === 0) return;
    for (const r of records) yield format === 'syslog' ? syslogMessage(r, host) : r.line;
    cursor = next;
  }
}
