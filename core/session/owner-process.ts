import { readFileSync } from 'node:fs';

/**
 * Identifies the launcher process that owns a sandbox. A pid alone can be
 * reused after the launcher dies, so on Linux its start time (from /proc) is
 * kept too; a live pid with a different start time is a different process.
 */
export interface OwnerProcess {
  readonly pid: number;
  /** Start time in clock ticks since boot (Linux), or "" where unknown. */
  readonly start: string;
}

export function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? '';
  } catch {
    return '';
  }
}

export function currentOwner(): OwnerProcess {
  return { pid: process.pid, start: processStartTime(process.pid) };
}

/** True while the owning launcher still runs. */
export function ownerAlive(owner: OwnerProcess): boolean {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM: alive, owned by someone else.
  }
  if (owner.start === '') return true;
  const now = processStartTime(owner.pid);
  return now === '' || now === owner.start;
}
