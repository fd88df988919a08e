/**
 * pdfSummary over PDFs built by hand here: plain and FlateDecode content,
 * literal strings with escapes, hex strings, TJ arrays, the Info title (also
 * from a compressed object stream), and hostile input: a compression bomb is
 * capped, garbage and truncation never throw.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { pdfSummary } from './pdf-text.js';

interface Obj {
  readonly dict: string;
  readonly stream?: Buffer;
}

/** A PDF with OBJS numbered from 1 and a trailer naming INFO; offsets in the xref are not needed by the scanner but kept plausible. */
function pdf(objs: readonly Obj[], trailer = ''): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  objs.forEach((o, i) => {
    if (o.stream) {
      parts.push(Buffer.from(`${i + 1} 0 obj\n<< ${o.dict} /Length ${o.stream.length} >>\nstream\n`, 'latin1'), o.stream, Buffer.from('\nendstream\nendobj\n', 'latin1'));
    } else {
      parts.push(Buffer.from(`${i + 1} 0 obj\n<< ${o.dict} >>\nendobj\n`, 'latin1'));
    }
  });
  parts.push(Buffer.from(`trailer\n<< /Size ${objs.length + 1} /Root 1 0 R ${trailer} >>\n%%EOF\n`, 'latin1'));
  return Buffer.concat(parts);
}

const content = (ops: string, flate = false): Obj => {
  const raw = Buffer.from(ops, 'latin1');
  return flate ? { dict: '/Filter /FlateDecode', stream: deflateSync(raw) } : { dict: '', stream: raw };
};

const twoPages = (c1: Obj, c2: Obj, extra: Obj[] = [], trailer = ''): Buffer =>
  pdf(
    [
      { dict: '/Type /Catalog /Pages 2 0 R' },
      { dict: '/Type /Pages /Kids [3 0 R 4 0 R] /Count 2' },
      { dict: '/Type /Page /Parent 2 0 R /Contents 5 0 R' },
      { dict: '/Type /Page /Parent 2 0 R /Contents 6 0 R' },
      c1,
      c2,
      ...extra,
    ],
    trailer,
  );

test('uncompressed content: Tj text, page count, literal title from the Info dictionary', () => {
  const bytes = twoPages(
    content('BT /F1 12 Tf 72 700 Td (Hello, world) Tj ET'),
    content('BT /F1 12 Tf 72 700 Td (Second page) Tj 0 -14 Td (next line) Tj ET'),
    [{ dict: '/Title (Quarterly \\(draft\\) report) /Author (Me)' }, { dict: '/Type /Outlines /Title (Not the title)' }],
    '/Info 7 0 R',
  );
  const s = pdfSummary(bytes);
  assert.equal(s.pages, 2);
  assert.equal(s.title, 'Quarterly (draft) report');
  assert.equal(s.text, 'Hello, world\nSecond page\nnext line');
  assert.equal(s.truncated, false);
});

test('FlateDecode content, TJ arrays with kerning, quote operators, escapes and hex strings', () => {
  const bytes = twoPages(
    content("BT [(Kern)-20(ed)-400(word)] TJ T* (line\\040two\\\\\\)) ' <48656C6C6F> Tj ET", true),
    content('BT 1 0 0 1 0 0 Tm 0 0 (quoted) " ET', true),
    [{ dict: '/Title <FEFF00C9007400E9>' }],
    '/Info 7 0 R',
  );
  const s = pdfSummary(bytes);
  assert.equal(s.text, 'Kerned word\nline two\\)Hello\nquoted');
  assert.equal(s.title, 'Été');
  assert.equal(s.pages, 2);
});

test('pages and title inside a compressed object stream (PDF 1.5)', () => {
  const objects = ['<< /Type /Page /Parent 2 0 R >>', '<< /Type /Page /Parent 2 0 R >>', '<< /Title (From ObjStm) >>'];
  let header = '';
  let body = '';
  objects.forEach((o, i) => {
    header += `${10 + i} ${body.length} `;
    body += o + '\n';
  });
  const data = Buffer.from(header + body, 'latin1');
  const bytes = pdf([{ dict: '/Type /Catalog' }, { dict: `/Type /ObjStm /N 3 /First ${header.length} /Filter /FlateDecode`, stream: deflateSync(data) }], '/Info 12 0 R');
  const s = pdfSummary(bytes);
  assert.equal(s.pages, 2);
  assert.equal(s.title, 'From ObjStm');
});

test('a compression bomb is capped: the stream is skipped, the summary says truncated, quickly', () => {
  const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024, 0x20)); // ~64 KB on disk
  const bytes = twoPages(content('BT (before) Tj ET'), { dict: '/Filter /FlateDecode', stream: bomb });
  const t0 = performance.now();
  const s = pdfSummary(bytes, { maxStreamBytes: 1024 * 1024 });
  assert.ok(performance.now() - t0 < 1000);
  assert.equal(s.truncated, true);
  assert.equal(s.text, 'before');
  // The total budget holds across many streams too.
  const many = twoPages(content('BT (a) Tj ET', true), content('BT (b) Tj ET', true), Array.from({ length: 20 }, () => ({ dict: '/Filter /FlateDecode', stream: deflateSync(Buffer.alloc(100_000, 0x20)) })));
  const capped = pdfSummary(many, { maxInflatedBytes: 500_000 });
  assert.equal(capped.truncated, true);
  assert.equal(capped.text, 'a\nb');
});

test('text is capped at maxTextChars', () => {
  const s = pdfSummary(twoPages(content(`BT (${'x'.repeat(5000)}) Tj ET`), content('BT (more) Tj ET')), { maxTextChars: 100 });
  assert.equal(s.text.length, 100);
  assert.equal(s.truncated, true);
});

test('not a PDF, empty, truncated or random bytes: never throws', () => {
  assert.deepEqual(pdfSummary(Buffer.alloc(0)), { pages: 0, title: null, text: '', truncated: false });
  assert.deepEqual(pdfSummary(Buffer.from('hello')), { pages: 0, title: null, text: '', truncated: false });
  const good = twoPages(content('BT (Hello) Tj ET', true), content('BT (World) Tj ET'), [{ dict: '/Title (T' }], '/Info 7 0 R');
  for (let cut = 0; cut < good.length; cut += 7) pdfSummary(good.subarray(0, cut));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 2000 }), (noise, at) => {
      const mixed = Buffer.concat([good.subarray(0, at), noise, good.subarray(at)]);
      const s = pdfSummary(mixed);
      assert.equal(typeof s.text, 'string');
    }),
    { numRuns: 300 },
  );
});
