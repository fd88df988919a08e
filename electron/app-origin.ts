/**
 * Where the app's own pages live: the custom `app://cordon/` origin that the
 * main process serves from dist/renderer/ (see app-protocol.ts).
 *
 * Why a custom protocol and not file://: every file:// page shares one
 * opaque origin with every other local file, so a CSP of `'self'` or a
 * navigation guard keyed on "file:" would admit any file on the disk. A
 * standard, secure custom scheme gives the UI a real origin of its own, lets
 * the handler confine reads to one folder, and lets it attach the CSP as a
 * response header (file:// responses carry no headers).
 *
 * Pure: imports nothing from electron, so unit tests load it in plain Node.
 */
export const APP_SCHEME = 'app';
export const APP_HOST = 'cordon';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * True when URL is a page or asset of the app itself: scheme `app:`, host
 * `cordon`, no credentials and no port. Anything that does not parse is not
 * ours. (WHATWG URL reports the origin of a custom scheme as "null", so the
 * parts are compared, not `url.origin`.)
 */
export function isAppUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.protocol === `${APP_SCHEME}:` && u.hostname === APP_HOST && u.port === '' && u.username === '' && u.password === '';
}
