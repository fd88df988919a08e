/**
 * What a workspace file is, for choosing its preview. The agent names and
 * fills every file, so the content decides: an image is an image only when
 * its magic bytes say so, and a `.png` full of text is text. SVG is text, not
 * an image: it can carry script, and the panel shows it as source.
 */
import { isUtf8 } from 'node:buffer';
import { extname } from 'node:path/posix';

/** How the files panel previews a file. */
export type FileKind = 'text' | 'markdown' | 'image' | 'pdf' | 'binary';

/** Image types the panel renders, by MIME type. */
export type ImageMime = 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp';

/** How many leading bytes {@link fileKind} looks at; a caller need read no more. */
export const SNIFF_BYTES = 8 * 1024;

const MARKDOWN_EXTENSIONS = new Set(['.md', '.markdown', '.mdown', '.mkd']);

/**
 * Classifies a file from its name and its first bytes (`head`, at most
 * {@link SNIFF_BYTES} are looked at). `complete` says `head` is the whole file;
 * when it is not, a UTF-8 sequence cut at the end of `head` is not held against it.
 * Order: image magic, `%PDF-`, then NUL or invalid UTF-8 makes it binary, then
 * a Markdown extension makes it markdown, else text (an empty file is text).
 */
export function fileKind(name: string, head: Uint8Array, complete: boolean): FileKind {
  if (imageMime(head) !== null) return 'image';
  if (startsWith(head, PDF_MAGIC)) return 'pdf';
  let sample = head.subarray(0, SNIFF_BYTES);
  if (sample.includes(0)) return 'binary';
  if (!complete || head.length > SNIFF_BYTES) sample = sample.subarray(0, sample.length - cutUtf8Tail(sample));
  if (!isUtf8(sample)) return 'binary';
  return MARKDOWN_EXTENSIONS.has(extname(name).toLowerCase()) ? 'markdown' : 'text';
}

/** The image type HEAD's magic bytes announce, or null: the extension is never consulted. */
export function imageMime(head: Uint8Array): ImageMime | null {
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(head, [0x47, 0x49, 0x46, 0x38, 0x37, 0x61]) || startsWith(head, [0x47, 0x49, 0x46, 0x38, 0x39, 0x61])) return 'image/gif';
  // RIFF....WEBP
  if (startsWith(head, [0x52, 0x49, 0x46, 0x46]) && startsWith(head.subarray(8), [0x57, 0x45, 0x42, 0x50])) return 'image/webp';
  return null;
}

const PDF_MAGIC = [0x25, 0x50, 0x44, 0x46, 0x2d]; // %PDF-

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/**
 * How many bytes at the end of BYTES are an incomplete UTF-8 sequence (0-3):
 * a read cut at a byte limit may split a character, which is not invalid text.
 */
export function cutUtf8Tail(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back] ?? 0;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}
