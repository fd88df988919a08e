/**
 * Reads a workspace file for the files panel without letting the workspace
 * steer the read. The agent controls every name and byte under the root: it
 * can plant symlinks to host files (~/.ssh/id_ed25519), swap a checked file
 * for a link between our check and our open, create FIFOs that block a
 * reader, or write files of any size. So:
 *
 * - the relative path is checked as text first (no absolute path, no `..`,
 *   no NUL, no backslash);
 * - every component below the root is lstat'ed and a symlink anywhere is
 *   refused, even one that points back inside: following none is simpler to
 *   get right than judging where each one lands;
 * - the file is opened with O_NOFOLLOW | O_NONBLOCK, then fstat'ed, and the
 *   open file must be the regular file the lstat saw (same dev and inode);
 * - that alone does not close the race: lstat follows links in the folders on
 *   the way, so a folder swapped for a link between two lstats makes the
 *   checks and the open agree on a host file (the swap test found this). So
 *   the open file's real location is confirmed: on Linux /proc/self/fd/N must
 *   name ROOT/RELPATH exactly; on macOS the open uses O_NOFOLLOW_ANY, which
 *   refuses a link anywhere on the path. Elsewhere the lstat chain is taken a
 *   second time after the open and must not have changed (a narrower race);
 * - at most the kind's limit is read.
 * - at most the kind's limit is read.
 *
 * The root itself is trusted: it is the realpath the user allowlisted.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { allowValue, deny, type Outcome } from '../decision.js';
import { cutUtf8Tail, fileKind, imageMime, SNIFF_BYTES, type ImageMime } from './file-kind.js';
import { pdfSummary, type PdfLimits } from './pdf-text.js';

/** Why a preview (or diff) was refused. Stable codes; the UI keys on them. */
export type PreviewRefusalReason = 'outside_workspace' | 'symlink' | 'not_a_file' | 'too_large' | 'missing';

/** A refusal: `message` is one line for a person, with the path JSON-quoted so control characters cannot spoof it. */
export interface PreviewRefusal {
  readonly kind: 'refused';
  readonly reason: PreviewRefusalReason;
  readonly message: string;
}

/**
 * What the panel shows for a file. `size` is the file's size in bytes when
 * opened; `truncated` means only the first `maxTextBytes` (text) or part of the
 * PDF (see {@link pdfSummary}) is shown.
 */
export type FilePreview =
  | { readonly kind: 'text' | 'markdown'; readonly text: string; readonly truncated: boolean; readonly size: number }
  | { readonly kind: 'image'; readonly mime: ImageMime; readonly dataUrl: string; readonly size: number }
  | { readonly kind: 'pdf'; readonly pages: number; readonly title: string | null; readonly text: string; readonly truncated: boolean; readonly size: number }
  | { readonly kind: 'binary'; readonly size: number }
  | PreviewRefusal;

/** Byte limits for previews. */
export interface PreviewLimits {
  /** Text and Markdown: bytes read and shown; a longer file is shown truncated (default 256 KB). */
  readonly maxTextBytes: number;
  /** Images bigger than this are refused as too_large (default 5 MB). */
  readonly maxImageBytes: number;
  /** PDFs bigger than this are refused as too_large (default 32 MB). */
  readonly maxPdfBytes: number;
  /** Caps for the PDF text extractor. */
  readonly pdf: Partial<PdfLimits>;
}

export const DEFAULT_PREVIEW_LIMITS: PreviewLimits = {
  maxTextBytes: 256 * 1024,
  maxImageBytes: 5 * 1024 * 1024,
  maxPdfBytes: 32 * 1024 * 1024,
  pdf: {},
};

/**
 * Checks a workspace-relative path as text: '/'-separated, not absolute, no
 * empty, `.` or `..` segment, no NUL, no backslash (a separator on Windows),
 * no drive letter. Allows with its segments.
 */
export function checkRelPath(relPath: string): Outcome<readonly string[], 'outside_workspace'> {
  const shown = JSON.stringify(relPath);
  if (relPath === '' || relPath.includes('\0') || relPath.includes('\\') || relPath.startsWith('/') || /^[A-Za-z]:/.test(relPath)) {
    return deny('outside_workspace', `${shown} is not a path inside the workspace`);
  }
  const segments = relPath.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    return deny('outside_workspace', `${shown} has an empty, "." or ".." part; only plain paths inside the workspace are read`);
  }
  return allowValue(segments);
}

/** The first bytes of a contained file and what its open descriptor said. `complete`: BYTES is the whole file. */
export interface ContainedRead {
  readonly kind: 'read';
  readonly bytes: Buffer;
  readonly complete: boolean;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Reads at most MAXBYTES of ROOT/RELPATH under the containment rules above.
 * A refusal for anything that is not a regular file reached without a symlink.
 */
export async function readContained(root: string, relPath: string, maxBytes: number): Promise<ContainedRead | PreviewRefusal> {
  return withContained(root, relPath, async (fh, st) => {
    const bytes = await readUpTo(fh, Math.min(maxBytes, st.size));
    return { kind: 'read', bytes, complete: bytes.length >= st.size, size: st.size, mtimeMs: st.mtimeMs };
  });
}

/** The preview of ROOT/RELPATH (see {@link FilePreview}); never throws for anything the workspace holds. */
export async function readPreview(root: string, relPath: string, limits: Partial<PreviewLimits> = {}): Promise<FilePreview> {
  const lim = { ...DEFAULT_PREVIEW_LIMITS, ...limits };
  const name = relPath.split('/').at(-1) ?? '';
  return withContained<FilePreview>(root, relPath, async (fh, st) => {
    const head = await readUpTo(fh, Math.min(st.size, SNIFF_BYTES));
    const kind = fileKind(name, head, head.length >= st.size);
    switch (kind) {
      case 'image': {
        const mime = imageMime(head);
        if (st.size > lim.maxImageBytes || mime === null) return tooLarge(relPath, st.size, lim.maxImageBytes);
        const bytes = await readUpTo(fh, st.size);
        return { kind, mime, dataUrl: `data:${mime};base64,${bytes.toString('base64')}`, size: st.size };
      }
      case 'pdf': {
        if (st.size > lim.maxPdfBytes) return tooLarge(relPath, st.size, lim.maxPdfBytes);
        const summary = pdfSummary(await readUpTo(fh, st.size), lim.pdf);
        return { kind, ...summary, size: st.size };
      }
      case 'text':
      case 'markdown': {
        const bytes = await readUpTo(fh, Math.min(st.size, lim.maxTextBytes));
        const truncated = st.size > bytes.length;
        // A cut inside a character would show a replacement glyph; drop the partial bytes instead.
        const text = bytes.subarray(0, bytes.length - (truncated ? cutUtf8Tail(bytes) : 0)).toString('utf8');
        return { kind, text, truncated, size: st.size };
      }
      case 'binary':
        return { kind, size: st.size };
    }
  });
}

function tooLarge(relPath: string, size: number, limit: number): PreviewRefusal {
  return refuse('too_large', `${JSON.stringify(relPath)} is ${size} bytes; previews stop at ${limit}`);
}

function refuse(reason: PreviewRefusalReason, message: string): PreviewRefusal {
  return { kind: 'refused', reason, message };
}

/** Opens ROOT/RELPATH under the containment rules, hands FN the open file, closes it. */
async function withContained<T>(root: string, relPath: string, fn: (fh: FileHandle, st: Stats) => Promise<T>): Promise<T | PreviewRefusal> {
  const checked = checkRelPath(relPath);
  if (checked.kind === 'deny') return refuse(checked.reason, checked.message);
  const shown = JSON.stringify(relPath);
  let path = root;
  let last: Stats | null = null;
  const chain: Stats[] = [];
  for (const [i, segment] of checked.value.entries()) {
    path = join(path, segment);
    try {
      last = await lstat(path);
      chain.push(last);
    } catch {
      return refuse('missing', `${shown} does not exist`);
    }
    if (last.isSymbolicLink()) return refuse('symlink', `${shown} goes through a symbolic link, which previews never follow`);
    if (i < checked.value.length - 1 && !last.isDirectory()) return refuse('missing', `${shown} does not exist (a part of it is not a folder)`);
  }
  if (!last?.isFile()) return refuse('not_a_file', `${shown} is not a regular file`);
  let fh: FileHandle;
  try {
    // O_NOFOLLOW: a final component swapped for a link fails (ELOOP). O_NONBLOCK: one swapped for a FIFO cannot hang us.
    fh = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0) | (process.platform === 'darwin' ? O_NOFOLLOW_ANY_DARWIN : 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return refuse('symlink', `${shown} became a symbolic link while being opened`);
    if (code === 'ENOENT' || code === 'ENOTDIR') return refuse('missing', `${shown} does not exist`);
    return refuse('not_a_file', `${shown} could not be opened (${code ?? 'error'})`);
  }
  try {
    const st = await fh.stat();
    // The file we opened must be the one we checked: a folder on the way swapped for a link would land elsewhere.
    if (!st.isFile() || st.dev !== last.dev || st.ino !== last.ino || !(await openedWhereExpected(fh, root, checked.value, chain))) {
      return refuse('outside_workspace', `${shown} changed while being opened; not read`);
    }
    return await fn(fh, st);
  } finally {
    await fh.close();
  }
}

/** macOS 11+ open(2) flag: fail with ELOOP if any component of the path is a symlink. Node has no constant for it. */
const O_NOFOLLOW_ANY_DARWIN = 0x20000000;

/**
 * Is the open file really ROOT/SEGMENTS? See the module comment for why the
 * dev/ino check alone is not enough. Fails closed when it cannot tell.
 */
async function openedWhereExpected(fh: FileHandle, root: string, segments: readonly string[], chain: readonly Stats[]): Promise<boolean> {
  if (process.platform === 'linux') {
    try {
      // The kernel's name for the open file: where it really is, whatever links were crossed to reach it.
      const actual = await readlink(`/proc/self/fd/${fh.fd}`);
      return actual === join(await realpath(root), ...segments);
    } catch {
      return false;
    }
  }
  if (process.platform === 'darwin') return true; // O_NOFOLLOW_ANY already refused any link on the path at open time.
  let path = root;
  for (const [i, segment] of segments.entries()) {
    path = join(path, segment);
    const before = chain[i];
    const now = await lstat(path).catch(() => null);
    if (!before || !now || now.isSymbolicLink() || now.dev !== before.dev || now.ino !== before.ino) return false;
  }
  return true;
}

/** Reads up to N bytes from the start of the file; fewer if it ends first (it may shrink while we read). */
async function readUpTo(fh: FileHandle, n: number): Promise<Buffer> {
  const buf = Buffer.alloc(Math.max(0, n));
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
