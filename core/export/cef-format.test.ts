/**
 * CEF (issue 20): records with hostile text — pipes, equals signs,
 * backslashes, newlines, CRLF injection of forged fields and records, control
 * characters, unicode — each give exactly one CEF line, and a strict reader
 * written from the standard (core/testing/cef-strict-parser.ts) reads every
 * field back as it was. Records come from the real hash-chained log.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FileAuditLog } from '../audit/audit-log.js';
import type { AuditEventInput } from '../audit/audit-event.js';
import { parseCefStrict } from '../testing/cef-strict-parser.js';
import { cefMessage } from './cef-format.js';
import { exportRecord } from './export-format.js';
import { exportLines } from './one-off-export.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-cef-'));
after(() => rmSync(root, { recursive: true, force: true }));

const SECRET = 'AKIAQ3EGRJ2KZ7XNP4VB';
const HOSTILE = [
  'pipe | in the middle || twice',
  'equals a=b and key-like cs1=forged',
  'back\\slash at the end\\',
  'line one\nline two',
  'crlf\r\nCEF:0|Evil|Evil|1|1|forged|10|msg=injected record',
  'ends in an escape-looking \\n literal and \\= too',
  'unicode é ü 漢字 🔥 RTL\u202eevil',
  ' leading and trailing spaces ',
  'nul\u0000 bell\u0007 tab\t del\u007f nel\u0085 done',
  '\\|=\\=\r\r\n\n',
];

/** What the standard lets a value carry: controls other than CR and LF have no escape and become U+FFFD (cef-format.ts says so). */
// eslint-disable-next-line no-control-regex
const asCarried = (s: string): string => s.replace(/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, '\ufffd');
// eslint-disable-next-line no-control-regex
const asHeader = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');

function hostileLog(name: string, version: string): { dir: string; events: AuditEventInput[] } {
  const dir = join(root, name);
  const log = new FileAuditLog({ dir, productVersion: version });
  const events: AuditEventInput[] = HOSTILE.map((text, i) => ({
    kind: i % 2 === 0 ? 'egress.deny' : `evil|kind\\${i}`,
    ocsfClass: i % 3 === 0 ? 'data_security_finding' : 'network_activity',
    activity: { id: 5, name: 'Refuse' },
    outcome: 'failure',
    severity: 'high',
    message: text,
    sessionId: `sess|${i}=x\\y\nz`,
    details: {
      channel: 'model\r\nrt=0',
      decision: 'deny',
      host: `evil.example|${text}`,
      port: 443 + i,
      address: i % 2 === 0 ? '127.0.0.1' : '::1',
      reason: text,
      // A finding never carries its value; if a producer read one, the test below sees it.
      findings: [{ detector: 'aws_access_key_id', category: 'cloud', count: 2, action: 'block', value: SECRET }],
      method: 'POST',
      path: `/v1/messages?x=${text}`,
      bytesUp: 10,
      bytesDown: 20,
    },
  }));
  for (const e of events) log.record(e);
  return { dir, events };
}

describe('CEF', () => {
  test('hostile records: one line each; a strict reader gets every field back unchanged', () => {
    const version = 'v1|2\\3';
    const { dir, events } = hostileLog('hostile', version);
    const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean);
    const cef = lines.map((l) => {
      const r = exportRecord(l);
      assert.ok(r);
      return cefMessage(r, 'fallback');
    });
    // Joined as a file or stream would carry them: exactly one line per record.
    assert.equal(cef.join('\n').split('\n').length, events.length);
    for (const [i, line] of cef.entries()) {
      const rec = JSON.parse(lines[i] as string) as { seq: number; hash: string; time: number; type_uid: number; class_name: string; status: string; device: { hostname: string }; actor: { user: { name: string }; process: { pid: number } } };
      const e = events[i] as AuditEventInput & { details: Record<string, unknown> };
      const p = parseCefStrict(line);
      assert.deepEqual([p.version, p.vendor, p.product, p.deviceVersion, p.signatureId, p.name, p.severity], ['0', 'Cordon', 'Cordon', version, String(rec.type_uid), asHeader(e.kind), '7']);
      const want: Record<string, string> = {
        rt: String(rec.time),
        cat: rec.class_name,
        act: 'deny',
        outcome: 'Failure',
        dvchost: rec.device.hostname,
        suser: rec.actor.user.name,
        dvcpid: String(rec.actor.process.pid),
        cn1Label: 'seq',
        cn1: String(rec.seq),
        cs2Label: 'hash',
        cs2: rec.hash,
        cs1Label: 'sessionId',
        cs1: asCarried(e.sessionId ?? ''),
        dhost: asCarried(String(e.details['host'])),
        dpt: String(e.details['port']),
        ...(i % 2 === 0 ? { dst: '127.0.0.1' } : { c6a3Label: 'Destination IPv6 Address', c6a3: '::1' }),
        requestMethod: 'POST',
        request: asCarried(String(e.details['path'])),
        out: '10',
        in: '20',
        cs5Label: 'channel',
        cs5: 'model\r\nrt=0',
        cs3Label: 'reason',
        cs3: asCarried(HOSTILE[i] as string),
        cs4Label: 'findings',
        cs4: 'aws_access_key_id:2:block',
        msg: asCarried(HOSTILE[i] as string),
      };
      assert.deepEqual(Object.fromEntries(p.ext), want, `record ${i}: ${line}`);
      assert.ok(!line.includes(SECRET), 'a finding value never reaches CEF');
    }
  });

  test('severity 0-10 from OCSF severity_id, the product version from the record, records without a session or destination', () => {
    const dir = join(root, 'plain');
    const log = new FileAuditLog({ dir, productVersion: '1.2.3' });
    const sev = ['informational', 'low', 'medium', 'high', 'critical'] as const;
    for (const s of sev) log.record({ kind: 'test.sev', ocsfClass: 'detection_finding', activity: { id: 1, name: 'Create' }, outcome: 'success', severity: s, message: s, details: { rule: 'mass_change', count: 150, window_seconds: 10 } });
    const out = [...exportLines(dir, 0, 'cef', 'h', 'unused')].map(parseCefStrict);
    assert.deepEqual(out.map((p) => p.severity), ['1', '3', '5', '7', '9']);
    assert.ok(out.every((p) => p.deviceVersion === '1.2.3' && p.signatureId === '200401'));
    const first = out[0]?.ext;
    assert.equal(first?.get('cs6'), 'mass_change');
    assert.equal(first?.get('cnt'), '150');
    assert.equal(first?.get('cn2'), '10');
    assert.equal(first?.get('act'), 'Create', 'no decision: the OCSF activity');
    assert.equal(first?.has('cs1'), false, 'no session, no cs1 and no label for it');
    assert.equal(first?.has('cs1Label'), false);
    assert.equal(first?.has('dhost'), false);
    log.record({ kind: 'monitor.sensitive_file', ocsfClass: 'detection_finding', activity: { id: 1, name: 'Create' }, outcome: 'failure', severity: 'high', message: 'm', details: { workspace: '/w/ws', path: 'sub/.git/hooks/post-checkout', reason: 'git hook', event: 'add' } });
    const file = [...exportLines(dir, 5, 'cef', 'h', 'unused')].map(parseCefStrict)[0]?.ext;
    assert.equal(file?.get('filePath'), '/w/ws/sub/.git/hooks/post-checkout', 'a watcher finding names its file');
    assert.equal(file?.has('request'), false, 'a file path is not a request');
  });

  test('the strict reader is strict: it refuses what a careless producer would write', () => {
    assert.throws(() => parseCefStrict('CEF:0|a|b|c|d|e|5|msg=a\nb'), /raw CR or LF/);
    assert.throws(() => parseCefStrict('CEF:0|a|b|c|d|e|5|msg=a=b'), /unescaped "="/);
    assert.throws(() => parseCefStrict('CEF:0|a|b|c|d|e|5|msg=a\\tb'), /undefined extension escape/);
    assert.throws(() => parseCefStrict('CEF:0|a\\n|b|c|d|e|5|'), /undefined header escape/);
    assert.throws(() => parseCefStrict('CEF:0|a|b|c|d|e|5|msg=x msg=y'), /twice/);
    assert.throws(() => parseCefStrict('CEF:0|a|b|c|d|e'), /header fields/);
    assert.deepEqual(Object.fromEntries(parseCefStrict('CEF:0|a\\|b|c|d|e|f|5|k=v\\=w x y=\\\\').ext), { k: 'v=w x', y: '\\' });
  });
});
