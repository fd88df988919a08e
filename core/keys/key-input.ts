/**
 * Reading a key from a person or a pipe for `cordon keys set|rotate`. Keys are
 * never taken from argv: argv is visible to every local user in `ps` and lands
 * in shell history.
 */
import { MAX_SECRET_LENGTH, validateSecret, type KeyStoreResult } from './key-store.js';

/**
 * Turns what was typed or piped into the key: strips one trailing line ending
 * (`echo KEY |` and heredocs add one) and surrounding spaces from a paste, then
 * validates. Inner whitespace is refused, not "fixed": it means the paste was wrong.
 */
export function normaliseKeyInput(raw: string): KeyStoreResult<string> {
  return validateSecret(raw.replace(/\r?\n$/, '').trim());
}

/**
 * Reads all of a non-TTY stream (stdin piped from a file or password manager).
 * Stops with an error past a size limit instead of buffering arbitrary input.
 */
export async function readKeyFromStream(stream: AsyncIterable<Buffer | string>): Promise<KeyStoreResult<string>> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Allow for a line ending and stray spaces around the largest acceptable key.
  const limit = MAX_SECRET_LENGTH + 64;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    size += buffer.length;
    if (size > limit) return { ok: false, error: { code: 'invalid_secret', message: `standard input is longer than ${limit} bytes; pipe only the key` } };
    chunks.push(buffer);
  }
  if (size === 0) return { ok: false, error: { code: 'invalid_secret', message: 'no key on standard input: pipe the key in, or run the command in a terminal to be prompted' } };
  return normaliseKeyInput(Buffer.concat(chunks).toString('utf8'));
}
