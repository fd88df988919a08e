/**
 * The host's clipboard, behind one interface (issue 18, item 2): Electron's
 * clipboard in the app (electron/), and where only the CLI runs the desktop's
 * own tools — `xclip` under X11, `wl-copy`/`wl-paste` under Wayland, `pbcopy`/
 * `pbpaste` on macOS (text only there). Every call is an argument vector
 * (never a shell), bounded in time and size.
 */
import { spawn } from 'node:child_process';

export type Selection = 'clipboard' | 'primary';

export interface HostClipboard {
  /** What the clipboard is, for notices ("xclip on :0"). */
  readonly name: string;
  /** The MIME types the clipboard offers now (empty when it holds nothing). */
  types(selection: Selection): Promise<string[]>;
  /** The content as TYPE, or null when the clipboard does not offer it. */
  read(selection: Selection, type: string): Promise<Buffer | null>;
  write(selection: Selection, type: string, data: Buffer): Promise<void>;
}

/** Largest clipboard content read from the host; more is refused, not cut. */
export const MAX_CLIPBOARD_BYTES = 32 * 1024 * 1024;
const TIMEOUT_MS = 5000;

export class ClipboardError extends Error {
  override readonly name = 'ClipboardError';
}

/**
 * The clipboard of the desktop this process runs on, from its environment,
 * or null when there is none (a headless server, no tool installed). The
 * caller passes the environment: core reads none itself.
 */
export function desktopClipboard(env: Readonly<Record<string, string | undefined>>, platform: NodeJS.Platform = process.platform): HostClipboard | null {
  if (platform === 'darwin') return pbClipboard();
  if (env['WAYLAND_DISPLAY']) return wlClipboard(env);
  if (env['DISPLAY']) return xclipClipboard(env);
  return null;
}

function xclipClipboard(env: Readonly<Record<string, string | undefined>>): HostClipboard {
  const display = env['DISPLAY'] ?? '';
  const childEnv = { PATH: env['PATH'] ?? '/usr/bin:/bin', DISPLAY: display, ...(env['XAUTHORITY'] ? { XAUTHORITY: env['XAUTHORITY'] } : {}) };
  return {
    name: `xclip on ${display}`,
    types: async (sel) => {
      const out = await run('xclip', ['-selection', sel, '-t', 'TARGETS', '-o'], childEnv, null, true);
      return out === null ? [] : mimeTypes(out.toString('utf8'));
    },
    read: (sel, type) => run('xclip', ['-selection', sel, '-t', x11Target(type), '-o'], childEnv, null, true),
    write: async (sel, type, data) => {
      // xclip forks a child that serves the selection; the command returns once it owns it.
      await run('xclip', ['-selection', sel, '-t', x11Target(type), '-i'], childEnv, data, false);
    },
  };
}

/** X11 names UTF-8 text UTF8_STRING; owners that offer text/plain offer it too. */
function x11Target(type: string): string {
  return type === 'text/plain' ? 'UTF8_STRING' : type;
}

function wlClipboard(env: Readonly<Record<string, string | undefined>>): HostClipboard {
  const childEnv = { PATH: env['PATH'] ?? '/usr/bin:/bin', WAYLAND_DISPLAY: env['WAYLAND_DISPLAY'] ?? '', ...(env['XDG_RUNTIME_DIR'] ? { XDG_RUNTIME_DIR: env['XDG_RUNTIME_DIR'] } : {}) };
  const primary = (sel: Selection): string[] => (sel === 'primary' ? ['--primary'] : []);
  return {
    name: `wl-clipboard on ${childEnv.WAYLAND_DISPLAY}`,
    types: async (sel) => {
      const out = await run('wl-paste', [...primary(sel), '--list-types'], childEnv, null, true);
      return out === null ? [] : mimeTypes(out.toString('utf8'));
    },
    read: (sel, type) => run('wl-paste', [...primary(sel), '--no-newline', '--type', type], childEnv, null, true),
    write: async (sel, type, data) => {
      await run('wl-copy', [...primary(sel), '--type', type], childEnv, data, false);
    },
  };
}

function pbClipboard(): HostClipboard {
  const env = { PATH: '/usr/bin:/bin', LANG: 'en_US.UTF-8' };
  return {
    name: 'the macOS pasteboard (text only)',
    types: async () => {
      const out = await run('pbpaste', [], env, null, true);
      return out !== null && out.length > 0 ? ['text/plain'] : [];
    },
    read: (_sel, type) => (isText(type) ? run('pbpaste', [], env, null, true) : Promise.resolve(null)),
    write: async (_sel, type, data) => {
      if (!isText(type)) throw new ClipboardError('the macOS pasteboard tools carry text only');
      await run('pbcopy', [], env, data, true);
    },
  };
}

function isText(type: string): boolean {
  return type.startsWith('text/') || type === 'UTF8_STRING' || type === 'STRING';
}

/** Types as MIME types; X11 atoms for text become text/plain. */
function mimeTypes(listing: string): string[] {
  const out = new Set<string>();
  for (const line of listing.split('\n').map((l) => l.trim())) {
    if (line === '' || line === 'TARGETS' || line === 'TIMESTAMP' || line === 'MULTIPLE' || line === 'SAVE_TARGETS') continue;
    out.add(line === 'UTF8_STRING' || line === 'STRING' || line === 'TEXT' || line === 'COMPOUND_TEXT' ? 'text/plain' : line);
  }
  return [...out];
}

/**
 * Runs a clipboard tool. With CAPTURE, resolves with its stdout (null when it
 * exits non-zero: nothing of that type). Without, its output is not read and
 * it runs detached: a copy tool forks a child that keeps serving the
 * selection after the command itself exits, which must hold no pipe of ours.
 */
function run(cmd: string, args: readonly string[], env: Record<string, string>, input: Buffer | null, capture: boolean): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { env, stdio: [input ? 'pipe' : 'ignore', capture ? 'pipe' : 'ignore', 'ignore'], detached: !capture });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(() => reject(new ClipboardError(`${cmd} did not answer within ${TIMEOUT_MS / 1000} s`)));
    }, TIMEOUT_MS);
    child.on('error', (err: NodeJS.ErrnoException) =>
      done(() => reject(new ClipboardError(err.code === 'ENOENT' ? `${cmd} is not installed on this machine` : `${cmd} failed: ${err.message}`))),
    );
    child.stdout?.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_CLIPBOARD_BYTES) {
        child.kill('SIGKILL');
        done(() => reject(new ClipboardError(`the clipboard holds more than ${MAX_CLIPBOARD_BYTES / 1048576} MiB`)));
      } else chunks.push(c);
    });
    if (input && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
    if (!capture) child.unref();
    child.on('exit', (code) =>
      done(() => (code === 0 ? resolve(capture ? Buffer.concat(chunks) : null) : capture ? resolve(null) : reject(new ClipboardError(`${cmd} exited with ${String(code)}`)))),
    );
  });
}
