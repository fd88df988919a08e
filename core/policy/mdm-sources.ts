/**
 * Managed policy as macOS and Windows deliver it (issue 6, item 2), turned into
 * plain policy documents: `{ mandatory, recommended }`. Validation against the
 * policy schema and merging happen afterwards, in the loader; this module only
 * decides which value belongs to which managed level, and refuses anything it
 * cannot place with certainty (fail closed: a value silently dropped could be a
 * restriction IT meant to enforce).
 *
 * macOS, `/Library/Managed Preferences/<bundle id>.plist` (bundle id
 * `dev.cordon.app`): keys and nesting are the policy document itself
 * (`egress` -> dict, `egress.allow` -> array of strings). Two layouts:
 *  - flat: the file's root dict is the document. macOS writes this file from
 *    the settings an MDM profile *forces*, so the whole file is mandatory.
 *  - MCX: a dict holding `<bundle id>` -> { Forced, Set-Once, Often } (at the
 *    root, or under `PayloadContent` as in a profile's
 *    com.apple.ManagedClient.preferences payload). Only `Forced` entries'
 *    `mcx_preference_settings` are mandatory; `Set-Once` and `Often` are
 *    defaults the user may change, so they become recommended.
 *
 * Windows, a `.reg` export (`Windows Registry Editor Version 5.00`, UTF-16LE
 * with BOM as regedit writes it, or UTF-8) of `HKEY_LOCAL_MACHINE\SOFTWARE\
 * Policies\Cordon` (mandatory) and its `Recommended` subkey. In each key:
 *  - `PolicyJSON` (REG_SZ): a whole policy document as JSON; and/or
 *  - one value per policy leaf, named by its dotted path (`egress.mode`), typed
 *    as the ADMX template writes it: REG_SZ for strings and enums (and numbers
 *    with a fraction), REG_DWORD/REG_QWORD for integers, REG_DWORD 0/1 for
 *    booleans, REG_MULTI_SZ for string lists.
 *  Leaf values are applied on top of `PolicyJSON`, so a single Group Policy
 *  setting overrides the same field in the JSON. A value name that is not a
 *  policy leaf, a wrongly typed value or another subkey is an error.
 */
import { parsePlistXml, plistToJson, type PlistDict, type PlistValue } from './plist-xml.js';
import { setAtPath, type PolicyLeaf } from './policy-leaves.js';

/** The macOS preference domain Cordon reads managed policy from. */
export const MAC_BUNDLE_ID = 'dev.cordon.app';

/** Where macOS puts the forced preferences of `bundleId`. */
export function macManagedPreferencesPath(bundleId: string = MAC_BUNDLE_ID): string {
  return `/Library/Managed Preferences/${bundleId}.plist`;
}

/** The registry key (under HKEY_LOCAL_MACHINE) of mandatory policy. */
export const WINDOWS_POLICY_KEY = 'SOFTWARE\\Policies\\Cordon';
/** The registry key of recommended policy, which users may override. */
export const WINDOWS_RECOMMENDED_KEY = `${WINDOWS_POLICY_KEY}\\Recommended`;
/** The registry value holding a whole policy document as JSON. */
export const POLICY_JSON_VALUE = 'PolicyJSON';

/**
 * Arguments for `reg.exe` that export both policy keys (the Recommended subkey
 * comes with its parent) to `file`, UTF-16LE with BOM as
 * {@link readWindowsRegExport} reads it. `reg export` exits 1 when the key does
 * not exist, which means "no managed policy", not an error.
 */
export function windowsRegExportArgs(file: string): readonly string[] {
  return ['export', `HKLM\\${WINDOWS_POLICY_KEY}`, file, '/y'];
}

/** Policy documents found in one managed source; null where the level is absent. Not yet schema-validated. */
export interface ManagedDocuments {
  readonly mandatory: unknown;
  readonly recommended: unknown;
}

/** Result of reading one managed source. */
export type ManagedSourceResult = ({ readonly ok: true } & ManagedDocuments) | { readonly ok: false; readonly message: string };

// ---------------------------------------------------------------- macOS ----

/** Which layout a managed-preferences plist used (see the module comment). */
export type MacLayout = 'flat' | 'mcx';

/**
 * Reads a managed-preferences plist (XML). `mandatory` is null when nothing is
 * forced; `recommended` is null unless the MCX layout has Set-Once/Often.
 */
export function readMacManagedPreferences(plistText: string, bundleId: string = MAC_BUNDLE_ID): (ManagedSourceResult & { readonly layout?: MacLayout }) {
  const parsed = parsePlistXml(plistText);
  if (!parsed.ok) return { ok: false, message: `not a valid XML property list: ${parsed.message} (binary plists must be converted with \`plutil -convert xml1\`)` };
  return managedDocumentsFromPlist(parsed.value, bundleId);
}

/**
 * The managed levels of an already parsed plist: a managed-preferences file,
 * or the com.apple.ManagedClient.preferences payload dict of a profile (its
 * `PayloadContent` dict is the MCX layout; the payload's own Payload* keys
 * are not read).
 */
export function managedDocumentsFromPlist(root: PlistValue, bundleId: string = MAC_BUNDLE_ID): ManagedSourceResult & { readonly layout?: MacLayout } {
  if (!isDict(root)) return { ok: false, message: 'the property list root must be a <dict>' };

  const found = findMcxDomain(root, bundleId);
  if (found.kind === 'flat') {
    const doc = plistToJson(root);
    return { ok: true, layout: 'flat', mandatory: isEmptyObject(doc) ? null : doc, recommended: null };
  }
  if (found.kind === 'error') return { ok: false, message: found.message };
  const domain = found.domain;
  const forced = collectMcx(domain, ['Forced']);
  if (typeof forced === 'string') return { ok: false, message: forced };
  const recommended = collectMcx(domain, ['Set-Once', 'Often']);
  if (typeof recommended === 'string') return { ok: false, message: recommended };
  return { ok: true, layout: 'mcx', mandatory: forced, recommended };
}

function isDict(v: PlistValue | undefined): v is PlistDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}

function isEmptyObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && Object.keys(v).length === 0;
}

type McxLookup = { readonly kind: 'flat' } | { readonly kind: 'mcx'; readonly domain: PlistDict } | { readonly kind: 'error'; readonly message: string };

/** Finds the `{Forced, Set-Once, Often}` dict for `bundleId`; a root without one is the flat layout. */
function findMcxDomain(root: PlistDict, bundleId: string): McxLookup {
  const error = (message: string): McxLookup => ({ kind: 'error', message });
  const inPayload = Object.hasOwn(root, 'PayloadContent');
  const holder = inPayload ? root['PayloadContent'] : root;
  if (!isDict(holder)) return error('PayloadContent must be a <dict> keyed by preference domain');
  const domain = Object.hasOwn(holder, bundleId) ? holder[bundleId] : undefined;
  if (domain === undefined) {
    return inPayload ? error(`PayloadContent has no settings for ${bundleId}; check the preference domain in the profile`) : { kind: 'flat' };
  }
  if (!isDict(domain)) return error(`${bundleId} must be a <dict> with Forced, Set-Once or Often`);
  const unknown = Object.keys(domain).filter((k) => k !== 'Forced' && k !== 'Set-Once' && k !== 'Often');
  if (unknown.length > 0) return error(`${bundleId} has ${unknown.map((k) => `"${k}"`).join(', ')}; only Forced, Set-Once and Often are understood`);
  return { kind: 'mcx', domain };
}

/** Merges the `mcx_preference_settings` of every entry under the given frequency keys, in order. */
function collectMcx(domain: PlistDict, frequencies: readonly string[]): unknown {
  let merged: Record<string, unknown> | null = null;
  for (const freq of frequencies) {
    const list = domain[freq];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return `${freq} must be an <array> of dicts with mcx_preference_settings`;
    for (const [i, entry] of list.entries()) {
      const settings = isDict(entry) ? entry['mcx_preference_settings'] : undefined;
      if (!isDict(settings)) return `${freq}[${i}] has no <dict> mcx_preference_settings`;
      merged = deepMerge(merged ?? {}, plistToJson(settings) as Record<string, unknown>);
    }
  }
  return merged === null || isEmptyObject(merged) ? null : merged;
}

/** Later dicts override earlier ones key by key; non-dict values (lists included) replace. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const prev = out[k];
    const value = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
    Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// -------------------------------------------------------------- Windows ----

/** A registry value as a `.reg` file spells it. */
export type RegValue =
  | { readonly type: 'REG_SZ'; readonly value: string }
  | { readonly type: 'REG_EXPAND_SZ'; readonly value: string }
  | { readonly type: 'REG_DWORD'; readonly value: number }
  | { readonly type: 'REG_QWORD'; readonly value: bigint }
  | { readonly type: 'REG_MULTI_SZ'; readonly value: readonly string[] }
  | { readonly type: 'REG_BINARY'; readonly value: Uint8Array }
  | { readonly type: 'REG_OTHER'; readonly hexType: number; readonly value: Uint8Array };

/** One key of a `.reg` file: full path (root spelled out) and values by name ("" is the default value). */
export interface RegKey {
  readonly path: string;
  readonly values: ReadonlyMap<string, RegValue>;
}

/** Result of {@link parseRegFile}. */
export type RegParseResult = { readonly ok: true; readonly keys: readonly RegKey[] } | { readonly ok: false; readonly message: string };

const REG_HEADER = 'Windows Registry Editor Version 5.00';
const ROOT_ALIASES: Readonly<Record<string, string>> = { HKLM: 'HKEY_LOCAL_MACHINE', HKCU: 'HKEY_CURRENT_USER' };

/** Decodes a `.reg` file: UTF-16LE when it starts with the FF FE byte order mark, otherwise UTF-8 (BOM optional). */
export function decodeRegBytes(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return Buffer.from(bytes.subarray(2)).toString('utf16le');
  const hasBom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return new TextDecoder('utf-8', { fatal: false }).decode(hasBom ? bytes.subarray(3) : bytes);
}

/**
 * Parses `.reg` text (version 5.00). Keys to delete (`[-KEY]`) and values to
 * delete (`"name"=-`) are refused: an export never has them, and a policy
 * reader must not guess what deleting means.
 */
export function parseRegFile(text: string): RegParseResult {
  // Logical lines: hex values continue with a trailing backslash.
  const physical = text.replace(/^\ufeff/, '').split(/\r\n|\r|\n/);
  const lines: Array<{ text: string; line: number }> = [];
  for (let i = 0; i < physical.length; i++) {
    let t = physical[i] ?? '';
    const start = i + 1;
    // Only hex data continues: a string value always ends with its closing quote.
    while (/=hex(\([0-9a-fA-F]+\))?:[0-9a-fA-F,\s]*\\\s*$/.test(t) && i + 1 < physical.length) {
      t = t.replace(/\\\s*$/, '') + (physical[++i] ?? '').trim();
    }
    lines.push({ text: t, line: start });
  }
  const first = lines.findIndex((l) => l.text.trim() !== '');
  const header = lines[first]?.text.trim();
  if (header !== REG_HEADER) {
    if (header === 'REGEDIT4') return { ok: false, message: 'REGEDIT4 files use the ANSI code page; export again with regedit as "Registration Files (*.reg)" (version 5.00)' };
    return { ok: false, message: `the first line must be "${REG_HEADER}"` };
  }
  const keys: Array<{ path: string; values: Map<string, RegValue> }> = [];
  let current: { path: string; values: Map<string, RegValue> } | null = null;
  for (const { text: raw, line } of lines.slice(first + 1)) {
    const t = raw.trim();
    if (t === '' || t.startsWith(';')) continue;
    if (t.startsWith('[')) {
      if (!t.endsWith(']')) return { ok: false, message: `line ${line}: a key line must end with "]"` };
      if (t.startsWith('[-')) return { ok: false, message: `line ${line}: key deletions are not part of a policy export` };
      const path = normaliseKeyPath(t.slice(1, -1));
      if (keys.some((k) => k.path.toLowerCase() === path.toLowerCase())) return { ok: false, message: `line ${line}: key ${path} appears twice` };
      current = { path, values: new Map() };
      keys.push(current);
      continue;
    }
    if (current === null) return { ok: false, message: `line ${line}: a value before any [key] line` };
    const v = parseValueLine(t);
    if (typeof v === 'string') return { ok: false, message: `line ${line}: ${v}` };
    if ([...current.values.keys()].some((n) => n.toLowerCase() === v.name.toLowerCase())) return { ok: false, message: `line ${line}: value "${v.name}" appears twice in ${current.path}` };
    current.values.set(v.name, v.value);
  }
  return { ok: true, keys };
}

function normaliseKeyPath(path: string): string {
  const parts = path.split('\\').filter((p) => p !== '');
  const root = parts[0] ?? '';
  return [ROOT_ALIASES[root.toUpperCase()] ?? root.toUpperCase(), ...parts.slice(1)].join('\\');
}

/** Parses `"name"=...` or `@=...`; returns an error message for anything else. */
function parseValueLine(t: string): { name: string; value: RegValue } | string {
  let name: string;
  let rest: string;
  if (t.startsWith('@=')) {
    name = '';
    rest = t.slice(2);
  } else if (t.startsWith('"')) {
    const q = readQuoted(t, 0);
    if (q === null) return 'unterminated value name';
    name = q.text;
    if (t[q.end] !== '=') return `expected "=" after "${name}"`;
    rest = t.slice(q.end + 1);
  } else {
    return 'expected a "name"=value line or a [key] line';
  }
  if (rest === '-') return `value "${name}" is marked for deletion, which a policy export never contains`;
  if (rest.startsWith('"')) {
    const q = readQuoted(rest, 0);
    if (q === null || q.end !== rest.length) return `value "${name}": malformed string`;
    return { name, value: { type: 'REG_SZ', value: q.text } };
  }
  const dword = /^dword:([0-9a-fA-F]{8})$/.exec(rest);
  if (dword !== null) return { name, value: { type: 'REG_DWORD', value: parseInt(dword[1] ?? '', 16) } };
  const hex = /^hex(?:\(([0-9a-fA-F]{1,8})\))?:([0-9a-fA-F]{2}(?:,[0-9a-fA-F]{2})*)?$/.exec(rest.replace(/\s+/g, ''));
  if (hex === null) return `value "${name}": unsupported data "${rest.slice(0, 30)}"`;
  const hexType = hex[1] === undefined ? 3 : parseInt(hex[1], 16);
  const bytes = new Uint8Array(hex[2] === undefined ? [] : hex[2].split(',').map((b) => parseInt(b, 16)));
  switch (hexType) {
    case 1:
    case 2: {
      const s = utf16Strings(bytes);
      if (s === null) return `value "${name}": string data is not UTF-16`;
      const type = hexType === 1 ? 'REG_SZ' : 'REG_EXPAND_SZ';
      return { name, value: { type, value: s[0] ?? '' } };
    }
    case 3:
      return { name, value: { type: 'REG_BINARY', value: bytes } };
    case 4:
      if (bytes.length !== 4) return `value "${name}": a DWORD has 4 bytes`;
      return { name, value: { type: 'REG_DWORD', value: Buffer.from(bytes).readUInt32LE(0) } };
    case 7: {
      const s = utf16Strings(bytes);
      if (s === null) return `value "${name}": multi-string data is not UTF-16`;
      return { name, value: { type: 'REG_MULTI_SZ', value: s } };
    }
    case 0xb:
      if (bytes.length !== 8) return `value "${name}": a QWORD has 8 bytes`;
      return { name, value: { type: 'REG_QWORD', value: Buffer.from(bytes).readBigUInt64LE(0) } };
    default:
      return { name, value: { type: 'REG_OTHER', hexType, value: bytes } };
  }
}

/** A `"..."` string with regedit's escapes (`\\` and `\"`), starting at `start`. */
function readQuoted(t: string, start: number): { text: string; end: number } | null {
  let out = '';
  for (let i = start + 1; i < t.length; i++) {
    const c = t[i];
    if (c === '\\') {
      const n = t[i + 1];
      if (n === undefined) return null;
      out += n;
      i++;
    } else if (c === '"') {
      return { text: out, end: i + 1 };
    } else {
      out += c;
    }
  }
  return null;
}

/** NUL-separated UTF-16LE strings, as REG_SZ and REG_MULTI_SZ store them; trailing terminators dropped. */
function utf16Strings(bytes: Uint8Array): string[] | null {
  if (bytes.length % 2 !== 0) return null;
  const parts = Buffer.from(bytes).toString('utf16le').split('\0');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Reads Cordon's policy out of a `.reg` export (bytes as read from disk).
 * Keys outside `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Cordon` are ignored (an
 * export of a wider branch is fine); a level whose key is absent or empty is
 * null. `leaves` is the policy's leaf list (`policyLeaves(policyJsonSchema())`).
 */
export function readWindowsRegExport(bytes: Uint8Array, leaves: readonly PolicyLeaf[]): ManagedSourceResult {
  const parsed = parseRegFile(decodeRegBytes(bytes));
  if (!parsed.ok) return parsed;
  const mandatoryPath = `HKEY_LOCAL_MACHINE\\${WINDOWS_POLICY_KEY}`.toLowerCase();
  const recommendedPath = `HKEY_LOCAL_MACHINE\\${WINDOWS_RECOMMENDED_KEY}`.toLowerCase();
  let mandatory: unknown = null;
  let recommended: unknown = null;
  for (const key of parsed.keys) {
    const p = key.path.toLowerCase();
    if (p !== mandatoryPath && !p.startsWith(`${mandatoryPath}\\`)) continue;
    if (p !== mandatoryPath && p !== recommendedPath) {
      return { ok: false, message: `${key.path} is not a Cordon policy key; only ${WINDOWS_POLICY_KEY} and its Recommended subkey are read` };
    }
    const doc = documentFromValues(key, leaves);
    if (typeof doc === 'string') return { ok: false, message: doc };
    if (p === mandatoryPath) mandatory = doc;
    else recommended = doc;
  }
  return { ok: true, mandatory, recommended };
}

/** Builds one policy document from a key's values (see the module comment), or says what is wrong. */
export function documentFromValues(key: RegKey, leaves: readonly PolicyLeaf[]): Record<string, unknown> | null | string {
  if (key.values.size === 0) return null;
  let doc: Record<string, unknown> = {};
  const json = [...key.values].find(([n]) => n.toLowerCase() === POLICY_JSON_VALUE.toLowerCase());
  if (json !== undefined) {
    const [, v] = json;
    if (v.type !== 'REG_SZ') return `${key.path}\\${POLICY_JSON_VALUE} must be a string (REG_SZ) holding a JSON policy document`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(v.value);
    } catch (err) {
      return `${key.path}\\${POLICY_JSON_VALUE} is not valid JSON: ${(err as Error).message}`;
    }
    if (!isPlainObject(parsed)) return `${key.path}\\${POLICY_JSON_VALUE} must hold a JSON object`;
    doc = parsed;
  }
  for (const [name, value] of key.values) {
    if (name.toLowerCase() === POLICY_JSON_VALUE.toLowerCase()) continue;
    if (name === '') return `${key.path} has a default (unnamed) value; name values by policy path, e.g. "egress.mode"`;
    // Registry value names are case-insensitive, so match them that way.
    const leaf = leaves.find((l) => l.key.toLowerCase() === name.toLowerCase());
    if (leaf === undefined) return `${key.path}\\${name} is not a Cordon policy setting; use a dotted policy path such as "egress.mode", or ${POLICY_JSON_VALUE}`;
    const converted = leafValue(leaf, value);
    if (!converted.ok) return `${key.path}\\${name}: ${converted.error}`;
    if (!setAtPath(doc, leaf.path, converted.value)) return `${key.path}\\${name} conflicts with ${POLICY_JSON_VALUE}, where a parent of ${leaf.key} is not an object`;
  }
  return doc;
}

type LeafConversion = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string };

/** Converts a registry value to the JSON value of `leaf`, refusing a type the ADMX template would not write. */
function leafValue(leaf: PolicyLeaf, v: RegValue): LeafConversion {
  const ok = (value: unknown): LeafConversion => ({ ok: true, value });
  const fail = (error: string): LeafConversion => ({ ok: false, error });
  const wrong = (want: string): LeafConversion => fail(`expected ${want} for a ${leaf.kind} setting, found ${v.type}`);
  switch (leaf.kind) {
    case 'string':
    case 'enum':
      return v.type === 'REG_SZ' ? ok(v.value) : wrong('REG_SZ');
    case 'boolean':
      if (v.type !== 'REG_DWORD') return wrong('REG_DWORD 0 or 1');
      if (v.value !== 0 && v.value !== 1) return fail(`a boolean setting is 0 or 1, found ${v.value}`);
      return ok(v.value === 1);
    case 'integer':
      if (v.type === 'REG_DWORD') return ok(v.value);
      if (v.type === 'REG_QWORD') {
        if (v.value > BigInt(Number.MAX_SAFE_INTEGER)) return fail(`${v.value} is too large`);
        return ok(Number(v.value));
      }
      return wrong('REG_DWORD or REG_QWORD');
    case 'number': {
      if (v.type === 'REG_DWORD') return ok(v.value);
      if (v.type !== 'REG_SZ') return wrong('REG_SZ (a decimal number) or REG_DWORD');
      const n = Number(v.value.trim());
      return v.value.trim() !== '' && Number.isFinite(n) ? ok(n) : fail(`"${v.value}" is not a number`);
    }
    case 'stringList':
      return v.type === 'REG_MULTI_SZ' ? ok([...v.value]) : wrong('REG_MULTI_SZ');
  }
}
