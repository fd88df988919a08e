/**
 * The smallest tar (POSIX ustar) Cordon needs for evidence bundles: regular
 * files only, names up to 100 bytes, read back by `tar` and by
 * {@link readTar}. Kept here rather than taken from dockerode's transitive
 * tar-stream, which Cordon does not depend on directly.
 */

const BLOCK = 512;

export interface TarEntry {
  /** Relative path inside the archive (`a/b.json`): no leading `/`, no `..`, ≤ 100 bytes. */
  readonly name: string;
  readonly data: Buffer;
}

/** The archive's bytes (uncompressed), ending in the two zero blocks tar expects. */
export function writeTar(entries: readonly TarEntry[], mtime: Date): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    checkName(e.name);
    const header = Buffer.alloc(BLOCK);
    header.write(e.name, 0, 100, 'utf8');
    header.write('0000600\0', 100, 8, 'ascii');
    header.write('0000000\0', 108, 8, 'ascii');
    header.write('0000000\0', 116, 8, 'ascii');
    header.write(`${e.data.length.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
    header.write(`${Math.floor(mtime.getTime() / 1000).toString(8).padStart(11, '0')}\0`, 136, 12, 'ascii');
    header.write('        ', 148, 8, 'ascii');
    header.write('0', 156, 1, 'ascii');
    header.write('ustar\0', 257, 6, 'ascii');
    header.write('00', 263, 2, 'ascii');
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    parts.push(header, e.data);
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** Regular files of an ustar archive, in order. Throws on a malformed header (a bad checksum, a size past the end). */
export function readTar(tar: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let at = 0;
  while (at + BLOCK <= tar.length) {
    const header = tar.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break;
    const stored = parseInt(header.subarray(148, 156).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
    if (stored !== sum) throw new Error(`tar header at byte ${at} has a bad checksum`);
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
    const type = String.fromCharCode(header[156] as number);
    at += BLOCK;
    if (!Number.isSafeInteger(size) || size < 0 || at + size > tar.length) throw new Error(`tar entry ${name} runs past the end of the archive`);
    if (type === '0' || type === '\0') out.push({ name, data: Buffer.from(tar.subarray(at, at + size)) });
    at += size + ((BLOCK - (size % BLOCK)) % BLOCK);
  }
  return out;
}

function checkName(name: string): void {
  if (name === '' || name.startsWith('/') || name.split('/').includes('..') || Buffer.byteLength(name) > 100 || [...name].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new Error(`tar entry name not allowed: ${JSON.stringify(name.slice(0, 120))}`);
  }
}
