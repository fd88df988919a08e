import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeContentEncoding } from './content-encoding.js';

const MAX = 1024 * 1024;
const ENCODERS: Readonly<Record<string, (b: Buffer) => Buffer>> = {
  gzip: (b) => gzipSync(b),
  'x-gzip': (b) => gzipSync(b),
  deflate: (b) => deflateSync(b),
  br: (b) => brotliCompressSync(b),
};

void describe('request body Content-Encoding', () => {
  void it('undoes any stack of up to three codings, applied in header order', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.constantFrom(...Object.keys(ENCODERS)), { minLength: 1, maxLength: 3 }), (bytes, codings) => {
        let body: Buffer = Buffer.from(bytes);
        for (const c of codings) body = (ENCODERS[c] as (b: Buffer) => Buffer)(body);
        const r = decodeContentEncoding(body, codings.map((c) => c.toUpperCase()).join(' , '), MAX);
        assert.ok(r.ok);
        assert.equal(r.decoded, true);
        assert.deepEqual(Buffer.from(r.body), Buffer.from(bytes));
      }),
      { numRuns: 200 },
    );
  });

  void it('reads deflate sent raw (no zlib header), as some clients do', () => {
    const r = decodeContentEncoding(deflateRawSync('hello'), 'deflate', MAX);
    assert.ok(r.ok);
    assert.equal(r.body.toString(), 'hello');
  });

  void it('leaves identity and absent codings alone', () => {
    for (const h of [undefined, '', 'identity', ' Identity ']) {
      const r = decodeContentEncoding(Buffer.from('x'), h, MAX);
      assert.deepEqual(r.ok && [r.decoded, r.body.toString()], [false, 'x']);
    }
  });

  void it('refuses unknown codings, too many layers, corrupt or trailing bytes, and bombs', () => {
    const fail = (body: Buffer, h: string, max = MAX): string => {
      const r = decodeContentEncoding(body, h, max);
      return r.ok ? 'ok' : r.failure;
    };
    assert.equal(fail(Buffer.from('x'), 'zstd'), 'unsupported_encoding');
    assert.equal(fail(Buffer.from('x'), 'compress'), 'unsupported_encoding');
    assert.equal(fail(gzipSync(gzipSync(gzipSync(gzipSync('x')))), 'gzip, gzip, gzip, gzip'), 'unsupported_encoding');
    assert.equal(fail(Buffer.from('not gzip at all'), 'gzip'), 'undecodable_body');
    assert.equal(fail(Buffer.concat([gzipSync('a'), Buffer.from('trailing')]), 'gzip'), 'undecodable_body');
    assert.equal(fail(gzipSync('a').subarray(0, 12), 'gzip'), 'undecodable_body');
    // 64 MiB of zeros gzip to ~64 KiB: the bound stops it long before it is all in memory.
    assert.equal(fail(gzipSync(Buffer.alloc(64 * 1024 * 1024)), 'gzip'), 'too_large');
    assert.equal(fail(brotliCompressSync(Buffer.alloc(4 * MAX)), 'br'), 'too_large');
  });
});
