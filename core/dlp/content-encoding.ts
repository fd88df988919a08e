// Undoing a request body's Content-Encoding before the DLP scan. A scanner
// that reads compressed bytes sees nothing: a gzip body hides every value,
// and even deflate's "stored" blocks (uncompressed) put block headers between
// the halves of a value that straddles a block boundary. The body is decoded
// with a bound on its decoded size (a small compressed body can expand a
// thousandfold), and what is scanned is what is sent: the caller forwards
// the decoded bytes without the encoding, so the vendor's decoder can never
// read something ours did not.

import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

/** Why a body's encoding could not be undone. Stable codes; safe for audit records. */
export type BodyDecodeFailure =
  /** A coding Cordon does not decode (compress, zstd, …), or more layers than MAX_CODINGS. */
  | 'unsupported_encoding'
  /** The bytes are not valid for the declared coding. */
  | 'undecodable_body'
  /** Decoding would exceed the size bound (a decompression bomb, or simply too large to scan). */
  | 'too_large';

/** The decoded body, or why there is none. `decoded` is false when the body had no coding to undo. */
export type BodyDecodeResult =
  | { readonly ok: true; readonly body: Buffer; readonly decoded: boolean }
  | { readonly ok: false; readonly failure: BodyDecodeFailure };

/** Most codings stacked on one body; real clients use one. */
const MAX_CODINGS = 3;

/**
 * Undoes `contentEncoding` (the header's value: codings in the order they
 * were applied, comma-separated, case-insensitive) on `body`. Supports
 * `gzip`/`x-gzip`, `deflate` (zlib-wrapped as RFC 9110 says, or raw as some
 * clients send it) and `br`; `identity` and an absent or empty header leave
 * the body as it is. No layer may decode to more than `maxBytes`.
 */
export function decodeContentEncoding(body: Uint8Array, contentEncoding: string | undefined, maxBytes: number): BodyDecodeResult {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  let current = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (codings.length === 0) return { ok: true, body: current, decoded: false };
  if (codings.length > MAX_CODINGS) return { ok: false, failure: 'unsupported_encoding' };
  for (const coding of codings.reverse()) {
    const step = decodeOne(current, coding, maxBytes);
    if (!step.ok) return step;
    current = step.body;
  }
  return { ok: true, body: current, decoded: true };
}

function decodeOne(body: Buffer, coding: string, maxBytes: number): BodyDecodeResult {
  const opts = { maxOutputLength: Math.max(1, maxBytes) };
  try {
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        return { ok: true, body: gunzipSync(body, opts), decoded: true };
      case 'br':
        return { ok: true, body: brotliDecompressSync(body, opts), decoded: true };
      case 'deflate':
        return { ok: true, body: inflateDeflate(body, opts), decoded: true };
      default:
        return { ok: false, failure: 'unsupported_encoding' };
    }
  } catch (e) {
    return { ok: false, failure: isTooLarge(e) ? 'too_large' : 'undecodable_body' };
  }
}

/** `deflate` is the zlib format by the standard, but clients also send raw deflate; a server may accept either, so both are read. */
function inflateDeflate(body: Buffer, opts: { maxOutputLength: number }): Buffer {
  try {
    return inflateSync(body, opts);
  } catch (e) {
    if (isTooLarge(e)) throw e;
    return inflateRawSync(body, opts);
  }
}

function isTooLarge(e: unknown): boolean {
  return e instanceof RangeError || (e as NodeJS.ErrnoException | null)?.code === 'ERR_BUFFER_TOO_LARGE';
}
