import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeCpio, type CpioEntry } from './cpio.js';

/**
 * The microVM's initramfs in two parts (issue 21): a cached base (the guest
 * init, `cordon-vminit`, as /init, and the kernel modules it loads), keyed by
 * the hash of its contents; and a small per-session archive appended to it
 * (the kernel unpacks both), holding the session file and Cordon's files for
 * /run. The session archive carries the environment, and with it the phantom
 * key: it is written only into the VM's private folder (0600), never to argv.
 */
export function ensureBaseInitramfs(cacheDir: string, vminit: string, modulesDir: string): string {
  const order = readFileSync(join(modulesDir, 'order'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const init = readFileSync(vminit);
  const modules = order.map((name) => {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`bad module name in ${modulesDir}/order: ${name}`);
    return { name, data: readFileSync(join(modulesDir, `${name}.ko`)) };
  });
  const hash = createHash('sha256').update(init);
  for (const m of modules) hash.update(m.name).update(m.data);
  const key = hash.digest('hex').slice(0, 24);
  const dir = join(cacheDir, 'vm', 'initramfs');
  const path = join(dir, `base-${key}.cpio.gz`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'cordon', mode: 0o700 },
    { kind: 'dir', path: 'modules', mode: 0o755 },
    { kind: 'file', path: 'init', mode: 0o755, data: init },
    { kind: 'file', path: 'modules/order', mode: 0o644, data: Buffer.from(`${order.join('\n')}\n`) },
    ...modules.map((m): CpioEntry => ({ kind: 'file', path: `modules/${m.name}.ko`, mode: 0o644, data: m.data })),
  ];
  const gz = gzipSync(writeCpio(entries), { level: 6 });
  // Padded to 4 bytes, so the session archive appended after it starts aligned (the kernel skips the zeros).
  const padded = Buffer.concat([gz, Buffer.alloc((4 - (gz.length % 4)) % 4)]);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, padded, { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}

/** One line of the guest's mount list: a virtiofs share, or a bind mount of a guest path (protection). */
export type GuestMount =
  | { readonly kind: 'virtiofs'; readonly tag: string; readonly target: string; readonly readOnly: boolean }
  | { readonly kind: 'bind'; readonly source: string; readonly target: string; readonly readOnly: boolean };

export interface GuestSession {
  readonly uid: number;
  readonly gid: number;
  readonly workdir: string;
  readonly home: string;
  readonly tty: boolean;
  readonly rows: number;
  readonly cols: number;
  readonly tmpfsMiB: number;
  readonly mounts: readonly GuestMount[];
  readonly argv: readonly string[];
  readonly env: readonly string[];
}

/** The session file cordon-vminit reads: NUL-separated fields, in its order. */
export function encodeGuestSession(s: GuestSession): Buffer {
  const fields: string[] = ['cordon-vm-session-1', String(s.uid), String(s.gid), s.workdir, s.home, s.tty ? '1' : '0', String(s.rows), String(s.cols), String(s.tmpfsMiB), String(s.mounts.length)];
  for (const m of s.mounts) {
    fields.push(m.kind, m.kind === 'virtiofs' ? m.tag : m.source, m.target, m.readOnly ? '1' : '0');
  }
  fields.push(String(s.argv.length), ...s.argv, String(s.env.length), ...s.env);
  for (const f of fields) {
    if (f.includes('\0')) throw new Error('a session field holds a NUL byte');
  }
  return Buffer.from(`${fields.join('\0')}\0`);
}

/**
 * The per-session archive: /cordon/session and, under /cordon/files, each
 * host file or folder of FILES at its guest path (which must lie under /run/).
 */
export function sessionArchive(session: GuestSession, files: readonly { readonly hostPath: string; readonly guestPath: string }[]): Buffer {
  const entries: CpioEntry[] = [{ kind: 'file', path: 'cordon/session', mode: 0o600, data: encodeGuestSession(session) }];
  const dirs = new Set<string>(['cordon/files']);
  const addParents = (p: string): void => {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ kind: 'dir', path: d, mode: 0o755 });
      }
    }
  };
  entries.push({ kind: 'dir', path: 'cordon/files', mode: 0o755 });
  const walk = (host: string, guest: string): void => {
    const st = lstatSync(host);
    if (st.isDirectory()) {
      addParents(guest);
      if (!dirs.has(guest)) {
        dirs.add(guest);
        entries.push({ kind: 'dir', path: guest, mode: st.mode & 0o755 });
      }
      for (const name of readdirSync(host).sort()) walk(join(host, name), `${guest}/${name}`);
    } else if (st.isFile()) {
      addParents(guest);
      // Readable (and executable, if it was) by the agent, writable by nobody but guest root.
      entries.push({ kind: 'file', path: guest, mode: st.mode & 0o555, data: readFileSync(host) });
    }
    // Symlinks and anything else are left out: the guest sees only plain files from the host.
  };
  for (const f of files) {
    if (!f.guestPath.startsWith('/run/') || f.guestPath.split('/').includes('..')) throw new Error(`Cordon's file ${f.guestPath} must go under /run/`);
    walk(f.hostPath, `cordon/files${f.guestPath}`);
  }
  return writeCpio(entries);
}
