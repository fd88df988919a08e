/**
 * What a file holds, for the gate: its content type, the text DLP should
 * scan (the file itself for text; what can be extracted from Office
 * documents and PDFs), and Microsoft sensitivity labels. Pure: bytes in,
 * facts out; never throws. A document whose text cannot be read within the
 * bounds says so (`unreadable`), and the gate then refuses it under
 * scan/redact rather than pass it unscanned.
 */
import { isUtf8 } from 'node:buffer';
import { extname } from 'node:path/posix';
import { fileKind, imageMime } from '../files/file-kind.js';
import { pdfSummary } from '../files/pdf-text.js';
import type { ContentForm, SensitivityLabel } from './gate-decision.js';
import { ZipArchive, type ZipLimits } from './zip-reader.js';

/** What {@link inspectFile} found. `text` is what DLP scans (null: nothing to scan). */
export interface FileContent {
  readonly contentType: string;
  readonly form: ContentForm;
  readonly text: string | null;
  readonly labels: readonly SensitivityLabel[];
  /** Set when the text could not be extracted whole; the scan then counts as incomplete. */
  readonly unreadable?: string;
}

/** Characters of PDF text the gate scans; a PDF with more is refused under scan/redact (its text is incomplete). */
const PDF_MAX_TEXT_CHARS = 16 * 1024 * 1024;

const OFFICE_TYPES: Readonly<Record<string, { readonly type: string; readonly parts: RegExp }>> = {
  // Body, headers, footers, footnotes, comments; not styles, themes or settings.
  '.docx': { type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', parts: /^word\/(document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml$/ },
  '.docm': { type: 'application/vnd.ms-word.document.macroEnabled.12', parts: /^word\/(document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml$/ },
  '.xlsx': { type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', parts: /^xl\/(sharedStrings|worksheets\/sheet\d+|comments\d*)\.xml$/ },
  '.xlsm': { type: 'application/vnd.ms-excel.sheet.macroEnabled.12', parts: /^xl\/(sharedStrings|worksheets\/sheet\d+|comments\d*)\.xml$/ },
  '.pptx': { type: 'application/vnd.openxmlformats-officedocument.presentationml.presentation', parts: /^ppt\/(slides\/slide\d+|notesSlides\/notesSlide\d+|comments\/comment\d+)\.xml$/ },
  '.pptm': { type: 'application/vnd.ms-powerpoint.presentation.macroEnabled.12', parts: /^ppt\/(slides\/slide\d+|notesSlides\/notesSlide\d+|comments\/comment\d+)\.xml$/ },
};

/** Inspects a file named NAME holding BYTES. */
export function inspectFile(name: string, bytes: Buffer, zipLimits: Partial<ZipLimits> = {}): FileContent {
  const ext = extname(name).toLowerCase();
  const office = Object.hasOwn(OFFICE_TYPES, ext) ? OFFICE_TYPES[ext] : undefined;
  const isZip = bytes.length >= 4 && bytes.readUInt32LE(0) === 0x04034b50;
  if (office !== undefined || (isZip && bytes.length > 0)) {
    if (office === undefined) return { contentType: 'application/zip', form: 'opaque', text: null, labels: [] };
    return officeContent(bytes, office.type, office.parts, zipLimits);
  }
  const kind = fileKind(name, bytes.subarray(0, 8192), bytes.length <= 8192);
  switch (kind) {
    case 'text':
    case 'markdown': {
      // The sniff looked at the head only: a text file must be UTF-8 all through to be rewritten as text.
      if (!isUtf8(bytes)) return { contentType: 'application/octet-stream', form: 'opaque', text: null, labels: [] };
      const text = bytes.toString('utf8');
      return { contentType: kind === 'markdown' ? 'text/markdown' : 'text/plain', form: 'text', text, labels: [] };
    }
    case 'pdf': {
      if (bytes.includes('/Encrypt')) return { contentType: 'application/pdf', form: 'opaque', text: null, labels: [] };
      // The preview's text cap (200,000 characters) would refuse every long PDF; the gate reads more.
      const s = pdfSummary(bytes, { maxTextChars: PDF_MAX_TEXT_CHARS });
      const text = [s.title ?? '', s.text].join('\n');
      return { contentType: 'application/pdf', form: 'extracted', text, labels: [], ...(s.truncated ? { unreadable: 'PDF text exceeds the extraction limits' } : {}) };
    }
    case 'image':
      return { contentType: imageMime(bytes) ?? 'application/octet-stream', form: 'opaque', text: null, labels: [] };
    case 'binary':
      return { contentType: 'application/octet-stream', form: 'opaque', text: null, labels: [] };
  }
}

function officeContent(bytes: Buffer, type: string, parts: RegExp, zipLimits: Partial<ZipLimits>): FileContent {
  const opened = ZipArchive.open(bytes, zipLimits);
  if (!opened.ok) return { contentType: type, form: 'extracted', text: '', labels: [], unreadable: opened.reason };
  const zip = opened.value;
  const texts: string[] = [];
  for (const e of zip.entries) {
    if (!parts.test(e.name)) continue;
    const r = zip.read(e);
    if (!r.ok) return { contentType: type, form: 'extracted', text: '', labels: [], unreadable: r.reason };
    texts.push(xmlText(r.value.toString('utf8')));
  }
  let labels: SensitivityLabel[] = [];
  const custom = zip.entry('docProps/custom.xml');
  if (custom !== undefined) {
    const r = zip.read(custom);
    if (!r.ok) return { contentType: type, form: 'extracted', text: '', labels: [], unreadable: r.reason };
    labels = sensitivityLabels(r.value.toString('utf8'));
  }
  return { contentType: type, form: 'extracted', text: texts.join('\n'), labels };
}

/** The text of an Office XML part: paragraph and cell ends become line breaks, tags go, entities are decoded. */
export function xmlText(xml: string): string {
  return decodeEntities(
    xml
      .replace(/<\/(w:p|a:p|si|row|w:tr)>/g, '\n')
      .replace(/<(w:tab|w:br)\b[^>]*\/>/g, ' ')
      .replace(/<[^>]*>/g, ''),
  );
}

/**
 * Enabled Microsoft sensitivity labels in a `docProps/custom.xml`:
 * `MSIP_Label_<guid>_Name` gives the name; a label whose `_Enabled` is not
 * "true" is ignored (Office keeps removed labels around disabled).
 */
export function sensitivityLabels(xml: string): SensitivityLabel[] {
  const props = new Map<string, Map<string, string>>();
  const re = /<property\b[^>]*\bname="MSIP_Label_([0-9A-Fa-f-]{36})_([A-Za-z]+)"[^>]*>([\s\S]*?)<\/property>/g;
  for (const m of xml.matchAll(re)) {
    const id = (m[1] ?? '').toLowerCase();
    const key = m[2] ?? '';
    const value = decodeEntities((m[3] ?? '').replace(/<[^>]*>/g, '')).trim();
    if (!props.has(id)) props.set(id, new Map());
    props.get(id)?.set(key, value);
  }
  const out: SensitivityLabel[] = [];
  for (const [id, p] of props) {
    if ((p.get('Enabled') ?? '').toLowerCase() !== 'true') continue;
    out.push({ id, name: p.get('Name') ?? id });
  }
  return out;
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#\d{1,7}|lt|gt|amp|quot|apos);/g, (all, e: string) => {
    switch (e) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
    }
    const code = e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : all;
  });
}
