/** How the files panel names changes and which previews it dares to show. */
import type { DiffHunkView, FileChangeView } from '../../../core/api/chat-contract.js';

const CHANGE_LABELS: Record<FileChangeView['change'], string> = {
  created: 'Created',
  modified: 'Changed',
  deleted: 'Deleted',
};

export function changeLabel(change: FileChangeView['change']): string {
  return CHANGE_LABELS[change];
}

/**
 * True only for a base64 data: URL of a raster image type the page decodes
 * anyway. The file came out of the sandbox: an SVG (scripts, remote
 * references) or any other scheme is not put in an <img>, whatever core sent.
 */
export function isPreviewableImageUrl(url: string): boolean {
  return /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]*={0,2}$/.test(url);
}

/** A hunk's header as `diff -u` writes it: "@@ -3,4 +3,5 @@". */
export function hunkHeader(h: Pick<DiffHunkView, 'oldStart' | 'oldLines' | 'newStart' | 'newLines'>): string {
  return `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`;
}

/** A size as people read it: "812 bytes", "12.3 KB", "4.0 MB" (1 KB = 1024 bytes). */
export function formatBytes(size: number): string {
  if (size < 1024) return `${size} ${size === 1 ? 'byte' : 'bytes'}`;
  const units = ['KB', 'MB', 'GB'] as const;
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
