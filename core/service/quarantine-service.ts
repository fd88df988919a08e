/**
 * Quarantine as a service call (issue 20): what `cordon quarantine` and the
 * app's button use. The order goes to the process hosting the session (it
 * holds the phantom and the proxy); if that process does not acknowledge in
 * time, this process contains the sandbox through the engine itself
 * (docs/threat-model-response.md, R2).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import { sendQuarantineOrder } from '../grants/session-control.js';
import type { KeyStore } from '../keys/key-store.js';
import type { CordonPaths } from '../paths/cordon-paths.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import { quarantineSession, quarantineStore } from '../response/quarantine.js';
import { loadSigningKey } from '../keys/signing-key.js';
import type { SandboxEngine } from '../sandbox/sandbox-engine.js';
import type { SandboxForensics } from '../sandbox/sandbox-forensics.js';
import { LABELS } from '../session/session-runner.js';
import { SessionStore } from '../session/session-store.js';

export interface QuarantineServiceDeps {
  readonly paths: CordonPaths;
  readonly engine: SandboxEngine;
  readonly audit: AuditSink;
  readonly keyStore: () => KeyStore;
  readonly forensics: () => SandboxForensics;
  /** The policy in force now (used only when the session's host cannot say which it ran under). */
  readonly currentPolicy: () => EffectivePolicy | null;
}

export type QuarantineOutcome =
  | {
      readonly ok: true;
      readonly sessionId: string;
      readonly bundle: string;
      readonly signed: boolean;
      readonly unsignedWhy: string | null;
      readonly kept: { readonly containerId: string; readonly image: string } | null;
      /** Milliseconds from the order: revoked_ms, paused_ms, bundle_ms, stopped_ms. */
      readonly timings: Readonly<Record<string, number>>;
      /** `host`: the session's own process did it; `engine`: it did not answer and this process contained the sandbox. */
      readonly via: 'host' | 'engine';
      readonly note: string | null;
    }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Quarantines SESSION (an id or a unique prefix of a running one). ISSUEDAT is when the user gave the order (epoch ms). */
export async function quarantineById(deps: QuarantineServiceDeps, session: string, opts: { readonly reason: string; readonly by: string; readonly issuedAt?: number }): Promise<QuarantineOutcome> {
  const issuedAt = opts.issuedAt ?? Date.now();
  const store = new SessionStore(deps.paths.sessionsDir);
  const ids = session === '' ? [] : store.ids().filter((id) => id.startsWith(session));
  if (ids.length === 0) return { ok: false, code: 'not_found', message: `no running session "${session}" (see \`cordon ps\`)` };
  if (ids.length > 1) return { ok: false, code: 'ambiguous', message: `"${session}" matches ${ids.length} sessions; give more of the id` };
  const id = ids[0] as string;
  const order = { op: 'quarantine' as const, reason: opts.reason, by: opts.by, issuedAt };
  const reply = await sendQuarantineOrder(store.sessionDir(id), order, { ackMs: 3000, doneMs: 60_000 });
  if (reply.kind === 'done' && reply.done.ok) {
    const d = reply.done;
    return { ok: true, sessionId: id, bundle: d.bundle, signed: d.signed, unsignedWhy: d.unsignedWhy, kept: d.kept, timings: d.timings, via: 'host', note: null };
  }
  if (reply.kind === 'refused' && reply.done.code !== 'unsupported') return { ok: false, code: reply.done.code, message: reply.done.message };
  // The host is gone, hung, stopped, or cannot quarantine: contain it from here.
  const note = reply.kind === 'refused' || reply.kind === 'done' ? (reply.done.ok ? null : reply.done.message) : reply.message;
  const rec = store.read(id);
  const containerId = rec?.containerId ?? (await deps.engine.list({ [LABELS.session]: id })).find((c) => c.labels[LABELS.quarantine] === undefined)?.id ?? null;
  if (containerId === null) return { ok: false, code: 'not_found', message: `session ${id} has no sandbox to quarantine` };
  const done = await quarantineSession(
    { sessionId: id, containerId, startedAt: rec ? new Date(rec.createdAt) : new Date(issuedAt), workspaces: rec?.workspaces ?? [], policy: deps.currentPolicy(), live: null },
    { reason: opts.reason, by: opts.by, issuedAt },
    { forensics: deps.forensics(), audit: deps.audit, auditDir: deps.paths.auditDir, home: deps.paths.home, signingKey: () => loadSigningKey({ keyStore: deps.keyStore(), keysDir: join(deps.paths.home, 'keys') }) },
  );
  if (!done.ok) return done;
  return { ok: true, sessionId: id, bundle: done.bundle, signed: done.signed, unsignedWhy: done.unsignedWhy, kept: done.kept, timings: done.timings, via: 'engine', note };
}

export type ReleaseOutcome = { readonly ok: true; readonly sessionId: string; readonly bundle: string; readonly removed: readonly string[] } | { readonly ok: false; readonly code: string; readonly message: string };

/**
 * Ends a quarantine. `release` removes the kept container and image and keeps
 * the bundle (and the record of it); `purge` also deletes the bundle and the
 * neutralised files. Both are audited (threat R8).
 */
export async function endQuarantine(deps: QuarantineServiceDeps, session: string, how: 'release' | 'purge', by: string): Promise<ReleaseOutcome> {
  const qs = quarantineStore(deps.paths.home);
  const ids = qs.find(session);
  if (ids.length === 0) return { ok: false, code: 'not_found', message: `no quarantined session "${session}"` };
  if (ids.length > 1) return { ok: false, code: 'ambiguous', message: `"${session}" matches ${ids.length} quarantined sessions; give more of the id` };
  const id = ids[0] as string;
  const rec = qs.read(id);
  if (!rec) return { ok: false, code: 'corrupt', message: `the quarantine record of ${id} cannot be read` };
  const removed: string[] = [];
  if (rec.kept) {
    await deps.forensics().discard(rec.kept);
    removed.push(rec.kept.containerId.slice(0, 12), rec.kept.image);
  }
  if (how === 'purge') {
    rmSync(rec.bundle, { force: true });
    removed.push(rec.bundle);
    if (rec.neutralisedDir) {
      rmSync(rec.neutralisedDir, { recursive: true, force: true });
      removed.push(rec.neutralisedDir);
    }
    qs.delete(id);
  } else {
    qs.write({ ...rec, kept: null, releasedAt: new Date().toISOString() });
  }
  deps.audit.record({
    kind: `quarantine.${how}`,
    ocsfClass: 'process_activity',
    activity: { id: 99, name: how === 'release' ? 'Release' : 'Purge' },
    outcome: 'success',
    severity: how === 'purge' ? 'medium' : 'low',
    message: `session ${id}: quarantine ${how === 'release' ? 'released' : 'purged'} by ${by}; removed ${removed.join(', ') || 'nothing'}`,
    sessionId: id,
    details: { by, removed, bundle: rec.bundle, manifest_sha256: rec.manifestSha256 },
  });
  return { ok: true, sessionId: id, bundle: rec.bundle, removed };
}
