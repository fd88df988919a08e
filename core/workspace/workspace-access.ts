/**
 * Can the sandbox's user use a workspace at all? Decided before any container
 * exists, so a folder the agent could not open is refused with the fix rather
 * than handed over to end in a bare "Permission denied" inside (issue 12: a
 * root-owned `mktemp -d` folder, mode 0700, with the sandbox as uid 1000).
 *
 * What is checked, and what is not:
 *  - the workspace folder itself: list and enter it (r and x), and for a
 *    read-write workspace also create files in it (w and x);
 *  - not the folders above it: inside the sandbox a workspace is a bind mount
 *    whose parents are the container's own (root-owned, 0755), so a host parent
 *    of mode 0700 does not block it (a test holds this for runc and gVisor);
 *    a parent that is itself a workspace is checked as one;
 *  - only the sandbox's own gid: the sandbox process has no supplementary groups;
 *  - owner, group and mode bits only: POSIX ACLs are not read, so a folder that
 *    only an ACL opens to the sandbox is refused (fail closed), and the message
 *    says so.
 */
import { allow, deny, type Decision } from '../decision.js';

export type WorkspaceAccessRule = 'sandbox_cannot_read' | 'sandbox_cannot_write';

/** May the sandbox's user use the folder? A refusal's `reason` is recorded as the mount refusal's `rule`. */
export type WorkspaceAccess = Decision<WorkspaceAccessRule>;

/** The folder's own stat, with account names where the host knows them (for the message only). */
export interface FolderOwnership {
  readonly uid: number;
  readonly gid: number;
  /** st_mode; only the permission bits are used. */
  readonly mode: number;
  readonly ownerName?: string | null;
  readonly groupName?: string | null;
}

const R = 4;
const W = 2;
const X = 1;

/**
 * Whether USER (uid:gid, never root) may use folder PATH with OWNERSHIP as a
 * workspace in MODE. As the kernel does, the owner bits alone apply when the
 * uid matches, else the group bits when the gid matches, else the others' bits.
 */
export function decideWorkspaceAccess(path: string, mode: 'ro' | 'rw', ownership: FolderOwnership, user: { readonly uid: number; readonly gid: number }): WorkspaceAccess {
  const granted = user.uid === ownership.uid ? (ownership.mode >> 6) & 7 : user.gid === ownership.gid ? (ownership.mode >> 3) & 7 : ownership.mode & 7;
  const canRead = (granted & (R | X)) === (R | X);
  const canWrite = (granted & (W | X)) === (W | X);
  if (canRead && (mode === 'ro' || canWrite)) return allow();
  const rule: WorkspaceAccessRule = canRead ? 'sandbox_cannot_write' : 'sandbox_cannot_read';
  const owner = `uid ${ownership.uid}${ownership.ownerName ? ` (${ownership.ownerName})` : ''}`;
  const group = `gid ${ownership.gid}${ownership.groupName ? ` (${ownership.groupName})` : ''}`;
  const octal = (ownership.mode & 0o7777).toString(8).padStart(4, '0');
  const who = `uid ${user.uid}, gid ${user.gid}`;
  // Handing the folder to the sandbox's user is the fix that keeps it private;
  // for read-only use, opening it to others for reading is enough too.
  const fix =
    mode === 'ro' && rule === 'sandbox_cannot_read'
      ? `\`chmod o+rx ${path}\` or \`chown ${user.uid}:${user.gid} ${path}\``
      : `\`chown -R ${user.uid}:${user.gid} ${path}\``;
  // The sandbox follows the user who runs cordon, never root: running as a
  // non-root owner is a fix too.
  const asOwner = ownership.uid === 0 ? '' : `, or run cordon as uid ${ownership.uid} (or through sudo from that account: the sandbox takes SUDO_UID/SUDO_GID)`;
  const verb = rule === 'sandbox_cannot_read' ? 'read' : 'write to';
  return deny(
    rule,
    `the sandbox runs as ${who}, which cannot ${verb} ${path} (owner ${owner}, group ${group}, mode ${octal}). ` +
      `Fix: ${fix}${asOwner}. \`cordon doctor\` shows how your user maps to the sandbox's; Cordon checks owner, group and mode bits, not ACLs`,
  );
}
