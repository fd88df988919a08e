/**
 * Classification follows content, not names: magic bytes make images and
 * PDFs, NUL or invalid UTF-8 makes binary, and SVG stays text.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cutUtf8Tail, fileKind, imageMime, SNIFF_BYTES } from './file-kind.js';

const b = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s) : Buffer.from(s));
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];

test('images are recognised by magic bytes whatever the name', () => {
  assert.equal(fileKind('photo.txt', b(PNG), true), 'image');
  assert.equal(imageMime(b(PNG)), 'image/png');
  assert.equal(imageMime(b([0xff, 0xd8, 0xff, 0xe0])), 'image/jpeg');
  assert.equal(imageMime(b('GIF89a....')), 'image/gif');
  assert.equal(imageMime(b('GIF87a')), 'image/gif');
  assert.equal(imageMime(b('RIFF\x10\x00\x00\x00WEBPVP8 ')), 'image/webp');
  assert.equal(imageMime(b('RIFF\x10\x00\x00\x00WAVEfmt ')), null);
});

test('a file named like an image without the magic is not an image', () => {
  assert.equal(fileKind('evil.png', b('<script>alert(1)</script>'), true), 'text');
  assert.equal(fileKind('x.jpg', b([0x00, 0x01, 0x02]), true), 'binary');
});

test('SVG is text, never an image', () => {
  assert.equal(fileKind('logo.svg', b('<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'), true), 'text');
});

test('PDF by its %PDF- header', () => {
  assert.equal(fileKind('report.bin', b('%PDF-1.7\n%\xe2\xe3\n'), false), 'pdf');
  assert.equal(fileKind('report.pdf', b('not a pdf'), true), 'text');
});

test('NUL bytes or invalid UTF-8 in the first 8 KB make a file binary', () => {
  assert.equal(fileKind('a.txt', b('hello\0world'), true), 'binary');
  assert.equal(fileKind('a.txt', b([0x68, 0xc3, 0x28]), true), 'binary');
  assert.equal(fileKind('a.txt', b([0xed, 0xa0, 0x80]), true), 'binary', 'UTF-16 surrogates are not UTF-8');
  // A NUL past the sniff window is not looked at.
  assert.equal(fileKind('a.txt', Buffer.concat([Buffer.alloc(SNIFF_BYTES, 0x61), b([0])]), false), 'text');
});

test('a character cut at the end of a partial read is not invalid; at the end of a whole file it is', () => {
  const euro = b('€'); // e2 82 ac
  const cut = Buffer.concat([b('price '), euro.subarray(0, 2)]);
  assert.equal(fileKind('a.txt', cut, false), 'text');
  assert.equal(fileKind('a.txt', cut, true), 'binary');
  assert.equal(cutUtf8Tail(euro), 0);
  assert.equal(cutUtf8Tail(euro.subarray(0, 1)), 1);
  assert.equal(cutUtf8Tail(euro.subarray(0, 2)), 2);
  assert.equal(cutUtf8Tail(b('abc')), 0);
});

test('markdown by extension, only when the content is text', () => {
  assert.equal(fileKind('README.md', b('# Title\n'), true), 'markdown');
  assert.equal(fileKind('notes.MARKDOWN', b(''), true), 'markdown');
  assert.equal(fileKind('README.md', b([0, 1]), true), 'binary');
  assert.equal(fileKind('empty', b(''), true), 'text');
});
