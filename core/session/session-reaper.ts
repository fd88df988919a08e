import type { AuditSink } from '../audit/audit-event.js';
import type { SandboxEngine, SandboxInfo } from '../sandbox/sandbox-engine.js';
import { removePlaceholders } from '../workspace/mount-plan.js';
import { ownerAlive } from './owner-process.js';
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
 * Removes what launchers that died without cleaning up (SIGKILL, power loss)
 * left behind: their containers (found by label), their placeholders and their
 * session folders. Sessions whose launcher still runs are never touched.
 * Returns the ids of sessions cleaned.
 */
export async function reapOrphans(engine: SandboxEngine, store: SessionStore, audit: AuditSink): Promise<string[]> {
  const reaped = new Set<string>();
  const containers = await engine.list({ [LABELS.session]: '' });
  for (const c of containers) {
    const id = c.labels[LABELS.session] ?? '';
    const owner = { pid: Number(c.labels[LABELS.ownerPid] ?? '0'), start: c.labels[LABELS.ownerStart] ?? '' };
    if (ownerAlive(owner)) continue;
    await engine.remove(c.id);
    cleanRecord(store, id);
    reaped.add(id);
    auditReap(audit, id, c);
  }
  // Folders of dead launchers whose container never got created or is gone already.
  for (const id of store.ids()) {
    const rec = store.read(id);
    if (rec !== null && ownerAlive(rec.owner)) continue;
    if (rec?.containerId) await engine.remove(rec.containerId);
    cleanRecord(store, id);
    if (!reaped.has(id)) {
      reaped.add(id);
      auditReap(audit, id, null);
    }
  }
  return [...reaped];
}

function cleanRecord(store: SessionStore, id: string): void {
  if (id === '') return;
  const rec = store.read(id);
  if (rec) removePlaceholders(rec.placeholders);
  store.delete(id);
}

function auditReap(audit: AuditSink, id: string, c: SandboxInfo | null): void {
  audit.record({
    kind: 'session.orphan_removed',
    ocsfClass: 'process_activity',
    activity: { id: 2, name: 'Terminate' },
    outcome: 'success',
    severity: 'low',
    message: `removed session ${id || '(unknown)'} left behind by a launcher that is no longer running`,
    ...(id !== '' ? { sessionId: id } : {}),
    details: { container_id: c?.id ?? null, container_state: c?.state ?? null },
  });
}
