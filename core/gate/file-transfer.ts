/**
 * Files across the sandbox wall through the gate (issue 18, item 4):
 * `dropFiles` copies host files into a session's inbox, `takeFile` copies a
 * file from a session's workspace to the host. Both read, judge, ask when
 * the policy says so, write, and audit every attempt, refused or not.
 *
 * The threats (docs/threat-model-gate.md G5-G11) and their answers here:
 * - a drop's source is resolved with realpath and judged by the mount rules'
 *   protected areas before a byte is read; the open must land on that same
 *   file (`/proc/self/fd`), so a link swapped in after the check is caught;
 * - the inbox (`<first writable workspace>/cordon-inbox/`) is the agent's
 *   to tamper with: it is opened as a folder without following links, must
 *   be exactly where expected, and files are created through that open
 *   folder, exclusively, never over anything;
 * - a take reads only through `readContained` (no link anywhere on the path,
 *   no `..`), and writes its destination exclusively unless forced, never
 *   into a protected area.
 */
import { constants } from 'node:fs';
import { lchown, lstat, mkdir, mkdtemp, open, readlink, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import { readContained } from '../files/file-preview.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import { isInside, protectedAreas, type MountRuleContext } from '../workspace/mount-rules.js';
import { afterAnswer, decide, decideBeforeScan, type GateDecision, type GateDenyReason, type SourceClass, type Transfer, type TransferScan } from './gate-decision.js';
import { applyToText, createGateScanner, type GateScanner } from './gate-text.js';
import { inspectFile } from './file-content.js';
import { auditTransfer } from './transfer-audit.js';
import type { Finding } from '../dlp/index.js';
import { dropNameProblem } from '../api/transfer-contract.js';

/** The folder, in the first writable workspace, that drops land in. */
export const INBOX_FOLDER = 'cordon-inbox';

/** A running session's mounted workspaces, as its record lists them (realpaths, mounted at the same path inside). */
export interface TransferSession {
  readonly id: string;
  readonly workspaces: readonly { readonly path: string; readonly mode: 'ro' | 'rw' }[];
}

export interface FileTransferDeps {
  readonly policy: Pick<EffectivePolicy, 'dlp' | 'gates'>;
  /** Realpaths of home, Cordon's state and policy-denied folders (mountRuleContext). */
  readonly rules: MountRuleContext;
  readonly audit: AuditSink;
  /** Asks the person; true for an allow. */
  readonly ask: (q: { readonly target: string; readonly reason: string; readonly detail: Readonly<Record<string, string>> }) => Promise<boolean>;
}

/** What happened to one file. `path`: where it was written (host path; for a drop also the path inside the sandbox). */
export type FileTransferOutcome =
  | {
      readonly kind: 'delivered';
      readonly decision: GateDecision;
      readonly path: string;
      readonly size: number;
      /** What the gate passed, for a take to memory only. */
      readonly bytes?: Buffer;
    }
  | { readonly kind: 'refused'; readonly decision: GateDecision };

/**
 * Where a host file stands under the mount rules: protected when it is, or
 * lies inside, a credential store, a system area, the Docker socket,
 * Cordon's state or a policy-denied folder. The home folder itself is not a
 * reason here (a file in it is fine), and `/` protects only itself.
 */
export function classifyHostPath(realPath: string, ctx: MountRuleContext): SourceClass {
  for (const a of protectedAreas(ctx)) {
    if (a.rule === 'home_folder') continue;
    if (realPath === a.path || isInside(realPath, a.path)) {
      return { kind: 'protected', rule: a.rule, message: `${JSON.stringify(realPath)} ${realPath === a.path ? 'is' : 'lies inside'} ${a.what}, which the gate never moves files to or from` };
    }
  }
  return { kind: 'ok' };
}

/**
 * One file to drop: a host path (`cordon drop`, the app, where core reads
 * the file), or a name and the bytes a browser read from the user's drop
 * (no host path exists there; nothing on the host is read).
 */
export type DropItem = string | { readonly name: string; readonly bytes: Buffer };

/** Copies each of SOURCES into SESSION's inbox through the gate. One outcome per source, in order. */
export async function dropFiles(deps: FileTransferDeps, session: TransferSession, sources: readonly DropItem[]): Promise<FileTransferOutcome[]> {
  const scanner = createGateScanner(deps.policy);
  const out: FileTransferOutcome[] = [];
  for (const s of sources) out.push(typeof s === 'string' ? await dropOne(deps, scanner, session, s) : await dropContent(deps, scanner, session, s));
  return out;
}

/** The transfer of a dropped file before its content is looked at. */
function dropBase(name: string): Omit<Transfer, 'scan'> {
  return { direction: 'toSandbox', channel: 'file', name, contentType: 'application/octet-stream', size: 0, form: 'opaque' };
}

/** The one name rule (G18), for a path's last part and a browser's file name alike. */
function nameRefusal(name: string): string | null {
  const problem = dropNameProblem(name);
  // The name itself may be the hostile part (escapes, overrides): it is not repeated.
  return problem === null ? null : `a dropped file's name was refused: ${problem}`;
}

async function dropContent(deps: FileTransferDeps, scanner: GateScanner, session: TransferSession, item: { readonly name: string; readonly bytes: Buffer }): Promise<FileTransferOutcome> {
  const badName = nameRefusal(item.name);
  const base = dropBase(badName === null ? item.name : 'refused-name');
  const refuse = (reason: GateDenyReason, message: string, extra: Partial<Transfer> = {}): FileTransferOutcome =>
    finish(deps, session, { ...base, ...extra }, denial(reason, message, deps.policy.gates.dragDrop.toSandbox), '');
  if (badName !== null) return refuse('bad_name', badName);
  const max = deps.policy.gates.dragDrop.maxBytes;
  if (item.bytes.length > max) return refuse('too_large', `file ${JSON.stringify(item.name)}: ${item.bytes.length} bytes is over the limit of ${max} (gates.dragDrop.maxBytes)`, { size: item.bytes.length });
  const inbox = session.workspaces.find((w) => w.mode === 'rw');
  if (inbox === undefined) return refuse('no_inbox', `session ${session.id} has no writable workspace to drop into`);
  // No host path: the audit record names the file as the user's drop.
  return judgeAndDeliver(deps, scanner, session, { ...base, source: { kind: 'ok' } }, item.bytes, `(dropped) ${item.name}`, async (data) => {
    const w = await writeIntoInbox(inbox.path, item.name, data);
    return w.ok ? { ok: true, path: w.path } : w;
  });
}

async function dropOne(deps: FileTransferDeps, scanner: GateScanner, session: TransferSession, source: string): Promise<FileTransferOutcome> {
  const name = basename(source);
  const shown = JSON.stringify(source);
  const base = dropBase(name);
  const refuse = (reason: GateDenyReason, message: string, extra: Partial<Transfer> = {}, hostPath = source): FileTransferOutcome =>
    finish(deps, session, { ...base, ...extra }, denial(reason, message, deps.policy.gates.dragDrop.toSandbox), '', hostPath);

  const badName = nameRefusal(name);
  if (badName !== null) return refuse('bad_name', badName);
  let real: string;
  try {
    real = await realpath(source);
  } catch (err) {
    return refuse('unreadable_source', `${shown} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const source_ = classifyHostPath(real, deps.rules);
  if (source_.kind === 'protected') return refuse('protected_source', source_.message, {}, real);
  const read = await readHostFile(real, deps.policy.gates.dragDrop.maxBytes);
  if (read.kind === 'refused') return refuse(read.reason, read.message, read.size !== undefined ? { size: read.size } : {}, real);
  const inbox = session.workspaces.find((w) => w.mode === 'rw');
  if (inbox === undefined) return refuse('no_inbox', `session ${session.id} has no writable workspace to drop into`, {}, real);
  return judgeAndDeliver(deps, scanner, session, { ...base, source: source_ }, read.bytes, real, async (data) => {
    const w = await writeIntoInbox(inbox.path, name, data);
    return w.ok ? { ok: true, path: w.path } : w;
  });
}

/** Where `takeFile` puts what the gate passed. */
export type TakeDestination =
  /** DEST on the host (a file, or a folder to put it in; default CWD); an existing file is replaced only with FORCE. */
  | { readonly dest?: string; readonly force: boolean; readonly cwd: string }
  /** A fresh private folder (0700) under the OS's temporary folder: the app's drag to the desktop. */
  | { readonly kind: 'temp' }
  /** Nowhere on the host: the outcome carries the bytes (the browser UI's download), at most MAX_BYTES. */
  | { readonly kind: 'memory'; readonly maxBytes: number };

/**
 * Copies PATH (as the sandbox sees it: absolute inside a mounted workspace,
 * or relative to the first workspace, the sandbox's working folder) out of
 * SESSION through the gate, to TO.
 */
export async function takeFile(deps: FileTransferDeps, session: TransferSession, path: string, to: TakeDestination): Promise<FileTransferOutcome> {
  const scanner = createGateScanner(deps.policy);
  const shown = JSON.stringify(path);
  const base = { direction: 'fromSandbox' as const, channel: 'file' as const, name: basename(path), contentType: 'application/octet-stream', size: 0, form: 'opaque' as const };
  const refuse = (reason: GateDenyReason, message: string, extra: Partial<Transfer> = {}, hostPath?: string): FileTransferOutcome =>
    finish(deps, session, { ...base, ...extra }, denial(reason, message, deps.policy.gates.dragDrop.fromSandbox), '', hostPath, path);

  const located = locateInWorkspaces(session, path);
  if (located === null) return refuse('outside_workspace', `${shown} is not inside a workspace of session ${session.id}`);
  const max = 'kind' in to && to.kind === 'memory' ? Math.min(to.maxBytes, deps.policy.gates.dragDrop.maxBytes) : deps.policy.gates.dragDrop.maxBytes;
  const r = await readContained(located.root, located.rel, max + 1);
  if (r.kind === 'refused') return refuse('outside_workspace', r.message);
  if (r.size > max || !r.complete) return refuse('too_large', `file ${JSON.stringify(base.name)}: ${r.size} bytes is over the limit of ${max} (${max === deps.policy.gates.dragDrop.maxBytes ? 'gates.dragDrop.maxBytes' : 'what a browser download carries; use `cordon take`'})`, { size: r.size });

  if ('kind' in to && to.kind === 'memory') {
    let passed: Buffer | null = null;
    const o = await judgeAndDeliver(deps, scanner, session, base, r.bytes, `(download) ${base.name}`, (data) => {
      passed = data;
      return Promise.resolve({ ok: true, path: `(download) ${base.name}` });
    }, path);
    return o.kind === 'delivered' && passed !== null ? { ...o, bytes: passed } : o;
  }

  let target: string;
  let force = false;
  if ('kind' in to) {
    // Only this process knows the folder's name; nothing is in it until the gate has passed the file.
    try {
      target = join(await mkdtemp(join(tmpdir(), 'cordon-take-')), base.name);
    } catch (err) {
      return refuse('write_failed', `cannot create a temporary folder (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  } else {
    force = to.force;
    target = resolveDest(to.dest, to.cwd);
    try {
      if ((await stat(target)).isDirectory()) target = join(target, base.name);
    } catch {
      // Not there yet: TARGET is the file to create.
    }
  }
  let parent: string;
  try {
    parent = await realpath(dirname(target));
  } catch {
    return refuse('write_failed', `the folder of ${JSON.stringify(target)} does not exist`, {}, target);
  }
  target = join(parent, basename(target));
  const dest = classifyHostPath(target, deps.rules);
  if (dest.kind === 'protected') return refuse('protected_destination', dest.message, {}, target);

  return judgeAndDeliver(
    deps,
    scanner,
    session,
    base,
    r.bytes,
    target,
    async (data) => {
      const w = await writeHostFile(target, data, force);
      return w.ok ? { ok: true, path: target } : w;
    },
    path,
  );
}

type Delivery = { ok: true; path: string } | { ok: false; reason: GateDenyReason; message: string };

/** Inspects, scans (when the decision depends on it), decides, asks, delivers and audits. */
async function judgeAndDeliver(
  deps: FileTransferDeps,
  scanner: GateScanner,
  session: TransferSession,
  base: Omit<Transfer, 'scan'>,
  bytes: Buffer,
  hostPath: string,
  deliver: (data: Buffer) => Promise<Delivery>,
  sandboxPath?: string,
): Promise<FileTransferOutcome> {
  const content = inspectFile(base.name ?? '', bytes);
  const t: Omit<Transfer, 'scan'> = { ...base, contentType: content.contentType, size: bytes.length, form: content.form, labels: content.labels };
  let decision = decideBeforeScan(t, deps.policy.gates);
  let raw: readonly Finding[] = [];
  if (decision === null) {
    let scan: TransferScan;
    if (content.unreadable !== undefined) scan = { status: 'incomplete', reason: content.unreadable };
    else if (content.text === null) scan = { status: 'not_scanned' };
    else {
      const s = scanner.scan(content.text);
      scan = s.scan;
      raw = s.raw;
    }
    decision = decide({ ...t, scan }, deps.policy.gates);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (decision.kind === 'ask') {
    const approved = await deps
      .ask({ target: sandboxPath ?? hostPath, reason: decision.message, detail: { direction: t.direction, size: String(t.size), sha256, findings: decision.findings.map((f) => `${f.detector}×${f.count}`).join(', ') } })
      .catch(() => false);
    decision = afterAnswer(decision, approved);
  }
  let data: Buffer | null = null;
  switch (decision.kind) {
    case 'allow':
      data = bytes;
      break;
    case 'redact': {
      const text = applyToText(content.text ?? '', decision, raw);
      data = text === null ? null : Buffer.from(text, 'utf8');
      break;
    }
    case 'ask':
    case 'deny':
      break;
  }
  if (data === null) return finish(deps, session, t, decision, sha256, hostPath, sandboxPath);
  const written = await deliver(data);
  if (!written.ok) return finish(deps, session, t, denial(written.reason, written.message, decision.mode), sha256, hostPath, sandboxPath);
  const delivered = data === bytes ? undefined : createHash('sha256').update(data).digest('hex');
  record(deps, session, t, decision, sha256, t.direction === 'toSandbox' ? hostPath : written.path, sandboxPath ?? written.path, delivered);
  return { kind: 'delivered', decision, path: written.path, size: data.length };
}

function finish(deps: FileTransferDeps, session: TransferSession, t: Omit<Transfer, 'scan'>, decision: GateDecision, sha256: string, hostPath?: string, sandboxPath?: string): FileTransferOutcome {
  record(deps, session, t, decision, sha256, hostPath, sandboxPath);
  return { kind: 'refused', decision };
}

/** The audit record of one file transfer, delivered or not. */
function record(deps: FileTransferDeps, session: TransferSession, t: Omit<Transfer, 'scan'>, decision: GateDecision, sha256: string, hostPath?: string, sandboxPath?: string, deliveredSha256?: string): void {
  auditTransfer(deps.audit, {
    sessionId: session.id,
    direction: t.direction,
    channel: 'file',
    contentType: t.contentType,
    size: t.size,
    sha256,
    decision,
    ...(hostPath !== undefined ? { hostPath } : {}),
    ...(sandboxPath !== undefined ? { sandboxPath } : {}),
    ...(deliveredSha256 !== undefined ? { deliveredSha256 } : {}),
  });
}

function denial(reason: GateDenyReason, message: string, mode: GateDecision['mode']): GateDecision {
  return { kind: 'deny', reason, message, mode, findings: [] };
}

/** ROOT and the relative path of PATH in SESSION's workspaces, or null when it is in none. */
function locateInWorkspaces(session: TransferSession, path: string): { root: string; rel: string } | null {
  if (path.startsWith('/')) {
    // The longest root wins: a workspace mounted inside another.
    const w = [...session.workspaces].sort((a, b) => b.path.length - a.path.length).find((x) => isInside(path, x.path));
    return w === undefined ? null : { root: w.path, rel: path.slice(w.path.length + 1) };
  }
  const first = session.workspaces[0];
  return first === undefined ? null : { root: first.path, rel: path.replace(/^(\.\/)+/, '') };
}

function resolveDest(dest: string | undefined, cwd: string): string {
  if (dest === undefined || dest === '') return cwd;
  return dest.startsWith('/') ? dest : join(cwd, dest);
}

type HostRead = { kind: 'read'; bytes: Buffer } | { kind: 'refused'; reason: GateDenyReason; message: string; size?: number };

/** Reads REAL (a realpath) whole, refusing anything but a regular file that is still at REAL, or one over MAX bytes. */
async function readHostFile(real: string, max: number): Promise<HostRead> {
  const shown = JSON.stringify(real);
  let fh: FileHandle;
  try {
    fh = await open(real, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    return { kind: 'refused', reason: 'unreadable_source', message: `${shown} cannot be opened (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { kind: 'refused', reason: 'unreadable_source', message: `${shown} is not a regular file` };
    // Linux: the open file must be the one judged; a link swapped in on the way lands elsewhere.
    if (process.platform === 'linux' && (await readlink(`/proc/self/fd/${fh.fd}`).catch(() => '')) !== real) {
      return { kind: 'refused', reason: 'unreadable_source', message: `${shown} changed while being opened; not read` };
    }
    if (st.size > max) return { kind: 'refused', reason: 'too_large', message: `file ${JSON.stringify(basename(real))}: ${st.size} bytes is over the limit of ${max} (gates.dragDrop.maxBytes)`, size: st.size };
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { kind: 'read', bytes: buf.subarray(0, got) };
  } finally {
    await fh.close();
  }
}

/**
 * Creates NAME (or NAME-1, NAME-2 … when taken) in WORKSPACE/cordon-inbox
 * with DATA, through the open inbox folder so a link swapped in cannot
 * redirect the write. Files and the inbox belong to the workspace's owner
 * when Cordon runs as root, so the agent can use them.
 */
async function writeIntoInbox(workspace: string, name: string, data: Buffer): Promise<Delivery> {
  const inbox = join(workspace, INBOX_FOLDER);
  const owner = await stat(workspace).catch(() => null);
  try {
    await mkdir(inbox, { mode: 0o755 });
    // Created just now by us: ours to hand to the workspace's owner (lchown: never through a link).
    if (owner && process.getuid?.() === 0 && (await lstat(inbox)).isDirectory()) await lchown(inbox, owner.uid, owner.gid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return { ok: false, reason: 'write_failed', message: `cannot create the inbox ${JSON.stringify(inbox)} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  let dir: FileHandle;
  try {
    dir = await open(inbox, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0) | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    return { ok: false, reason: 'write_failed', message: `the inbox ${JSON.stringify(inbox)} is not a plain folder (${(err as NodeJS.ErrnoException).code ?? 'error'}); nothing written` };
  }
  try {
    const linux = process.platform === 'linux';
    if (linux && (await readlink(`/proc/self/fd/${dir.fd}`).catch(() => '')) !== inbox) {
      return { ok: false, reason: 'write_failed', message: `the inbox ${JSON.stringify(inbox)} moved while being opened; nothing written` };
    }
    const ext = extname(name);
    const stem = name.slice(0, name.length - ext.length);
    for (let i = 0; i < 100; i++) {
      const candidate = i === 0 ? name : `${stem}-${i}${ext}`;
      const at = linux ? `/proc/self/fd/${dir.fd}/${candidate}` : join(inbox, candidate);
      let fh: FileHandle;
      try {
        fh = await open(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o644);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        return { ok: false, reason: 'write_failed', message: `cannot create ${JSON.stringify(candidate)} in the inbox (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
      }
      try {
        await fh.writeFile(data);
        if (owner && process.getuid?.() === 0) await fh.chown(owner.uid, owner.gid);
      } finally {
        await fh.close();
      }
      return { ok: true, path: join(inbox, candidate) };
    }
    return { ok: false, reason: 'write_failed', message: `100 files named like ${JSON.stringify(name)} are already in the inbox` };
  } finally {
    await dir.close();
  }
}

/** Writes DATA to TARGET: exclusively, or with FORCE through a temporary file renamed over it. */
async function writeHostFile(target: string, data: Buffer, force: boolean): Promise<Delivery> {
  const path = force ? join(dirname(target), `.${basename(target)}.cordon-${randomBytes(6).toString('hex')}`) : target;
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return { ok: false, reason: 'destination_exists', message: `${JSON.stringify(target)} exists; nothing written (--force replaces it)` };
    return { ok: false, reason: 'write_failed', message: `cannot write ${JSON.stringify(target)} (${code ?? 'error'})` };
  }
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
  if (force) {
    try {
      await rename(path, target);
    } catch (err) {
      await unlink(path).catch(() => undefined);
      return { ok: false, reason: 'write_failed', message: `cannot replace ${JSON.stringify(target)} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
  }
  return { ok: true, path: target };
}
