/**
 * Quarantine (issue 20): contain a session at once, then keep evidence an
 * investigator can trust. Order matters and is the point of this file
 * (docs/threat-model-response.md, R1-R8):
 *
 * 1. phantom revoked (the proxy refuses it from this instant);
 * 2. egress closed: a policy that allows nothing, every open connection cut
 *    (tunnels and model requests in flight);
 * 3. the container paused (cgroup freezer) — then the caller is acknowledged;
 * 4. evidence collected while it is frozen, signed, written as one bundle;
 * 5. the container's file system kept (committed image + a stopped copy with
 *    AutoRemove off), because stopping Cordon's AutoRemove containers deletes them;
 * 6. the container stopped (the engine removes it; the copy stays).
 *
 * Steps 1-2 need the process hosting the session (it holds the phantom and the
 * proxy). Without one (`live` null: the host is stopped or hung) the caller
 * runs 3-6 itself; a host that does not answer is not serving the sandbox's
 * proxy either, so nothing leaves meanwhile.
 */
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import type { ConnectionSnapshot } from '../egress/egress-proxy.js';
import type { QuarantineAck, QuarantineDone } from '../grants/session-control.js';
import { PHANTOM_IN_TEXT, phantomFingerprint } from '../keys/phantom.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import type { SandboxForensics } from '../sandbox/sandbox-forensics.js';
import { writeEvidenceBundle } from './evidence-bundle.js';
import { auditSlice, json, policyEvidence, sandboxTmpfs, workspaceChanges, type Missing } from './evidence-collect.js';
import { QuarantineStore } from './quarantine-store.js';
import type { SigningKeyResult } from '../keys/signing-key.js';
import type { TarEntry } from './tar-archive.js';


/**
 * Label on a container quarantine keeps. Such a container also carries the
 * session's labels (an image committed from a container inherits them), so
 * whatever finds sessions by label skips containers that carry this one
 * (LABELS.quarantine in session-runner.ts).
 */
export const QUARANTINE_LABEL = 'dev.cordon.quarantine';

export interface QuarantineDeps {
  readonly forensics: SandboxForensics;
  readonly audit: AuditSink;
  readonly auditDir: string;
  /** `$CORDON_HOME`: bundles go to `evidence/`, records to `quarantine/`. */
  readonly home: string;
  readonly signingKey: () => Promise<SigningKeyResult>;
  readonly now?: () => number;
}

/** The session's handles in the process hosting it. */
export interface LiveSession {
  revokePhantom(): void;
  /** Replaces egress policy with one that allows nothing and cuts every open connection; returns them as they were. */
  closeEgress(): readonly ConnectionSnapshot[];
  /** Tells the session runner that Cordon ended the session, and why (it then reports it so). */
  markEnded(reason: string): void;
  recentOutput(): string;
  /** The workspace watcher's findings so far (issue 20, item 3); empty without a watcher. */
  findings(): readonly unknown[];
}

export interface QuarantineTarget {
  readonly sessionId: string;
  readonly containerId: string;
  readonly startedAt: Date;
  readonly workspaces: readonly { readonly path: string; readonly mode: 'ro' | 'rw' }[];
  readonly policy: EffectivePolicy | null;
  readonly live: LiveSession | null;
}

export interface QuarantineOrderInput {
  readonly reason: string;
  readonly by: string;
  readonly issuedAt: number;
}

export function evidenceDir(home: string): string {
  return join(home, 'evidence');
}

export function quarantineStore(home: string): QuarantineStore {
  return new QuarantineStore(join(home, 'quarantine'));
}

/** Runs steps 1-6; ACK is called once the session is contained (after the pause). Never throws: failures are values. */
export async function quarantineSession(target: QuarantineTarget, order: QuarantineOrderInput, deps: QuarantineDeps, ack?: (a: QuarantineAck) => void): Promise<QuarantineDone> {
  const now = deps.now ?? Date.now;
  const { sessionId, containerId } = target;
  let connections: readonly ConnectionSnapshot[] | null = null;
  if (target.live) {
    target.live.revokePhantom();
    connections = target.live.closeEgress();
    target.live.markEnded(`quarantined by ${order.by}${order.reason ? `: ${order.reason}` : ''}`);
  }
  const revokedAt = now();
  try {
    await deps.forensics.pause(containerId);
  } catch (err) {
    // Still contained on the network side; the bundle says the pause failed.
    deps.audit.record(contained(sessionId, order, false, `the sandbox could not be paused: ${(err as Error).message}`));
    return { ok: false, code: 'pause_failed', message: `the sandbox could not be paused: ${(err as Error).message}` };
  }
  const pausedAt = now();
  deps.audit.record(contained(sessionId, order, true, null, { revoked_ms: revokedAt - order.issuedAt, paused_ms: pausedAt - order.issuedAt, connections_cut: connections?.length ?? null }));
  ack?.({ ok: true, stage: 'contained', revokedAt, pausedAt });

  // 4. Evidence, while frozen.
  const files: TarEntry[] = [];
  const missing: Missing[] = [];
  const settle = async <T,>(name: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      missing.push({ name, why: (err as Error).message });
      return null;
    }
  };
  const [inspect, changes, processes] = await Promise.all([
    settle('container-inspect.json', () => deps.forensics.inspect(containerId)),
    settle('fs-diff.json', () => deps.forensics.changes(containerId)),
    settle('processes.json', () => deps.forensics.processes(containerId)),
  ]);
  if (inspect !== null) files.push({ name: 'container-inspect.json', data: json(redactEnv(inspect)) });
  if (changes !== null) files.push({ name: 'fs-diff.json', data: json(changes) });
  if (processes !== null) files.push({ name: 'processes.json', data: json(processes) });
  // Under gVisor the processes the engine lists are the sandbox's host-side
  // kernel, whose /proc/<pid>/root is the host's own root: never read it.
  const runtime = (inspect as { HostConfig?: { Runtime?: unknown } } | null)?.HostConfig?.Runtime;
  const tmpfs =
    runtime === 'runsc'
      ? { entries: [], missing: ['/tmp', homeOf(inspect)].map((f) => ({ name: `sandbox-fs${f}`, why: 'gVisor keeps the sandbox\'s tmpfs inside its own kernel; not readable from the host' })) }
      : sandboxTmpfs(initPid(inspect), ['/tmp', homeOf(inspect)]);
  files.push(...tmpfs.entries);
  missing.push(...tmpfs.missing);
  if (target.live) {
    files.push({ name: 'recent-output.txt', data: Buffer.from(target.live.recentOutput(), 'utf8') });
    files.push({ name: 'proxy-connections.json', data: json({ cutAt: new Date(revokedAt).toISOString(), open: connections ?? [] }) });
    files.push({ name: 'watcher-findings.json', data: json(target.live.findings()) });
  } else {
    for (const name of ['recent-output.txt', 'proxy-connections.json', 'watcher-findings.json']) missing.push({ name, why: 'the process hosting the session did not answer; only it holds these' });
  }
  const slice = auditSlice(deps.auditDir, sessionId);
  files.push(...slice.entries);
  missing.push(...slice.missing);
  if (target.policy) files.push(policyEvidence(target.policy));
  else missing.push({ name: 'effective-policy.json', why: 'the session\'s policy is known only to its host' });
  const ws = workspaceChanges(target.workspaces, target.startedAt);
  files.push(ws.entry);
  missing.push(...ws.missing);
  files.push({ name: 'quarantine.json', data: json({ session: sessionId, container: containerId, reason: order.reason, by: order.by, issuedAt: new Date(order.issuedAt).toISOString(), revokedAt: new Date(revokedAt).toISOString(), pausedAt: new Date(pausedAt).toISOString() }) });

  // Threat R7: a phantom shows up in process arguments (`curl -H "x-api-key: $KEY"`), files in
  // /tmp, output. It is revoked, but bundles travel: every phantom-shaped run is replaced by its
  // fingerprint, which still links it to the audit records about it.
  for (let i = 0; i < files.length; i++) files[i] = redactPhantoms(files[i] as TarEntry);
  const key = await deps.signingKey().catch((err: unknown): SigningKeyResult => ({ ok: false, message: (err as Error).message }));
  const at = new Date(now());
  const bundle = writeEvidenceBundle({
    dir: evidenceDir(deps.home),
    sessionId,
    at,
    reason: order.reason,
    files,
    missing,
    signer: key.ok ? { key: key.key } : { key: null, why: key.message },
  });
  const bundleAt = now();

  // 5-6. Keep, then stop.
  const stamp = at.toISOString().replace(/[^0-9]/g, '').slice(0, 14);
  const image = `cordon-quarantine/${sessionId}:${stamp}`;
  let kept: { containerId: string; image: string } | null = null;
  let keepWhy: string | null = null;
  try {
    const k = await deps.forensics.keep(containerId, { tag: image, name: `cordon-q-${sessionId}-${stamp}`, labels: { [QUARANTINE_LABEL]: sessionId } });
    kept = { containerId: k.containerId, image };
  } catch (err) {
    keepWhy = (err as Error).message;
  }
  let stopWhy: string | null = null;
  await deps.forensics.stop(containerId).catch((err: unknown) => {
    stopWhy = (err as Error).message;
  });
  const stoppedAt = now();
  quarantineStore(deps.home).write({
    session: sessionId,
    at: at.toISOString(),
    reason: order.reason,
    by: order.by,
    bundle: bundle.path,
    manifestSha256: bundle.manifestSha256,
    keyFingerprint: bundle.keyFingerprint,
    kept,
    neutralisedDir: null,
    releasedAt: null,
  });
  const timings = { revoked_ms: revokedAt - order.issuedAt, paused_ms: pausedAt - order.issuedAt, bundle_ms: bundleAt - order.issuedAt, stopped_ms: stoppedAt - order.issuedAt };
  deps.audit.record({
    kind: 'quarantine.evidence',
    ocsfClass: 'file_activity',
    activity: { id: 1, name: 'Create' },
    outcome: bundle.signed && kept !== null && stopWhy === null ? 'success' : 'failure',
    severity: 'high',
    message: `session ${sessionId}: evidence bundle ${bundle.path} written${bundle.signed ? ' and signed' : ' UNSIGNED'}; ${kept ? `file system kept as ${image}` : `file system not kept (${keepWhy ?? 'unknown'})`}; sandbox ${stopWhy === null ? 'stopped' : `not stopped (${String(stopWhy)})`}`,
    sessionId,
    details: { bundle: bundle.path, manifest_sha256: bundle.manifestSha256, key_fingerprint: bundle.keyFingerprint, signed: bundle.signed, kept, missing: missing.map((m) => m.name), ...timings },
  });
  return { ok: true, stage: 'done', bundle: bundle.path, signed: bundle.signed, unsignedWhy: key.ok ? null : key.message, kept, timings };
}

function contained(sessionId: string, order: QuarantineOrderInput, ok: boolean, why: string | null, extra: Record<string, unknown> = {}): Parameters<AuditSink['record']>[0] {
  return {
    kind: 'quarantine.contained',
    ocsfClass: 'process_activity',
    activity: { id: 99, name: 'Quarantine' },
    outcome: ok ? 'success' : 'failure',
    severity: 'high',
    message: ok ? `session ${sessionId} quarantined by ${order.by}: phantom revoked, egress closed, sandbox paused` : `session ${sessionId}: quarantine incomplete: ${why ?? ''}`,
    sessionId,
    details: { reason: order.reason, by: order.by, ...extra },
  };
}

/** The engine's record with the environment's values dropped: the sandbox's only secret there is the (revoked) phantom, but an --env value could be anything. */
function redactEnv(inspect: unknown): unknown {
  const i = inspect as { Config?: { Env?: unknown } };
  if (!i.Config || !Array.isArray(i.Config.Env)) return inspect;
  return { ...i, Config: { ...i.Config, Env: (i.Config.Env as string[]).map((e) => `${e.split('=')[0] ?? ''}=[value not kept]`) } };
}

const PHANTOMS = new RegExp(PHANTOM_IN_TEXT.source, 'g');

function redactPhantoms(e: TarEntry): TarEntry {
  const text = e.data.toString('latin1');
  if (!PHANTOMS.test(text)) return e;
  PHANTOMS.lastIndex = 0;
  return { name: e.name, data: Buffer.from(text.replace(PHANTOMS, (t) => `cdn_ph_[redacted:${phantomFingerprint(t)}]`), 'latin1') };
}

/** The sandbox's first process as the engine records it (State.Pid). */
function initPid(inspect: unknown): number | null {
  const pid = (inspect as { State?: { Pid?: unknown } } | null)?.State?.Pid;
  return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : null;
}

function homeOf(inspect: unknown): string {
  const env = (inspect as { Config?: { Env?: unknown } } | null)?.Config?.Env;
  const home = Array.isArray(env) ? (env as string[]).find((e) => e.startsWith('HOME='))?.slice(5) : undefined;
  return home && home.startsWith('/') ? home : '/home/agent';
}
