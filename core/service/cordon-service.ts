/**
 * The session service: the one composition root that the CLI, the Electron
 * main process and `cordon ui` construct with their adapters (issues 14, 15).
 *
 * It is handed everything it touches (engine, keychain, audit log, policy
 * loader, settings and a notice sink) and never reads the process
 * environment or writes to a terminal itself. Long-running hosts (the app,
 * `cordon ui`) keep one for their lifetime; the CLI builds one per command.
 *
 * Events: the audit log is the event bus. The service follows `audit.jsonl`
 * and delivers every record to subscribers, so sessions started by another
 * Cordon process (the CLI's, the app's) show up here as they happen.
 */
import { closeSync, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { FileAuditLog } from '../audit/audit-log.js';
import { AUDIT_FILE } from '../audit/audit-log.js';
import { verifyAuditLog } from '../audit/audit-verify.js';
import type { ApiEvent, ApiRequest, ApiResponse, AuditRecordView, KeyStatusView, SessionSummary, Workspace } from '../api/cordon-api.js';
import { ApiFailure, createApiDispatcher, type ApiDispatcher, type ApiEventSource, type ApiHandlers } from '../api/api-dispatch.js';
import type { KeyStore, KeyStoreResult, KeyStatus } from '../keys/key-store.js';
import type { CordonPaths } from '../paths/cordon-paths.js';
import { leafPaths, valueAt, type PolicyLoadResult } from '../policy/policy-loader.js';
import { formatPolicyIssue, type EffectivePolicy } from '../policy/policy-schema.js';
import { roleFeatures, type RoleFeatures } from '../policy/role-features.js';
import { originOfParent } from '../policy/user-settings.js';
import { listProfiles, loadProfile } from '../profiles/profile-loader.js';
import type { SandboxEngine, SandboxInfo, SandboxIo } from '../sandbox/sandbox-engine.js';
import { reapOrphans, hasOrphanRecords } from '../session/session-reaper.js';
import { runSession, LABELS, type SessionDeps, type SessionRequest, type SessionResult, type StartedSession } from '../session/session-runner.js';
import type { HostUser } from '../session/sandbox-user.js';
import { SessionStore } from '../session/session-store.js';
import type { CaKeySlot } from '../inspect/inspection-ca.js';
import { AuditFollower, auditRecordView } from './audit-follower.js';
import { runDoctorChecks, type DoctorReport } from './doctor-checks.js';
import { HostedTerminal } from './hosted-terminal.js';
import { sessionPasteGate } from '../gate/session-gate.js';
import type { Transform } from 'node:stream';
import { ChatSession } from './chat-session.js';
import { approvalsDir, ApprovalStore } from '../approvals/approval-store.js';
import { approvalStoreSettings } from '../approvals/approval-timeout.js';
import { egressApprovals } from '../session/egress-approvals.js';
import { sendGrantOrder, type ControlAnswer } from '../grants/session-control.js';
import type { HostClipboard } from '../clipboard/host-clipboard.js';
import { addToUserList, addUserPreApproval } from '../policy/user-settings.js';
import { decideByPolicy } from '../approvals/approval-policy.js';
import { WorkspaceChanges } from '../files/workspace-changes.js';
import { readPreview } from '../files/file-preview.js';
import { adapterFor } from '../agent/adapter-for.js';
import type { AgentAdapter } from '../agent/agent-adapter.js';
import { RecentWorkspaces } from './recent-workspaces.js';
import { approvalEventFor, approvalHandlers } from './approval-handlers.js';
import { SessionTransfers } from './session-transfers.js';
import type { SandboxForensics } from '../sandbox/sandbox-forensics.js';
import { ExportHost } from './export-host.js';
import type { LeaseEvent } from '../export/audit-exporter.js';
import { watchPolicy } from '../policy/policy-watch.js';
import { alertNotice } from '../monitor/alert-notice.js';
import { endQuarantine, quarantineById, type QuarantineOutcome, type ReleaseOutcome } from './quarantine-service.js';

/** Something the user should see that is not a decision (those are audited). */
export interface ServiceNotice {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
}

/** Settings the adapter read for core (from its environment, flags or preferences). */
export interface ServiceSettings {
  readonly version: string;
  readonly platform: string;
  /** False leaves the connect shim out of sessions (`CORDON_CONNECT_SHIM=off`). */
  readonly connectShim: boolean;
  /** Proxy variables of the host (HTTPS_PROXY, NO_PROXY …) the egress proxy chains through. */
  readonly hostProxyEnv: Readonly<Record<string, string | undefined>>;
}

export interface CordonServiceDeps {
  readonly paths: CordonPaths;
  readonly engine: SandboxEngine;
  readonly audit: FileAuditLog;
  /** The OS keychain; created only when something needs a key. */
  readonly keyStore: () => KeyStore;
  readonly hostUser: HostUser;
  /** Every policy source, including the OS's MDM channel. */
  readonly loadPolicy: () => PolicyLoadResult;
  readonly settings: ServiceSettings;
  /** Where notices go: stderr for the CLI, a notification or the event stream for the app. */
  readonly notify: (notice: ServiceNotice) => void;
  /**
   * Opens a confirmed link in the user's browser, and shows a file in the
   * desktop's file manager: the adapter's (Electron's shell, `xdg-open`).
   * Absent where there is no desktop.
   */
  readonly openExternal?: (url: string) => void;
  readonly showInFolder?: (path: string) => void;
  /** The host clipboard behind the sandbox's clipboard tools (issue 18); null or absent where there is none. */
  readonly clipboard?: HostClipboard | null;
  /**
   * True only in the app: a dropped file's host path from the renderer is
   * accepted (the preload read it from the drop); `cordon ui` gets bytes.
   */
  readonly trustsRendererPaths?: boolean;
  /** Starts a desktop drag of a file the gate wrote (Electron's `startDrag`); absent without the app. */
  readonly startDrag?: (file: string) => void;
  /** Pause, inspect and keep for quarantine (issue 20); absent, sessions cannot be quarantined. */
  readonly forensics?: () => SandboxForensics;
}

/** `stop` answers with what it did, or why it did nothing; never throws for a bad id. */
export type StopOutcome =
  | { readonly kind: 'stopped'; readonly sessions: readonly string[] }
  | { readonly kind: 'not_found'; readonly message: string }
  | { readonly kind: 'ambiguous'; readonly message: string }
  | { readonly kind: 'engine_unavailable'; readonly message: string };

export interface SessionListing {
  readonly ok: true;
  readonly sessions: readonly SessionSummary[];
}

export interface ForegroundOptions {
  /** Called once the sandbox runs (the CLI wires terminal resize here). */
  readonly onStarted?: (s: StartedSession) => void;
  /** Changes the effective policy for this session only, at start and on every reload (`cordon demo`'s stand-in model). */
  readonly adjustPolicy?: (policy: EffectivePolicy) => EffectivePolicy;
  /**
   * An inspection CA for this session only, in place of the install's (whose key is in the keychain):
   * `cordon demo`'s throwaway CA, so the demo's inspection steps need no keychain. Absent: the install's CA.
   */
  readonly inspectionCa?: { readonly slot: CaKeySlot; readonly dir: string };
}

interface HostedSession {
  /** The agent's terminal (a terminal session), or null. */
  readonly terminal: HostedTerminal | null;
  /** The conversation (a chat session), or null. */
  readonly chat: ChatSession | null;
  /** What the agent changed in the workspaces (a chat session), or null. */
  readonly files: WorkspaceChanges | null;
  readonly controller: AbortController;
  started: StartedSession | null;
  done: Promise<SessionResult>;
}

/** A session's counts, and the last audit record (by seq) they include. */
type Counts = { allowed: number; denied: number; dlpFindings: number; throughSeq: number };

export class CordonService implements ApiEventSource {
  readonly dispatch: ApiDispatcher;
  private readonly listeners = new Set<(event: ApiEvent) => void>();
  private readonly hosted = new Map<string, HostedSession>();
  private readonly counts = new Map<string, Counts>();
  private follower: AuditFollower | null = null;
  private approvalStore: ApprovalStore | null = null;
  private readonly recent: RecentWorkspaces;
  /** Files into and out of running sessions through the gate: `cordon drop` / `take` and the UI's drag-and-drop. */
  readonly transfers: SessionTransfers;

  /** SIEM export while this process hosts a session, or for its whole life once serveAuditExport ran (issue 20). */
  private readonly exports: ExportHost;
  private stopServingExport: (() => Promise<void>) | null = null;

  constructor(private readonly deps: CordonServiceDeps) {
    this.recent = new RecentWorkspaces(join(deps.paths.home, 'recent-workspaces.json'));
    this.transfers = new SessionTransfers({
      paths: deps.paths,
      audit: deps.audit,
      loadPolicy: deps.loadPolicy,
      listSessions: () => this.listSessions(),
      sessions: () => this.sessions,
      approvals: () => this.approvals(),
      trustsRendererPaths: deps.trustsRendererPaths === true,
      ...(deps.startDrag ? { startDrag: deps.startDrag } : {}),
      isChanged: (id, workspace, path) => this.hosted.get(id)?.files?.list().changes.some((c) => c.root === workspace && c.path === path) ?? false,
    });
    this.exports = new ExportHost({ auditDir: deps.paths.auditDir, home: deps.paths.home, audit: deps.audit, keyStore: deps.keyStore, version: deps.settings.version, notify: (message) => deps.notify({ level: 'warn', message }) });
    this.dispatch = createApiDispatcher(this.handlers());
  }

  get paths(): CordonPaths {
    return this.deps.paths;
  }

  get engine(): SandboxEngine {
    return this.deps.engine;
  }

  get audit(): FileAuditLog {
    return this.deps.audit;
  }

  get hostUser(): HostUser {
    return this.deps.hostUser;
  }

  keyStore(): KeyStore {
    return this.deps.keyStore();
  }

  get sessions(): SessionStore {
    return new SessionStore(this.deps.paths.sessionsDir);
  }

  loadPolicy(): PolicyLoadResult {
    return this.deps.loadPolicy();
  }

  /** The role and what it may do, from managed policy only; every feature when policy is invalid is NOT granted. */
  features(): RoleFeatures {
    const res = this.deps.loadPolicy();
    // A broken policy stops launches anyway; grant nothing rather than guess.
    if (!res.ok) return { role: 'unknown', features: { launch: false, exec: false, changeSettings: false }, roleSource: null };
    return roleFeatures(res.sources);
  }

  // ---- events -------------------------------------------------------------

  /**
   * Delivers audit records (as written by any Cordon process), terminal
   * output of hosted sessions and notices. The log is followed from its
   * current end once the first subscriber arrives.
   */
  subscribe(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    this.startFollowing();
    return () => this.listeners.delete(listener);
  }

  private emit(event: ApiEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // One broken subscriber must not starve the others.
      }
    }
  }

  private startFollowing(): void {
    if (this.follower) return;
    this.follower = new AuditFollower({ auditDir: this.deps.paths.auditDir, fromEnd: true, pollMs: 500 });
    this.follower.subscribe((record) => {
      this.count(record);
      this.emit({ type: 'audit', record });
      if (record.kind.startsWith('session.')) this.emit({ type: 'sessions.changed' });
      const approval = approvalEventFor(record);
      if (approval) this.emit(approval);
      // Alerts (issue 20) also reach the user as a notification.
      const notice = alertNotice(record);
      if (notice) this.emit({ type: 'notice', ...notice });
    });
    this.follower.start();
  }

  /**
   * Adds RECORD to its session's counts. Only sessions seeded from the log
   * (seedCounts) are counted, and a record already in their counts (one the
   * follower delivers after the seed read it) is skipped by its seq.
   */
  private count(record: AuditRecordView): void {
    const c = record.sessionId === null ? undefined : this.counts.get(record.sessionId);
    if (c === undefined || record.seq <= c.throughSeq) return;
    c.throughSeq = record.seq;
    // A request report mode let through went out: it counts as allowed, as in the UI's chart.
    if (record.kind === 'egress.allow' || record.kind === 'egress.would_deny') c.allowed++;
    else if (record.kind === 'egress.deny') c.denied++;
    else if (record.kind.startsWith('dlp.')) c.dlpFindings += findingCount(record);
  }

  // ---- sessions -----------------------------------------------------------

  /**
   * Removes sessions left by launchers that died. With `engineKnownUp` false
   * it touches the engine only when a session folder belongs to a dead launcher.
   */
  async reap(engineKnownUp: boolean): Promise<void> {
    if (!engineKnownUp && !hasOrphanRecords(this.sessions)) return;
    try {
      const reaped = await reapOrphans(this.deps.engine, this.sessions, this.deps.audit);
      if (reaped.length > 0) this.deps.notify({ level: 'info', message: `cleaned up ${reaped.length} session(s) left by a launcher that died: ${reaped.join(', ')}` });
    } catch {
      // The engine is down: the orphan cannot run either; the next command retries.
    }
  }

  /** Every running Cordon session on this machine, whichever process started it. */
  async listSessions(): Promise<{ ok: true; sessions: SessionSummary[] } | { ok: false; message: string }> {
    const probe = await this.deps.engine.probe();
    if (!probe.ok) return { ok: false, message: probe.message };
    // A container kept by quarantine carries the session's labels too; it is not a running session.
    const list = (await this.deps.engine.list({ [LABELS.session]: '' })).filter((c) => c.labels[LABELS.quarantine] === undefined);
    this.seedCounts(list);
    return { ok: true, sessions: list.map((c) => this.summary(c)) };
  }

  private summary(c: SandboxInfo): SessionSummary {
    const id = c.labels[LABELS.session] ?? '';
    const rec = this.sessions.read(id);
    return {
      id,
      kind: c.labels[LABELS.kind] ?? rec?.kind ?? '',
      profile: c.labels[LABELS.profile] ?? '',
      runtime: rec?.runtime ?? '',
      state: c.state,
      ownerPid: Number(c.labels[LABELS.ownerPid] ?? 0),
      createdAt: c.createdAt.toISOString(),
      workspaces: (rec?.workspaces ?? []).map((w) => ({ path: w.path, mode: w.mode })),
      containerId: c.id,
      attachable: this.hosted.has(id),
      counts: countsView(this.counts.get(id)),
    };
  }

  /** Counts for sessions seen for the first time, read once from the log; the follower keeps them current. */
  private seedCounts(list: readonly SandboxInfo[]): void {
    const missing = new Set(list.map((c) => c.labels[LABELS.session] ?? '').filter((id) => id !== '' && !this.counts.has(id)));
    if (missing.size === 0) return;
    for (const id of missing) this.counts.set(id, { allowed: 0, denied: 0, dlpFindings: 0, throughSeq: 0 });
    for (const r of this.recentAudit(20_000)) if (r.sessionId !== null && missing.has(r.sessionId)) this.count(r);
  }

  /**
   * Stops a session (its id or a unique prefix) or every session. Removing
   * the container ends it; its launcher sees that and cleans up, and a
   * launcher that is gone is handled by the orphan sweep that follows.
   */
  async stop(target: { readonly id: string } | { readonly all: true }, by: string): Promise<StopOutcome> {
    const probe = await this.deps.engine.probe();
    if (!probe.ok) return { kind: 'engine_unavailable', message: probe.message };
    const list = (await this.deps.engine.list({ [LABELS.session]: '' })).filter((c) => c.labels[LABELS.quarantine] === undefined);
    const targets = 'all' in target ? list : list.filter((c) => (c.labels[LABELS.session] ?? '').startsWith(target.id));
    if ('id' in target) {
      if (targets.length > 1) return { kind: 'ambiguous', message: `"${target.id}" matches ${targets.length} sessions; give more of the id` };
      if (targets.length === 0) return { kind: 'not_found', message: `no running session "${target.id}" (see \`cordon ps\`)` };
    }
    const stopped: string[] = [];
    for (const c of targets) {
      const sid = c.labels[LABELS.session] ?? '';
      const hosted = this.hosted.get(sid);
      if (hosted) hosted.controller.abort();
      await this.deps.engine.remove(c.id);
      this.deps.audit.record({
        kind: 'session.stop_requested',
        ocsfClass: 'process_activity',
        activity: { id: 2, name: 'Terminate' },
        outcome: 'success',
        message: `session ${sid} stopped by ${by}`,
        sessionId: sid,
        details: { container_id: c.id, requested_by: by },
      });
      stopped.push(sid);
    }
    await reapOrphans(this.deps.engine, this.sessions, this.deps.audit).catch(() => undefined);
    return { kind: 'stopped', sessions: stopped };
  }

  /**
   * Runs a session in the foreground with the caller's streams (the CLI's
   * `exec` and `launch`): returns when it has ended and been torn down.
   */
  runSession(req: SessionRequest, io: SandboxIo, signal: AbortSignal, opts: ForegroundOptions = {}): Promise<SessionResult> {
    const adjust = opts.adjustPolicy ?? ((p: EffectivePolicy) => p);
    const load = (): PolicyLoadResult => {
      const r = this.deps.loadPolicy();
      return r.ok ? { ...r, policy: adjust(r.policy) } : r;
    };
    const policy = load();
    if (!policy.ok) throw new Error('runSession needs a valid policy; check loadPolicy() first');
    // A reload (once after the session starts watching, then on every edit) is adjusted the same way.
    const release = this.exports.hold(policy.policy);
    const ca = opts.inspectionCa;
    return runSession(req, { ...this.sessionDeps(policy.policy, io, opts.onStarted), ...(ca ? { caKeySlot: () => ca.slot, caDir: ca.dir } : {}), reloadPolicy: load }, signal).finally(release);
  }

  private sessionDeps(policy: Extract<PolicyLoadResult, { ok: true }>['policy'], io: SandboxIo, onStarted?: (s: StartedSession) => void): SessionDeps {
    return {
      engine: this.deps.engine,
      audit: this.deps.audit,
      paths: this.deps.paths,
      policy,
      keyStore: this.deps.keyStore,
      hostUser: this.deps.hostUser,
      reloadPolicy: this.deps.loadPolicy,
      io,
      connectShim: this.deps.settings.connectShim,
      hostProxyEnv: this.deps.settings.hostProxyEnv,
      notify: (message) => this.deps.notify({ level: 'warn', message }),
      ...(onStarted ? { onStarted } : {}),
      ...(this.deps.forensics ? { forensics: this.deps.forensics } : {}),
      egressApprovals: (sessionId, session) =>
        egressApprovals({
          // Opened on the first question: most sessions never ask.
          approvals: { ask: (req, signal) => this.approvals().ask(req, signal) },
          sessionId,
          policy: () => session.policy().approvals,
          sessionWorkspaces: session.workspaces,
          home: session.home,
          audit: this.deps.audit,
          allowAlways: (hostPort) => {
            const loaded = this.deps.loadPolicy();
            if (!loaded.ok) return { ok: false, message: 'policy cannot be read' };
            const change = addToUserList(this.deps.paths.userPolicyFile, loaded.provenance, 'egress.allow', hostPort);
            return change.kind === 'allow' ? { ok: true } : { ok: false, message: change.message };
          },
          notify: (message) => this.deps.notify({ level: 'warn', message }),
        }),
      // The sandbox's clipboard tools reach this clipboard through the gate; `ask` uses the same queue.
      clipboard: { host: this.deps.clipboard ?? null, approvals: () => this.approvals() },
      // Folders asked for after launch (issue 17): the same queue; policy's lists come first.
      fileApprovals: (_sessionId, session) => ({
        approvals: { ask: (req, signal) => this.approvals().ask(req, signal) },
        policy: (r) => decideByPolicy({ kind: 'file', target: r.target, write: r.write, sessionWorkspaces: session.workspaces }, session.policy().approvals, session.home),
        // "Always" for a folder: a pre-approval in the user's policy, scoped to this session's workspaces.
        allowAlways: (target, write) => {
          const loaded = this.deps.loadPolicy();
          if (!loaded.ok) return { ok: false, message: 'policy cannot be read' };
          const change = addUserPreApproval(this.deps.paths.userPolicyFile, loaded.provenance, { kind: 'file', target, ...(write ? { write } : {}), workspaces: [...session.workspaces] });
          return change.kind === 'allow' ? { ok: true } : { ok: false, message: change.message };
        },
      }),
    };
  }

  /** The terminal-paste gate for a session's input (issue 18); see core/gate/session-gate.ts. */
  pasteGate(sessionId: () => string | null, notify: (message: string) => void): Transform {
    return sessionPasteGate({ loadPolicy: this.deps.loadPolicy, audit: this.deps.audit, approvals: () => this.approvals(), sessionId, notify });
  }

  /**
   * Pushes a host folder to a running session without its agent asking
   * (issue 17): SESSION is an id or a unique prefix; PATH is absolute. The
   * launch-time mount rules still decide; the process hosting the session
   * makes the grant and answers with where it appears inside.
   */
  async grantFolder(session: string, path: string, opts: { readonly write: boolean; readonly until: Date | null }): Promise<ControlAnswer> {
    const ids = this.sessions.ids().filter((id) => id.startsWith(session));
    if (session === '' || ids.length === 0) return { ok: false, code: 'not_found', message: `no running session "${session}" (see \`cordon ps\`)` };
    if (ids.length > 1) return { ok: false, code: 'ambiguous', message: `"${session}" matches ${ids.length} sessions; give more of the id` };
    const id = ids[0] as string;
    return sendGrantOrder(this.sessions.sessionDir(id), { op: 'grant', path, write: opts.write, until: opts.until?.toISOString() ?? null });
  }

  /** The user's approval queue, opened once per service (issue 17); its timeout and rate limit are policy's at that moment. */
  /**
   * Quarantines a running session (issue 20; core/service/quarantine-service.ts):
   * phantom revoked, egress closed, sandbox paused, evidence bundle written
   * and signed, file system kept, sandbox stopped. ISSUEDAT: when the user
   * gave the order (epoch ms), for the timings.
   */
  async quarantine(session: string, opts: { readonly reason: string; readonly by: string; readonly issuedAt?: number }): Promise<QuarantineOutcome> {
    const forensics = this.deps.forensics;
    if (!forensics) return { ok: false, code: 'unsupported', message: 'this Cordon cannot quarantine: its engine offers no pause or commit' };
    return quarantineById(this.quarantineDeps(forensics), session, opts);
  }

  /** Ends a quarantine: `release` removes the kept container and image, `purge` the bundle too. */
  async endQuarantine(session: string, how: 'release' | 'purge', by: string): Promise<ReleaseOutcome> {
    const forensics = this.deps.forensics;
    if (!forensics) return { ok: false, code: 'unsupported', message: 'this Cordon cannot manage quarantines: its engine offers no pause or commit' };
    return endQuarantine(this.quarantineDeps(forensics), session, how, by);
  }

  private quarantineDeps(forensics: () => SandboxForensics): Parameters<typeof quarantineById>[0] {
    return {
      paths: this.deps.paths,
      engine: this.deps.engine,
      audit: this.deps.audit,
      keyStore: this.deps.keyStore,
      forensics,
      currentPolicy: () => {
        const r = this.deps.loadPolicy();
        return r.ok ? r.policy : null;
      },
    };
  }

  approvals(): ApprovalStore {
    this.approvalStore ??= new ApprovalStore(approvalsDir(this.deps.paths.home), { ...approvalStoreSettings(this.deps.loadPolicy()), audit: this.deps.audit });
    return this.approvalStore;
  }

  /**
   * Starts the profile's agent with a terminal this process hosts (the app,
   * `cordon ui`). Resolves once the sandbox runs, or with the reason it did not.
   */
  async launchHosted(workspaces: readonly Workspace[], profile: string | undefined): Promise<{ ok: true; sessionId: string } | { ok: false; message: string }> {
    const terminal = new HostedTerminal((text) => {
      if (id.value !== null) this.emit({ type: 'terminal.output', sessionId: id.value, data: text });
    }, this.pasteGate(() => id.value, (message) => this.emit({ type: 'notice', level: 'warn', message })));
    const id: { value: string | null } = { value: null };
    const req: SessionRequest = { kind: 'launch', ...(profile !== undefined ? { profile } : {}), workspaces, env: {}, tty: true };
    const r = await this.host(req, { stdin: terminal.input, stdout: terminal.output, stderr: terminal.output }, { terminal, chat: null, files: null }, {
      started: (sid) => (id.value = sid),
      ended: (sid, res) => {
        terminal.end();
        this.emit({ type: 'terminal.exit', sessionId: sid, exitCode: res.ok ? res.exitCode : 125 });
      },
    });
    if (r.ok) this.recent.add(workspaces);
    return r;
  }

  /**
   * Starts the profile's agent as a conversation this process hosts: the
   * agent runs without a terminal, its adapter speaks its protocol, and the
   * conversation reaches subscribers as `chat.item` and `chat.state` events.
   */
  async launchChat(workspaces: readonly Workspace[], profile: string | undefined): Promise<{ ok: true; sessionId: string } | { ok: false; message: string }> {
    const agent = this.chatAgent(profile);
    if (!agent.ok) return agent;
    const id: { value: string | null } = { value: null };
    const chat = new ChatSession(agent.adapter, {
      onItem: (item) => {
        if (id.value !== null) this.emit({ type: 'chat.item', sessionId: id.value, item });
      },
      onState: (state) => {
        if (id.value !== null) this.emit({ type: 'chat.state', sessionId: id.value, state });
      },
    });
    // The baseline is taken before the agent starts, so everything it does is seen.
    const roots: string[] = [];
    for (const w of workspaces) {
      try {
        roots.push(realpathSync(w.path));
      } catch {
        // A folder that does not exist: the launch refuses it with the reason below.
      }
    }
    const files = new WorkspaceChanges({
      roots,
      readOnlyPaths: agent.writeProtected,
      onChange: () => {
        if (id.value !== null) this.emit({ type: 'files.changed', sessionId: id.value });
      },
    });
    await files.start();
    const req: SessionRequest = { kind: 'chat', ...(profile !== undefined ? { profile } : {}), workspaces, env: {}, command: agent.command, tty: false };
    const r = await this.host(req, chat.io(), { terminal: null, chat, files }, {
      started: (sid) => {
        id.value = sid;
        chat.started();
      },
      ended: (_sid, res) => {
        chat.ended(res.ok ? { exitCode: res.exitCode } : { failure: res.failure.message });
        void files.close();
      },
    });
    if (r.ok) this.recent.add(workspaces);
    else await files.close();
    return r;
  }

  /** The adapter and command for a conversation with PROFILE's agent. */
  chatAgent(profile: string | undefined): { ok: true; adapter: AgentAdapter; command: string[]; writeProtected: readonly string[] } | { ok: false; message: string } {
    const policy = this.deps.loadPolicy();
    if (!policy.ok) return { ok: false, message: `policy is invalid, so no session may start: ${policy.issues.map(formatPolicyIssue).join('; ')}` };
    const name = profile ?? policy.policy.sandbox.profile;
    const loaded = loadProfile(name, join(this.deps.paths.home, 'profiles'));
    if (!loaded.ok) return { ok: false, message: `profile ${name}: ${loaded.issues.map(formatPolicyIssue).join('; ')}` };
    const adapter = adapterFor(loaded.value.profile.agent);
    return { ok: true, adapter, command: adapter.command(loaded.value.profile.command), writeProtected: loaded.value.profile.writeProtected };
  }

  /** Runs REQ as a session this process hosts; resolves once it runs or with why it did not. */
  private async host(
    req: SessionRequest,
    io: SandboxIo,
    parts: Pick<HostedSession, 'terminal' | 'chat' | 'files'>,
    on: { started(id: string): void; ended(id: string, res: SessionResult): void },
  ): Promise<{ ok: true; sessionId: string } | { ok: false; message: string }> {
    const policy = this.deps.loadPolicy();
    if (!policy.ok) return { ok: false, message: `policy is invalid, so no session may start: ${policy.issues.map(formatPolicyIssue).join('; ')}` };
    const controller = new AbortController();
    let sessionId: string | null = null;
    let resolveStarted: (s: StartedSession | null) => void = () => undefined;
    const started = new Promise<StartedSession | null>((r) => (resolveStarted = r));
    const release = this.exports.hold(policy.policy);
    const done = runSession(
      req,
      this.sessionDeps(policy.policy, io, (s) => {
        sessionId = s.id;
        this.hosted.set(s.id, { ...parts, controller, started: s, done });
        on.started(s.id);
        resolveStarted(s);
      }),
      controller.signal,
    ).finally(release);
    void done.then(
      (res) => {
        resolveStarted(null);
        if (sessionId !== null) {
          on.ended(sessionId, res);
          this.hosted.delete(sessionId);
          this.emit({ type: 'sessions.changed' });
        }
      },
      (err: unknown) => {
        resolveStarted(null);
        this.deps.notify({ level: 'error', message: `session failed: ${(err as Error).message}` });
      },
    );
    const s = await started;
    if (s === null) {
      const res = await done.catch((err: unknown) => ({ ok: false as const, failure: { code: 'engine' as const, message: (err as Error).message } }));
      return { ok: false, message: res.ok ? 'the session ended before it started' : res.failure.message };
    }
    return { ok: true, sessionId: s.id };
  }

  /**
   * Delivers the audit log to `audit.export`'s destinations for as long as
   * this service lives (until close), sessions or not: the app, `cordon ui`
   * and `cordon audit export --follow` call it; one-shot commands do not.
   * Follows policy changes. False (and nothing started) when policy is
   * invalid; a second call does nothing.
   */
  serveAuditExport(onLease?: (e: LeaseEvent) => void): { ok: true } | { ok: false; message: string } {
    if (this.stopServingExport) return { ok: true };
    const policy = this.deps.loadPolicy();
    if (!policy.ok) return { ok: false, message: `policy is invalid, so the audit log is not exported: ${policy.issues.map(formatPolicyIssue).join('; ')}` };
    this.stopServingExport = this.exports.serve(policy.policy, (onChange) => watchPolicy(this.deps.paths, onChange, this.deps.loadPolicy), onLease);
    return { ok: true };
  }

  /** Stops every session this process hosts and waits for their teardown (the app's Quit). */
  async close(): Promise<void> {
    const running = [...this.hosted.values()];
    for (const h of running) h.controller.abort();
    await Promise.all(running.map((h) => h.done.catch(() => undefined)));
    this.follower?.close();
    this.follower = null;
    this.approvalStore?.close();
    this.approvalStore = null;
    await this.transfers.close();
    // Last, so the sessions' final records go out with it (it drains for up to 2 s).
    const stopExport = this.stopServingExport;
    this.stopServingExport = null;
    await stopExport?.();
  }

  /** Ids of sessions this process hosts. */
  hostedSessions(): string[] {
    return [...this.hosted.keys()];
  }

  // ---- reads --------------------------------------------------------------

  doctor(): Promise<DoctorReport> {
    return runDoctorChecks({ paths: this.deps.paths, engine: this.deps.engine, hostUser: this.deps.hostUser, loadPolicy: this.deps.loadPolicy });
  }

  /** The newest LIMIT audit records (of one session when given), oldest first. */
  recentAudit(limit: number, sessionId?: string): AuditRecordView[] {
    const out: AuditRecordView[] = [];
    const lines = readTail(join(this.deps.paths.auditDir, AUDIT_FILE), RECENT_AUDIT_WINDOW).split('\n');
    for (let i = lines.length - 1; i >= 0 && out.length < limit; i--) {
      const v = auditRecordView(lines[i] ?? '');
      if (v && (sessionId === undefined || v.sessionId === sessionId)) out.push(v);
    }
    return out.reverse();
  }

  /** Every effective value with its source and lock; RES when the caller already loaded the policy. */
  effectivePolicy(res: PolicyLoadResult = this.deps.loadPolicy()): ApiResponse<'policy.effective'> {
    if (!res.ok) return { ok: false, issues: res.issues.map(formatPolicyIssue), values: [], sources: [], managed: false };
    const effective = res.policy as unknown as Record<string, unknown>;
    const values = leafPaths(effective).map((path) => {
      const origin = res.provenance.origins.get(path) ?? originOfParent(path, res.provenance.origins);
      const lock = res.provenance.locked.get(path) ?? originOfParent(path, res.provenance.locked);
      return { path, value: valueAt(effective, path), source: origin?.kind ?? 'default', file: origin?.file ?? null, locked: lock !== undefined };
    });
    return {
      ok: true,
      issues: [],
      values,
      sources: res.sources.map((s) => ({ kind: s.kind, file: s.file })),
      managed: res.sources.some((s) => s.kind !== 'user'),
    };
  }

  // ---- the UI's contract --------------------------------------------------

  private chatHandlers(): Pick<ApiHandlers, 'chat.history' | 'chat.send' | 'chat.interrupt' | 'files.changes' | 'files.diff' | 'files.preview' | 'files.reveal' | 'links.open'> {
    const chat = (id: string): ChatSession => {
      const h = this.hosted.get(id);
      if (!h?.chat) throw new ApiFailure('not_found', `no conversation ${id} in this Cordon process (it ended, or another Cordon window hosts it)`);
      return h.chat;
    };
    const files = (id: string): WorkspaceChanges => {
      const h = this.hosted.get(id);
      if (!h?.files) throw new ApiFailure('not_found', `no conversation ${id} in this Cordon process (it ended, or another Cordon window hosts it)`);
      return h.files;
    };
    /** Only a file the session lists as changed may be read, diffed or shown: the UI cannot name any other. */
    const changed = (req: { sessionId: string; workspace: string; path: string }): void => {
      if (!files(req.sessionId).list().changes.some((c) => c.root === req.workspace && c.path === req.path)) {
        throw new ApiFailure('not_found', `${JSON.stringify(req.path)} is not among the files this session changed`);
      }
    };
    return {
      'chat.history': (req) => chat(req.sessionId).history(),
      'chat.send': (req) => {
        if (!this.features().features.launch) throw new ApiFailure('forbidden', 'this machine\'s role may not work with agents');
        const r = chat(req.sessionId).send(req.text);
        if (!r.ok) throw new ApiFailure('failed', r.message);
        return {};
      },
      'chat.interrupt': (req) => {
        chat(req.sessionId).interrupt();
        return {};
      },
      'files.changes': (req) => {
        const l = files(req.sessionId).list();
        return { changes: l.changes.map((c) => ({ workspace: c.root, path: c.path, change: c.change, kind: c.entry === 'symlink' ? 'link' : c.kind, size: c.size, at: c.at })), overflow: l.overflow };
      },
      'files.diff': async (req) => {
        changed(req);
        const d = await files(req.sessionId).diff(req.workspace, req.path);
        switch (d.kind) {
          case 'diff':
            return { kind: 'diff', hunks: d.diff.hunks.map((h) => ({ ...h, lines: h.lines.map((l) => ({ op: l.op, text: l.text })) })), added: d.diff.added, removed: d.diff.removed, truncated: d.diff.truncated };
          case 'no_baseline':
            return { kind: 'no_baseline', reason: d.message };
          case 'binary':
            return { kind: 'binary' };
          case 'refused':
            return { kind: 'refused', reason: d.reason, message: d.message };
        }
      },
      'files.preview': async (req) => {
        changed(req);
        return readPreview(req.workspace, req.path);
      },
      'files.reveal': (req) => {
        changed(req);
        if (!this.deps.showInFolder) throw new ApiFailure('unavailable', 'this Cordon has no file manager to show it in');
        this.deps.showInFolder(join(req.workspace, ...req.path.split('/')));
        return {};
      },
      'links.open': (req) => {
        const link = openableLink(req.url);
        if (!link.ok) throw new ApiFailure('invalid_request', link.message);
        if (!this.deps.openExternal) throw new ApiFailure('unavailable', 'this Cordon cannot open links: copy the address instead');
        this.deps.openExternal(link.url);
        return {};
      },
    };
  }

  private handlers(): ApiHandlers {
    const requireFeature = (name: 'launch' | 'changeSettings'): void => {
      const f = this.features();
      if (!f.features[name]) throw new ApiFailure('forbidden', `your organization's policy does not let role "${f.role}" ${name === 'launch' ? 'launch sessions' : 'change settings'}`);
    };
    const keyView = async (provider: string, res: KeyStoreResult<KeyStatus | boolean>): Promise<KeyStatusView> => {
      if (!res.ok) return { provider, state: 'error', lastSetAt: null, rotatedAt: null, message: res.error.message };
      const status = typeof res.value === 'boolean' ? await this.deps.keyStore().status(provider) : { ok: true as const, value: res.value };
      if (!status.ok) return { provider, state: 'error', lastSetAt: null, rotatedAt: null, message: status.error.message };
      const s = status.value;
      return s.state === 'present' ? { provider, state: 'present', lastSetAt: s.lastSetAt, rotatedAt: s.rotatedAt, message: null } : { provider, state: 'absent', lastSetAt: null, rotatedAt: null, message: null };
    };
    const hosted = (id: string): HostedSession & { terminal: HostedTerminal } => {
      const h = this.hosted.get(id);
      if (!h) throw new ApiFailure('not_found', `session ${id} is not hosted by this Cordon process; its terminal is in the window or terminal that started it`);
      if (h.terminal === null) throw new ApiFailure('not_found', `session ${id} is a conversation: it has no terminal`);
      return { ...h, terminal: h.terminal };
    };
    return {
      'app.info': () => {
        const f = this.features();
        return { version: this.deps.settings.version, role: f.role, features: f.features, platform: this.deps.settings.platform };
      },
      'doctor.run': async () => {
        const r = await this.doctor();
        return { ok: r.ok, checks: [...r.checks] };
      },
      'profiles.list': () => {
        const res = this.deps.loadPolicy();
        const allowed = res.ok ? res.policy.sandbox.allowedProfiles : [];
        const dir = join(this.deps.paths.home, 'profiles');
        return listProfiles(dir).flatMap((name) => {
          const p = loadProfile(name, dir);
          if (!p.ok) return [];
          const pr = p.value.profile;
          return [{ name, description: pr.description, runtime: pr.runtime, agent: pr.agent ?? 'generic', allowed: allowed === null || allowed.includes(name) }];
        });
      },
      'sessions.list': async () => {
        const r = await this.listSessions();
        if (!r.ok) throw new ApiFailure('unavailable', r.message);
        return r.sessions;
      },
      'sessions.launch': async (req: ApiRequest<'sessions.launch'>) => {
        requireFeature('launch');
        const r = req.mode === 'chat' ? await this.launchChat(req.workspaces, req.profile) : await this.launchHosted(req.workspaces, req.profile);
        if (!r.ok) throw new ApiFailure('failed', r.message);
        return { sessionId: r.sessionId };
      },
      'sessions.stop': async (req: ApiRequest<'sessions.stop'>) => {
        const r = await this.stop({ id: req.sessionId }, 'the Cordon app');
        switch (r.kind) {
          case 'stopped':
            return { stopped: [...r.sessions] };
          case 'not_found':
            throw new ApiFailure('not_found', r.message);
          case 'ambiguous':
            throw new ApiFailure('invalid_request', r.message);
          case 'engine_unavailable':
            throw new ApiFailure('unavailable', r.message);
        }
      },
      'sessions.quarantine': async (req: ApiRequest<'sessions.quarantine'>) => {
        const r = await this.quarantine(req.sessionId, { reason: req.reason ?? '', by: 'the Cordon app' });
        if (r.ok) return { bundle: r.bundle, signed: r.signed };
        throw new ApiFailure(r.code === 'not_found' ? 'not_found' : r.code === 'ambiguous' ? 'invalid_request' : 'failed', r.message);
      },
      'terminal.attach': (req: ApiRequest<'terminal.attach'>) => ({ backlog: hosted(req.sessionId).terminal.backlog }),
      'terminal.input': (req: ApiRequest<'terminal.input'>) => {
        hosted(req.sessionId).terminal.write(req.data);
        return {};
      },
      'terminal.resize': async (req: ApiRequest<'terminal.resize'>) => {
        await hosted(req.sessionId).started?.resize(req.rows, req.cols);
        return {};
      },
      'audit.recent': (req: ApiRequest<'audit.recent'>) => this.recentAudit(req.limit, req.sessionId),
      'audit.verify': () => {
        const r = verifyAuditLog(this.deps.paths.auditDir);
        return r.ok
          ? { ok: true, records: r.records, message: `audit log intact: ${r.records} record(s)` }
          : { ok: false, records: r.records, message: `audit log TAMPERED: line ${r.line}: ${r.reason}` };
      },
      'policy.effective': () => this.effectivePolicy(),
      'recent.workspaces': () => this.recent.list(),
      'keys.status': async () => {
        const res = this.deps.loadPolicy();
        const providers = res.ok ? Object.keys(res.policy.providers) : ['anthropic'];
        const store = this.deps.keyStore();
        return Promise.all(providers.map(async (p) => keyView(p, await store.status(p))));
      },
      'keys.set': async (req: ApiRequest<'keys.set'>) => keyView(req.provider, await this.deps.keyStore().set(req.provider, req.secret)),
      'keys.rotate': async (req: ApiRequest<'keys.rotate'>) => keyView(req.provider, await this.deps.keyStore().rotate(req.provider, req.secret)),
      'keys.remove': async (req: ApiRequest<'keys.remove'>) => keyView(req.provider, await this.deps.keyStore().remove(req.provider)),
      ...this.chatHandlers(),
      ...this.transfers.handlers(),
      ...approvalHandlers({ approvals: () => this.approvals(), answerContext: () => ({ policy: this.deps.loadPolicy(), role: this.features() }) }),
    };
  }
}

/**
 * A link the user confirmed, if it may be opened: http, https and mailto only,
 * with no credentials in it (a `https://user@host` link hides its real host).
 */
export function openableLink(raw: string): { ok: true; url: string } | { ok: false; message: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { ok: false, message: 'not an absolute URL' };
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:' && u.protocol !== 'mailto:') return { ok: false, message: `links of type ${u.protocol} are not opened` };
  if (u.username !== '' || u.password !== '') return { ok: false, message: 'links with a user name or password in them are not opened' };
  return { ok: true, url: u.href };
}

function countsView(c: Counts | undefined): SessionSummary['counts'] {
  return c === undefined ? { allowed: 0, denied: 0, dlpFindings: 0 } : { allowed: c.allowed, denied: c.denied, dlpFindings: c.dlpFindings };
}

/**
 * How many findings a DLP record reports: `details.findings` holds one
 * summary per detector with its `count` (model-route-dlp.ts; never values).
 */
function findingCount(record: AuditRecordView): number {
  const findings = record.details['findings'];
  if (!Array.isArray(findings)) return 0;
  let n = 0;
  for (const f of findings as unknown[]) {
    const count = typeof f === 'object' && f !== null ? (f as { count?: unknown }).count : undefined;
    if (typeof count === 'number') n += count;
  }
  return n;
}

/** The newest audit records are in the last bytes of the log; more than this is never read for them. */
const RECENT_AUDIT_WINDOW = 64 * 1024 * 1024;

/**
 * The last MAX bytes of FILE as text ('' when it is missing), read from the
 * end rather than reading the whole log and cutting it. A cut first line is
 * dropped by the caller's parse (it is not a whole record).
 */
function readTail(file: string, max: number): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, max);
    const buf = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const n = readSync(fd, buf, read, length - read, size - length + read);
      if (n <= 0) break;
      read += n;
    }
    return buf.toString('utf8', 0, read);
  } finally {
    closeSync(fd);
  }
}
