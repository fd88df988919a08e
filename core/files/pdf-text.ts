/**
 * A small, bounded PDF summary for previews (and, later, DLP scans of dropped
 * PDFs): page count, document title and the text the page content shows.
 *
 * The PDF comes from the agent or from a user's drop, so it is hostile input.
 * This is deliberately not a PDF renderer: it scans for objects with regular
 * expressions and a tiny content-stream tokenizer, never recurses, never
 * throws, and caps what it inflates (per stream and in total) and the text it
 * keeps. A compression bomb costs at most `maxInflatedBytes` of output.
 *
 * Left out on purpose: fonts' ToUnicode maps (text in CID/Type0 fonts comes
 * out as glyph codes), encrypted PDFs, filters other than FlateDecode, and
 * predictors. Page count counts `/Type /Page` objects, so an incrementally
 * updated PDF that rewrote a page object can count it twice.
 */
import { constants, inflateSync } from 'node:zlib';

/** What {@link pdfSummary} found. `truncated`: a cap stopped it, so the text (or count) may be incomplete. */
export interface PdfSummary {
  readonly pages: number;
  /** The Info dictionary's /Title, decoded (UTF-16BE with BOM, else PDFDocEncoding read as Latin-1); null when absent. */
  readonly title: string | null;
  /** Text shown by Tj, TJ, ' and " in the content streams, one line per text line as far as the operators tell. */
  readonly text: string;
  readonly truncated: boolean;
}

/** Caps on the work done for one PDF. */
export interface PdfLimits {
  /** Bytes of the file looked at; past this the rest is ignored (default 64 MB). */
  readonly maxInputBytes: number;
  /** Total bytes inflated across all streams (default 32 MB). */
  readonly maxInflatedBytes: number;
  /** Bytes one stream may inflate to; a bigger stream is skipped (default 8 MB). */
  readonly maxStreamBytes: number;
  /** Characters of text kept (default 200,000). */
  readonly maxTextChars: number;
  /** Streams looked at (default 10,000). */
  readonly maxStreams: number;
}

export const DEFAULT_PDF_LIMITS: PdfLimits = {
  maxInputBytes: 64 * 1024 * 1024,
  maxInflatedBytes: 32 * 1024 * 1024,
  maxStreamBytes: 8 * 1024 * 1024,
  maxTextChars: 200_000,
  maxStreams: 10_000,
};

const MAX_TITLE_CHARS = 1_000;
/** How far before `stream` the stream's dictionary is looked for. */
const DICT_LOOKBACK = 2_048;
/** How much of an object's body is searched for /Title. */
const OBJECT_BODY_CAP = 64 * 1024;

/** Summarises BYTES as a PDF. Never throws: malformed input gives what could be read, or an empty summary. */
export function pdfSummary(bytes: Uint8Array, limits: Partial<PdfLimits> = {}): PdfSummary {
  const lim = { ...DEFAULT_PDF_LIMITS, ...limits };
  const state: ScanState = { pages: 0, title: null, text: '', truncated: bytes.length > lim.maxInputBytes, inflated: 0 };
  try {
    scan(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, lim.maxInputBytes)), lim, state);
  } catch {
    // A bug or an input shape not foreseen: what was gathered so far still stands.
    state.truncated = true;
  }
  return { pages: state.pages, title: state.title, text: tidy(state.text), truncated: state.truncated };
}

interface ScanState {
  pages: number;
  title: string | null;
  text: string;
  truncated: boolean;
  inflated: number;
}

function scan(buf: Buffer, lim: PdfLimits, state: ScanState): void {
  // Latin-1 maps each byte to one char, so offsets agree and binary survives.
  const src = buf.toString('latin1');
  state.pages += countPages(src);
  const info = lastMatch(src, /\/Info\s+(\d+)\s+(\d+)\s+R/g);
  const infoNum = info ? Number(info[1]) : null;
  if (info) {
    const obj = lastMatch(src, new RegExp(`(?<![0-9])${info[1]}\\s+${info[2]}\\s+obj\\b`, 'g'));
    if (obj) state.title = titleIn(src.slice(obj.index, obj.index + OBJECT_BODY_CAP).split('endobj')[0] ?? '');
  }
  const streamRe = />>\s*stream(?:\r\n|\n|\r)/g;
  let streams = 0;
  for (let m = streamRe.exec(src); m !== null; m = streamRe.exec(src)) {
    if (++streams > lim.maxStreams || state.text.length >= lim.maxTextChars) {
      state.truncated = true;
      return;
    }
    const dict = streamDict(src, m.index);
    const start = m.index + m[0].length;
    const end = streamEnd(src, dict, start);
    streamRe.lastIndex = end;
    if (/\/Type\s*\/(XRef|Metadata|EmbeddedFile)\b|\/Subtype\s*\/(Image|Type1C|CIDFontType0C|OpenType)\b|\/Length[123]\b/.test(dict)) continue;
    const data = decodeStream(buf.subarray(start, end), dict, lim, state);
    if (data === null) continue;
    if (/\/Type\s*\/ObjStm\b/.test(dict)) {
      // Compressed object streams hold page objects and the Info dictionary in PDF 1.5+.
      state.pages += countPages(data);
      if (infoNum !== null && state.title === null) state.title = titleInObjStm(data, dict, infoNum);
    } else {
      contentText(data, lim, state);
    }
  }
}

function countPages(s: string): number {
  return s.match(/\/Type\s*\/Page(?![A-Za-z0-9])/g)?.length ?? 0;
}

function lastMatch(s: string, re: RegExp): RegExpExecArray | null {
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) last = m;
  return last;
}

/** The stream's dictionary: from the last `N G obj` before it (within a short lookback) to `stream`. */
function streamDict(src: string, at: number): string {
  const window = src.slice(Math.max(0, at - DICT_LOOKBACK), at + 2);
  const obj = lastMatch(window, /\d+\s+\d+\s+obj\b/g);
  return obj ? window.slice(obj.index) : window;
}

/** Where the stream's data ends: its direct /Length when `endstream` follows, else the next `endstream`. */
function streamEnd(src: string, dict: string, start: number): number {
  const len = /\/Length\s+(\d+)(?!\s+\d+\s+R)/.exec(dict);
  if (len) {
    const end = start + Number(len[1]);
    if (end <= src.length && /^\s*endstream/.test(src.slice(end, end + 32))) return end;
  }
  const found = src.indexOf('endstream', start);
  return found === -1 ? src.length : found;
}

/** The stream's bytes as Latin-1 text: raw when unfiltered, inflated for FlateDecode, null for anything else. */
function decodeStream(raw: Buffer, dict: string, lim: PdfLimits, state: ScanState): string | null {
  const filter = /\/Filter\s*(\[[^\]]*\]|\/[A-Za-z0-9]+)/.exec(dict)?.[1];
  if (filter === undefined) {
    if (state.inflated + raw.length > lim.maxInflatedBytes) {
      state.truncated = true;
      return null;
    }
    state.inflated += raw.length;
    return raw.toString('latin1');
  }
  const names = filter.match(/\/[A-Za-z0-9]+/g) ?? [];
  if (names.length !== 1 || (names[0] !== '/FlateDecode' && names[0] !== '/Fl') || /\/Predictor/.test(dict)) return null;
  const room = Math.min(lim.maxStreamBytes, lim.maxInflatedBytes - state.inflated);
  if (room <= 0) {
    state.truncated = true;
    return null;
  }
  try {
    // Sync flush keeps what a truncated stream did produce; maxOutputLength stops a bomb at ROOM bytes.
    const out = inflateSync(raw, { maxOutputLength: room, finishFlush: constants.Z_SYNC_FLUSH });
    state.inflated += out.length;
    return out.toString('latin1');
  } catch (e) {
    if (e instanceof RangeError) state.truncated = true; // over the cap (ERR_BUFFER_TOO_LARGE)
    return null;
  }
}

function titleInObjStm(data: string, dict: string, num: number): string | null {
  const first = Number(/\/First\s+(\d+)/.exec(dict)?.[1] ?? NaN);
  if (!Number.isSafeInteger(first) || first > data.length) return null;
  const header = data.slice(0, first).trim().split(/\s+/).map(Number);
  for (let i = 0; i + 1 < header.length; i += 2) {
    if (header[i] !== num) continue;
    const off = first + (header[i + 1] ?? 0);
    const next = header[i + 3];
    const body = data.slice(off, next === undefined ? off + OBJECT_BODY_CAP : Math.min(first + next, off + OBJECT_BODY_CAP));
    return titleIn(body);
  }
  return null;
}

function titleIn(body: string): string | null {
  const at = /\/Title\s*([(<])/.exec(body);
  if (!at) return null;
  const start = at.index + at[0].length - 1;
  const parsed = at[1] === '(' ? literalString(body, start) : hexString(body, start);
  if (!parsed) return null;
  return decodeTextString(parsed.value).slice(0, MAX_TITLE_CHARS);
}

/** A PDF literal string starting at `(`, with nesting and escapes; its bytes as Latin-1 chars, and where it ends. */
function literalString(s: string, at: number): { value: string; end: number } | null {
  let depth = 0;
  let out = '';
  let i = at;
  for (; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      const n = s[++i];
      if (n === undefined) break;
      const esc: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', '(': '(', ')': ')', '\\': '\\' };
      if (n in esc) out += esc[n];
      else if (n >= '0' && n <= '7') {
        let oct = n;
        while (oct.length < 3 && /[0-7]/.test(s[i + 1] ?? '')) oct += s[++i];
        out += String.fromCharCode(parseInt(oct, 8) & 0xff);
      } else if (n === '\r') {
        if (s[i + 1] === '\n') i++; // a backslash before an end of line continues the string
      } else if (n !== '\n') out += n;
    } else if (c === '(') {
      if (depth++ > 0) out += c;
    } else if (c === ')') {
      if (--depth === 0) return { value: out, end: i + 1 };
      out += c;
    } else out += c;
  }
  return { value: out, end: i };
}

/** A PDF hex string starting at `<`; whitespace ignored, an odd last digit padded with 0. */
function hexString(s: string, at: number): { value: string; end: number } | null {
  const close = s.indexOf('>', at);
  const end = close === -1 ? s.length : close;
  let hex = s.slice(at + 1, end).replace(/[^0-9A-Fa-f]/g, '');
  if (hex.length % 2 === 1) hex += '0';
  return { value: Buffer.from(hex, 'hex').toString('latin1'), end: end + 1 };
}

/** PDF text strings: UTF-16BE when they start with the FE FF mark, else PDFDocEncoding (close to Latin-1). */
function decodeTextString(bytes: string): string {
  if (bytes.startsWith('\xfe\xff')) {
    const b = Buffer.from(bytes.slice(2), 'latin1');
    // An odd trailing byte is half a code unit: dropped.
    return Buffer.from(b.subarray(0, b.length - (b.length % 2))).swap16().toString('utf16le');
  }
  return bytes;
}

/** Pulls the shown text out of one content stream into STATE.text, up to the text cap. */
function contentText(s: string, lim: PdfLimits, state: ScanState): void {
  let strings: string[] = [];
  let nums: number[] = [];
  let array: string[] | null = null;
  const emit = (t: string): void => {
    const clean = withoutControls(decodeTextString(t));
    const room = lim.maxTextChars - state.text.length;
    if (clean.length > room) state.truncated = true;
    state.text += clean.slice(0, Math.max(0, room));
  };
  const newline = (): void => {
    if (state.text !== '' && !state.text.endsWith('\n') && state.text.length < lim.maxTextChars) state.text += '\n';
  };
  let i = 0;
  while (i < s.length && state.text.length < lim.maxTextChars) {
    const c = s[i] ?? '';
    if (c === '(') {
      const str = literalString(s, i);
      if (!str) break;
      (array ?? strings).push(str.value);
      i = str.end;
    } else if (c === '<' && s[i + 1] !== '<') {
      const str = hexString(s, i);
      if (!str) break;
      (array ?? strings).push(str.value);
      i = str.end;
    } else if (c === '[') {
      array = [];
      i++;
    } else if (c === ']') {
      strings.push((array ?? []).join(''));
      array = null;
      i++;
    } else if (c === '%') {
      while (i < s.length && s[i] !== '\n' && s[i] !== '\r') i++;
    } else if (c === '/') {
      i++;
      while (i < s.length && !/[\s/[\]()<>{}%]/.test(s[i] ?? '')) i++;
    } else if (/[-+.0-9]/.test(c)) {
      const m = /^[-+]?(\d+\.?\d*|\.\d+)/.exec(s.slice(i, i + 32));
      const n = m ? Number(m[0]) : NaN;
      // In a TJ array a large negative kern is how PDFs write a space between words.
      if (array && n < -200) array.push(' ');
      nums.push(n);
      if (nums.length > 8) nums = nums.slice(-8);
      i += m ? m[0].length : 1;
    } else if (/[A-Za-z'"*]/.test(c)) {
      const op = /^[A-Za-z'"*][A-Za-z0-9*]*/.exec(s.slice(i, i + 16))?.[0] ?? c;
      i += op.length;
      const last = strings.at(-1);
      switch (op) {
        case 'Tj':
          if (last !== undefined) emit(last);
          break;
        case "'":
        case '"':
          newline();
          if (last !== undefined) emit(last);
          break;
        case 'TJ':
          if (last !== undefined) emit(last);
          break;
        case 'Td':
        case 'TD':
          if ((nums.at(-1) ?? 0) !== 0) newline();
          else if (state.text !== '' && !/\s$/.test(state.text)) state.text += ' ';
          break;
        case 'T*':
        case 'ET':
        case 'Tm':
          newline();
          break;
        case 'BI': {
          // Inline image data is binary and could hold anything: skip to its EI.
          const ei = /\sEI(?=\s|$)/g;
          ei.lastIndex = i;
          const found = ei.exec(s);
          i = found ? found.index + found[0].length : s.length;
          break;
        }
        default:
          break;
      }
      strings = [];
      nums = [];
    } else {
      i++;
    }
  }
  if (state.text.length >= lim.maxTextChars && i < s.length) state.truncated = true;
  newline();
}

/** Drops C0 and C1 control characters except tab and newline: glyph codes of unmapped fonts come out as these. */
function withoutControls(t: string): string {
  let out = '';
  for (const ch of t) {
    const c = ch.codePointAt(0) ?? 0;
    if (c === 0x09 || c === 0x0a || (c >= 0x20 && c < 0x7f) || c > 0x9f) out += ch;
  }
  return out;
}

function tidy(text: string): string {
  return text
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
