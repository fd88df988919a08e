import { posix } from 'node:path';
import { allow, deny, type Decision } from '../decision.js';

/**
 * Pure mount decisions. Every path given here is already a realpath: symlinks and
 * ".." were resolved by the caller, so a link into ~/.ssh is judged as ~/.ssh.
 */

/** May this folder be mounted? A refusal's `reason` is the rule it broke (a mount plan records it as `rule`). */
export type MountDecision = Decision<MountRuleCode>;

/** Stable reason codes; audit records and tests key on them. */
export type MountRuleCode = 'credential_store' | 'system_area' | 'home_folder' | 'docker_socket' | 'cordon_state' | 'policy_deny' | 'not_in_allowlist';

/** A protected area: a folder or file that no mount may be, contain, or lie inside. */
export interface ProtectedArea {
  readonly path: string;
  readonly rule: MountRuleCode;
  /** What the area is, for the refusal message ("AWS credentials"). */
  readonly what: string;
  /**
   * System areas such as `/` protect only themselves and what is inside them:
   * `/` "contains" everything, so that direction would refuse every mount.
   */
  readonly blocksParents: boolean;
}

/** Credential stores under the user's home folder, relative to it. */
export const HOME_CREDENTIAL_STORES: ReadonlyArray<readonly [string, string]> = [
  ['.aws', 'AWS credentials'],
  ['.ssh', 'SSH keys'],
  ['.gnupg', 'GnuPG keys'],
  ['.config/gcloud', 'Google Cloud credentials'],
  ['.azure', 'Azure credentials'],
  ['.kube', 'Kubernetes credentials'],
  ['.docker', 'Docker registry credentials'],
  ['.npmrc', 'npm tokens'],
  ['.netrc', 'netrc passwords'],
  ['.git-credentials', 'git credentials'],
  ['.config/gh', 'GitHub CLI tokens'],
  ['.password-store', 'pass password store'],
  ['.local/share/keyrings', 'GNOME keyring'],
  ['.local/share/kwalletd', 'KDE wallet'],
  ['Library/Keychains', 'macOS keychain'],
  ['.mozilla', 'Firefox profiles'],
  ['.config/google-chrome', 'Chrome profiles'],
  ['.config/chromium', 'Chromium profiles'],
  ['.config/BraveSoftware', 'Brave profiles'],
  ['.config/microsoft-edge', 'Edge profiles'],
  ['snap/firefox', 'Firefox (snap) profiles'],
  ['snap/chromium', 'Chromium (snap) profiles'],
  ['Library/Application Support/Google/Chrome', 'Chrome profiles'],
  ['Library/Application Support/Firefox', 'Firefox profiles'],
  ['Library/Cookies', 'browser cookies'],
  ['AppData/Local/Google/Chrome/User Data', 'Chrome profiles'],
  ['AppData/Roaming/Mozilla/Firefox', 'Firefox profiles'],
  ['AppData/Roaming/Microsoft/Credentials', 'Windows Credential Manager'],
];

/** System areas: never mounted, nor anything inside them. */
export const SYSTEM_AREAS: readonly string[] = [
  '/etc', '/var/lib', '/proc', '/sys', '/dev', '/boot', '/run', '/var/run', '/usr', '/bin', '/sbin', '/lib', '/lib64', '/root/.ssh',
  '/Library/Keychains', '/System', '/private/etc', '/private/var',
];

export const DOCKER_SOCKETS: readonly string[] = ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock'];

export interface MountRuleContext {
  /** Realpath of the invoking user's home folder. */
  readonly home: string;
  /** Realpath of Cordon's own state folder (`$CORDON_HOME`). */
  readonly cordonHome: string;
  /** Realpaths of extra folders the policy denies. */
  readonly policyDeny: readonly string[];
  /** Realpaths of the only folders (and what is inside them) that may be mounted; null = no such limit. */
  readonly policyAllow?: readonly string[] | null;
}

/** Builds the full list of protected areas for a user. */
export function protectedAreas(ctx: MountRuleContext): ProtectedArea[] {
  const areas: ProtectedArea[] = [];
  for (const [rel, what] of HOME_CREDENTIAL_STORES) {
    areas.push({ path: posix.join(ctx.home, rel), rule: 'credential_store', what, blocksParents: true });
  }
  areas.push({ path: ctx.home, rule: 'home_folder', what: 'your home folder', blocksParents: false });
  for (const p of SYSTEM_AREAS) areas.push({ path: p, rule: 'system_area', what: `system area ${p}`, blocksParents: false });
  for (const p of DOCKER_SOCKETS) areas.push({ path: p, rule: 'docker_socket', what: 'the Docker socket', blocksParents: true });
  areas.push({ path: ctx.cordonHome, rule: 'cordon_state', what: "Cordon's own state folder", blocksParents: true });
  for (const p of ctx.policyDeny) areas.push({ path: p, rule: 'policy_deny', what: `${p} (denied by policy)`, blocksParents: true });
  return areas;
}

/**
 * Decides whether a folder (a realpath) may be mounted. Refused when it is a
 * protected area, lies inside one, or contains one that guards its parents
 * (mounting /home would expose ~/.ssh). The root folder is always refused.
 */
export function decideMount(realPath: string, ctx: MountRuleContext): MountDecision {
  const p = stripTrailingSlash(realPath);
  if (p === '/' || p === '') {
    return deny('system_area', 'the root folder "/" exposes the whole host and cannot be mounted');
  }
  const areas = protectedAreas(ctx).map((a) => ({ ...a, path: stripTrailingSlash(a.path) }));
  // Most specific first: the folder itself, then an area around it, then areas inside it.
  const exact = areas.find((a) => a.path === p);
  if (exact) {
    return exact.rule === 'home_folder'
      ? deny(exact.rule, `${p} is your home folder; mount a project folder inside it instead`)
      : deny(exact.rule, `${p} is ${exact.what} and is never mounted`);
  }
  const around = areas.find((a) => a.rule !== 'home_folder' && isInside(p, a.path));
  if (around) return deny(around.rule, `${p} lies inside ${around.what} (${around.path}) and is never mounted`);
  const inside = areas.find((a) => a.blocksParents && isInside(a.path, p));
  if (inside) return deny(inside.rule, `${p} contains ${inside.what} (${inside.path}); mount a narrower folder`);
  // Denies first; the allowlist can only narrow what is left.
  const allowed = ctx.policyAllow;
  if (allowed && !allowed.some((a) => p === stripTrailingSlash(a) || isInside(p, stripTrailingSlash(a)))) {
    return deny('not_in_allowlist', `${p} is not inside a folder policy allows as a workspace (${allowed.join(', ') || 'none'})`);
  }
  return allow();
}

/** True when `child` is strictly below `parent` (both normalised absolute paths). */
export function isInside(child: string, parent: string): boolean {
  const base = parent.endsWith('/') ? parent : `${parent}/`;
  return child.startsWith(base);
}

function stripTrailingSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}
