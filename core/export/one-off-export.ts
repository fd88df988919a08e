/**
 * `cordon audit export` (issue 20): the records after SINCE, one a line, as
 * OCSF JSON (the log's own lines, which verify against their hashes), as
 * RFC 5424 syslog messages (one a line: the JSON in them has no raw newline),
 * or as CEF (newlines escaped).
 */
import { readAfter } from './audit-cursor.js';
import { cefMessage } from './cef-format.js';
import { syslogMessage, type ExportRecord } from './export-format.js';

export const ONE_OFF_FORMATS = ['ocsf-json', 'syslog', 'cef'] as const;
export type OneOffFormat = (typeof ONE_OFF_FORMATS)[number];

export function* exportLines(auditDir: string, since: number, format: OneOffFormat, host: string, version: string): Generator<string> {
  const line = (r: ExportRecord): string => {
    switch (format) {
      case 'ocsf-json':
        return r.line;
      case 'syslog':
        return syslogMessage(r, host);
      case 'cef':
        return cefMessage(r, version);
    }
  };
  let cursor = { seq: since, offset: 0 };
  for (;;) {
    const { records, next } = readAfter(auditDir, cursor, 1000);
    if (records.length === 0) return;
    for (const r of records) yield line(r);
    cursor = next;
  }
}
