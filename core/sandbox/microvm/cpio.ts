/**
 * A writer of the "newc" cpio format, the one the Linux kernel unpacks as an
 * initramfs. Only what a microVM's initramfs needs: folders, regular files
 * and symlinks, owned by root, with the given modes.
 */
export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode: number }
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly data: Buffer }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string };

const TYPE = { dir: 0o040000, file: 0o100000, symlink: 0o120000 } as const;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad4(n: number): Buffer {
  return Buffer.alloc((4 - (n % 4)) % 4);
}

/** One archive (ending with its trailer), paths relative to the root without a leading "/". */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (name: string, mode: number, data: Buffer): void => {
    const nameBuf = Buffer.from(`${name}\0`);
    const header =
      '070701' +
      hex8(ino++) +
      hex8(mode) +
      hex8(0) + // uid
      hex8(0) + // gid
      hex8(1) + // nlink
      hex8(0) + // mtime
      hex8(data.length) +
      hex8(0) +
      hex8(0) +
      hex8(0) +
      hex8(0) +
      hex8(nameBuf.length) +
      hex8(0);
    const head = Buffer.from(header, 'ascii');
    parts.push(head, nameBuf, pad4(head.length + nameBuf.length), data, pad4(data.length));
  };
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (name === '' || name.split('/').includes('..')) throw new Error(`bad initramfs path: ${e.path}`);
    switch (e.kind) {
      case 'dir':
        add(name, TYPE.dir | (e.mode & 0o7777), Buffer.alloc(0));
        break;
      case 'file':
        add(name, TYPE.file | (e.mode & 0o7777), e.data);
        break;
      case 'symlink':
        add(name, TYPE.symlink | 0o777, Buffer.from(e.target));
        break;
    }
  }
  add('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
