import { randomBytes } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import type { CordonPaths } from '../paths/cordon-paths.js';
import { formatPolicyIssue, type EffectivePolicy } from '../policy/policy-schema.js';
import { loadProfile, type LoadedProfile } from '../profiles/profile-loader.js';
import { EngineUnavailableError, type SandboxEngine, type SandboxIo, type SandboxSpec, type Sentinel } from '../sandbox/sandbox-engine.js';
import { ensureSentinel } from '../sandbox/engine-sentinel.js';
import { checkWorkspaceAccess, expandPath, materializePlaceholders, planMounts, removePlaceholders, type MountRefusal, type PlannedWorkspace, type WorkspaceRequest } from '../workspace/mount-plan.js';
import type { MountRuleContext } from '../workspace/mount-rules.js';
import { compilePolicy } from '../policy/compiled-policy.js';
import { watchPolicy } from '../policy/policy-watch.js';
import { leafPaths, valueAt } from '../policy/policy-loader.js';
import { currentOwner } from './owner-process.js';
import { ensureConnectShim, ensureRelay, prepareSessionEgress, startSessionEgress, type PreparedEgress, type SessionEgress } from './session-egress.js';
import { setupSessionKeys, type SessionKeys } from './session-keys.js';
import { agentHome, writeHomeSeed } from './agent-home.js';
import type { ModelRouteDlp } from '../dlp/model-route-dlp.js';
import type { EgressAsker } from '../egress/destination-dial.js';
import { requireStoredKey, type KeyStore } from '../keys/key-store.js';
import { CREDENTIAL_HEADERS } from '../keys/key-swap-filter.js';
import { SessionStore, type SessionRecord } from './session-store.js';
import type { HostClipboard } from '../clipboard/host-clipboard.js';
import type { GateApprovals } from '../gate/session-gate.js';
import type { LocalRoute } from '../egress/egress-proxy-options.js';
import { openSessionFileAccess, type FileApprovalDeps, type SessionFileAccess } from './session-file-access.js';
import { formatSandboxUser, resolveSandboxUser, type HostUser } from './sandbox-user.js';
import { setupSessionInspection, type SessionInspection } from './session-inspection.js';
import type { CaKeySlot } from '../inspect/inspection-ca.js';
import { systemClock } from '../keys/clock.js';
import { RecentOutput, teeOutput } from '../response/recent-output.js';
import { sessionQuarantineHandler } from '../response/session-quarantine.js';
import { QUARANTINE_LABEL } from '../response/quarantine.js';
import type { SandboxForensics } from '../sandbox/sandbox-forensics.js';
import { SessionMonitor } from '../monitor/session-monitor.js';

/** Labels on every Cordon container; orphan cleanup and `cordon ps` find sessions by them. */
export const LABELS = {
  session: 'dev.cordon.session',
  ownerPid: 'dev.cordon.owner-pid',
  ownerStart: 'dev.cordon.owner-start',
  profile: 'dev.cordon.profile',
  kind: 'dev.cordon.kind',
  /**
   * A container quarantine keeps (issue 20). An image committed from a session
   * inherits the session's labels (the engine merges them), so everything that
   * finds sessions by label skips containers carrying this one.
   */
  quarantine: QUARANTINE_LABEL,
} as const;

export interface SessionRequest {
  readonly kind: SessionRecord['kind'];
  /** Profile name; the policy's default when absent. */
  readonly profile?: string;
  readonly workspaces: readonly WorkspaceRequest[];
  /** Extra environment (`--env K=V`). */
  readonly env: Readonly<Record<string, string>>;
  /** Command to run; the profile's agent command when absent. */
  readonly command?: readonly string[];
  readonly tty: boolean;
}

export interface SessionDeps {
  readonly engine: SandboxEngine;
  readonly audit: AuditSink;
  readonly paths: CordonPaths;
  readonly policy: EffectivePolicy;
  readonly io: SandboxIo;
  /** Reloads the effective policy from every source (live reload); defaults to the files only. */
  readonly reloadPolicy?: () => import('../policy/policy-loader.js').PolicyLoadResult;
  /** The OS keychain; created only when a session needs a key. */
  readonly keyStore: () => KeyStore;
  /** Who started Cordon (the CLI reads the process's ids and SUDO_UID/SUDO_GID): decides the sandbox's uid:gid. */
  readonly hostUser: HostUser;
  /** False leaves the connect shim out (`CORDON_CONNECT_SHIM=off`, read by the adapter). */
  readonly connectShim?: boolean;
  /** The host's proxy variables, which the egress proxy chains through. */
  readonly hostProxyEnv?: Readonly<Record<string, string | undefined>>;
  /** Where notices go (a fallback to a slower path); core writes to no terminal. */
  readonly notify?: (message: string) => void;
  /** Called once the sandbox runs (the CLI wires terminal resize here). */
  readonly onStarted?: (session: StartedSession) => void;
  /**
   * Ask mode (`egress.mode: "ask"`): who answers for session SESSIONID, given
   * its workspaces and the user's home (realpaths, as policy paths are
   * compared with them) and the policy in force (it follows reloads); absent,
   * ask mode refuses what it would ask about.
   */
  readonly egressApprovals?: (sessionId: string, session: SessionForApprovals) => EgressAsker;
  /** The host clipboard the sandbox's clipboard tools reach through the gate, and the queue an `ask` goes to; absent, the tools answer "no clipboard". */
  readonly clipboard?: { readonly host: HostClipboard | null; readonly approvals: () => GateApprovals };
  /** Where the inspection CA's key is kept (the OS keychain); asked only when policy inspects a host. */
  readonly caKeySlot?: () => CaKeySlot;
  /** The folder of the inspection CA's certificate, with `caKeySlot`; absent, `$CORDON_HOME/inspection-ca`. */
  readonly caDir?: string;
  /** Who decides the folders session SESSIONID asks for after launch (the same inputs); absent, every such request is refused. */
  readonly fileApprovals?: (sessionId: string, session: SessionForApprovals) => FileApprovalDeps;
  /** Pause, inspect and keep for quarantine (issue 20); absent, the session answers a quarantine order with `unsupported`. */
  readonly forensics?: () => SandboxForensics;
}

/** What an approval asker knows of its session: workspaces and home as realpaths (policy paths are compared with them) and the policy in force (it follows reloads). */
export interface SessionForApprovals {
  readonly workspaces: readonly string[];
  readonly home: string;
  readonly policy: () => EffectivePolicy;
}

export interface StartedSession {
  readonly id: string;
  readonly containerId: string;
  resize(rows: number, cols: number): Promise<void>;
}

/** Why a session did not start. Every variant carries a message a person can act on. */
export type SessionFailure =
  | { readonly code: 'policy'; readonly message: string }
  | { readonly code: 'profile'; readonly message: string }
  | { readonly code: 'engine'; readonly message: string }
  | { readonly code: 'runtime'; readonly message: string }
  | { readonly code: 'image'; readonly message: string }
  | { readonly code: 'egress'; readonly message: string }
  | { readonly code: 'keys'; readonly message: string }
  | { readonly code: 'mount'; readonly message: string; readonly refusals: readonly MountRefusal[] };

export type SessionResult =
  | {
      readonly ok: true;
      readonly sessionId: string;
      readonly exitCode: number;
      readonly cancelled: boolean;
      /** Set when Cordon ended the session itself (its egress proxy stopped): fail closed. */
      readonly endedByCordon: string | null;
    }
  | { readonly ok: false; readonly failure: SessionFailure };

/**
 * Runs one sandboxed session from start to teardown. Every check (policy,
 * profile, engine, runtime, image, mounts) happens before anything is created;
 * a refusal is audited and returned as a value. Aborting SIGNAL (Ctrl-C,
 * SIGTERM) kills the sandbox; teardown always removes the container, the
 * placeholders and the session folder.
 */
export async function runSession(req: SessionRequest, deps: SessionDeps, signal?: AbortSignal): Promise<SessionResult> {
  const prepared = await prepareSession(req, deps);
  if (!prepared.ok) return prepared;
  const { loaded, plan, spec, sessionId, rules, writeProtected, sandboxUser } = prepared;
  const engine = deps.engine;
  // Every record of the session passes the detection rules on its way to the log (issue 20).
  const monitor = new SessionMonitor({ sessionId, audit: deps.audit, policy: deps.policy.monitoring, evidenceDir: join(deps.paths.home, 'evidence'), notify: deps.notify ?? (() => undefined) });
  const audit = monitor.sink;
  const store = new SessionStore(deps.paths.sessionsDir);
  const owner = currentOwner();
  const record: SessionRecord = {
    id: sessionId,
    kind: req.kind,
    profile: loaded.profile.name,
    runtime: loaded.profile.runtime,
    owner,
    createdAt: new Date().toISOString(),
    containerId: null,
    workspaces: plan.workspaces.map((w) => ({ path: w.realPath, mode: w.mode })),
    // Recorded before they exist: a launcher killed mid-way still leaves a list to clean.
    placeholders: [...plan.placeholders],
  };
  store.create(record);
  let created = materializePlaceholders(plan.placeholders);
  store.write({ ...record, placeholders: created });

  const started = Date.now();
  let containerId: string | null = null;
  let cancelled = false;
  // Set from the watchdog callback; a holder keeps TypeScript from narrowing it to null.
  const ended: { reason: string | null; code: string } = { reason: null, code: 'egress_proxy_down' };
  // The sandbox's last output, for a quarantine's evidence bundle.
  const recent = new RecentOutput();
  let wiring: PreparedEgress | null = null;
  // Set while the engine starts the sandbox; a holder keeps TypeScript from narrowing them to null.
  const parts: { egress: SessionEgress | null; dlp: ModelRouteDlp | null } = { egress: null, dlp: null };
  let keys: SessionKeys | null = null;
  let inspection: SessionInspection | null = null;
  let stopWatching: (() => void) | null = null;
  let watchdog: NodeJS.Timeout | null = null;
  let sentinel: Sentinel | null = null;
  let fileAccess: SessionFileAccess | null = null;
  try {
    // Compiled once; the proxy, the key swap and DLP all take these values.
    const compiled = compilePolicy(deps.policy);
    if (!compiled.ok) return fail(audit, sessionId, { code: 'egress', message: `egress policy is invalid: ${compiled.errors.join('; ')}` });
    const policy = compiled.policy;
    const sessionKeys = setupSessionKeys({ sessionId, profile: loaded.profile, policy, audit, keyStore: deps.keyStore });
    keys = sessionKeys;
    // The agent's first-run state, for this sandbox's home only (agent-home.ts).
    const phantom = loaded.profile.provider ? (sessionKeys.env[loaded.profile.provider.keyEnv] ?? null) : null;
    const home = agentHome(loaded.profile, phantom);
    const homeSeed = home.files.length > 0 ? join(store.sessionDir(sessionId), 'home-seed') : null;
    if (homeSeed !== null) writeHomeSeed(homeSeed, home.files);
    // The policy in force, replaced by each valid reload (applyPolicyChange); the approval askers read its approvals section.
    const inForce = { policy: deps.policy };
    const forApprovals: SessionForApprovals = { workspaces: record.workspaces.map((w) => w.path), home: realOrSelf(deps.paths.userHome), policy: () => inForce.policy };
    // Folders asked for after launch appear in the session's grants folder (session-file-access.ts).
    fileAccess = await openSessionFileAccess({
      sessionId,
      sessionDir: store.sessionDir(sessionId),
      runtime: loaded.profile.runtime,
      home: rules.home,
      rules,
      writeProtected,
      sandboxUser,
      workspaces: plan.workspaces,
      approvals: deps.fileApprovals?.(sessionId, forApprovals) ?? null,
      audit,
      notify: deps.notify ?? (() => undefined),
    });
    // Inspection (issue 19): the CA only when policy inspects a host; service credentials' phantoms always.
    const inspected = await setupSessionInspection({
      sessionId,
      sessionDir: store.sessionDir(sessionId),
      cordonHome: deps.paths.home,
      policy,
      audit,
      keyStore: deps.keyStore,
      caKeySlot: deps.caKeySlot ?? defaultCaKeySlot,
      ...(deps.caDir !== undefined ? { caDir: deps.caDir } : {}),
      clock: systemClock,
    });
    if (!inspected.ok) return fail(audit, sessionId, { code: 'keys', message: inspected.message });
    inspection = inspected.value;
    const prep = await prepareSessionEgress({
      sessionDir: store.sessionDir(sessionId),
      policy,
      relayPath: prepared.relayPath,
      shimPath: prepared.shimPath,
      runtime: loaded.profile.runtime,
      homeSeed,
      hostEnv: deps.hostProxyEnv ?? {},
      grants: fileAccess.grants,
    });
    if (!prep.ok) return fail(audit, sessionId, { code: 'egress', message: prep.message });
    wiring = prep.value;
    // The sandbox's only way out: the relay is PID 1 and the proxy variables
    // come last, so nothing the profile or --env sets can point elsewhere.
    const fullSpec: SandboxSpec = {
      ...spec,
      entrypoint: wiring.entrypoint,
      mounts: [...spec.mounts, ...wiring.mounts, ...inspected.value.mounts],
      // The trust variables come last with the proxy's: neither the profile nor --env can point them elsewhere.
      env: withPreload({ ...home.env, ...spec.env, ...inspected.value.credentialEnv, ...sessionKeys.env }, { ...wiring.env, ...inspected.value.trustEnv }),
    };
    // The proxy, DLP and their modules load while the engine starts the
    // container; its socket is already bound, so an early connection waits.
    // Every filter is in place before the first request is served.
    const startEgress = async (): Promise<void> => {
      const { createModelRouteDlp } = await import('../dlp/model-route-dlp.js');
      // After the key swap the credential headers hold the real key, which DLP must leave alone.
      const dlp = createModelRouteDlp({ sessionId, policy: policy.dlp, audit, unscannedHeaders: keys ? CREDENTIAL_HEADERS : [] });
      parts.dlp = dlp;
      const eg = await startSessionEgress(prep.value, {
        sessionId,
        cacheDir: deps.paths.cacheDir,
        policy,
        audit,
        // Key swap first: DLP sees the request as the vendor will.
        requestFilters: [sessionKeys.filter, dlp.filter],
        responseTransforms: [dlp.rehydrate],
        notify: deps.notify ?? (() => undefined),
        ...(deps.egressApprovals ? { ask: deps.egressApprovals(sessionId, forApprovals) } : {}),
        localRoutes: {
          ...(fileAccess?.routes ?? {}),
          // Loaded on the first clipboard call: the gate and its DLP engine cost a session nothing until then.
          clipboard: lazyRoute(async () => {
            const [{ clipboardRoute }, { askTransfer }, { TransferRate }] = await Promise.all([
              import('../clipboard/clipboard-route.js'),
              import('../gate/session-gate.js'),
              import('../gate/transfer-rate.js'),
            ]);
            const clip = deps.clipboard;
            return clipboardRoute({
              sessionId,
              clipboard: clip?.host ?? null,
              policy: () => inForce.policy,
              audit,
              rate: new TransferRate(),
              ask: (q) => (clip ? askTransfer(clip.approvals, { session: sessionId, kind: 'clipboard', target: 'clipboard', reason: q.reason, detail: q.detail }) : Promise.resolve(false)),
            });
          }),
        },
        inspect: await inspected.value.proxyOptions(policy.dlp),
      });
      if (!eg.ok) throw new EgressStartError(eg.message);
      parts.egress = eg.value;
    };
    // The workspace watcher scans while the engine starts the container (bounded: see SessionMonitor.watch).
    const watching = monitor.watch(record.workspaces.filter((w) => w.mode === 'rw').map((w) => w.path));
    let running;
    try {
      running = await engine.start(fullSpec, teeOutput(deps.io, recent), { whileStarting: startEgress });
    } catch (err) {
      if (err instanceof EgressStartError) return fail(audit, sessionId, { code: 'egress', message: err.message });
      const known = err instanceof EngineUnavailableError;
      const message = known ? err.message : `sandbox failed to start: ${(err as Error).message}`;
      audit.record({
        kind: 'session.fail',
        ocsfClass: 'process_activity',
        activity: { id: 1, name: 'Launch' },
        outcome: 'failure',
        message,
        sessionId,
        details: { profile: loaded.profile.name, runtime: loaded.profile.runtime },
      });
      return { ok: false, failure: { code: known ? err.reason : 'engine', message } };
    }
    await watching;
    const live = parts.egress;
    const liveDlp = parts.dlp;
    if (!live || !liveDlp) throw new Error('session egress did not start');
    const liveInspection = inspected.value;
    stopWatching = watchPolicy(deps.paths, (change) => applyPolicyChange(change, { egress: live, dlp: liveDlp, keys: sessionKeys, inForce, inspection: liveInspection, monitor }, audit, sessionId), deps.reloadPolicy);
    containerId = running.id;
    store.write({ ...record, placeholders: created, containerId });
    // A second guard beside the relay's lifeline, on the host where the agent
    // cannot reach it: should this process die, the sentinel kills the sandbox
    // through the engine if the relay did not end it (see cordon-sentinel.c).
    sentinel = prepared.sentinelPath ? await engine.armSentinel(running.id, prepared.sentinelPath) : null;
    // The control socket also takes quarantine orders (core/response/session-quarantine.ts).
    const forensics = deps.forensics;
    const quarantine = forensics
        ? sessionQuarantineHandler({
            sessionId,
            containerId: running.id,
            startedAt: new Date(started),
            workspaces: record.workspaces,
            policy: () => inForce.policy,
            revokePhantom: () => sessionKeys.revoke(),
            proxy: live.proxy,
            recent,
            markEnded: (reason) => {
              ended.reason = reason;
              ended.code = 'quarantined';
              // A policy reload must not reopen the egress quarantine closed.
              stopWatching?.();
              stopWatching = null;
            },
            forensics: forensics(),
            findings: () => monitor.findings(),
            audit,
            paths: deps.paths,
            keyStore: deps.keyStore,
          })
        : undefined;
    await fileAccess.serve(quarantine);
    // monitoring.quarantineOnAlert: a high-severity alert quarantines the session itself.
    if (quarantine) monitor.onQuarantine((reason) => void quarantine({ op: 'quarantine', reason, by: 'a detection rule', issuedAt: Date.now() }, () => undefined));
    audit.record({
      kind: 'session.start',
      ocsfClass: 'process_activity',
      activity: { id: 1, name: 'Launch' },
      outcome: 'success',
      message: `session ${sessionId} started (${req.kind}, profile ${loaded.profile.name}, ${loaded.profile.runtime})`,
      sessionId,
      details: {
        session_kind: req.kind,
        profile: loaded.profile.name,
        runtime: loaded.profile.runtime,
        image: spec.image,
        container_id: running.id,
        ...(running.details ?? {}),
        user: spec.user,
        workspaces: record.workspaces,
        protected_paths: plan.mounts.filter((m) => m.kind === 'protect').length,
        // The command is recorded with anything secret-looking redacted (people
        // put keys on command lines); the environment is never recorded.
        command: await redactArgs(spec.command),
      },
    });
    deps.onStarted?.({ id: sessionId, containerId: running.id, resize: (r, c) => running.resize(r, c) });
    const onAbort = (): void => {
      cancelled = true;
      void running.kill();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    // If the proxy stops, the sandbox already has no network (the relay fails
    // closed); the session is ended and recorded as failed rather than left
    // running without its controls.
    watchdog = setInterval(() => {
      void live.isServing().then((up) => {
        if (up || ended.reason !== null) return;
        ended.reason = 'the egress proxy stopped, so the session was ended (fail closed)';
        void running.kill();
      });
    }, 1000);
    watchdog.unref();
    const exitCode = await running.wait();
    signal?.removeEventListener('abort', onAbort);
    const endedByCordon = ended.reason;
    if (endedByCordon !== null) {
      audit.record({
        kind: 'session.fail',
        ocsfClass: 'process_activity',
        activity: { id: 2, name: 'Terminate' },
        outcome: 'failure',
        severity: 'high',
        message: `session ${sessionId}: ${ended.code === 'quarantined' ? `ended: ${endedByCordon}` : endedByCordon}`,
        sessionId,
        details: { exit_code: exitCode, duration_ms: Date.now() - started, reason: ended.code },
      });
      return { ok: true, sessionId, exitCode, cancelled, endedByCordon };
    }
    audit.record({
      kind: 'session.stop',
      ocsfClass: 'process_activity',
      activity: { id: 2, name: 'Terminate' },
      outcome: 'success',
      message: `session ${sessionId} ended with exit code ${exitCode}${cancelled ? ' (stopped by the user)' : ''}`,
      sessionId,
      details: { exit_code: exitCode, duration_ms: Date.now() - started, cancelled },
    });
    return { ok: true, sessionId, exitCode, cancelled, endedByCordon: null };
  } finally {
    if (watchdog) clearInterval(watchdog);
    stopWatching?.();
    keys?.revoke();
    inspection?.revoke();
    parts.dlp?.dispose();
    const removed = containerId === null || (await engine.remove(containerId).then(() => true, () => false));
    // Only once the sandbox is surely gone; otherwise it stays armed until this process exits.
    if (removed) sentinel?.standDown();
    await parts.egress?.stop().catch(() => undefined);
    // After the sandbox: a grant's mounts go before the session folder does.
    const stuck = (await fileAccess?.close().catch(() => [] as string[])) ?? [];
    if (stuck.length > 0) {
      audit.record({
        kind: 'session.grants_kept',
        ocsfClass: 'file_activity',
        activity: { id: 4, name: 'Delete' },
        outcome: 'failure',
        severity: 'high',
        message: `grant mounts could not be released, so the session folder is kept: ${stuck.join(', ')}`,
        sessionId,
        details: { mounts: stuck },
      });
    }
    // After the sandbox: sensitive files it planted leave the workspace (unless policy keeps them).
    await monitor.close().catch((err: unknown) => deps.notify?.(`sensitive files not neutralised: ${(err as Error).message}`));
    // The socket was bound before the sandbox started; it closes even if the proxy never took it over.
    await wiring?.close().catch(() => undefined);
    const cleaned = removePlaceholders(created);
    created = [];
    if (cleaned.kept.length > 0) {
      audit.record({
        kind: 'session.placeholders_kept',
        ocsfClass: 'file_activity',
        activity: { id: 4, name: 'Delete' },
        outcome: 'failure',
        severity: 'low',
        message: `placeholders not removed because they are no longer empty: ${cleaned.kept.join(', ')}`,
        sessionId,
        details: { kept: cleaned.kept },
      });
    }
    store.delete(sessionId);
  }
}

/**
 * The sandbox's environment: the egress variables win over everything, except
 * that a library the profile or --env preloads is kept, after Cordon's shim.
 */
function withPreload(env: Readonly<Record<string, string>>, egress: Readonly<Record<string, string>>): Record<string, string> {
  const theirs = env['LD_PRELOAD']?.trim();
  const ours = egress['LD_PRELOAD'];
  const merged = { ...env, ...egress };
  if (ours && theirs) merged['LD_PRELOAD'] = `${ours}:${theirs}`;
  return merged;
}

/** A route built on its first request (its modules loaded then), the same one for every request after. */
function lazyRoute(build: () => Promise<LocalRoute>): LocalRoute {
  let built: Promise<LocalRoute> | null = null;
  return async (req, res) => (await (built ??= build()))(req, res);
}

/** The OS keychain's slot for the inspection CA's key, its native binding loaded on first use. */
function defaultCaKeySlot(): CaKeySlot {
  const slot = import('../inspect/keyring-ca-slot.js').then((m) => new m.KeyringCaKeySlot());
  return { get: async () => (await slot).get(), set: async (v) => (await slot).set(v) };
}

/** The proxy could not take over its socket while the sandbox started. */
class EgressStartError extends Error {}

type Prepared =
  | {
      ok: true;
      loaded: LoadedProfile;
      plan: Extract<ReturnType<typeof planMounts>, { ok: true }>;
      spec: SandboxSpec;
      sessionId: string;
      rules: MountRuleContext;
      writeProtected: readonly string[];
      sandboxUser: { readonly uid: number; readonly gid: number };
      relayPath: string;
      shimPath: string | null;
      sentinelPath: string | null;
    }
  | { ok: false; failure: SessionFailure };

async function prepareSession(req: SessionRequest, deps: SessionDeps): Promise<Prepared> {
  const { policy, paths, audit, engine } = deps;
  const sessionId = randomBytes(6).toString('hex');
  const profileName = req.profile ?? policy.sandbox.profile;
  if (policy.sandbox.allowedProfiles !== null && !policy.sandbox.allowedProfiles.includes(profileName)) {
    return fail(audit, sessionId, { code: 'policy', message: `profile "${profileName}" is not allowed by policy (allowed: ${policy.sandbox.allowedProfiles.join(', ') || 'none'})` });
  }
  const prof = loadProfile(profileName, join(paths.home, 'profiles'));
  if (!prof.ok) {
    return fail(audit, sessionId, { code: 'profile', message: `invalid profile: ${prof.issues.map(formatPolicyIssue).join('; ')}` });
  }
  const loaded = prof.value;
  const profile = loaded.profile;

  let seccompProfile: string;
  try {
    seccompProfile = JSON.stringify(JSON.parse(readFileSync(resolve(loaded.baseDir, profile.seccomp), 'utf8')));
  } catch (err) {
    return fail(audit, sessionId, { code: 'profile', message: `profile ${profile.name}: seccomp profile ${profile.seccomp} cannot be read as JSON (${(err as Error).message})` });
  }

  // `cordon launch` (and a chat) starts the agent itself, which cannot work without a key:
  // refuse up front with the fix. exec and demo run without one (the model
  // route then answers 401 with a reason).
  if ((req.kind === 'launch' || req.kind === 'chat') && profile.provider) {
    const provider = policy.providers[profile.provider.name];
    if (!provider) {
      return fail(audit, sessionId, { code: 'keys', message: `profile ${profile.name} uses provider "${profile.provider.name}", which policy \`providers\` does not define` });
    }
    if (!provider.credentialCommand) {
      const has = await requireStoredKey(deps.keyStore(), profile.provider.name);
      if (!has.ok) return fail(audit, sessionId, { code: 'keys', message: has.error.message });
    }
  }

  const relay = ensureRelay(paths.cacheDir);
  if (!relay.ok) return fail(audit, sessionId, { code: 'egress', message: relay.message });
  // Optional: without the shim every connection takes the relay's port.
  // CORDON_CONNECT_SHIM=off leaves it out (for an agent that misbehaves with it).
  const notify = deps.notify ?? (() => undefined);
  const shim = deps.connectShim === false ? null : ensureConnectShim(paths.cacheDir);
  if (shim && !shim.ok) notify(`egress: ${shim.message}; the sandbox's programs connect through the relay (slower)`);
  // Optional: without it the relay's lifeline alone ends the sandbox when this process dies.
  const sentinel = ensureSentinel(paths.cacheDir);
  if (!sentinel.ok) notify(`${sentinel.message}; only the sandbox's own relay ends it if Cordon dies`);

  const ctx = mountRuleContext(paths, policy);
  const requests = [...profile.mounts, ...req.workspaces];
  const writeProtected = [...new Set([...profile.writeProtected, ...policy.workspaces.writeProtected])];
  const plan = planMounts(requests, ctx, writeProtected);
  if (!plan.ok) return refuseMounts(audit, sessionId, plan.refusals);
  // A folder the sandbox's user cannot open would only fail inside, as a bare
  // "Permission denied": refuse it now, with the fix.
  const sandboxUser = resolveSandboxUser(profile.user, deps.hostUser);
  const unreachable = checkWorkspaceAccess(plan.workspaces, sandboxUser);
  if (unreachable.length > 0) return refuseMounts(audit, sessionId, unreachable);
  for (const w of plan.workspaces) auditMountAllow(audit, sessionId, w);

  const user = formatSandboxUser(sandboxUser);
  const homeDir = profile.env['HOME'] ?? '/home/agent';
  // The working directory is the first folder the user named (profile mounts come first in the plan).
  const first = plan.workspaces.find((w) => req.workspaces.some((r) => r.path === w.requested)) ?? plan.workspaces[0];
  const spec: SandboxSpec = {
    name: `cordon-${sessionId}`,
    image: profile.image,
    entrypoint: null,
    command: req.command && req.command.length > 0 ? req.command : profile.command,
    user,
    runtime: profile.runtime,
    workdir: first?.realPath ?? homeDir,
    env: { ...profile.env, HOME: homeDir, ...req.env, CORDON_SESSION: sessionId },
    mounts: plan.mounts,
    limits: {
      memoryBytes: profile.limits.memoryMiB * 1024 * 1024,
      nanoCpus: Math.round(profile.limits.cpus * 1e9),
      pids: profile.limits.pids,
      tmpfsBytes: profile.limits.tmpfsMiB * 1024 * 1024,
    },
    seccompProfile,
    apparmorProfile: (await engine.apparmorEnabled()) ? profile.apparmor : null,
    homeDir,
    tty: req.tty,
    labels: {
      [LABELS.session]: sessionId,
      [LABELS.ownerPid]: String(process.pid),
      [LABELS.ownerStart]: currentOwner().start,
      [LABELS.profile]: profile.name,
      [LABELS.kind]: req.kind,
    },
  };
  return { ok: true, loaded, plan, spec, sessionId, rules: ctx, writeProtected, sandboxUser, relayPath: relay.path, shimPath: shim?.ok ? shim.path : null, sentinelPath: sentinel.ok ? sentinel.path : null };
}

/** Live policy: a valid change reaches the running proxy for new connections; an invalid one is refused. */
function applyPolicyChange(
  change: import('../policy/policy-watch.js').PolicyChange,
  target: { egress: SessionEgress; dlp: ModelRouteDlp; keys: SessionKeys; inForce: { policy: EffectivePolicy }; inspection: SessionInspection; monitor: SessionMonitor },
  audit: AuditSink,
  sessionId: string,
): void {
  const egress = target.egress;
  const reject = (why: string, issues: number): void =>
    audit.record({
      kind: 'policy.reload_rejected',
      ocsfClass: 'config_state',
      activity: { id: 3, name: 'Update' },
      outcome: 'failure',
      severity: 'medium',
      message: `policy change rejected, the last good policy stays in force: ${why}`,
      sessionId,
      details: { issues },
    });
  if (!change.ok) {
    reject(change.issues.map(formatPolicyIssue).join('; '), change.issues.length);
    return;
  }
  // Compiled once here for the proxy and DLP alike, as at session start.
  const compiled = compilePolicy(change.policy);
  if (!compiled.ok) {
    reject(compiled.errors.join('; '), compiled.errors.length);
    return;
  }
  const changed = changedLeaves(target.inForce.policy, change.policy);
  if (changed.length === 0) return;
  egress.proxy.setPolicy(compiled.policy.egress);
  egress.proxy.setModelRoutes(compiled.policy.modelRoutes);
  target.dlp.setPolicy(compiled.policy.dlp);
  target.inspection.setDlpPolicy(compiled.policy.dlp);
  target.keys.setTtlMinutes(change.policy.keys.phantomTtlMinutes);
  // Detection thresholds and the watcher's sensitive-file list follow the reload too.
  target.monitor.setPolicy(change.policy.monitoring);
  // Service credentials follow the reload: a removed one's phantom is refused from the next request, an added one's is in /run/cordon/credentials.
  const credentials = target.inspection.setCredentials(compiled.policy.effective.credentials);
  target.inForce.policy = change.policy;
  const e = change.policy.egress;
  const m = change.policy.monitoring;
  // The summary names what changed; values are left out (they could be long
  // or, for providers' credential commands, sensitive), except the allowlist.
  audit.record({
    kind: 'policy.reloaded',
    ocsfClass: 'config_state',
    activity: { id: 3, name: 'Update' },
    outcome: 'success',
    message: `policy reloaded; changed: ${changed.slice(0, 20).join(', ')}${changed.length > 20 ? ` and ${changed.length - 20} more` : ''}`,
    sessionId,
    details: {
      changed: changed.slice(0, 100),
      egress_mode: e.mode,
      allow: e.allow,
      deny_count: e.deny.length,
      allow_ranges: e.allowRanges,
      inspect: e.inspect ?? [],
      credentials_added: credentials.added,
      credentials_removed: credentials.removed,
      credentials_changed: credentials.changed,
      // The detection thresholds now in force, so an investigator sees what an alert was judged by.
      ...(changed.some((p) => p.startsWith('monitoring.')) ? { monitoring: { alerts: m.alerts, quarantineOnAlert: m.quarantineOnAlert, massChange: m.massChange, egressDenials: m.egressDenials, dlpFindings: m.dlpFindings, modelRequests: m.modelRequests, phantomMisuse: m.phantomMisuse, clipboardTransfers: m.clipboardTransfers, sensitiveFileCount: m.sensitiveFiles.length } } : {}),
    },
  });
}

async function redactArgs(args: readonly string[]): Promise<string[]> {
  const { AuditRedactor } = await import('./audit-redaction.js');
  const redactor = new AuditRedactor();
  return args.map((a) => redactor.redact(a));
}

/** Dotted leaf paths whose values differ between two effective policies. */
function changedLeaves(before: EffectivePolicy, after: EffectivePolicy): string[] {
  const a = before as unknown as Record<string, unknown>;
  const b = after as unknown as Record<string, unknown>;
  const paths = new Set([...leafPaths(a), ...leafPaths(b)]);
  return [...paths].filter((p) => JSON.stringify(valueAt(a, p)) !== JSON.stringify(valueAt(b, p))).sort();
}


/** Mount-rule context with every path resolved to its realpath. */
export function mountRuleContext(paths: CordonPaths, policy: EffectivePolicy): MountRuleContext {
  return {
    home: realOrSelf(paths.userHome),
    cordonHome: realOrSelf(paths.home),
    policyDeny: policy.workspaces.deny.map((p) => realOrSelf(expandPath(p, paths.userHome, process.cwd()))),
    policyAllow: policy.workspaces.allow?.map((p) => realOrSelf(expandPath(p, paths.userHome, process.cwd()))) ?? null,
  };
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** Audits each refused mount (before any container exists) and returns the session's failure. */
function refuseMounts(audit: AuditSink, sessionId: string, refusals: readonly MountRefusal[]): { ok: false; failure: SessionFailure } {
  for (const r of refusals) {
    audit.record({
      kind: 'mount.deny',
      ocsfClass: 'file_activity',
      activity: { id: 12, name: 'Mount' },
      outcome: 'failure',
      severity: r.rule === 'credential_store' || r.rule === 'docker_socket' ? 'high' : 'medium',
      message: `mount refused: ${r.message}`,
      sessionId,
      details: { requested: r.requested, real_path: r.realPath, rule: r.rule },
    });
  }
  return { ok: false, failure: { code: 'mount', message: refusals.map((r) => `${r.message} [rule: ${r.rule}]`).join('\n'), refusals } };
}

function auditMountAllow(audit: AuditSink, sessionId: string, w: PlannedWorkspace): void {
  audit.record({
    kind: 'mount.allow',
    ocsfClass: 'file_activity',
    activity: { id: 12, name: 'Mount' },
    outcome: 'success',
    message: `workspace ${w.realPath} mounted ${w.mode === 'ro' ? 'read-only' : 'read-write'}`,
    sessionId,
    details: { requested: w.requested, real_path: w.realPath, mode: w.mode },
  });
}

function fail(audit: AuditSink, sessionId: string, failure: SessionFailure): { ok: false; failure: SessionFailure } {
  audit.record({
    kind: 'session.refused',
    ocsfClass: 'process_activity',
    activity: { id: 1, name: 'Launch' },
    outcome: 'failure',
    message: `session not started: ${failure.message}`,
    sessionId,
    details: { reason: failure.code },
  });
  return { ok: false, failure };
}
