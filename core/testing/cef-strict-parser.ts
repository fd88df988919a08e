/**
 * A strict CEF:0 reader for tests, written from the CEF standard and not from
 * cef-format.ts, so a test can hold the producer to the standard. Not a test
 * itself; imported by tests. Refuses rather than guesses: a raw CR or LF, an
 * escape the standard does not define, an unescaped `=` in a value, a key
 * given twice, fewer than seven header fields.
 */

export interface CefEvent {
  readonly version: string;
  readonly vendor: string;
  readonly product: string;
  readonly deviceVersion: string;
  readonly signatureId: string;
  readonly name: string;
  readonly severity: string;
  readonly ext: ReadonlyMap<string, string>;
}

const KEY = /^[A-Za-z0-9_]+$/;

export function parseCefStrict(line: string): CefEvent {
  if (/[\r\n]/.test(line)) throw new Error('a raw CR or LF in a CEF line');
  if (!line.startsWith('CEF:')) throw new Error('no CEF: prefix');
  const fields: string[] = [];
  let cur = '';
  let i = 4;
  for (; i < line.length && fields.length < 7; i++) {
    const c = line[i] as string;
    if (c === '\\') {
      const n = line[i + 1];
      if (n !== '\\' && n !== '|') throw new Error(`undefined header escape \\${n ?? ''} at ${i}`);
      cur += n;
      i++;
    } else if (c === '|') {
      fields.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  if (fields.length < 7) throw new Error(`only ${fields.length} header fields`);
  const [version, vendor, product, deviceVersion, signatureId, name, severity] = fields as [string, string, string, string, string, string, string];
  return { version, vendor, product, deviceVersion, signatureId, name, severity, ext: parseExtension(line.slice(i)) };
}

function parseExtension(text: string): Map<string, string> {
  const ext = new Map<string, string>();
  if (text === '') return ext;
  let i = 0;
  const readKey = (): string => {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`a key without "=" at ${i}`);
    const key = text.slice(i, eq);
    if (!KEY.test(key)) throw new Error(`bad key ${JSON.stringify(key)} at ${i}`);
    if (ext.has(key)) throw new Error(`key ${key} given twice`);
    i = eq + 1;
    return key;
  };
  let key = readKey();
  let value = '';
  while (i <= text.length) {
    if (i === text.length) {
      ext.set(key, value);
      break;
    }
    const c = text[i] as string;
    if (c === '\\') {
      const n = text[i + 1];
      const out = n === '\\' ? '\\' : n === '=' ? '=' : n === 'n' ? '\n' : n === 'r' ? '\r' : null;
      if (out === null) throw new Error(`undefined extension escape \\${n ?? ''} in ${key}`);
      value += out;
      i += 2;
    } else if (c === '=') {
      throw new Error(`an unescaped "=" in the value of ${key}`);
    } else if (c === ' ' && /^ [A-Za-z0-9_]+=/.test(text.slice(i))) {
      ext.set(key, value);
      i++;
      key = readKey();
      value = '';
    } else {
      value += c;
      i++;
    }
  }
  return ext;
}
