/**
 * `cordon ui`: the Cordon app in the user's own browser, served by the
 * loopback bridge (core/bridge/) until Ctrl-C or SIGTERM. The URL with its
 * one-time token goes to stdout, once; everything else goes to stderr.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsOnceLoaded } from '../core/api/api-dispatch.js';
import { startUiBridge, type UiBridge } from '../core/bridge/ui-bridge.js';
import { installRoot } from '../core/paths/install-root.js';
import type { CliContext } from './cli-context.js';
import { CliExit } from './cli-exit.js';
import { openWithDesktop } from './desktop-open.js';
import { EXIT } from './exit-codes.js';
import { stopSignal } from './stop-signal.js';

export interface UiOptions {
  readonly port?: string;
  readonly open?: boolean;
}

/** The folder Vite builds the renderer into. */
export function rendererDir(root: string = installRoot()): string {
  return join(root, 'dist', 'renderer');
}

export function parsePort(value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new CliExit(EXIT.usage, `--port takes a port number from 0 to 65535 (0: any free port), not "${value}"`);
  return Number(value);
}

export async function uiCommand(getContext: () => Promise<CliContext>, opts: UiOptions): Promise<number> {
  const port = parsePort(opts.port);
  const staticDir = rendererDir();
  if (!existsSync(join(staticDir, 'index.html'))) {
    throw new CliExit(EXIT.checkFailed, `the UI is not built: ${join(staticDir, 'index.html')} is missing. Run \`npm run build\` in ${installRoot()}, then \`cordon ui\` again.`);
  }

  // The session service (policy, audit log, engine client, keychain: ~150 ms
  // of loading) is not needed to serve the page, only to answer its calls. It
  // loads once the page has been sent, while the browser parses it and
  // compiles its scripts in its own process, so the two overlap (issue 15's
  // first-screen target); or on the first call, or a second after the URL is
  // out if no page comes. Then it cleans up after launchers that
  // died (what every other command does before it runs), delivers the audit
  // log to the SIEM for as long as we run (issue 20), and loads what the first
  // calls need. A service that cannot load ends the command, as it would have
  // before the URL was printed.
  let loading: Promise<CliContext> | null = null;
  let broke: (err: Error) => void = () => undefined;
  const broken = new Promise<Error>((resolve) => (broke = resolve));
  const context = (): Promise<CliContext> => {
    if (loading === null) {
      loading = getContext();
      loading.then(
        async (ctx) => {
          await ctx.reap(false);
          const exporting = ctx.service.serveAuditExport();
          if (!exporting.ok) process.stderr.write(`cordon: ${exporting.message}\n`);
          ctx.service.features();
          void ctx.service.keyStore().status('anthropic').catch(() => undefined);
        },
        (err: unknown) => broke(err instanceof Error ? err : new Error(String(err))),
      );
    }
    return loading;
  };
  let bridge: UiBridge;
  try {
    bridge = await startUiBridge({
      dispatch: async (method, params) => (await context()).service.dispatch(method, params),
      events: eventsOnceLoaded(async () => (await context()).service),
      staticDir,
      port,
      host: '127.0.0.1',
      onPageSent: () => setImmediate(() => void context().catch(() => undefined)),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliExit(EXIT.checkFailed, `port ${port} on 127.0.0.1 is in use: choose another with --port, or --port 0 for any free one`);
    if (code === 'EACCES') throw new CliExit(EXIT.checkFailed, `port ${port} needs privileges this user lacks: choose one above 1023, or --port 0`);
    throw err;
  }

  // Listening for the stop signals before the URL is printed: whoever reads
  // the URL may stop us at once, and without a handler that would kill the
  // process before it stops its sessions.
  const stopped = stopSignal();
  const pageUrl = `${bridge.url}#token=${bridge.token}`;
  // The only place the token is ever written: stdout, in the fragment (never sent to a server).
  process.stdout.write(`Cordon UI: ${pageUrl}\n`);
  process.stderr.write(`cordon: serving the Cordon app on 127.0.0.1:${bridge.port} for this user only; stop with Ctrl-C.\n`);

  let launchPage: LaunchPage | null = null;
  if (opts.open) {
    try {
      launchPage = writeLaunchPage(pageUrl);
      openWithDesktop(process.platform, launchPage.file);
    } catch (err) {
      process.stderr.write(`cordon: could not start a browser (${(err as Error).message}); open the URL above yourself.\n`);
    }
  }

  // If no page comes within a second, load anyway (context() loads only once).
  const idle = setTimeout(() => void context().catch(() => undefined), 1000);

  const ended = await Promise.race([stopped, broken]);
  clearTimeout(idle);
  launchPage?.remove();
  await bridge.close();
  if (ended instanceof Error) {
    process.stderr.write(`cordon: the Cordon service did not start: ${ended.message}\n`);
    return EXIT.checkFailed;
  }
  process.stderr.write(`cordon: ${ended}: stopping the UI and the sessions it started.\n`);
  const loaded = loading as Promise<CliContext> | null;
  if (loaded !== null) await (await loaded).service.close();
  return EXIT.ok;
}

export interface LaunchPage {
  readonly file: string;
  remove(): void;
}

/**
 * A redirect page holding the tokened URL, in a fresh folder only this user
 * can read (mkdtemp makes it 0700; the file is 0600). The browser is handed
 * the file's path, so the token never sits in the browser's argv, which any
 * local user can read in /proc on Linux. Removed after a minute (by then the
 * browser has read it) or when `cordon ui` stops, whichever comes first.
 */
export function writeLaunchPage(pageUrl: string, parent: string = tmpdir(), keepMs = 60_000): LaunchPage {
  const dir = mkdtempSync(join(parent, 'cordon-ui-'));
  const file = join(dir, 'open-cordon.html');
  const escaped = pageUrl.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  writeFileSync(
    file,
    `<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer"><meta http-equiv="refresh" content="0;url=${escaped}"><title>Opening Cordon</title>\n`,
    { mode: 0o600, flag: 'wx' },
  );
  const remove = (): void => {
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  const timer = setTimeout(remove, keepMs);
  timer.unref();
  return { file, remove };
}
