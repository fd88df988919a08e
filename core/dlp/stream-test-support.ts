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
