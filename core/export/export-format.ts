/**
 * How audit records look on the wire to each kind of SIEM (issue 20). Pure:
 * a record goes in as the exact line of `audit.jsonl`, so every format keeps
 * the record whole — OCSF class, `seq` and `hash` — and a receiver can check
 * its hash against the text and de-duplicate and order by `seq`.
 */

/** One audit record as read from the log: its line and the fields exporters need. */
export interface ExportRecord {
  readonly seq: number;
  readonly hash: string;
  /** The record's line in audit.jsonl, without the newline. */
  readonly line: string;
  readonly time: number;
  readonly classUid: number;
  readonly severityId: number;
  readonly kind: string;
  readonly sessionId: string | null;
}

/** Parses one audit line into an ExportRecord; null when it is not a chained record. */
export function exportRecord(line: string): ExportRecord | null {
  let r: { seq?: unknown; hash?: unknown; time?: unknown; class_uid?: unknown; severity_id?: unknown; cordon?: { kind?: unknown; session_id?: unknown } };
  try {
    r = JSON.parse(line) as typeof r;
  } catch {
    return null;
  }
  if (typeof r.seq !== 'number' || typeof r.hash !== 'string') return null;
  return {
    seq: r.seq,
    hash: r.hash,
    line,
    time: typeof r.time === 'number' ? r.time : 0,
    classUid: typeof r.class_uid === 'number' ? r.class_uid : 0,
    severityId: typeof r.severity_id === 'number' ? r.severity_id : 1,
    kind: typeof r.cordon?.kind === 'string' ? r.cordon.kind : 'unknown',
    sessionId: typeof r.cordon?.session_id === 'string' ? r.cordon.session_id : null,
  };
}

/** syslog facility 13, "log audit" (RFC 5424 table 1). */
const FACILITY = 13;
/** OCSF severity_id (1 informational … 5 critical, 6 fatal) to syslog severity (6 informational … 2 critical). */
const SYSLOG_SEVERITY: Readonly<Record<number, number>> = { 0: 6, 1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 1 };
/** Cordon's structured-data id (RFC 5424 7.2.2: name@private-enterprise-number; 32473 is the documentation example number). */
const SD_ID = 'cordon@32473';

/**
 * One RFC 5424 message: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`.
 * MSGID is Cordon's event kind; the structured data repeats seq, hash and the
 * OCSF class for receivers that index SD; MSG is the record's JSON line, or
 * BODY (a CEF line, see cef-format.ts).
 */
export function syslogMessage(r: ExportRecord, host: string, body: string = r.line): string {
  const pri = FACILITY * 8 + (SYSLOG_SEVERITY[r.severityId] ?? 6);
  const ts = new Date(r.time || Date.now()).toISOString();
  const msgid = printable(r.kind, 32);
  const sd = `[${SD_ID} seq="${r.seq}" hash="${r.hash}" class_uid="${r.classUid}"${r.sessionId ? ` session="${sdEscape(r.sessionId)}"` : ''}]`;
  return `<${pri}>1 ${ts} ${printable(host, 255)} cordon - ${msgid} ${sd} ${body}`;
}

/** RFC 5425 / RFC 6587 octet counting: `LEN SP MSG`, LEN in bytes, so a newline in MSG cannot forge a second message. */
export function octetFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

/** A Splunk HEC batch: concatenated event objects, one a line. `event` is the OCSF record itself. */
export function hecBatch(records: readonly ExportRecord[], host: string): string {
  return records.map((r) => `{"time":${(r.time / 1000).toFixed(3)},"host":${JSON.stringify(host)},"source":"cordon","sourcetype":"ocsf:cordon","event":${r.line}}`).join('\n');
}

/** An OTLP/HTTP JSON logs request: the record's line is the body; seq, hash, class and kind are attributes. */
export function otlpLogs(records: readonly ExportRecord[], host: string, version: string): string {
  const attr = (key: string, value: string | number): unknown => (typeof value === 'number' ? { key, value: { intValue: String(value) } } : { key, value: { stringValue: value } });
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [attr('service.name', 'cordon'), attr('service.version', version), attr('host.name', host)] },
        scopeLogs: [
          {
            scope: { name: 'cordon.audit' },
            logRecords: records.map((r) => ({
              timeUnixNano: `${r.time}000000`,
              // OTLP severity numbers: INFO 9, WARN 13, ERROR 17, FATAL 21.
              severityNumber: r.severityId >= 5 ? 21 : r.severityId >= 4 ? 17 : r.severityId >= 3 ? 13 : 9,
              body: { stringValue: r.line },
              attributes: [attr('cordon.seq', r.seq), attr('cordon.hash', r.hash), attr('ocsf.class_uid', r.classUid), attr('cordon.kind', r.kind), ...(r.sessionId ? [attr('cordon.session_id', r.sessionId)] : [])],
            })),
          },
        ],
      },
    ],
  });
}

function printable(s: string, max: number): string {
  const out = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return out === '' ? '-' : out;
}

function sdEscape(s: string): string {
  return s.replace(/["\\\]]/g, (c) => `\\${c}`);
}
