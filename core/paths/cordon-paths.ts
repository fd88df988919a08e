import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where Cordon keeps its state on this machine. Every path is absolute. */
export interface CordonPaths {
  /** Per-user state: `$CORDON_HOME`, else the platform's per-user app-data folder. */
  readonly home: string;
  /** The user's own settings file (`$CORDON_HOME/policy.json`). */
  readonly userPolicyFile: string;
  /** Managed (MDM) policy root: `$CORDON_POLICY_DIR`, else `/etc/cordon/policies` (Linux). */
  readonly policyDir: string;
  /** Hash-chained audit log folder. */
  readonly auditDir: string;
  /** One folder per live session (private state, sockets, placeholders to clean up). */
  readonly sessionsDir: string;
  /** Downloads and build inputs that can be thrown away. */
  readonly cacheDir: string;
  /** The invoking user's home folder, used by the mount deny rules. */
  readonly userHome: string;
}

/**
 * Resolves Cordon's folders from the environment. `CORDON_HOME` relocates all
 * per-user state and `CORDON_POLICY_DIR` the managed-policy folder (tests use both).
 */
export function resolveCordonPaths(
  env: Readonly<Record<string, string | undefined>>,
  platform: NodeJS.Platform,
  userHome: string = env['HOME'] && env['HOME'].length > 0 ? env['HOME'] : homedir(),
): CordonPaths {
  const home = nonEmpty(env['CORDON_HOME']) ?? defaultHome(env, platform, userHome);
  const policyDir = nonEmpty(env['CORDON_POLICY_DIR']) ?? defaultPolicyDir(env, platform);
  return {
    home,
    userPolicyFile: join(home, 'policy.json'),
    policyDir,
    auditDir: join(home, 'audit'),
    sessionsDir: join(home, 'sessions'),
    cacheDir: join(home, 'cache'),
    userHome,
  };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.length > 0 ? v : undefined;
}

function defaultHome(env: Readonly<Record<string, string | undefined>>, platform: NodeJS.Platform, userHome: string): string {
  if (platform === 'darwin') return join(userHome, 'Library', 'Application Support', 'Cordon');
  if (platform === 'win32') return join(nonEmpty(env['APPDATA']) ?? join(userHome, 'AppData', 'Roaming'), 'Cordon');
  // Linux and other Unixes: the XDG data folder.
  return join(nonEmpty(env['XDG_DATA_HOME']) ?? join(userHome, '.local', 'share'), 'cordon');
}

function defaultPolicyDir(env: Readonly<Record<string, string | undefined>>, platform: NodeJS.Platform): string {
  if (platform === 'darwin') return '/Library/Application Support/Cordon/policies';
  if (platform === 'win32') return join(nonEmpty(env['ProgramData']) ?? 'C:\\ProgramData', 'Cordon', 'policies');
  return '/etc/cordon/policies';
}
