/**
 * The Electron main process: a thin adapter that wires the tray, one window,
 * dialogs and notifications to the session service in core. Every decision
 * lives elsewhere: window security in window-factory.ts, what the protocol
 * serves in app-protocol.ts, who may call in ipc-checks.ts, the tray's
 * content in tray-menu.ts, what notifies in notifications.ts, everything
 * else in core behind the same dispatcher `cordon ui` uses.
 */
import { realpath, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, dialog, Menu, nativeImage, Notification, protocol, session, shell, Tray, type MenuItemConstructorOptions } from 'electron';
import type { ApiEvent, Workspace } from '../core/api/cordon-api.js';
import type { CordonService, ServiceNotice } from '../core/service/cordon-service.js';
import { openCordonService } from '../core/service/open-service.js';
import { APP_ENTRY_URL, APP_SCHEME } from './app-origin.js';
import { appResponseHeaders, isInside, resolveAppAsset } from './app-protocol.js';
import { electronClipboard } from './electron-clipboard.js';
import { handleCalls, sendEvent } from './ipc-contract.js';
import { alertFor, approvalAlertFor, NotificationCoalescer, type Alert, type SystemNotification } from './notifications.js';
import { trayMenuModel, type TrayAction, type TrayItem } from './tray-menu.js';
import { hardenSession, hardenWebContents, secureWindowOptions } from './window-factory.js';

/** dist/electron/main.js → the app root (the folder holding package.json, or app.asar). */
const appRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const rendererRoot = join(appRoot, 'dist', 'renderer');
const preloadPath = join(appRoot, 'dist', 'electron', 'preload.cjs');
/** One denial or DLP block notification per this many ms at most. */
const NOTIFY_INTERVAL_MS = 30_000;
/** One "an agent is waiting" notification per this many ms at most (a request times out in about a minute). */
const APPROVAL_NOTIFY_INTERVAL_MS = 10_000;
/** 16×16 outlined square: a tray icon that needs no file on disk. */
const TRAY_ICON = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAH0lEQVR4nGNgGEzgP4mYdgYQ69JRA4a3AQOXEgcGAABzd0+xX13EPQAAAABJRU5ErkJggg==';

// Before ready: every renderer sandboxed, whatever a window's options say,
// and app:// a standard, secure scheme (a real origin, CSP 'self' meaningful).
app.enableSandbox();
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

if (!app.requestSingleInstanceLock()) {
  // Another Cordon app runs; it gets 'second-instance' and shows its window.
  app.quit();
} else {
  app.whenReady().then(start).catch((err: unknown) => fatal(err, 'Cordon could not start'));
}

function start(): void {
  hardenSession(session.defaultSession);
  protocol.handle(APP_SCHEME, serveAppAsset);

  const windows = new Set<BrowserWindow>();
  const service = openCordonService({
    env: process.env,
    version: app.getVersion(),
    platform: process.platform,
    uid: process.getuid?.(),
    gid: process.getgid?.(),
    notify: (notice) => onNotice(notice),
    openExternal: (url) => void shell.openExternal(url),
    showInFolder: (path) => shell.showItemInFolder(path),
    // The sandbox's clipboard tools reach the app's clipboard, through the gate.
    clipboard: electronClipboard(),
    // The preload reads a dropped file's path from the drop itself (webUtils); the gate still judges it (G22).
    trustsRendererPaths: true,
    // A changed file dragged out: the gate wrote a copy into a private temp folder; only that copy is dragged (G21).
    startDrag: (file) => {
      const win = BrowserWindow.getFocusedWindow() ?? [...windows][0];
      win?.webContents.startDrag({ file, icon: nativeImage.createFromDataURL(TRAY_ICON) });
    },
  });

  const broadcast = (event: ApiEvent): void => {
    for (const w of windows) sendEvent(w.webContents, event);
  };
  const onNotice = (notice: ServiceNotice): void => {
    broadcast({ type: 'notice', level: notice.level, message: notice.message });
    if (notice.level === 'error') showNotification({ title: 'Cordon', body: notice.message });
  };

  handleCalls({
    dispatch: service.dispatch,
    windowContentsIds: () => new Set([...windows].map((w) => w.webContents.id)),
    onRefused: (message) => console.warn(`cordon: ${message}`),
  });

  const openWindow = (): BrowserWindow => {
    const existing = [...windows][0];
    if (existing) {
      if (existing.isMinimized()) existing.restore();
      existing.show();
      existing.focus();
      return existing;
    }
    const win = new BrowserWindow(secureWindowOptions({ preload: preloadPath }));
    hardenWebContents(win.webContents);
    windows.add(win);
    win.once('ready-to-show', () => win.show());
    win.on('closed', () => windows.delete(win));
    void win.loadURL(APP_ENTRY_URL);
    return win;
  };

  const tray = new Tray(nativeImage.createFromDataURL(TRAY_ICON));
  tray.setToolTip('Cordon');
  const rebuildTray = debounce(async () => {
    const listed = await service.listSessions();
    const recent = await service.dispatch('recent.workspaces', {});
    const model = trayMenuModel({
      sessions: listed.ok ? listed.sessions : { unavailable: listed.message },
      recent: recent.ok ? (recent.value as Workspace[]) : [],
      features: service.features().features,
    });
    tray.setContextMenu(Menu.buildFromTemplate(model.map((item) => toMenuItem(item, onTrayAction))));
  }, 250);

  const launchOn = async (workspace: Workspace): Promise<void> => {
    // Through the dispatcher: the same contract check and role check (features.launch) as a UI call.
    // The tray is where knowledge workers start: a conversation, the app's default launch.
    const r = await service.dispatch('sessions.launch', { workspaces: [workspace], mode: 'chat' });
    if (!r.ok) showNotification({ title: 'Cordon could not start the session', body: r.error.message });
    else openWindow();
  };
  const onTrayAction = (action: TrayAction): void => {
    switch (action.kind) {
      case 'launch-pick':
        void dialog.showOpenDialog({ title: 'Launch Cordon on a folder', properties: ['openDirectory'] }).then(async (picked) => {
          const path = picked.filePaths[0];
          if (!picked.canceled && path !== undefined) await launchOn({ path, mode: 'rw' });
        });
        return;
      case 'launch-recent':
        void launchOn(action.workspace);
        return;
      case 'open-session':
      case 'open-app':
        openWindow();
        return;
      case 'stop-session':
        void service.stop({ id: action.sessionId }, 'the Cordon tray').then((r) => {
          if (r.kind !== 'stopped') showNotification({ title: 'Cordon could not stop the session', body: r.message });
          rebuildTray();
        });
        return;
      case 'quit':
        app.quit();
        return;
    }
  };

  const blocks = coalescedNotifier(NOTIFY_INTERVAL_MS, (n) => showNotification(n));
  // Requests waiting for an answer: only while no Cordon window has focus (the prompt is in the window);
  // a click shows the window, which answers nothing by itself.
  const approvalsWaiting = coalescedNotifier(APPROVAL_NOTIFY_INTERVAL_MS, (n) => {
    if (BrowserWindow.getFocusedWindow() === null) showNotification(n, () => openWindow());
  });
  service.subscribe((event) => {
    broadcast(event);
    if (event.type === 'sessions.changed') rebuildTray();
    if (event.type === 'audit') {
      const alert = alertFor(event.record);
      if (alert !== null) blocks.offer(alert);
      const waiting = approvalAlertFor(event.record);
      if (waiting !== null && BrowserWindow.getFocusedWindow() === null) approvalsWaiting.offer(waiting);
    }
  });

  app.on('second-instance', () => openWindow());
  // macOS: clicking the Dock icon with no window open brings one back.
  app.on('activate', () => openWindow());
  // Closing the window leaves Cordon in the tray; Quit is the way out.
  app.on('window-all-closed', () => undefined);
  let closed = false;
  app.on('before-quit', (event) => {
    if (closed) return;
    event.preventDefault();
    confirmQuit(service)
      .then(async (quit) => {
        if (!quit) return;
        await service.close();
        blocks.stop();
        approvalsWaiting.stop();
        closed = true;
        tray.destroy();
        app.quit();
      })
      .catch((err: unknown) => fatal(err, 'Cordon could not stop its sessions cleanly'));
  });

  // Sessions whose launcher died (a crashed app, a killed terminal) are cleaned up as the CLI does before each command.
  service.reap(false).catch((err: unknown) => console.warn(`cordon: cleaning up old sessions failed: ${(err as Error).message}`));
  // The app delivers the audit log to the SIEM for as long as it runs, sessions or not (issue 20).
  const exporting = service.serveAuditExport();
  if (!exporting.ok) onNotice({ level: 'warn', message: exporting.message });
  rebuildTray();
  openWindow();
}

/** Asks before stopping sessions this process hosts; true to go on quitting. */
async function confirmQuit(service: CordonService): Promise<boolean> {
  const hosted = service.hostedSessions();
  if (hosted.length === 0) return true;
  const answer = await dialog.showMessageBox({
    type: 'warning',
    message: `Quit Cordon and stop ${hosted.length === 1 ? 'its running session' : `its ${hosted.length} running sessions`}?`,
    detail: 'Sessions started from this app end when it quits. Sessions started from a terminal keep running.',
    buttons: ['Stop and Quit', 'Cancel'],
    defaultId: 1,
    cancelId: 1,
  });
  return answer.response === 0;
}

/** app:// → a file under dist/renderer/, with the CSP header; nothing outside it (symlinks included). */
async function serveAppAsset(request: Request): Promise<Response> {
  const found = resolveAppAsset(request.url, rendererRoot);
  if (!found.ok) return new Response(null, { status: found.status });
  try {
    const [root, real] = await Promise.all([realpath(rendererRoot), realpath(found.file)]);
    if (!isInside(root, real)) return new Response(null, { status: 403 });
    return new Response(await readFile(real), { status: 200, headers: appResponseHeaders(found.contentType) });
  } catch {
    return new Response(null, { status: 404 });
  }
}

function toMenuItem(item: TrayItem, act: (a: TrayAction) => void): MenuItemConstructorOptions {
  switch (item.type) {
    case 'action':
      return { label: item.label, click: () => act(item.action) };
    case 'label':
      return { label: item.label, enabled: false };
    case 'submenu':
      return { label: item.label, submenu: item.items.map((i) => toMenuItem(i, act)) };
    case 'separator':
      return { type: 'separator' };
  }
}

function showNotification(n: SystemNotification, onClick?: () => void): void {
  if (!Notification.isSupported()) return;
  const shown = new Notification({ title: n.title, body: n.body });
  if (onClick) shown.on('click', onClick);
  shown.show();
}

/** Alerts through a NotificationCoalescer: shown at once or, when held back, by a timer at the coalescer's due time. */
function coalescedNotifier(intervalMs: number, show: (n: SystemNotification) => void): { offer(alert: Alert): void; stop(): void } {
  const coalescer = new NotificationCoalescer(intervalMs);
  let timer: NodeJS.Timeout | null = null;
  const later = (): void => {
    const due = coalescer.dueAt();
    if (due === null || timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      const n = coalescer.flush(Date.now());
      if (n) show(n);
      later();
    }, Math.max(0, due - Date.now()));
  };
  return {
    offer: (alert) => {
      const n = coalescer.offer(alert, Date.now());
      if (n) show(n);
      later();
    },
    stop: () => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

/** Runs FN at most once per WAIT ms, after the last request; failures are logged, not thrown. */
function debounce(fn: () => Promise<void>, wait: number): () => void {
  let timer: NodeJS.Timeout | null = null;
  return () => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn().catch((err: unknown) => console.warn(`cordon: tray update failed: ${(err as Error).message}`));
    }, wait);
  };
}

function fatal(err: unknown, title: string): void {
  dialog.showErrorBox(title, (err as Error).message);
  app.exit(1);
}

