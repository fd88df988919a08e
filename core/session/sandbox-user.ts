/**
 * Which uid:gid a sandbox runs as, decided from the profile and the host user
 * that started Cordon. Pure: the CLI reads the process's ids and the sudo
 * variables and passes them in.
 */

/** The account that started Cordon, as the adapter saw it. */
export interface HostUser {
  readonly uid: number;
  readonly gid: number;
  /**
   * The account that ran `sudo cordon …` (SUDO_UID/SUDO_GID), when this
   * process is root through sudo; null otherwise.
   */
  readonly sudo: { readonly uid: number; readonly gid: number } | null;
}

/**
 * profile: the profile names uid:gid; invoking_user: the (non-root) user who
 * runs Cordon; sudo_user: root through sudo, so the account behind sudo;
 * root_fallback: plain root, so an unprivileged stand-in.
 */
export type SandboxUserSource = 'profile' | 'invoking_user' | 'sudo_user' | 'root_fallback';

export interface SandboxUser {
  readonly uid: number;
  readonly gid: number;
  readonly source: SandboxUserSource;
}

/** Who the sandbox runs as when root starts Cordon without sudo: never root itself. */
export const ROOT_FALLBACK_USER = { uid: 1000, gid: 1000 } as const;

/**
 * The sandbox's user for a profile's `user` setting ("auto" or "UID:GID",
 * both non-zero, as the profile schema checks). "auto" is the invoking user,
 * so files the agent writes belong to them; under sudo that is the account
 * behind sudo, not root; plain root gets ROOT_FALLBACK_USER. A gid of 0
 * (root's group) is replaced by the uid, so the sandbox is never in group 0.
 */
export function resolveSandboxUser(profileUser: string, host: HostUser): SandboxUser {
  if (profileUser !== 'auto') {
    const m = /^([1-9][0-9]*):([1-9][0-9]*)$/.exec(profileUser);
    if (!m) throw new Error(`profile user "${profileUser}" is neither "auto" nor UID:GID`);
    return { uid: Number(m[1]), gid: Number(m[2]), source: 'profile' };
  }
  if (host.uid !== 0) return { uid: host.uid, gid: host.gid === 0 ? host.uid : host.gid, source: 'invoking_user' };
  if (host.sudo !== null && host.sudo.uid !== 0) return { uid: host.sudo.uid, gid: host.sudo.gid === 0 ? host.sudo.uid : host.sudo.gid, source: 'sudo_user' };
  return { ...ROOT_FALLBACK_USER, source: 'root_fallback' };
}

/**
 * The sudo caller from SUDO_UID and SUDO_GID as sudo sets them, or null when
 * this process is not root (the variables may just be inherited) or they are
 * missing or malformed.
 */
export function sudoCaller(processUid: number, sudoUid: string | undefined, sudoGid: string | undefined): HostUser['sudo'] {
  if (processUid !== 0) return null;
  const id = (v: string | undefined): number | null => (v !== undefined && /^[0-9]{1,10}$/.test(v) && Number(v) < 0xffffffff ? Number(v) : null);
  const uid = id(sudoUid);
  const gid = id(sudoGid);
  return uid === null || gid === null ? null : { uid, gid };
}

/** "UID:GID", as the engine takes it. */
export function formatSandboxUser(user: Pick<SandboxUser, 'uid' | 'gid'>): string {
  return `${user.uid}:${user.gid}`;
}

/** One sentence for `cordon doctor`: how the host user maps to the sandbox's. */
export function describeUserMapping(host: HostUser, user: SandboxUser, profile: string): string {
  const sandbox = `sandboxes of profile ${profile} run as uid ${user.uid}, gid ${user.gid}`;
  const access = `workspaces must be readable (for read-write, writable) by uid ${user.uid}`;
  switch (user.source) {
    case 'profile':
      return `the profile sets the user: ${sandbox}; ${access}`;
    case 'invoking_user':
      return `cordon runs as uid ${host.uid}, and ${sandbox}, so files the agent writes are yours`;
    case 'sudo_user':
      return `cordon runs as root through sudo from uid ${user.uid}: ${sandbox} (SUDO_UID/SUDO_GID), so files the agent writes are that user's; ${access}`;
    case 'root_fallback':
      return `cordon runs as root (not through sudo), and a sandbox never does: ${sandbox}; ${access} (run cordon as the workspaces' owner, or through sudo from that account, to use its uid)`;
  }
}
