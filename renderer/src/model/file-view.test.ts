import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changeLabel, formatBytes, hunkHeader, isPreviewableImageUrl } from './file-view.js';

test('changes read as a person says them', () => {
  assert.deepEqual((['created', 'modified', 'deleted'] as const).map(changeLabel), ['Created', 'Changed', 'Deleted']);
});

test('only base64 raster images are previewed', () => {
  for (const ok of ['data:image/png;base64,iVBORw0KGgo=', 'data:image/jpeg;base64,/9j/4AAQ', 'data:image/gif;base64,R0lG', 'data:image/webp;base64,UklG']) {
    assert.equal(isPreviewableImageUrl(ok), true, ok);
  }
  for (const bad of [
    'data:image/svg+xml;base64,PHN2Zz4=',
    'data:image/svg+xml,<svg onload=alert(1)>',
    'data:text/html;base64,PHNjcmlwdD4=',
    'https://example.com/a.png',
    'DATA:image/png;base64,AAAA',
    'data:image/png,<raw>',
    'data:image/png;base64,AA AA',
    'javascript:alert(1)//data:image/png;base64,',
    '',
  ]) {
    assert.equal(isPreviewableImageUrl(bad), false, bad);
  }
});

test('hunk headers are the unified-diff ones', () => {
  assert.equal(hunkHeader({ oldStart: 3, oldLines: 4, newStart: 3, newLines: 5 }), '@@ -3,4 +3,5 @@');
});

test('sizes', () => {
  assert.equal(formatBytes(1), '1 byte');
  assert.equal(formatBytes(812), '812 bytes');
  assert.equal(formatBytes(12_595), '12.3 KB');
  assert.equal(formatBytes(4 * 1024 * 1024), '4.0 MB');
  assert.equal(formatBytes(3 * 1024 ** 4), '3072.0 GB');
});
