import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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
  const watchers: FSWatcher[] = [];
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
  for (const [dir, relevant] of targets) {
    if (!existsSync(dir)) continue;
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (relevant(name === null ? null : name.toString())) fire();
      });
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      // Unwatchable (permissions): the policy loaded at start stays in force.
    }
  }
  fire();
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
