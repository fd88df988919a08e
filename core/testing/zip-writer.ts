/**
 * Test support: writes a minimal zip archive (stored or deflated entries),
 * enough to build .docx/.xlsx/.pptx fixtures and hostile archives in tests.
 * Never imported by production code.
 */
import { deflateRawSync } from 'node:zlib';

export interface ZipFixtureEntry {
  readonly name: string;
  readonly data: Buffer | string;
  /** Deflate (default) or store. */
  readonly store?: boolean;
  /** Overrides the uncompressed size written in both headers (to test lying sizes). */
  readonly declaredSize?: number;
}

/** The zip archive holding ENTRIES, in order. CRCs are left zero: Cordon's reader does not check them. */
export function zipArchive(entries: readonly ZipFixtureEntry[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const data = Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data, 'utf8');
    const body = e.store === true ? data : deflateRawSync(data);
    const name = Buffer.from(e.name, 'utf8');
    const size = e.declaredSize ?? data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    writeEntryFields(local, 8, e.store === true ? 0 : 8, body.length, size, name.length);
    locals.push(local, name, body);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    writeEntryFields(cd, 10, e.store === true ? 0 : 8, body.length, size, name.length);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    offset += 30 + name.length + body.length;
  }
  const cdBytes = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdBytes.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cdBytes, eocd]);
}

/** Method, sizes and name length: the same layout in both headers, from the method's offset AT (CRC left zero). */
function writeEntryFields(header: Buffer, at: number, method: number, compressed: number, size: number, nameLength: number): void {
  header.writeUInt16LE(method, at);
  header.writeUInt32LE(compressed, at + 10);
  header.writeUInt32LE(size, at + 14);
  header.writeUInt16LE(nameLength, at + 18);
}

/** A minimal .docx whose body is PARAGRAPHS, with the sensitivity LABEL (name, GUID) when given. */
export function docxFixture(paragraphs: readonly string[], label?: { readonly name: string; readonly id: string; readonly enabled?: boolean }): Buffer {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const body = paragraphs.map((p) => `<w:p><w:r><w:t xml:space="preserve">${esc(p)}</w:t></w:r></w:p>`).join('');
  const entries: ZipFixtureEntry[] = [
    { name: '[Content_Types].xml', data: '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>' },
    { name: 'word/document.xml', data: `<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>` },
  ];
  if (label) {
    const pid = (n: number, key: string, value: string): string =>
      `<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="${n}" name="MSIP_Label_${label.id}_${key}"><vt:lpwstr>${esc(value)}</vt:lpwstr></property>`;
    entries.push({
      name: 'docProps/custom.xml',
      data: `<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">${pid(2, 'Enabled', label.enabled === false ? 'false' : 'true')}${pid(3, 'Name', label.name)}${pid(4, 'SiteId', '72f988bf-86f1-41af-91ab-2d7cd011db47')}</Properties>`,
    });
  }
  return zipArchive(entries);
}
