import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mergePolicy, parsePolicyText, type PolicySource } from '../policy/policy-loader.js';
import { destinationName } from './audit-exporter.js';
import { cefMessage } from './cef-format.js';
import { exportRecord, hecBatch, octetFrame, otlpLogs, syslogMessage } from './export-format.js';

const line = JSON.stringify({ seq: 7, time: 1_700_000_000_123, class_uid: 2004, severity_id: 4, message: 'a\nb é', cordon: { kind: 'egress.deny', session_id: 'abc"def' }, prev_hash: '0'.repeat(64) }).replace(/\}$/, `,"hash":"${'a'.repeat(64)}"}`);

describe('export formats', () => {
  test('syslog: RFC 5424 header, SD with seq/hash/class, the record line as MSG; octet count is in bytes', () => {
    const r = exportRecord(line);
    assert.ok(r);
    const msg = syslogMessage(r, 'my host');
    // Facility 13 (log audit), OCSF high (4) → syslog error (3): 13*8+3.
    assert.match(msg, /^<107>1 2023-11-14T22:13:20\.123Z my_host cordon - egress\.deny \[cordon@32473 seq="7" hash="a{64}" class_uid="2004" session="abc\\"def"\] \{/);
    assert.ok(msg.endsWith(line));
    const frame = octetFrame(msg).toString('utf8');
    const len = Number(frame.slice(0, frame.indexOf(' ')));
    assert.equal(len, Buffer.byteLength(msg, 'utf8'));
    assert.notEqual(len, msg.length, 'multi-byte characters are counted as bytes');
    assert.ok(!msg.includes('\n'), 'a newline in a field stays escaped inside the JSON');
  });

  test('HEC and OTLP keep the whole record, its seq and hash', () => {
    const r = exportRecord(line);
    assert.ok(r);
    const hec = JSON.parse(hecBatch([r], 'h')) as { event: { seq: number; hash: string; class_uid: number }; time: number };
    assert.deepEqual([hec.event.seq, hec.event.hash, hec.event.class_uid], [7, 'a'.repeat(64), 2004]);
    assert.equal(hec.time, 1_700_000_000.123);
    const otlp = JSON.parse(otlpLogs([r], 'h', '1')) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ body: { stringValue: string }; attributes: Array<{ key: string }> }> }> }> };
    const rec = otlp.resourceLogs[0]?.scopeLogs[0]?.logRecords[0];
    assert.equal(rec?.body.stringValue, line);
    assert.deepEqual(rec?.attributes.map((a) => a.key).slice(0, 4), ['cordon.seq', 'cordon.hash', 'ocsf.class_uid', 'cordon.kind']);
  });
});

describe('audit.export policy', () => {
  const src = (kind: PolicySource['kind'], text: string): PolicySource => {
    const p = parsePolicyText(kind, text);
    assert.ok(p.ok, JSON.stringify(p));
    return { kind, file: kind, document: p.document, raw: p.raw };
  };

  test('the legacy destination keeps its meaning: a tcp/tls URL is syslog, anything else a file; format cef makes either CEF', () => {
    assert.deepEqual(mergePolicy([src('managed', '{"audit":{"export":{"destination":"tls://siem.example:6514","format":"syslog"}}}')]).audit.export.destinations, [{ type: 'syslog', name: 'legacy-syslog', url: 'tls://siem.example:6514' }]);
    assert.deepEqual(mergePolicy([src('managed', '{"audit":{"export":{"destination":"/var/log/cordon.jsonl"}}}')]).audit.export.destinations, [{ type: 'file', name: 'legacy-file', path: '/var/log/cordon.jsonl' }]);
    assert.deepEqual(mergePolicy([src('managed', '{"audit":{"export":{"destination":"/x","format":"cef"}}}')]).audit.export.destinations, [{ type: 'file', name: 'legacy-file', path: '/x', format: 'cef' }]);
    assert.deepEqual(mergePolicy([src('managed', '{"audit":{"export":{"destination":"tcp://127.0.0.1:514","format":"cef"}}}')]).audit.export.destinations, [{ type: 'syslog', name: 'legacy-syslog', url: 'tcp://127.0.0.1:514', format: 'cef' }]);
    assert.equal(parsePolicyText('x', '{"audit":{"export":{"destinations":[{"type":"hec","url":"https://s:8088","tokenEntry":"hec","format":"cef"}]}}}').ok, false, 'cef is for syslog and files only');
  });

  test('syslog with format cef: the RFC 5424 header and structured data stay, the MSG is the CEF line', () => {
    const r = exportRecord(line);
    assert.ok(r);
    const msg = syslogMessage(r, 'h', cefMessage(r, '9.9'));
    assert.match(msg, /^<107>1 \S+ h cordon - egress\.deny \[cordon@32473 seq="7" [^\]]*\] CEF:0\|Cordon\|Cordon\|9\.9\|200400\|egress\.deny\|7\|rt=1700000000123 /);
    assert.ok(msg.includes('msg=a\\nb é'), msg);
    assert.ok(!msg.includes('\n'));
  });

  test('the section is taken whole from the highest level; a token value is not a valid field', () => {
    const merged = mergePolicy([
      src('user', '{"audit":{"export":{"destinations":[{"type":"file","path":"/tmp/u.jsonl"}]}}}'),
      src('managed', '{"audit":{"export":{"destinations":[{"type":"hec","url":"https://splunk.example:8088","tokenEntry":"hec-main"}]}}}'),
    ]);
    assert.deepEqual(merged.audit.export.destinations.map((d) => d.type), ['hec']);
    assert.equal(parsePolicyText('x', '{"audit":{"export":{"destinations":[{"type":"hec","url":"https://s:8088","tokenEntry":"hec","token":"abc"}]}}}').ok, false);
    assert.match(destinationName({ type: 'file', path: '/tmp/u.jsonl' }), /^file-[0-9a-f]{8}$/);
  });
});
