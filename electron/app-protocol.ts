/**
 * What the `app://cordon/` protocol answers (the handler in main.ts does the
 * reading): which file under dist/renderer/ a URL names, or why it names none,
 * and the headers every answer carries, the CSP first of all.
 *
 * Threat: a URL that climbs out of the renderer folder (`/../../core/...`,
 * encoded `%2e%2e`, a backslash on Windows) must not read any other file.
 */
import { extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { isAppUrl } from './app-origin.js';
import { CONTENT_SECURITY_POLICY } from './window-factory.js';

export type AssetLookup =
  | { readonly ok: true; readonly file: string; readonly contentType: string }
  | { readonly ok: false; readonly status: 400 | 403 | 404; readonly reason: string };

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
};

/** True when FILE is ROOT or lies below it (both absolute). */
export function isInside(root: string, file: string): boolean {
  const rel = relative(root, file);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * The file under ROOT (absolute) that URL names. `/` is index.html. Only the
 * app origin is served; only known asset types are served (a source map or a
 * stray file type is 404), so the handler never guesses a MIME type.
 */
export function resolveAppAsset(url: string, root: string): AssetLookup {
  if (!isAppUrl(url)) return { ok: false, status: 403, reason: 'not the app origin' };
  let path: string;
  try {
    path = decodeURIComponent(new URL(url).pathname);
  } catch {
    return { ok: false, status: 400, reason: 'malformed path' };
  }
  if (path.includes('\0') || path.includes('\\')) return { ok: false, status: 400, reason: 'malformed path' };
  if (path === '/' || path === '') path = '/index.html';
  const file = resolve(root, `.${sep}${path.replace(/^\/+/, '')}`);
  if (!isInside(root, file) || file === root) return { ok: false, status: 403, reason: 'outside the renderer folder' };
  const contentType = CONTENT_TYPES[extname(file).toLowerCase()];
  if (contentType === undefined) return { ok: false, status: 404, reason: 'not an asset type the app serves' };
  return { ok: true, file, contentType };
}

/** Headers on every app:// answer: the CSP, no MIME sniffing, no embedding, no referrer. */
export function appResponseHeaders(contentType: string): Record<string, string> {
  return {
    'Content-Type': contentType,
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };
}
