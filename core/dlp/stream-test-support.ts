/** Test support (not a test): feeds chunks through a Transform and returns all it emitted as UTF-8. */
import type { Transform } from 'node:stream';

export async function runTransform(t: Transform, chunks: readonly Buffer[]): Promise<string> {
  const out: Buffer[] = [];
  t.on('data', (b: Buffer) => out.push(b));
  const done = new Promise<void>((resolve, reject) => {
    t.on('end', resolve);
    t.on('error', reject);
  });
  for (const c of chunks) t.write(c);
  t.end();
  await done;
  return Buffer.concat(out).toString('utf8');
}

/** Splits a string or buffer at the given offsets (taken modulo length + 1, deduplicated, sorted). */
export function splitAt<T extends string | Buffer>(whole: T, cuts: readonly number[]): T[] {
  const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
  const out: T[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(whole.slice(prev, p) as T);
    prev = p;
  }
  out.push(whole.slice(prev) as T);
  return out;
}
