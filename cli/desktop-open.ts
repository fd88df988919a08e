/**
 * The desktop's own opener: what `cordon ui --open` starts the browser with,
 * and what opens a link the user confirmed in the app or shows a changed file
 * in the file manager. Arguments go as an argv array, never through a shell.
 */
import { spawn } from 'node:child_process';

/** How each platform opens a file with the user's default browser. */
export function browserCommand(platform: NodeJS.Platform, file: string): [string, string[]] {
  if (platform === 'darwin') return ['open', [file]];
  // `start` is built into cmd; its first quoted argument is a window title (Node quotes the empty one).
  if (platform === 'win32') return ['cmd', ['/c', 'start', '', file]];
  // Linux and the BSDs: the freedesktop opener.
  return ['xdg-open', [file]];
}

/** Opens TARGET (a file, a folder or a URL) with the platform's opener; failures go to stderr. */
export function openWithDesktop(platform: NodeJS.Platform, target: string): void {
  // cmd.exe would parse "&" or "|" in a URL as its own syntax: on Windows the explorer opens it instead.
  const [cmd, args] = platform === 'win32' ? ['explorer.exe', [target]] : browserCommand(platform, target);
  const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
  child.on('error', (err) => process.stderr.write(`cordon: could not start ${cmd} (${err.message}); open it yourself: ${target}\n`));
  child.unref();
}
