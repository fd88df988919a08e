/**
 * ArcSight Common Event Format (CEF:0) for audit records (issue 20,
 * `audit.export.format: "cef"`). Pure: one OCSF record in, one line out.
 *
 * `CEF:0|Cordon|Cordon|<version>|<signatureId>|<name>|<severity>|<extension>`
 * - signatureId: the OCSF `type_uid` (class_uid × 100 + activity_id), so one
 *   id names one class and activity (400105: Network Activity, Refuse);
 * - name: Cordon's event kind (`egress.deny`), what SIEM rules key on;
 * - severity: OCSF severity_id mapped onto CEF's 0-10 (CEF_SEVERITY).
 *
 * The extension keys are fixed here and never come from the record, so a
 * record cannot add or forge a field. Values are escaped as the CEF standard
 * says: `\` and `=` by a backslash, a line feed as `\n` and a carriage return
 * as `\r` (so one record is one line however hostile its text); header fields
 * escape `\` and `|`. Other control characters, which CEF has no escape for
 * and syslog receivers rewrite, become U+FFFD; in a header also CR and LF.
 * DLP findings appear as detector, count and action, never a value.
 */
import net from 'node:net';
import type { ExportRecord } from './export-format.js';

/** OCSF severity_id (0 unknown, 1 informational … 5 critical, 6 fatal) → CEF severity 0-10. */
export const CEF_SEVERITY: Readonly<Record<number, number>> = { 0: 0, 1: 1, 2: 3, 3: 5, 4: 7, 5: 9, 6: 10 };

/** The custom fields' labels, sent beside each value (`cs1Label=sessionId cs1=…`). */
export const CEF_LABELS = {
  cs1: 'sessionId',
  cs2: 'hash',
  cs3: 'reason',
  cs4: 'findings',
  cs5: 'channel',
  cs6: 'detectionRule',
  cn1: 'seq',
  cn2: 'windowSeconds',
  c6a3: 'Destination IPv6 Address',
} as const;

type Json = Record<string, unknown>;

/** One CEF line (no newline) for a record; VERSION when the record names no product version. */
export function cefMessage(rec: ExportRecord, version: string): string {
  // exportRecord parsed this line already, so it is a JSON object.
  const r = obj(JSON.parse(rec.line));
  const cordon = obj(r['cordon']);
  const product = obj(obj(r['metadata'])['product']);
  const classUid = num(r['class_uid']) ?? 0;
  const signature = num(r['type_uid']) ?? classUid * 100 + (num(r['activity_id']) ?? 0);
  const header = [
    'Cordon',
    'Cordon',
    str(product['version']) ?? version,
    String(signature),
    str(cordon['kind']) ?? 'unknown',
    String(CEF_SEVERITY[num(r['severity_id']) ?? 0] ?? 0),
  ];
  const ext: Array<[string, string | number | null]> = [
    ['rt', num(r['time'])],
    ['cat', str(r['class_name'])],
    ['act', str(cordon['decision']) ?? str(cordon['action']) ?? str(r['activity_name'])],
    ['outcome', str(r['status'])],
    ['dvchost', str(obj(r['device'])['hostname'])],
    ['suser', str(obj(obj(r['actor'])['user'])['name'])],
    ['dvcpid', num(obj(obj(r['actor'])['process'])['pid'])],
    ['cn1Label', CEF_LABELS.cn1],
    ['cn1', rec.seq],
    ['cs2Label', CEF_LABELS.cs2],
    ['cs2', rec.hash],
    ...labelled('cs1', str(cordon['session_id'])),
    ...destination(cordon),
    ['requestMethod', str(cordon['method'])],
    // `path` is a request path on the model route (it has a method), a workspace-relative file elsewhere.
    ['request', str(cordon['method']) !== null ? str(cordon['path']) : null],
    ['filePath', filePath(cordon)],
    ['out', num(cordon['bytesUp'])],
    ['in', num(cordon['bytesDown'])],
    ...labelled('cs5', str(cordon['channel'])),
    ...labelled('cs3', str(cordon['reason'])),
    ...labelled('cs4', findings(cordon['findings'])),
    ...labelled('cs6', str(cordon['rule'])),
    ['cnt', num(cordon['count'])],
    ...labelled('cn2', num(cordon['window_seconds'])),
    ['msg', str(r['message'])],
  ];
  const extension = ext
    .filter((e): e is [string, string | number] => e[1] !== null && e[1] !== '')
    .map(([k, v]) => `${k}=${cefValue(String(v))}`)
    .join(' ');
  return `CEF:0|${header.map(cefHeader).join('|')}|${extension}`;
}

/** A header field: `\` and `|` escaped; control characters (CR and LF too) replaced. */
export function cefHeader(s: string): string {
  return replaceControls(s, true).replace(/[\\|]/g, (c) => `\\${c}`);
}

/** An extension value: `\` and `=` escaped, LF as `\n`, CR as `\r`; other control characters replaced. */
export function cefValue(s: string): string {
  return replaceControls(s, false).replace(/[\\=\n\r]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
}

/** C0 controls (except CR and LF in values), DEL and C1 controls (NEL among them) → U+FFFD. */
function replaceControls(s: string, header: boolean): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(header ? /[\u0000-\u001f\u007f-\u009f]/g : /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, '\ufffd');
}

function labelled(key: keyof typeof CEF_LABELS, value: string | number | null): Array<[string, string | number | null]> {
  return value === null || value === '' ? [] : [[`${key}Label`, CEF_LABELS[key]], [key, value]];
}

/** dhost and dpt; the resolved address as dst (IPv4) or c6a3 (IPv6). */
function destination(c: Json): Array<[string, string | number | null]> {
  const address = str(c['address']);
  const out: Array<[string, string | number | null]> = [
    ['dhost', str(c['host'])],
    ['dpt', num(c['port'])],
  ];
  if (address !== null && net.isIPv4(address)) out.push(['dst', address]);
  else if (address !== null && net.isIPv6(address)) out.push(...labelled('c6a3', address));
  return out;
}

/** A file the record is about: a transfer's host path, or a watcher finding's workspace and path. */
function filePath(c: Json): string | null {
  const host = str(c['host_path']);
  if (host !== null) return host;
  const ws = str(c['workspace']);
  const rel = str(c['path']);
  return ws !== null && rel !== null && str(c['method']) === null ? `${ws.replace(/\/+$/, '')}/${rel}` : null;
}

/** `detector:count:action` per finding, comma-separated; only those three fields are ever read. */
function findings(v: unknown): string | null {
  if (!Array.isArray(v) || v.length === 0) return null;
  return v
    .map((f) => {
      const o = obj(f);
      return [str(o['detector']) ?? '?', String(num(o['count']) ?? 1), str(o['action']) ?? '?'].join(':');
    })
    .join(',');
}

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
