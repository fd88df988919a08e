import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import type { CordonPaths } from '../paths/cordon-paths.js';
import { loadPolicy, type PolicyLoadResult } from './policy-loader.js';
import type { EffectivePolicy, PolicyIssue } from './policy-schema.js';

export type PolicyChange = { readonly ok: true; readonly policy: EffectivePolicy } | { readonly ok: false; readonly issues: readonly PolicyIssue[] };

/**
 * Watches the user policy file and the managed folder and reloads the whole
 * policy after a change (debounced, since editors write in several steps).
 * An invalid result is reported as such; the caller keeps the last good policy.
 * Returns a function that stops watching.
 *
 * The caller loaded its policy some time before it could start watching (a
 * session loads it at launch and watches once the sandbox runs). A change in
 * between would otherwise never arrive, so the policy is also reloaded once,
 * debounced, right after the watches are in place; the caller ignores a
 * reload that changes nothing.
 */
export function watchPolicy(
  paths: CordonPaths,
  onChange: (change: PolicyChange) => void,
  load: () => PolicyLoadResult = () => loadPolicy(paths),
  debounceMs = 150,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      const res = load();
      onChange(res.ok ? { ok: true, policy: res.policy } : { ok: false, issues: res.issues });
    }, debounceMs);
    timer.unref();
  };
  const userDir = dirname(paths.userPolicyFile);
  const userName = basename(paths.userPolicyFile);
  // The folder, not the file: editors replace files by renaming, which a
  // watch on the old inode would miss.
  const targets: Array<[string, (name: string | null) => boolean]> = [
    [userDir, (name) => name === null || name === userName || name.startsWith(`${userName}`)],
    [join(paths.policyDir, 'managed'), (name) => name === null || name.endsWith('.json') || name.endsWith('.sig')],
    [join(paths.policyDir, 'recommended'), (name) => name === null || name.endsWith('.json') || name.endsWith('.sig')],
    [join(paths.policyDir, 'trust'), (name) => name === null || name.endsWith('.pem')],
  ];
  const stops = targets.map(([dir, relevant]) => watchFolder(dir, relevant, fire));
  fire();
  return () => {
    if (timer) clearTimeout(timer);
    for (const stop of stops) stop();
  };
}

/**
 * Calls ONCHANGE for every change in DIR that RELEVANT accepts, and when DIR
 * itself appears or goes away. While DIR does not exist, the nearest existing
 * folder above it is watched for the next step of the path; each step that
 * appears moves the watch down, until it sits on DIR. Why: MDM may create the
 * managed folder only after a session started, and a policy dropped into it
 * must still reach that session. ONCHANGE also runs after every move, since a
 * file may have landed before the new watch was in place. A folder that
 * cannot be watched (permissions) is left alone: the policy loaded at start
 * stays in force. Returns a function that stops watching.
 */
export function watchFolder(dir: string, relevant: (name: string | null) => boolean, onChange: () => void): () => void {
  let current: FSWatcher | null = null;
  let stopped = false;
  const arm = (): void => {
    current?.close();
    current = null;
    if (stopped) return;
    const at = nearestFolder(dir);
    // The next path step below AT; null when AT is DIR itself.
    const next = at === dir ? null : (relative(at, dir).split(sep)[0] ?? null);
    try {
      current = watch(at, { persistent: false }, (_event, raw) => {
        const name = raw === null ? null : raw.toString();
        if (!isFolder(at)) {
          // The watch dies with its folder: look again from higher up.
          arm();
          onChange();
        } else if (next === null) {
          if (relevant(name)) onChange();
        } else if ((name === null || name === next) && isFolder(join(at, next))) {
          arm();
          onChange();
        }
      });
      // An inotify error (the folder vanished under the watch): look again shortly, not in a tight loop.
      current.on('error', () => {
        current?.close();
        current = null;
        if (!stopped) setTimeout(arm, 100).unref();
      });
    } catch {
      current = null;
    }
  };
  arm();
  return () => {
    stopped = true;
    current?.close();
  };
}

/** DIR if it is a folder, else the nearest folder above it (at worst the root). */
function nearestFolder(dir: string): string {
  let p = dir;
  while (!isFolder(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

function isFolder(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
