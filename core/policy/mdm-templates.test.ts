import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { managedDocumentsFromPlist, readWindowsRegExport } from './mdm-sources.js';
import { MDM_TEMPLATE_FILES, admxPolicyName, cordonTemplateInputs, generateMdmTemplates, registryTypeOf } from './mdm-templates.js';
import { parsePlistXml, type PlistValue } from './plist-xml.js';
import { policyLeaves, type PolicyLeaf } from './policy-leaves.js';
import { PolicySchema } from './policy-schema.js';

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../../', import.meta.url));
const inputs = cordonTemplateInputs();
const generated = generateMdmTemplates(inputs);
const { leaves, jsonOnly } = policyLeaves(inputs.jsonSchema);

function valueAt(root: unknown, path: readonly string[]): unknown {
  let cur = root;
  for (const seg of path) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[seg] : undefined;
  return cur;
}

test('the committed templates are what the generator writes from the current schema', () => {
  for (const [name, rel] of Object.entries(MDM_TEMPLATE_FILES)) {
    const committed = readFileSync(join(repoRoot, rel), 'utf8');
    assert.equal(committed, generated[name as keyof typeof MDM_TEMPLATE_FILES], `${rel} is stale: run \`npx tsc -p tsconfig.json && node scripts/gen-mdm-templates.mjs\``);
  }
});

test('every top-level policy key is reachable: as leaves or through PolicyJSON', () => {
  const props = Object.keys((inputs.jsonSchema as { properties: Record<string, unknown> }).properties).filter((k) => k !== '$schema');
  const covered = new Set([...leaves.map((l) => l.path[0]), ...jsonOnly.map((j) => j.key.split('.')[0])]);
  for (const p of props) assert.ok(covered.has(p), p);
  assert.ok(leaves.length >= 15, `only ${leaves.length} leaves found`);
  assert.ok(jsonOnly.some((j) => j.key === 'providers'));
});

const ADMX_ELEMENT: Record<PolicyLeaf['kind'], RegExp | null> = {
  string: /<text id="[^"]+" valueName="([^"]+)"/,
  number: /<text id="[^"]+" valueName="([^"]+)"/,
  enum: /<enum id="[^"]+" valueName="([^"]+)"/,
  integer: /<decimal id="[^"]+" valueName="([^"]+)"/,
  stringList: /<multiText id="[^"]+" valueName="([^"]+)"/,
  boolean: null,
};

test('ADMX: every leaf is a policy, mandatory and recommended, with the element of its type', () => {
  const admx = generated.admx;
  for (const recommended of [false, true]) {
    const key = recommended ? 'SOFTWARE\\Policies\\Cordon\\Recommended' : 'SOFTWARE\\Policies\\Cordon';
    for (const leaf of leaves) {
      const name = admxPolicyName(leaf, recommended);
      const block = new RegExp(`<policy name="${name}" [^>]*key="${key.replace(/\\/g, '\\\\')}">([\\s\\S]*?)</policy>`).exec(admx);
      assert.ok(block, `${name} missing`);
      const elementRe = ADMX_ELEMENT[leaf.kind];
      if (elementRe === null) {
        assert.match(block[0], new RegExp(`valueName="${leaf.key}"`));
        assert.match(block[0], /<enabledValue><decimal value="1" \/><\/enabledValue>/);
        assert.match(block[0], /<disabledValue><decimal value="0" \/><\/disabledValue>/);
      } else {
        assert.equal(elementRe.exec(block[1] ?? '')?.[1], leaf.key, `${name} should be a ${leaf.kind}`);
      }
      if (leaf.kind === 'enum') for (const v of leaf.enumValues) assert.ok(block[0].includes(`<string>${v}</string>`), `${name}: ${v}`);
    }
    assert.match(admx, new RegExp(`<policy name="PolicyJSON${recommended ? '_recommended' : ''}" [^>]*key="${key.replace(/\\/g, '\\\\')}"`));
  }
  assert.equal((admx.match(/<policy /g) ?? []).length, 2 * (leaves.length + 1));
});

test('ADML defines every string and presentation the ADMX refers to, with schema descriptions', () => {
  const strings = new Set([...generated.adml.matchAll(/<string id="([^"]+)">/g)].map((m) => m[1]));
  const presentations = new Set([...generated.adml.matchAll(/<presentation id="([^"]+)">/g)].map((m) => m[1]));
  for (const m of generated.admx.matchAll(/\$\(string\.([^)]+)\)/g)) assert.ok(strings.has(m[1]), `string ${m[1]}`);
  for (const m of generated.admx.matchAll(/\$\(presentation\.([^)]+)\)/g)) assert.ok(presentations.has(m[1]), `presentation ${m[1]}`);
  for (const leaf of leaves.filter((l) => l.description !== '')) {
    const escaped = leaf.description.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
    assert.ok(generated.adml.includes(escaped), `explain text of ${leaf.key}`);
  }
  for (const j of jsonOnly) assert.ok(generated.adml.includes(j.key), `PolicyJSON explain names ${j.key}`);
});

function isDictValue(v: PlistValue | undefined): v is Record<string, PlistValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}

test('mobileconfig: a Forced managed-preferences payload carrying every leaf with its type, valid policy', () => {
  const parsed = parsePlistXml(generated.mobileconfig);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
  if (!parsed.ok || !isDictValue(parsed.value)) return;
  assert.equal(parsed.value['PayloadType'], 'Configuration');
  const payloads = parsed.value['PayloadContent'];
  assert.ok(Array.isArray(payloads) && payloads.length === 1);
  const payload = payloads[0];
  assert.ok(isDictValue(payload));
  assert.equal(payload['PayloadType'], 'com.apple.ManagedClient.preferences');
  const docs = managedDocumentsFromPlist(payload);
  assert.ok(docs.ok, docs.ok ? '' : docs.message);
  if (!docs.ok) return;
  assert.equal(docs.recommended, null);
  for (const leaf of leaves) {
    const v = valueAt(docs.mandatory, leaf.path);
    const ok =
      leaf.kind === 'stringList' ? Array.isArray(v) && v.every((s) => typeof s === 'string')
      : leaf.kind === 'integer' ? Number.isInteger(v)
      : leaf.kind === 'number' ? typeof v === 'number'
      : leaf.kind === 'boolean' ? typeof v === 'boolean'
      : leaf.kind === 'enum' ? typeof v === 'string' && leaf.enumValues.includes(v)
      : typeof v === 'string';
    assert.ok(ok, `${leaf.key} should be a ${leaf.kind}, is ${JSON.stringify(v)}`);
  }
  assert.deepEqual(docs.mandatory, inputs.example);
  assert.ok(PolicySchema.safeParse(docs.mandatory).success);
});

test('the Linux example is the same document and valid against the schema', () => {
  const doc: unknown = JSON.parse(generated.linuxExample);
  assert.deepEqual(doc, inputs.example);
  const r = PolicySchema.safeParse(doc);
  assert.ok(r.success, r.success ? '' : JSON.stringify(r.error.issues));
});

/** Writes the example the way Group Policy stores the ADMX settings, as a .reg export. */
function regExportOf(doc: unknown): string {
  const lines = ['Windows Registry Editor Version 5.00', '', '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Cordon]'];
  for (const leaf of leaves) {
    const v = valueAt(doc, leaf.path);
    const name = `"${leaf.key}"`;
    switch (registryTypeOf(leaf)) {
      case 'REG_SZ':
        lines.push(`${name}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
        break;
      case 'REG_DWORD':
        lines.push(`${name}=dword:${(typeof v === 'boolean' ? Number(v) : (v as number)).toString(16).padStart(8, '0')}`);
        break;
      case 'REG_MULTI_SZ': {
        const bytes = Buffer.from(`${(v as string[]).join('\0')}\0\0`, 'utf16le');
        lines.push(`${name}=hex(7):${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(',')}`);
        break;
      }
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

test('round trip: the example written as the ADMX registry values reads back as the same policy', () => {
  const text = regExportOf(inputs.example);
  const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
  const r = readWindowsRegExport(bytes, leaves);
  assert.ok(r.ok, r.ok ? '' : r.message);
  if (r.ok) assert.deepEqual(r.mandatory, inputs.example);
});
