import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeRegBytes, macManagedPreferencesPath, parseRegFile, readMacManagedPreferences, readWindowsRegExport, windowsRegExportArgs } from './mdm-sources.js';
import { parsePlistXml } from './plist-xml.js';
import { policyJsonSchema } from './policy-json-schema.js';
import { policyLeaves } from './policy-leaves.js';
import { PolicySchema } from './policy-schema.js';

// Fixtures stay in the source tree (tsc does not copy them to dist/).
const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../../', import.meta.url));
const fixture = (name: string): Buffer => readFileSync(join(repoRoot, 'core', 'policy', 'fixtures', name));
const { leaves } = policyLeaves(policyJsonSchema());

function assertValidPolicy(doc: unknown): void {
  const r = PolicySchema.safeParse(doc);
  assert.ok(r.success, r.success ? '' : JSON.stringify(r.error.issues));
}

test('plist: every value type of the fixture decodes to the JS value', () => {
  const r = parsePlistXml(fixture('plist-types.plist').toString('utf8'));
  assert.ok(r.ok, r.ok ? '' : r.message);
  if (!r.ok) return;
  const v = r.value as Record<string, unknown>;
  assert.equal(v['string'], '  keeps  spaces <>&"\' é');
  assert.equal(v['empty'], '');
  assert.equal(v['integer'], -42);
  assert.equal(v['real'], 3.25);
  assert.equal(v['yes'], true);
  assert.equal(v['no'], false);
  assert.deepEqual(v['date'], new Date('2026-01-31T12:00:00Z'));
  assert.equal(Buffer.from(v['data'] as Uint8Array).toString(), 'cordon');
  assert.deepEqual(v['array'], [1, [], {}]);
  // A "__proto__" key is an ordinary entry, never the object's prototype.
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, 'just a key');
});

test('plist: DTD internal subsets, unknown entities and other XML are refused with a position', () => {
  const wrap = (body: string, prolog = ''): string => `<?xml version="1.0" encoding="UTF-8"?>\n${prolog}<plist version="1.0">${body}</plist>`;
  const cases: Array<[string, RegExp]> = [
    [wrap('<string>&xxe;</string>', '<!DOCTYPE plist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'), /only the standard Apple plist DOCTYPE/],
    [wrap('<string>&nbsp;</string>'), /entity &nbsp; is not allowed/],
    [wrap('<string>a & b</string>'), /bare "&"/],
    [wrap('<string><![CDATA[x]]></string>'), /CDATA/],
    [wrap('<dict><key>a</key></dict>'), /line 2.*unexpected <\/dict>/],
    [wrap('<dict><key>a</key><true/><key>a</key><false/></dict>'), /duplicate key "a"/],
    [wrap('<integer>12abc</integer>'), /not an integer/],
    [wrap('<integer>99999999999999999999</integer>'), /too large/],
    [wrap('<real>NaN</real>'), /finite/],
    [wrap('<date>yesterday</date>'), /<date>/],
    [wrap('<data>!!!</data>'), /base64/],
    [wrap('<set/>'), /<set> is not a plist element/],
    [wrap('<string>x</string><string>y</string>'), /expected <\/plist>/],
    [wrap('<string>x</string>', '<?xml-stylesheet href="x"?>\n'), /processing instructions/],
    ['<?xml version="1.0" encoding="UTF-16"?><plist><string/></plist>', /UTF-8/],
    ['bplist00\u0000\u0001', /expected an element/],
    [wrap(`${'<array>'.repeat(70)}${'</array>'.repeat(70)}`), /deeper than 64/],
  ];
  for (const [text, why] of cases) {
    const r = parsePlistXml(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.message, why);
  }
});

test('macOS flat layout: the managed-preferences file is the mandatory document', () => {
  assert.equal(macManagedPreferencesPath(), '/Library/Managed Preferences/dev.cordon.app.plist');
  const r = readMacManagedPreferences(fixture('dev.cordon.app.plist').toString('utf8'));
  assert.ok(r.ok, r.ok ? '' : r.message);
  if (!r.ok) return;
  assert.equal(r.layout, 'flat');
  assert.equal(r.recommended, null);
  assert.deepEqual(r.mandatory, {
    egress: { allow: ['api.anthropic.com', '*.corp.example.com'], mode: 'enforce' },
    keys: { phantomTtlMinutes: 30 },
    dlp: { enabled: true, markers: [{ id: 'r-and-d', text: 'R&D \u2014 RESTRICTED', action: 'block' }] },
    workspaces: { deny: ['~/Finance'] },
  });
  assertValidPolicy(r.mandatory);
});

test('macOS MCX layout: only Forced is mandatory; Set-Once and Often are recommended', () => {
  const r = readMacManagedPreferences(fixture('dev.cordon.app.mcx.plist').toString('utf8'));
  assert.ok(r.ok, r.ok ? '' : r.message);
  if (!r.ok) return;
  assert.equal(r.layout, 'mcx');
  assert.deepEqual(r.mandatory, {
    egress: { mode: 'enforce', deny: ['*.sentry.io'], allow: ['api.anthropic.com'] },
    sandbox: { allowedProfiles: ['strict'] },
  });
  assert.deepEqual(r.recommended, { sandbox: { profile: 'strict' }, keys: { phantomTtlMinutes: 45 } });
  assertValidPolicy(r.mandatory);
  assertValidPolicy(r.recommended);
});

test('macOS: a profile payload for another domain, or an unknown frequency key, is refused', () => {
  const payload = '<?xml version="1.0"?><plist version="1.0"><dict><key>PayloadContent</key><dict><key>com.example.other</key><dict/></dict></dict></plist>';
  const r = readMacManagedPreferences(payload);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.message, /no settings for dev\.cordon\.app/);
  const odd = '<?xml version="1.0"?><plist version="1.0"><dict><key>dev.cordon.app</key><dict><key>Sometimes</key><array/></dict></dict></plist>';
  const r2 = readMacManagedPreferences(odd);
  assert.equal(r2.ok, false);
  if (!r2.ok) assert.match(r2.message, /"Sometimes"/);
  const notDict = readMacManagedPreferences('<plist version="1.0"><array/></plist>');
  assert.equal(notDict.ok, false);
});

test('.reg: the UTF-16LE export (with BOM) and its UTF-8 twin decode to the same text', () => {
  const utf16 = fixture('cordon-policy.reg');
  assert.deepEqual([...utf16.subarray(0, 2)], [0xff, 0xfe]);
  assert.equal(decodeRegBytes(utf16), decodeRegBytes(fixture('cordon-policy.utf8.reg')));
  assert.match(decodeRegBytes(utf16), /^Windows Registry Editor Version 5\.00\r\n/);
});

test('.reg: mandatory from PolicyJSON plus dotted leaf values (leaves win), recommended from the subkey', () => {
  for (const name of ['cordon-policy.reg', 'cordon-policy.utf8.reg']) {
    const r = readWindowsRegExport(fixture(name), leaves);
    assert.ok(r.ok, r.ok ? '' : r.message);
    if (!r.ok) continue;
    assert.deepEqual(r.mandatory, {
      egress: { mode: 'enforce', allow: ['api.anthropic.com', '*.corp.example.com'] },
      sandbox: { profile: 'strict', allowedProfiles: ['strict'] },
      dlp: { enabled: true, categories: { secret: 'block', pii: 'redact', custom: 'redact' } },
      keys: { phantomTtlMinutes: 30 },
      workspaces: { deny: ['~/.ssh', '~/Finance'] },
    });
    assert.deepEqual(r.recommended, { sandbox: { profile: 'standard' }, keys: { phantomTtlMinutes: 60 }, egress: { deny: ['*.sentry.io'] } });
    assertValidPolicy(r.mandatory);
    assertValidPolicy(r.recommended);
  }
});

test('.reg: values the convention does not know are refused, naming key and value', () => {
  const reg = (body: string): Buffer => Buffer.from(`Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Cordon]\r\n${body}\r\n`);
  const cases: Array<[string, RegExp]> = [
    ['"egress.mdoe"="enforce"', /Cordon\\egress\.mdoe is not a Cordon policy setting/],
    ['"keys.phantomTtlMinutes"="30"', /expected REG_DWORD or REG_QWORD .* found REG_SZ/],
    ['"dlp.enabled"=dword:00000002', /0 or 1/],
    ['"egress.allow"="api.anthropic.com"', /REG_MULTI_SZ/],
    ['"PolicyJSON"="{not json"', /PolicyJSON is not valid JSON/],
    ['"PolicyJSON"=dword:00000001', /must be a string/],
    ['"PolicyJSON"="{\\"egress\\":5}"\r\n"egress.mode"="enforce"', /conflicts with PolicyJSON/],
    ['@="x"', /default \(unnamed\) value/],
    ['"egress.mode"=-', /deletion/],
    ['"egress.mode"="a"\r\n"EGRESS.MODE"="b"', /appears twice/],
  ];
  for (const [body, why] of cases) {
    const r = readWindowsRegExport(reg(body), leaves);
    assert.equal(r.ok, false, body);
    if (!r.ok) assert.match(r.message, why);
  }
  const sub = readWindowsRegExport(Buffer.from('Windows Registry Editor Version 5.00\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Cordon\\Extra]\r\n"x"="y"\r\n'), leaves);
  assert.equal(sub.ok, false);
  assert.equal(readWindowsRegExport(Buffer.from('REGEDIT4\r\n'), leaves).ok, false);
});

test('reg.exe export arguments name the mandatory key, whose export includes Recommended', () => {
  assert.deepEqual(windowsRegExportArgs('C:\\Temp\\p.reg'), ['export', 'HKLM\\SOFTWARE\\Policies\\Cordon', 'C:\\Temp\\p.reg', '/y']);
});

test('.reg: no Cordon key means no managed policy; an empty key is null too', () => {
  const none = readWindowsRegExport(Buffer.from('Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Other]\r\n"a"="b"\r\n'), leaves);
  assert.deepEqual(none, { ok: true, mandatory: null, recommended: null });
  const empty = readWindowsRegExport(Buffer.from('Windows Registry Editor Version 5.00\r\n\r\n[HKLM\\SOFTWARE\\Policies\\Cordon]\r\n'), leaves);
  assert.deepEqual(empty, { ok: true, mandatory: null, recommended: null });
});

test('.reg: hex value types, escapes and line continuations', () => {
  const text = [
    'Windows Registry Editor Version 5.00',
    '[HKEY_LOCAL_MACHINE\\SOFTWARE\\X]',
    '"path"="C:\\\\Program Files\\\\Cordon\\\\"',
    '"quote"="say \\"hi\\""',
    '"dw"=hex(4):2a,00,00,00',
    '"qw"=hex(b):01,00,00,00,00,00,00,00',
    '"sz"=hex(1):68,00,69,00,00,00',
    '"multi"=hex(7):61,00,00,00,\\',
    '  62,00,00,00,00,00',
    '"bin"=hex:de,ad',
  ].join('\r\n');
  const r = parseRegFile(text);
  assert.ok(r.ok, r.ok ? '' : r.message);
  if (!r.ok) return;
  const values = r.keys[0]?.values;
  assert.deepEqual(values?.get('path'), { type: 'REG_SZ', value: 'C:\\Program Files\\Cordon\\' });
  assert.deepEqual(values?.get('quote'), { type: 'REG_SZ', value: 'say "hi"' });
  assert.deepEqual(values?.get('dw'), { type: 'REG_DWORD', value: 42 });
  assert.deepEqual(values?.get('qw'), { type: 'REG_QWORD', value: 1n });
  assert.deepEqual(values?.get('sz'), { type: 'REG_SZ', value: 'hi' });
  assert.deepEqual(values?.get('multi'), { type: 'REG_MULTI_SZ', value: ['a', 'b'] });
  assert.deepEqual(values?.get('bin'), { type: 'REG_BINARY', value: new Uint8Array([0xde, 0xad]) });
});
