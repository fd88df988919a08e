/**
 * The one place a Cordon window's security settings come from (HOUSE-STYLE:
 * "secure window factory"). Every BrowserWindow is built from
 * `secureWindowOptions`, its web contents pass through `hardenWebContents`
 * and its session through `hardenSession`.
 *
 * Threat: the renderer shows text that came out of a sandboxed agent
 * (terminal output, file names, audit messages). If any of it ever became
 * markup or script, the page must still have no Node, no way to navigate to
 * or open another origin, no permission (camera, clipboard-read, notifications …)
 * and no network but its own files.
 *
 * Pure apart from the calls it makes on the objects handed in: electron is
 * imported for types only, so unit tests drive it with fakes in plain Node.
 */
import type { BrowserWindowConstructorOptions, Session, WebContents } from 'electron';
import { isAppUrl } from './app-origin.js';

/**
 * The page's Content-Security-Policy, sent as a response header by the app
 * protocol for every asset. Scripts only from the app's own origin (no
 * inline, no eval); inline styles are allowed because React and xterm.js set
 * style attributes; no plugins, no <base>, no framing, no form posts.
 * `connect-src 'self'`: the renderer talks to core through the preload, not
 * the network.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

export interface WindowOptionsInput {
  /** Absolute path of the bundled preload (dist/electron/preload.cjs). */
  readonly preload: string;
  readonly title?: string;
}

/**
 * Options for every Cordon window. The web preferences are fixed here and
 * nowhere else; callers choose only the preload and the title.
 */
export function secureWindowOptions(input: WindowOptionsInput): BrowserWindowConstructorOptions {
  return {
    title: input.title ?? 'Cordon',
    width: 1100,
    height: 760,
    minWidth: 640,
    minHeight: 480,
    // Shown once the first paint is ready, so no blank frame flashes.
    show: false,
    webPreferences: {
      preload: input.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webviewTag: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      // No spell-check dictionary downloads from Google's CDN.
      spellcheck: false,
      safeDialogs: true,
      navigateOnDragDrop: false,
    },
  };
}

/** Navigation decision for any frame: only the app's own pages may be loaded. */
export function navigationAllowed(url: string): boolean {
  return isAppUrl(url);
}

/** `setWindowOpenHandler`'s answer: no page may open a window, whatever it asks for. */
export function denyWindowOpen(): { action: 'deny' } {
  return { action: 'deny' };
}

/** Permission requests (camera, geolocation, notifications, clipboard-read …) are all refused. */
export function denyPermissionRequest(_contents: unknown, _permission: string, callback: (granted: boolean) => void): void {
  callback(false);
}

/** Permission checks answer "not granted" for every permission and origin. */
export function denyPermissionCheck(): boolean {
  return false;
}

/**
 * Whether a request the renderer makes may leave: only the app's own
 * origin, and devtools' own pages when they are open. Everything else (http,
 * https, ws, file, data: navigations …) is cancelled, so "no remote content"
 * holds even if the CSP were wrong.
 */
export function requestAllowed(url: string): boolean {
  if (isAppUrl(url)) return true;
  if (url.startsWith('devtools://')) return true;
  // Inline images the CSP already allows (img-src data:) never reach the network.
  return url.startsWith('data:image/');
}

/**
 * Locks down one window's web contents: every navigation and redirect away
 * from the app is cancelled, new windows are refused, and <webview> cannot be
 * attached (webviewTag is false too; this is the second lock).
 */
export function hardenWebContents(contents: WebContents): void {
  const guard = (event: { preventDefault(): void }, url: string): void => {
    if (!navigationAllowed(url)) event.preventDefault();
  };
  // will-frame-navigate covers sub-frames as well as the main frame.
  contents.on('will-frame-navigate', (event) => guard(event, event.url));
  contents.on('will-navigate', (event, url) => guard(event, url));
  contents.on('will-redirect', (event, url) => guard(event, url));
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(denyWindowOpen);
}

/** Locks down the session all Cordon windows share: no permissions, no device access, no network but the app's own origin. */
export function hardenSession(session: Session): void {
  session.setPermissionRequestHandler(denyPermissionRequest);
  session.setPermissionCheckHandler(denyPermissionCheck);
  session.setDevicePermissionHandler(() => false);
  session.webRequest.onBeforeRequest((details, callback) => callback({ cancel: !requestAllowed(details.url) }));
}
