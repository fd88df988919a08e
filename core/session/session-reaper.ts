import type { AuditSink } from '../audit/audit-event.js';
import type { SandboxEngine, SandboxExit, SandboxInfo } from '../sandbox/sandbox-engine.js';
import { removePlaceholders } from '../workspace/mount-plan.js';
import { releaseMountsBelow } from '../grants/grant-mounts.js';
import { ownerAlive, type OwnerProcess } from './owner-process.js';
import { RELAY_EXIT_LIFELINE_LOST } from './session-lifeline.js';
import { LABELS } from './session-runner.js';
import type { SessionStore } from './session-store.js';

/** True when any session folder belongs to a dead launcher; cheap (no engine call). */
export function hasOrphanRecords(store: SessionStore): boolean {
  return store.ids().some((id) => {
    const rec = store.read(id);
    return rec === null || !ownerAlive(rec.owner);
  });
}

/**
 * How an orphaned session's sandbox ended, for its audit record:
 * - `lifeline_lost`: the relay ended it when the launcher died (the normal case since issue 13);
 * - `command_exited`: its command had ended by itself before that;
 * - `killed`: the engine was asked to kill it: by the launcher's sentinel when the relay
 *   could not end it (a stopped PID 1 under gVisor), or by `cordon stop` or `docker kill`;
 * - `stopped_by_reaper`: it was still running and the reaper stopped it;
 * - `unknown`: the engine no longer remembers (see SandboxEngine.lastExit).
 */
export type OrphanEnding =
  | { readonly how: 'lifeline_lost' | 'command_exited' | 'killed'; readonly at: Date; readonly exitCode: number }
  | { readonly how: 'stopped_by_reaper'; readonly at: Date }
  | { readonly how: 'unknown' };

/** Pure: what the engine's record (or the reaper's own stop) says about how the sandbox ended. */
export function orphanEnding(exit: SandboxExit | null, stoppedNow: Date | null): OrphanEnding {
  if (stoppedNow !== null) return { how: 'stopped_by_reaper', at: stoppedNow };
  if (exit === null) return { how: 'unknown' };
  const how = exit.exitCode === RELAY_EXIT_LIFELINE_LOST ? 'lifeline_lost' : exit.killed ? 'killed' : 'command_exited';
  return { how, at: exit.at, exitCode: exit.exitCode };
}

/**
 * Removes what launchers that died without cleaning up (SIGKILL, power loss)
 * left behind: their containers (found by label; normally already gone, ended
 * by their relay when the lifeline broke), their placeholders and their
 * session folders, and audits how each sandbox ended. Sessions whose launcher
 * still runs are never touched. Returns the ids of sessions cleaned.
 */
export async function reapOrphans(engine: SandboxEngine, store: SessionStore, audit: AuditSink): Promise<string[]> {
  const reaped = new Set<string>();
  const containers = await engine.list({ [LABELS.session]: '' });
  for (const c of containers) {
    // Kept by quarantine until release or purge, never reaped.
    if (c.labels[LABELS.quarantine] !== undefined) continue;
    const id = c.labels[LABELS.session] ?? '';
    const owner = { pid: Number(c.labels[LABELS.ownerPid] ?? '0'), start: c.labels[LABELS.ownerStart] ?? '' };
    if (ownerAlive(owner)) continue;
    const since = new Date(store.read(id)?.createdAt ?? c.createdAt);
    await engine.remove(c.id);
    // Still running with its launcher dead: an older relay, or one that has not noticed yet.
    const stoppedNow = c.state === 'running' || c.state === 'paused' ? new Date() : null;
    const ending = orphanEnding(stoppedNow ? null : await engine.lastExit({ [LABELS.session]: id }, since), stoppedNow);
    await cleanRecord(store, id);
    reaped.add(id);
    auditReap(audit, id, owner, c, ending);
  }
  // Folders of dead launchers whose container never got created or is gone already.
  for (const id of store.ids()) {
    const rec = store.read(id);
    if (rec !== null && ownerAlive(rec.owner)) continue;
    if (rec?.containerId) await engine.remove(rec.containerId);
    const ending = rec?.containerId ? orphanEnding(await engine.lastExit({ [LABELS.session]: id }, new Date(rec.createdAt)), null) : ({ how: 'unknown' } as const);
    await cleanRecord(store, id);
    if (!reaped.has(id)) {
      reaped.add(id);
      auditReap(audit, id, rec?.owner ?? null, null, ending);
    }
  }
  return [...reaped];
}

async function cleanRecord(store: SessionStore, id: string): Promise<void> {
  if (id === '') return;
  const rec = store.read(id);
  if (rec) removePlaceholders(rec.placeholders);
  // A launcher that died with folders granted left their mounts under the session folder.
  await releaseMountsBelow(store.sessionDir(id));
  store.delete(id);
}

function endingSentence(e: OrphanEnding): string {
  switch (e.how) {
    case 'lifeline_lost':
      return `its sandbox ended itself at ${e.at.toISOString()} when its launcher died (lifeline closed)`;
    case 'command_exited':
      return `its command had ended at ${e.at.toISOString()} with exit code ${e.exitCode}`;
    case 'killed':
      return `its sandbox was killed through the engine at ${e.at.toISOString()} (by its sentinel when its launcher died, or by \`cordon stop\` or \`docker kill\`)`;
    case 'stopped_by_reaper':
      return 'its sandbox was still running and was stopped now';
    case 'unknown':
      return 'the engine no longer records when its sandbox ended';
  }
}

function auditReap(audit: AuditSink, id: string, owner: OwnerProcess | null, c: SandboxInfo | null, ending: OrphanEnding): void {
  audit.record({
    kind: 'session.orphan_removed',
    ocsfClass: 'process_activity',
    activity: { id: 2, name: 'Terminate' },
    outcome: 'success',
    // A sandbox the reaper had to stop ran unattended after its launcher died.
    severity: ending.how === 'stopped_by_reaper' ? 'medium' : 'low',
    message: `removed session ${id || '(unknown)'} left behind by a launcher that is no longer running; ${endingSentence(ending)}`,
    ...(id !== '' ? { sessionId: id } : {}),
    details: {
      container_id: c?.id ?? null,
      container_state: c?.state ?? null,
      launcher_pid: owner?.pid ?? null,
      ended_by: ending.how,
      ended_at: ending.how === 'unknown' ? null : ending.at.toISOString(),
      exit_code: ending.how === 'unknown' || ending.how === 'stopped_by_reaper' ? null : ending.exitCode,
    },
  });
}
