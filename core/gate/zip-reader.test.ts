import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { zipArchive, docxFixture } from '../testing/zip-writer.js';
import { ZipArchive } from './zip-reader.js';
import { inspectFile, sensitivityLabels, xmlText } from './file-content.js';

test('reads stored and deflated entries by their directory names', () => {
  const z = ZipArchive.open(zipArchive([{ name: 'a.txt', data: 'hello', store: true }, { name: 'dir/b.xml', data: '<x>world</x>' }]));
  assert.ok(z.ok);
  assert.deepEqual(z.value.entries.map((e) => e.name), ['a.txt', 'dir/b.xml']);
  const b = z.value.entry('dir/b.xml');
  assert.ok(b);
  const r = z.value.read(b);
  assert.ok(r.ok);
  assert.equal(r.value.toString(), '<x>world</x>');
});

test('a zip bomb costs at most the entry cap: 200 MB of zeros declared small, or declared large, is refused', () => {
  const zeros = Buffer.alloc(200 * 1024 * 1024);
  const lying = ZipArchive.open(zipArchive([{ name: 'word/document.xml', data: zeros, declaredSize: 1000 }]));
  assert.ok(lying.ok);
  const e = lying.value.entries[0];
  assert.ok(e);
  const before = process.memoryUsage().arrayBuffers;
  const r = lying.value.read(e);
  assert.equal(r.ok, false, 'inflating past the declared size is refused');
  assert.ok(process.memoryUsage().arrayBuffers - before < 50 * 1024 * 1024, 'the bomb was not inflated');
  const honest = ZipArchive.open(zipArchive([{ name: 'x', data: zeros }]), { maxEntryBytes: 1024 * 1024 });
  assert.ok(honest.ok);
  const h = honest.value.entries[0];
  assert.ok(h);
  assert.match(honest.value.read(h).ok ? '' : (honest.value.read(h) as { reason: string }).reason, /over the reading limit/);
});

test('the total budget is shared across entries', () => {
  const z = ZipArchive.open(zipArchive([{ name: 'a', data: Buffer.alloc(600) }, { name: 'b', data: Buffer.alloc(600) }]), { maxTotalBytes: 1000 });
  assert.ok(z.ok);
  const [a, b] = z.value.entries;
  assert.ok(a && b);
  assert.equal(z.value.read(a).ok, true);
  assert.equal(z.value.read(b).ok, false);
});

test('damaged, truncated, non-zip and over-full archives are values, never exceptions', () => {
  const good = zipArchive([{ name: 'a', data: 'x' }]);
  assert.equal(ZipArchive.open(Buffer.from('not a zip')).ok, false);
  assert.equal(ZipArchive.open(Buffer.alloc(0)).ok, false);
  for (let cut = 1; cut < good.length; cut++) {
    const z = ZipArchive.open(good.subarray(0, cut));
    if (z.ok) for (const e of z.value.entries) z.value.read(e);
  }
  const many = zipArchive(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: '' })));
  assert.match((ZipArchive.open(many, { maxEntries: 10 }) as { reason: string }).reason, /more than 10 entries/);
  // A name with path tricks is just a name: it is compared, never opened.
  const tricky = ZipArchive.open(zipArchive([{ name: '../../etc/passwd', data: 'x' }]));
  assert.ok(tricky.ok);
  assert.equal(tricky.value.entries[0]?.name, '../../etc/passwd');
});

test('a .docx: body text extracted, the enabled sensitivity label found, a disabled one ignored', () => {
  const c = inspectFile('report.docx', docxFixture(['Quarterly figures', 'a < b & c'], { name: 'Confidential', id: '1A2B3C4D-1111-2222-3333-444455556666' }));
  assert.equal(c.form, 'extracted');
  assert.equal(c.contentType, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document');
  assert.match(c.text ?? '', /Quarterly figures\na < b & c/);
  assert.deepEqual(c.labels, [{ id: '1a2b3c4d-1111-2222-3333-444455556666', name: 'Confidential' }]);
  const off = inspectFile('r.docx', docxFixture(['x'], { name: 'Confidential', id: '1A2B3C4D-1111-2222-3333-444455556666', enabled: false }));
  assert.deepEqual(off.labels, []);
  assert.equal(inspectFile('r.docx', Buffer.from('garbage')).unreadable !== undefined, true, 'a broken document is unreadable, not clean');
});

test('kinds: text is text, images and binaries are opaque, a zip is opaque, entities decode', () => {
  assert.equal(inspectFile('a.txt', Buffer.from('hi')).form, 'text');
  assert.equal(inspectFile('a.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0])).contentType, 'image/png');
  assert.equal(inspectFile('a.bin', Buffer.from([0, 1, 2])).form, 'opaque');
  assert.equal(inspectFile('a.zip', zipArchive([{ name: 'x', data: 'y' }])).contentType, 'application/zip');
  assert.equal(xmlText('<t>&#x41;&#66;&lt;&amp;</t>'), 'AB<&');
  assert.deepEqual(sensitivityLabels('<property name="MSIP_Label_x_Name">bad id</property>'), []);
});

test('a PDF: its page text is extracted for the scan; an encrypted one is opaque', () => {
  const ops = Buffer.from('BT /F1 12 Tf (key AKIAQ3EGRTWXZ7PLKM4N) Tj ET', 'latin1');
  const doc = Buffer.concat([
    Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n', 'latin1'),
    Buffer.from(`4 0 obj\n<< /Filter /FlateDecode /Length ${deflateSync(ops).length} >>\nstream\n`, 'latin1'),
    deflateSync(ops),
    Buffer.from('\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n', 'latin1'),
  ]);
  const c = inspectFile('scan.pdf', doc);
  assert.equal(c.form, 'extracted');
  assert.equal(c.contentType, 'application/pdf');
  assert.match(c.text ?? '', /key AKIAQ3EGRTWXZ7PLKM4N/);
  assert.equal(inspectFile('x.pdf', Buffer.concat([doc, Buffer.from('<< /Encrypt 9 0 R >>')])).form, 'opaque');
});
