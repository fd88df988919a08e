import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { demuxDockerStream } from './docker-stream.js';

function frame(id: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = id;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

function sink(): { w: Writable; text: () => string } {
  const parts: Buffer[] = [];
  const w = new Writable({
    write(c: Buffer, _e, cb) {
      parts.push(c);
      cb();
    },
  });
  return { w, text: () => Buffer.concat(parts).toString() };
}

test('frames are routed by stream id, whatever the chunking', () => {
  const all = Buffer.concat([frame(1, 'out-1\n'), frame(2, 'err-1\n'), frame(1, 'out-2 ünïcode\n'), frame(2, '')]);
  for (const size of [1, 3, 7, 8, 9, all.length]) {
    const src = new PassThrough();
    const out = sink();
    const err = sink();
    demuxDockerStream(src, out.w, err.w);
    for (let i = 0; i < all.length; i += size) src.write(all.subarray(i, i + size));
    assert.equal(out.text(), 'out-1\nout-2 ünïcode\n', `chunk size ${size}`);
    assert.equal(err.text(), 'err-1\n', `chunk size ${size}`);
  }
});
