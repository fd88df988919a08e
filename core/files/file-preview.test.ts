/**
 * Previews against real files and real symlinks: every kind of preview, and
 * every way the agent could steer the read out of the workspace (a link to a
 * host file, a link to a host folder on the way, a link that points back
 * inside, `..`, a FIFO, a folder swapped for a link while we read).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { checkRelPath, readContained, readPreview } from './file-preview.js';

const base = mkdtempSync(join(tmpdir(), 'cordon-preview-'));
after(() => rmSync(base, { recursive: true, force: true }));
const root = join(base, 'ws');
const outside = join(base, 'host');
mkdirSync(join(root, 'sub'), { recursive: true });
mkdirSync(outside);
writeFileSync(join(outside, 'id_ed25519'), 'SECRET-HOST-KEY');
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);

test('text, markdown, image, pdf and binary previews', async () => {
  writeFileSync(join(root, 'notes.txt'), 'hello\n');
  writeFileSync(join(root, 'sub', 'README.md'), '# Title\n');
  writeFileSync(join(root, 'pic.dat'), PNG);
  writeFileSync(join(root, 'blob.bin'), Buffer.from([1, 0, 2]));
  const content = deflateSync(Buffer.from('BT (PDF body) Tj ET'));
  writeFileSync(
    join(root, 'doc.pdf'),
    Buffer.concat([Buffer.from(`%PDF-1.4\n1 0 obj\n<< /Type /Page >>\nendobj\n2 0 obj\n<< /Filter /FlateDecode /Length ${content.length} >>\nstream\n`), content, Buffer.from('\nendstream\nendobj\n')]),
  );
  assert.deepEqual(await readPreview(root, 'notes.txt'), { kind: 'text', text: 'hello\n', truncated: false, size: 6 });
  assert.deepEqual(await readPreview(root, 'sub/README.md'), { kind: 'markdown', text: '# Title\n', truncated: false, size: 8 });
  assert.deepEqual(await readPreview(root, 'pic.dat'), { kind: 'image', mime: 'image/png', dataUrl: `data:image/png;base64,${PNG.toString('base64')}`, size: PNG.length });
  assert.deepEqual(await readPreview(root, 'blob.bin'), { kind: 'binary', size: 3 });
  const pdf = await readPreview(root, 'doc.pdf');
  assert.equal(pdf.kind, 'pdf');
  assert.ok(pdf.kind === 'pdf' && pdf.text === 'PDF body' && pdf.pages === 1);
});

test('long text is read only up to the limit and shown truncated, never cut inside a character', async () => {
  writeFileSync(join(root, 'long.txt'), 'ab€'.repeat(100_000));
  const p = await readPreview(root, 'long.txt', { maxTextBytes: 1000 });
  assert.equal(p.kind, 'text');
  assert.ok(p.kind === 'text' && p.truncated && p.size === 500_000 && p.text.length < 1000 && !p.text.includes('\ufffd'));
});

test('images over the limit are refused as too_large', async () => {
  writeFileSync(join(root, 'big.png'), Buffer.concat([PNG, Buffer.alloc(2000)]));
  assert.equal((await readPreview(root, 'big.png', { maxImageBytes: 1000 })).kind === 'refused' ? 'refused' : 'shown', 'refused');
  const r = await readPreview(root, 'big.png', { maxImageBytes: 1000 });
  assert.ok(r.kind === 'refused' && r.reason === 'too_large');
});

test('paths that are not plain workspace-relative paths are refused before any file access', async () => {
  for (const p of ['', '/etc/passwd', '../host/id_ed25519', 'sub/../../host/id_ed25519', 'a//b', './notes.txt', 'sub/', 'a\0b', 'sub\\..\\x', 'C:/x']) {
    const r = await readPreview(root, p);
    assert.ok(r.kind === 'refused' && r.reason === 'outside_workspace', `${JSON.stringify(p)}: ${JSON.stringify(r)}`);
    assert.equal(checkRelPath(p).kind, 'deny');
  }
  assert.deepEqual(checkRelPath('sub/README.md'), { kind: 'allow', value: ['sub', 'README.md'] });
});

test('a symlink anywhere on the path is refused: to a host file, to a host folder, even back inside', async () => {
  symlinkSync(join(outside, 'id_ed25519'), join(root, 'key'));
  symlinkSync(outside, join(root, 'hostdir'));
  symlinkSync(join(root, 'notes.txt'), join(root, 'inside-link'));
  symlinkSync('sub', join(root, 'sublink'));
  for (const p of ['key', 'hostdir/id_ed25519', 'inside-link', 'sublink/README.md']) {
    const r = await readPreview(root, p);
    assert.ok(r.kind === 'refused' && r.reason === 'symlink', `${p}: ${JSON.stringify(r)}`);
    assert.ok(!JSON.stringify(r).includes('SECRET'));
  }
});

test('missing files, folders and FIFOs are refused without blocking', async () => {
  const missing = await readPreview(root, 'nope.txt');
  assert.ok(missing.kind === 'refused' && missing.reason === 'missing');
  const through = await readPreview(root, 'notes.txt/x');
  assert.ok(through.kind === 'refused' && through.reason === 'missing');
  const dir = await readPreview(root, 'sub');
  assert.ok(dir.kind === 'refused' && dir.reason === 'not_a_file');
  execFileSync('mkfifo', [join(root, 'pipe')]);
  const fifo = await readPreview(root, 'pipe');
  assert.ok(fifo.kind === 'refused' && fifo.reason === 'not_a_file');
});

test('a control character in a name cannot reach a message unescaped', async () => {
  const r = await readPreview(root, 'evil\u001b[2J\u202e.txt');
  assert.ok(r.kind === 'refused' && !r.message.includes('\u001b') && r.message.includes('\\u001b'));
});

test('a folder swapped for a link to the host while we read never yields host content', async () => {
  // A separate process flips sw/ between a real folder and a link to the host folder as fast as it can.
  const sw = join(root, 'sw');
  mkdirSync(join(root, 'swreal'));
  writeFileSync(join(root, 'swreal', 'id_ed25519'), 'workspace copy');
  const flipper = spawn(process.execPath, [
    '-e',
    `const fs = require('fs');
     const [sw, real, host] = process.argv.slice(1);
     for (;;) {
       try { fs.rmSync(sw, { force: true }); fs.symlinkSync(real, sw + '.tmp'); fs.rmSync(sw + '.tmp'); } catch {}
       try { fs.renameSync(real, sw); fs.symlinkSync(host, real + '.l'); fs.renameSync(sw, real); } catch {}
       try { fs.symlinkSync(host, sw); } catch {}
       try { fs.rmSync(sw); fs.renameSync(real, sw); fs.renameSync(sw, real); } catch {}
       try { fs.rmSync(real + '.l', { force: true }); } catch {}
     }`,
    sw,
    join(root, 'swreal'),
    outside,
  ]);
  try {
    let shown = 0;
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      for (const p of ['sw/id_ed25519', 'swreal/id_ed25519']) {
        const r = await readPreview(root, p);
        assert.ok(!(r.kind === 'text' && r.text.includes('SECRET')), 'host content was read');
        if (r.kind === 'text') shown++;
        const c = await readContained(root, p, 100);
        assert.ok(!(c.kind === 'read' && c.bytes.toString().includes('SECRET')), 'host content was read');
      }
    }
    assert.ok(shown > 0, 'the workspace copy was readable at times');
  } finally {
    flipper.kill();
  }
});
