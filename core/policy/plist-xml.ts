/**
 * A strict reader for Apple XML property lists, the format of macOS managed
 * preferences (`/Library/Managed Preferences/<bundle id>.plist`) and of
 * configuration profiles. No dependency: the plist subset of XML is small, and
 * a general XML parser brings entity expansion and external DTD loading, which
 * a file that decides security policy must not trigger.
 *
 * Accepted: an optional `<?xml ...?>` declaration, the standard Apple DOCTYPE
 * (no internal subset), comments, and the elements plist, dict, key, array,
 * string, integer, real, true, false, date, data. Character references and the
 * five predefined entities (&lt; &gt; &amp; &quot; &apos;) are decoded; any
 * other entity, any other DOCTYPE, processing instructions and unknown
 * elements are errors that name line and column.
 */

/** A decoded plist value. `date` becomes a Date, `data` a Uint8Array. */
export type PlistValue = string | number | boolean | Date | Uint8Array | PlistValue[] | PlistDict;

/** A plist `<dict>`; built with own properties only (a `__proto__` key is data, not a prototype). */
export interface PlistDict {
  [key: string]: PlistValue;
}

/** Result of {@link parsePlistXml}. */
export type PlistParseResult = { readonly ok: true; readonly value: PlistValue } | { readonly ok: false; readonly message: string };

/** Nesting beyond this is not a preference file; stops stack exhaustion on hostile input. */
const MAX_DEPTH = 64;
/** A policy plist is kilobytes; refuse anything that could not be one. */
export const MAX_PLIST_CHARS = 4 * 1024 * 1024;

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const APPLE_DOCTYPE = /^<!DOCTYPE\s+plist\s+PUBLIC\s+"-\/\/Apple(?: Computer)?\/\/DTD PLIST 1\.0\/\/EN"\s+"http:\/\/www\.apple\.com\/DTDs\/PropertyList-1\.0\.dtd"\s*>/;

class PlistSyntaxError extends Error {}

/** Parses plist XML text into a value, or says where and why it is not a plist. */
export function parsePlistXml(text: string): PlistParseResult {
  if (text.length > MAX_PLIST_CHARS) return { ok: false, message: `larger than ${MAX_PLIST_CHARS} characters; not a preference file` };
  try {
    return { ok: true, value: new PlistReader(text).document() };
  } catch (err) {
    if (err instanceof PlistSyntaxError) return { ok: false, message: err.message };
    throw err;
  }
}

type Tag = { readonly kind: 'open' | 'close' | 'empty'; readonly name: string; readonly attrs: Readonly<Record<string, string>>; readonly at: number };

class PlistReader {
  private pos = 0;
  private seenDeclaration = false;

  constructor(private readonly src: string) {
    // A UTF-8 BOM that survived decoding is not content.
    if (src.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  document(): PlistValue {
    this.skipMisc(true);
    const open = this.tag();
    if (open.kind !== 'open' || open.name !== 'plist') this.fail(open.at, 'expected <plist> as the root element');
    const version = open.attrs['version'];
    if (version !== undefined && version !== '1.0') this.fail(open.at, `unsupported plist version "${version}"`);
    this.skipMisc(false);
    const value = this.value(this.tag(), 1);
    this.skipMisc(false);
    this.expectClose('plist');
    this.skipMisc(false);
    if (this.pos < this.src.length) this.fail(this.pos, 'content after </plist>');
    return value;
  }

  private value(tag: Tag, depth: number): PlistValue {
    if (depth > MAX_DEPTH) this.fail(tag.at, `nested deeper than ${MAX_DEPTH} levels`);
    if (tag.kind === 'close') this.fail(tag.at, `unexpected </${tag.name}>`);
    const empty = tag.kind === 'empty';
    switch (tag.name) {
      case 'true':
      case 'false':
        if (!empty) this.expectClose(tag.name);
        return tag.name === 'true';
      case 'string':
        return empty ? '' : this.textUntilClose('string');
      case 'integer': {
        const t = empty ? '' : this.textUntilClose('integer').trim();
        if (!/^[+-]?\d+$/.test(t) && !/^0x[0-9a-fA-F]+$/.test(t)) this.fail(tag.at, `<integer> "${t}" is not an integer`);
        const n = Number(t);
        if (!Number.isSafeInteger(n)) this.fail(tag.at, `<integer> ${t} is too large to represent exactly`);
        return n;
      }
      case 'real': {
        const t = empty ? '' : this.textUntilClose('real').trim();
        const n = Number(t);
        if (t === '' || !Number.isFinite(n)) this.fail(tag.at, `<real> "${t}" is not a finite number`);
        return n;
      }
      case 'date': {
        const t = empty ? '' : this.textUntilClose('date').trim();
        // Apple writes dates as UTC with a trailing Z and whole seconds.
        if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(t)) this.fail(tag.at, `<date> "${t}" is not like 2026-01-31T12:00:00Z`);
        const d = new Date(t);
        if (Number.isNaN(d.getTime())) this.fail(tag.at, `<date> "${t}" is not a real date`);
        return d;
      }
      case 'data': {
        const t = (empty ? '' : this.textUntilClose('data')).replace(/\s+/g, '');
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 !== 0) this.fail(tag.at, '<data> is not base64');
        return new Uint8Array(Buffer.from(t, 'base64'));
      }
      case 'array': {
        const out: PlistValue[] = [];
        if (empty) return out;
        for (;;) {
          this.skipMisc(false);
          const next = this.tag();
          if (next.kind === 'close' && next.name === 'array') return out;
          out.push(this.value(next, depth + 1));
        }
      }
      case 'dict': {
        const out: PlistDict = {};
        if (empty) return out;
        for (;;) {
          this.skipMisc(false);
          const next = this.tag();
          if (next.kind === 'close' && next.name === 'dict') return out;
          if (next.name !== 'key' || next.kind === 'close') this.fail(next.at, `expected <key> or </dict>, found <${next.kind === 'close' ? '/' : ''}${next.name}>`);
          const key = next.kind === 'empty' ? '' : this.textUntilClose('key');
          if (Object.prototype.hasOwnProperty.call(out, key)) this.fail(next.at, `duplicate key "${key}"`);
          this.skipMisc(false);
          const v = this.value(this.tag(), depth + 1);
          // defineProperty: a key named "__proto__" must stay an ordinary entry.
          Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
        }
      }
      default:
        return this.fail(tag.at, `<${tag.name}> is not a plist element`);
    }
  }

  /** Skips whitespace and comments; at the prolog also the XML declaration and Apple's DOCTYPE. */
  private skipMisc(prolog: boolean): void {
    for (;;) {
      while (this.pos < this.src.length && /\s/.test(this.src[this.pos] ?? '')) this.pos++;
      const rest = this.src.startsWith.bind(this.src);
      if (rest('<!--', this.pos)) {
        const end = this.src.indexOf('-->', this.pos + 4);
        if (end < 0) this.fail(this.pos, 'unterminated comment');
        this.pos = end + 3;
      } else if (prolog && !this.seenDeclaration && /^<\?xml\s/.test(this.src.slice(this.pos, this.pos + 6))) {
        this.seenDeclaration = true;
        const end = this.src.indexOf('?>', this.pos);
        if (end < 0) this.fail(this.pos, 'unterminated XML declaration');
        const decl = this.src.slice(this.pos, end);
        const enc = /encoding\s*=\s*["']([^"']+)["']/.exec(decl)?.[1];
        if (enc !== undefined && !/^utf-?8$/i.test(enc)) this.fail(this.pos, `encoding "${enc}" is not supported; save the plist as UTF-8`);
        this.pos = end + 2;
      } else if (rest('<!DOCTYPE', this.pos)) {
        // Only Apple's public identifier, with no internal subset: an internal
        // subset is where entity definitions (and entity-expansion bombs) live.
        const m = prolog ? APPLE_DOCTYPE.exec(this.src.slice(this.pos, this.pos + 300)) : null;
        if (m === null) this.fail(this.pos, 'only the standard Apple plist DOCTYPE is allowed (no internal subset or entity definitions)');
        this.pos += m[0].length;
      } else if (rest('<?', this.pos)) {
        this.fail(this.pos, 'processing instructions are not allowed');
      } else {
        return;
      }
    }
  }

  private tag(): Tag {
    const at = this.pos;
    if (this.src[this.pos] !== '<') this.fail(at, this.pos >= this.src.length ? 'unexpected end of file' : 'expected an element');
    if (this.src.startsWith('<!', this.pos)) this.fail(at, 'declarations and CDATA are not allowed here');
    const end = this.src.indexOf('>', this.pos);
    if (end < 0) this.fail(at, 'unterminated tag');
    const body = this.src.slice(this.pos + 1, end);
    this.pos = end + 1;
    const m = /^(\/?)([A-Za-z][\w.-]*)((?:\s+[A-Za-z_][\w.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)$/.exec(body);
    if (m === null) this.fail(at, `malformed tag <${body.slice(0, 40)}>`);
    const [, slash = '', name = '', attrText = '', selfClose = ''] = m;
    if (slash !== '' && (selfClose !== '' || attrText !== '')) this.fail(at, `malformed closing tag </${name}>`);
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      Object.defineProperty(attrs, a[1] ?? '', { value: this.decode(a[2] ?? a[3] ?? '', at), enumerable: true });
    }
    return { kind: slash !== '' ? 'close' : selfClose !== '' ? 'empty' : 'open', name, attrs, at };
  }

  private expectClose(name: string): void {
    const t = this.tag();
    if (t.kind !== 'close' || t.name !== name) this.fail(t.at, `expected </${name}>`);
  }

  /** Character data up to `</name>`; markup inside a text element is an error. */
  private textUntilClose(name: string): string {
    const at = this.pos;
    const end = this.src.indexOf('<', this.pos);
    if (end < 0) this.fail(at, `unterminated <${name}>`);
    const raw = this.src.slice(this.pos, end);
    this.pos = end;
    this.expectClose(name);
    return this.decode(raw, at);
  }

  private decode(raw: string, at: number): string {
    return raw.replace(/&([^;&\s]{0,10});|&/g, (whole, ref: string | undefined) => {
      if (ref === undefined) return this.fail(at, 'a bare "&" must be written &amp;');
      const named = PREDEFINED[ref];
      if (named !== undefined) return named;
      const num = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
      if (num !== null) {
        const cp = num[1] !== undefined ? parseInt(num[1], 16) : Number(num[2]);
        if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail(at, `${whole} is not a valid character`);
        return String.fromCodePoint(cp);
      }
      return this.fail(at, `entity ${whole} is not allowed (only &lt; &gt; &amp; &quot; &apos; and character references)`);
    });
  }

  private fail(offset: number, why: string): never {
    const before = this.src.slice(0, offset);
    const line = before.split('\n').length;
    const col = offset - before.lastIndexOf('\n');
    throw new PlistSyntaxError(`line ${line}, column ${col}: ${why}`);
  }
}

/**
 * Converts a plist value to JSON data: dates become ISO 8601 strings and data
 * becomes base64, the forms a policy document uses for them.
 */
export function plistToJson(value: PlistValue): unknown {
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(plistToJson);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: plistToJson(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/** Escapes text for an XML element or attribute value. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/**
 * Writes a JSON value as plist XML elements (no prolog), indented with tabs
 * like Apple's tools. Integers become <integer>, other numbers <real>; null has
 * no plist form and is an error for the caller to avoid.
 */
export function jsonToPlistXml(value: unknown, indent = 0): string {
  const pad = '\t'.repeat(indent);
  if (typeof value === 'string') return `${pad}<string>${escapeXml(value)}</string>\n`;
  if (typeof value === 'boolean') return `${pad}<${value ? 'true' : 'false'}/>\n`;
  if (typeof value === 'number') return Number.isInteger(value) ? `${pad}<integer>${value}</integer>\n` : `${pad}<real>${value}</real>\n`;
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}<array/>\n`;
    return `${pad}<array>\n${value.map((v) => jsonToPlistXml(v, indent + 1)).join('')}${pad}</array>\n`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) return `${pad}<dict/>\n`;
    return `${pad}<dict>\n${entries.map(([k, v]) => `${pad}\t<key>${escapeXml(k)}</key>\n${jsonToPlistXml(v, indent + 1)}`).join('')}${pad}</dict>\n`;
  }
  throw new TypeError(`no plist form for ${String(value)}`);
}
