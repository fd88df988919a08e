/**
 * Maps a request path to a file of the built renderer, refusing anything that
 * would leave its folder: `..` (raw or percent-encoded), backslashes, NUL,
 * symlinks that point outside, directories (no listings).
 */
import { realpathSync, statSync } from 'node:fs';
import { extname, isAbsolute, join, posix, relative, sep } from 'node:path';

export type StaticLookup =
  | { readonly kind: 'file'; readonly file: string; readonly contentType: string }
  | { readonly kind: 'refused'; readonly reason: 'bad_path' | 'outside' | 'missing' };

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/**
 * The file to serve for PATHNAME (already stripped of its query) from ROOT,
 * which must be a real path (no symlinks in it). `/` and paths without an
 * extension get index.html, so the single-page app can own its routes; a
 * path with an extension must name an existing file.
 */
export function lookupStatic(root: string, pathname: string): StaticLookup {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return { kind: 'refused', reason: 'bad_path' };
  }
  // Backslashes are separators on Windows; NUL truncates paths in C APIs.
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) return { kind: 'refused', reason: 'bad_path' };
  // Refuse `..` outright rather than trusting normalisation to keep us inside.
  if (decoded.split('/').includes('..')) return { kind: 'refused', reason: 'outside' };
  const normal = posix.normalize(decoded);
  const wantsShell = normal.endsWith('/') || extname(normal) === '';
  const candidate = wantsShell ? join(root, 'index.html') : join(root, ...normal.split('/').filter((s) => s !== ''));
  if (!inside(root, candidate)) return { kind: 'refused', reason: 'outside' };
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    return { kind: 'refused', reason: 'missing' };
  }
  // A symlink inside the folder must not lead out of it.
  if (!inside(root, real)) return { kind: 'refused', reason: 'outside' };
  try {
    if (!statSync(real).isFile()) return { kind: 'refused', reason: 'missing' };
  } catch {
    return { kind: 'refused', reason: 'missing' };
  }
  return { kind: 'file', file: real, contentType: CONTENT_TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream' };
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}
