/**
 * Files into and out of a running session through the gate (issue 18,
 * item 4), for every front end: `cordon drop` / `cordon take`, and the
 * app's and the browser UI's drag-and-drop (`files.drop`, `files.take`).
 * The gate itself is core/gate/file-transfer.ts; this finds the session,
 * builds the gate's dependencies from the current policy, and turns
 * outcomes into the contract's shapes. Threats: docs/threat-model-gate.md
 * G5-G22.
 */
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import { ApiFailure, type ApiHandlers } from '../api/api-dispatch.js';
import type { ApiRequest, ApiResponse, SessionSummary } from '../api/cordon-api.js';
import { DROP_CONTENT_MAX_BYTES, dropNameProblem, type DropOutcomeView } from '../api/transfer-contract.js';
import { askTransfer, type GateApprovals } from '../gate/session-gate.js';
import { dropFiles, takeFile, type DropItem, type FileTransferDeps, type FileTransferOutcome, type TakeDestination, type TransferSession } from '../gate/file-transfer.js';
import type { CordonPaths } from '../paths/cordon-paths.js';
import type { PolicyLoadResult } from '../policy/policy-loader.js';
import { mountRuleContext } from '../session/session-runner.js';
import type { SessionStore } from '../session/session-store.js';

/** How long the app's drag-out copy stays in its temporary folder. */
const DRAG_COPY_MS = 10 * 60 * 1000;

export interface SessionTransfersDeps {
  readonly paths: CordonPaths;
  readonly audit: AuditSink;
  readonly loadPolicy: () => PolicyLoadResult;
  readonly listSessions: () => Promise<{ ok: true; sessions: readonly SessionSummary[] } | { ok: false; message: string }>;
  readonly sessions: () => SessionStore;
  readonly approvals: () => GateApprovals;
  /**
   * True only in the app, where the preload reads a dropped file's path
   * from the drop itself; `cordon ui` refuses paths (a browser's drop has
   * none, so one there is a lie: G22).
   */
  readonly trustsRendererPaths: boolean;
  /** Starts a desktop drag of a file (Electron's `webContents.startDrag`); absent without a desktop app. */
  readonly startDrag?: (file: string) => void;
  /** Whether PATH in WORKSPACE is among the files session ID changed (the files panel's list). */
  readonly isChanged: (id: string, workspace: string, path: string) => boolean;
}

export type FoundSession = { ok: true; session: TransferSession } | { ok: false; code: 'not_found' | 'invalid_request' | 'unavailable'; message: string };

export class SessionTransfers {
  private readonly dragCopies = new Set<string>();

  constructor(private readonly deps: SessionTransfersDeps) {}

  /**
   * The running session ID names, with its workspaces. EXACT (the UI)
   * demands the whole id; otherwise (the CLI) a unique prefix will do.
   */
  async find(id: string, exact: boolean): Promise<FoundSession> {
    if (id === '') return { ok: false, code: 'invalid_request', message: 'name a session (see `cordon ps`)' };
    const listed = await this.deps.listSessions();
    if (!listed.ok) return { ok: false, code: 'unavailable', message: listed.message };
    const matches = listed.sessions.filter((s) => (exact ? s.id === id : s.id.startsWith(id)));
    if (matches.length > 1) return { ok: false, code: 'invalid_request', message: `"${id}" matches ${matches.length} sessions; give more of the id` };
    const s = matches[0];
    if (s === undefined) return { ok: false, code: 'not_found', message: `no running session "${id}" (see \`cordon ps\`)` };
    const rec = this.deps.sessions().read(s.id);
    if (rec === null) return { ok: false, code: 'not_found', message: `session ${s.id} has no readable record; it may be ending` };
    return { ok: true, session: { id: s.id, workspaces: rec.workspaces } };
  }

  /** The gate's dependencies under the policy in force now; ONWAITING hears when a file waits in the approval queue. */
  gateDeps(sessionId: string, onWaiting: (reason: string) => void): FileTransferDeps {
    const loaded = this.deps.loadPolicy();
    // A policy that cannot be read moves no file.
    if (!loaded.ok) throw new ApiFailure('failed', 'policy is invalid, so no file may cross the sandbox wall');
    return {
      policy: loaded.policy,
      rules: mountRuleContext(this.deps.paths, loaded.policy),
      audit: this.deps.audit,
      ask: (q) => {
        onWaiting(q.reason);
        return askTransfer(this.deps.approvals, { session: sessionId, kind: 'file-transfer', target: q.target, reason: q.reason, detail: q.detail });
      },
    };
  }

  /** Drops ITEMS into SESSION's inbox through the gate: the CLI's `cordon drop` and the UI's drop alike. */
  drop(session: TransferSession, items: readonly DropItem[], onWaiting: (reason: string) => void): Promise<FileTransferOutcome[]> {
    return dropFiles(this.gateDeps(session.id, onWaiting), session, items);
  }

  /** Takes PATH out of SESSION through the gate to TO: `cordon take`, the browser's download and the app's drag alike. */
  take(session: TransferSession, path: string, to: TakeDestination, onWaiting: (reason: string) => void): Promise<FileTransferOutcome> {
    return takeFile(this.gateDeps(session.id, onWaiting), session, path, to);
  }

  /** Removes the app's drag-out copies still on disk (Quit). */
  async close(): Promise<void> {
    await Promise.all([...this.dragCopies].map((d) => rm(d, { recursive: true, force: true }).catch(() => undefined)));
    this.dragCopies.clear();
  }

  handlers(): Pick<ApiHandlers, 'files.drop' | 'files.take'> {
    const found = async (id: string): Promise<TransferSession> => {
      const f = await this.find(id, true);
      if (!f.ok) throw new ApiFailure(f.code, f.message);
      return f.session;
    };
    return {
      'files.drop': async (req: ApiRequest<'files.drop'>): Promise<DropOutcomeView> => {
        let item: DropItem;
        if ('path' in req.file) {
          if (!this.deps.trustsRendererPaths) throw new ApiFailure('forbidden', 'a browser drop carries the file, not a path on this computer: send its content');
          item = req.file.path;
        } else {
          const bytes = Buffer.from(req.file.content, 'base64');
          // The schema bounds the text; this bounds what it decodes to.
          if (bytes.length > DROP_CONTENT_MAX_BYTES) throw new ApiFailure('invalid_request', `file.content: at most ${DROP_CONTENT_MAX_BYTES} bytes`);
          item = { name: req.file.name, bytes };
        }
        const session = await found(req.sessionId);
        const [o] = await this.drop(session, [item], () => undefined);
        if (o === undefined) throw new ApiFailure('failed', 'the gate gave no answer');
        return dropOutcomeView(session, typeof item === 'string' ? item.slice(item.lastIndexOf('/') + 1) : item.name, o);
      },
      'files.take': async (req: ApiRequest<'files.take'>): Promise<ApiResponse<'files.take'>> => {
        if (!this.deps.isChanged(req.sessionId, req.workspace, req.path)) throw new ApiFailure('not_found', `${JSON.stringify(req.path)} is not among the files this session changed`);
        const startDrag = this.deps.startDrag;
        if (req.as === 'drag' && startDrag === undefined) throw new ApiFailure('unavailable', 'dragging to the desktop needs the Cordon app; download the file instead');
        const session = await found(req.sessionId);
        // Workspaces are mounted at their host path: the sandbox's path is the same.
        const inSandbox = join(req.workspace, ...req.path.split('/'));
        const o = await this.take(session, inSandbox, req.as === 'download' ? { kind: 'memory', maxBytes: DROP_CONTENT_MAX_BYTES } : { kind: 'temp' }, () => undefined);
        if (o.kind === 'refused') return { outcome: 'refused', reason: o.decision.reason, message: o.decision.message };
        const name = inSandbox.slice(inSandbox.lastIndexOf('/') + 1);
        const redacted = o.decision.kind === 'redact';
        const message = redacted ? o.decision.message : `passed the gate (${o.decision.reason})`;
        if (req.as === 'download') return { outcome: 'download', name, content: (o.bytes ?? Buffer.alloc(0)).toString('base64'), redacted, message };
        const folder = dirname(o.path);
        this.dragCopies.add(folder);
        setTimeout(() => void rm(folder, { recursive: true, force: true }).finally(() => this.dragCopies.delete(folder)), DRAG_COPY_MS).unref();
        startDrag?.(o.path);
        return { outcome: 'dragging', name, redacted, message };
      },
    };
  }
}

/** The contract's view of one drop: never the content, only what the gate decided and why. */
export function dropOutcomeView(session: TransferSession, rawName: string, o: FileTransferOutcome): DropOutcomeView {
  // A refused name is not echoed: it may be the hostile part (escapes, text-direction overrides).
  const name = dropNameProblem(rawName) === null ? rawName : '(a file with an unacceptable name)';
  const findings = o.decision.findings.map((f) => ({ detector: f.detector, count: f.count }));
  if (o.kind === 'refused') return { sessionId: session.id, name, outcome: 'refused', reason: o.decision.reason, message: o.decision.message, sandboxPath: null, findings };
  return {
    sessionId: session.id,
    name,
    outcome: o.decision.kind === 'redact' ? 'redacted' : 'arrived',
    reason: o.decision.reason,
    message: o.decision.message,
    sandboxPath: o.path,
    findings,
  };
}
