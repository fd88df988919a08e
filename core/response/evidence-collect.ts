/**
 * Collecting the files of an evidence bundle (issue 20). Each collector is
 * bounded (files, bytes) because the workspace and the sandbox are hostile
 * (a million tiny files, a 50 GB one, a symlink to /etc/shadow): walks use
 * lstat and never follow a link, and what is left out is said in `missing`.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { join, relative } from 'node:path';
import { AUDIT_FILE, HEAD_FILE } from '../audit/audit-log.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import type { TarEntry } from './tar-archive.js';

export interface Missing {
  readonly name: string;
  readonly why: string;
}

/** The session's audit records (its whole slice of the log) and the chain's head as a checkpoint of where the log stood. */
export function auditSlice(auditDir: string, sessionId: string): { entries: TarEntry[]; missing: Missing[] } {
  const file = join(auditDir, AUDIT_FILE);
  if (!existsSync(file)) return { entries: [], missing: [{ name: 'audit-slice.jsonl', why: 'the audit log does not exist' }] };
  const lines = readFileSync(file, 'utf8').split('\n');
  const needle = `"session_id":"${sessionId}"`;
  // Lines are kept byte for byte: each still verifies against its own hash.
  const mine = lines.filter((l) => l.includes(needle));
  let head: unknown = null;
  try {
    head = JSON.parse(readFileSync(join(auditDir, HEAD_FILE), 'utf8'));
  } catch {
    head = null;
  }
  const last = lines.filter((l) => l !== '').at(-1);
  let lastRecord: { seq?: unknown; hash?: unknown } = {};
  try {
    lastRecord = last ? (JSON.parse(last) as typeof lastRecord) : {};
  } catch {
    lastRecord = {};
  }
  const checkpoint = { at: new Date().toISOString(), head, last: { seq: lastRecord.seq ?? null, hash: lastRecord.hash ?? null } };
  return {
    entries: [
      { name: 'audit-slice.jsonl', data: Buffer.from(mine.join('\n') + (mine.length > 0 ? '\n' : ''), 'utf8') },
      { name: 'audit-checkpoint.json', data: json(checkpoint) },
    ],
    missing: [],
  };
}

/** The effective policy, with providers' credential commands reduced to their program (their arguments may hold a secret). */
export function policyEvidence(policy: EffectivePolicy): TarEntry {
  const providers = Object.fromEntries(
    Object.entries(policy.providers).map(([name, p]) => [name, { ...p, ...(p.credentialCommand ? { credentialCommand: [p.credentialCommand[0] ?? '', '…'] } : {}) }]),
  );
  return { name: 'effective-policy.json', data: json({ ...policy, providers }) };
}

export interface WalkLimits {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly maxFileBytes: number;
}

/**
 * Files of the workspaces changed since SINCE (mtime or ctime), with size and
 * SHA-256 — not their content (threat R7). `.git` is walked too: hooks and
 * configs are what an attacker plants.
 */
export function workspaceChanges(workspaces: readonly { readonly path: string; readonly mode: 'ro' | 'rw' }[], since: Date, limits: WalkLimits = { maxEntries: 50_000, maxBytes: 256 * 1024 * 1024, maxFileBytes: 64 * 1024 * 1024 }): { entry: TarEntry; missing: Missing[] } {
  const out: Array<{ workspace: string; path: string; bytes: number; mtime: string; sha256: string | null }> = [];
  const missing: Missing[] = [];
  let entries = 0;
  let hashed = 0;
  const cutoff = since.getTime() - 1000;
  for (const ws of workspaces) {
    if (ws.mode !== 'rw') continue;
    walk(ws.path, (path, st) => {
      if (++entries > limits.maxEntries) return false;
      if (!st.isFile() || Math.max(st.mtimeMs, st.ctimeMs) < cutoff) return true;
      let digest: string | null = null;
      if (st.size <= limits.maxFileBytes && hashed + st.size <= limits.maxBytes) {
        digest = hashFile(path);
        hashed += st.size;
      }
      out.push({ workspace: ws.path, path: relative(ws.path, path), bytes: st.size, mtime: new Date(st.mtimeMs).toISOString(), sha256: digest });
      return true;
    });
  }
  if (entries > limits.maxEntries) missing.push({ name: 'workspace-changes.json', why: `walk stopped after ${limits.maxEntries} entries` });
  if (out.some((f) => f.sha256 === null)) missing.push({ name: 'workspace-changes.json', why: 'some files were too large to hash within the byte budget (sha256 null)' });
  return { entry: { name: 'workspace-changes.json', data: json({ since: since.toISOString(), files: out }) }, missing };
}

/**
 * The sandbox's private, memory-backed folders (its tmpfs `/tmp` and home),
 * which the engine's own copy API cannot see and which vanish with the
 * sandbox: read through `/proc/<pid>/root` of one of its processes (runc;
 * gVisor keeps them inside its own kernel, so they are reported missing).
 * Content is kept (bounded): this is where a downloaded payload sits.
 */
export function sandboxTmpfs(hostPid: number | null, folders: readonly string[], limits: WalkLimits = { maxEntries: 5000, maxBytes: 32 * 1024 * 1024, maxFileBytes: 4 * 1024 * 1024 }): { entries: TarEntry[]; missing: Missing[] } {
  if (hostPid === null) return { entries: [], missing: folders.map((f) => ({ name: `sandbox-fs${f}`, why: 'no process of the sandbox is visible to the host' })) };
  const root = `/proc/${hostPid}/root`;
  // Only a process in a mount namespace of its own, whose root is not the host's:
  // anything else (a gVisor host-side process, a recycled pid) would copy the host's files.
  const foreign = sameAsHost(hostPid);
  if (foreign !== null) return { entries: [], missing: folders.map((f) => ({ name: `sandbox-fs${f}`, why: foreign })) };
  const entries: TarEntry[] = [];
  const missing: Missing[] = [];
  let bytes = 0;
  let seen = 0;
  const index: Array<{ path: string; bytes: number; kind: string; sha256: string | null }> = [];
  for (const folder of folders) {
    const base = join(root, folder);
    try {
      lstatSync(base);
    } catch (err) {
      missing.push({ name: `sandbox-fs${folder}`, why: `not readable from the host (${(err as NodeJS.ErrnoException).code ?? 'error'}; gVisor keeps it inside its own kernel)` });
      continue;
    }
    walk(base, (path, st) => {
      if (++seen > limits.maxEntries) return false;
      const inside = `/${relative(root, path)}`;
      const kind = st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'other';
      if (kind !== 'file') {
        if (kind !== 'dir') index.push({ path: inside, bytes: st.size, kind, sha256: null });
        return true;
      }
      const name = `sandbox-fs${inside}`;
      if (st.size > limits.maxFileBytes || bytes + st.size > limits.maxBytes || Buffer.byteLength(name) > 100) {
        index.push({ path: inside, bytes: st.size, kind, sha256: st.size <= 256 * 1024 * 1024 ? hashFile(path) : null });
        return true;
      }
      try {
        const data = readFileSync(path);
        bytes += data.length;
        entries.push({ name, data });
        index.push({ path: inside, bytes: data.length, kind, sha256: createHash('sha256').update(data).digest('hex') });
      } catch {
        index.push({ path: inside, bytes: st.size, kind, sha256: null });
      }
      return true;
    });
  }
  if (seen > limits.maxEntries) missing.push({ name: 'sandbox-fs', why: `walk stopped after ${limits.maxEntries} entries` });
  entries.unshift({ name: 'sandbox-fs-index.json', data: json(index) });
  return { entries, missing };
}

/** Why PID's root must not be read (it is, or may be, the host's), or null when it is a container's own. */
function sameAsHost(pid: number): string | null {
  try {
    if (readlinkSync(`/proc/${pid}/ns/mnt`) === readlinkSync('/proc/self/ns/mnt')) return 'the sandbox\'s process shares the host\'s mount namespace';
    const theirs = statSync(`/proc/${pid}/root/`);
    const ours = statSync('/');
    if (theirs.dev === ours.dev && theirs.ino === ours.ino) return 'the sandbox\'s process has the host\'s root';
    return null;
  } catch (err) {
    return `the sandbox's process cannot be inspected (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

/** Depth-first walk that never follows a link; VISIT returns false to stop. */
function walk(dir: string, visit: (path: string, st: Stats) => boolean): boolean {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return true;
  }
  for (const n of names.sort()) {
    const p = join(dir, n);
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (!visit(p, st)) return false;
    if (st.isDirectory() && !walk(p, visit)) return false;
  }
  return true;
}

function hashFile(path: string): string | null {
  let fd: number;
  try {
    // O_NOFOLLOW: the path was a file when walked; a link swapped in since is not followed.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const h = createHash('sha256');
    const buf = Buffer.alloc(1024 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
    return h.digest('hex');
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

export function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8');
}
