/**
 * Every window gets the locked-down options, and the hardening refuses what
 * it must: foreign navigation, new windows, permissions, remote requests.
 * electron is not loaded: the hardening is driven through recording fakes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Session, WebContents } from 'electron';
import { APP_ENTRY_URL, isAppUrl } from './app-origin.js';
import {
  CONTENT_SECURITY_POLICY,
  denyPermissionCheck,
  denyPermissionRequest,
  denyWindowOpen,
  hardenSession,
  hardenWebContents,
  navigationAllowed,
  requestAllowed,
  secureWindowOptions,
} from './window-factory.js';

const FOREIGN = ['https://evil.example/', 'http://127.0.0.1:8080/', 'file:///etc/passwd', 'app://other/index.html', 'app://cordon:8080/x', 'app://user@cordon/', 'javascript:alert(1)', 'data:text/html,<script>1</script>', 'devtools://devtools/bundled/x.html', 'not a url', ''];

test('every window is sandboxed, context-isolated and without Node or <webview>', () => {
  const o = secureWindowOptions({ preload: '/app/dist/electron/preload.cjs' });
  const w = o.webPreferences;
  assert.ok(w);
  assert.equal(w.contextIsolation, true);
  assert.equal(w.sandbox, true);
  assert.equal(w.nodeIntegration, false);
  assert.equal(w.nodeIntegrationInWorker, false);
  assert.equal(w.nodeIntegrationInSubFrames, false);
  assert.equal(w.webviewTag, false);
  assert.equal(w.webSecurity, true);
  assert.equal(w.allowRunningInsecureContent, false);
  assert.equal(w.preload, '/app/dist/electron/preload.cjs');
  // Options a caller cannot sneak in: the input type has only preload and title.
  assert.equal(secureWindowOptions({ preload: 'p', title: 'T' }).webPreferences?.sandbox, true);
});

test('the CSP is exactly the agreed policy: no inline script, no remote anything', () => {
  assert.equal(
    CONTENT_SECURITY_POLICY,
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
  );
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-eval|https?:|\*/);
});

test('navigation is allowed only within app://cordon', () => {
  assert.equal(navigationAllowed(APP_ENTRY_URL), true);
  assert.equal(navigationAllowed('app://cordon/index.html#/sessions'), true);
  // Chromium hands over canonical (lower-case) URLs for a standard scheme; a non-canonical host fails closed.
  assert.equal(navigationAllowed('app://CORDON/index.html'), false);
  for (const url of FOREIGN) assert.equal(navigationAllowed(url), false, url);
  assert.equal(isAppUrl('app://cordon.evil.example/'), false);
});

test('window.open, permission requests and permission checks are all refused', () => {
  assert.deepEqual(denyWindowOpen(), { action: 'deny' });
  for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fileSystem']) {
    let granted: boolean | undefined;
    denyPermissionRequest({}, permission, (g) => (granted = g));
    assert.equal(granted, false, permission);
  }
  assert.equal(denyPermissionCheck(), false);
});

test('requests leave only for the app origin', () => {
  assert.equal(requestAllowed('app://cordon/assets/index-abc.js'), true);
  assert.equal(requestAllowed('data:image/png;base64,AAAA'), true);
  for (const url of ['https://evil.example/x.js', 'http://localhost:1/', 'ws://127.0.0.1:9/', 'file:///etc/passwd', 'app://other/x']) assert.equal(requestAllowed(url), false, url);
});

/** A webContents that records its listeners and window-open handler. */
function fakeContents() {
  const listeners = new Map<string, (...args: unknown[]) => void>();
  let openHandler: ((details: unknown) => unknown) | null = null;
  const contents = {
    on(name: string, l: (...args: unknown[]) => void) {
      listeners.set(name, l);
      return contents;
    },
    setWindowOpenHandler(h: (details: unknown) => unknown) {
      openHandler = h;
    },
  };
  const fire = (name: string, url: string): boolean => {
    let prevented = false;
    const event = { url, preventDefault: () => (prevented = true) };
    const l = listeners.get(name);
    assert.ok(l, `no ${name} listener`);
    l(event, url);
    return prevented;
  };
  return { contents: contents as unknown as WebContents, fire, open: () => openHandler?.({ url: 'https://evil.example/' }) };
}

test('hardenWebContents cancels foreign navigations and redirects in every frame, and <webview>', () => {
  const f = fakeContents();
  hardenWebContents(f.contents);
  for (const name of ['will-frame-navigate', 'will-navigate', 'will-redirect']) {
    assert.equal(f.fire(name, APP_ENTRY_URL), false, `${name} within the app`);
    for (const url of FOREIGN) assert.equal(f.fire(name, url), true, `${name} ${url}`);
  }
  assert.equal(f.fire('will-attach-webview', APP_ENTRY_URL), true);
  assert.deepEqual(f.open(), { action: 'deny' });
});

test('hardenSession installs deny-all permission handlers and the request filter', () => {
  const got: Record<string, unknown> = {};
  const fake = {
    setPermissionRequestHandler: (h: unknown) => (got['request'] = h),
    setPermissionCheckHandler: (h: unknown) => (got['check'] = h),
    setDevicePermissionHandler: (h: unknown) => (got['device'] = h),
    webRequest: { onBeforeRequest: (h: unknown) => (got['before'] = h) },
  };
  hardenSession(fake as unknown as Session);
  assert.equal(got['request'], denyPermissionRequest);
  assert.equal(got['check'], denyPermissionCheck);
  assert.equal((got['device'] as () => boolean)(), false);
  const before = got['before'] as (d: { url: string }, cb: (r: { cancel: boolean }) => void) => void;
  const verdict = (url: string): boolean => {
    let cancel: boolean | undefined;
    before({ url }, (r) => (cancel = r.cancel));
    assert.notEqual(cancel, undefined);
    return cancel === true;
  };
  assert.equal(verdict('app://cordon/index.html'), false);
  assert.equal(verdict('https://evil.example/'), true);
});
