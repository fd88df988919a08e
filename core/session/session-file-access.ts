/**
 * One session's file access after launch (issue 17): its grants folder, the
 * `/cordon/v1/access` route `cordon-request-access` calls, and the control
 * socket through which the user pushes a folder. Opened before the sandbox
 * starts (the grants folder is one of its mounts), closed after it is gone.
 */
import type { AuditSink } from '../audit/audit-event.js';
import type { LocalRoute } from '../egress/egress-proxy-options.js';
import { accessRoute } from '../grants/access-route.js';
import { requestFileAccess, type FileAccessContext } from '../grants/file-access.js';
import { prepareGrantsFolder, type GrantMechanism } from '../grants/grant-mounts.js';
import { serveSessionControl, type QuarantineHandler } from '../grants/session-control.js';
import { SessionGrants } from '../grants/session-grants.js';
import type { PlannedWorkspace } from '../workspace/mount-plan.js';
import type { MountRuleContext } from '../workspace/mount-rules.js';

/** What deciding needs from the user's side: the queue, policy's verdict, "always". Absent, every request is refused. */
export type FileApprovalDeps = Pick<FileAccessContext, 'approvals' | 'policy'> & Partial<Pick<FileAccessContext, 'allowAlways'>>;

export interface SessionFileAccess {
  /** The grants folder for the sandbox's mounts. */
  readonly grants: { readonly dir: string; readonly mechanism: GrantMechanism };
  readonly routes: Readonly<Record<string, LocalRoute>>;
  /** Starts the control socket (once the session is up); ONQUARANTINE answers its `quarantine` op. */
  serve(onQuarantine?: QuarantineHandler): Promise<void>;
  /** Settles pending questions, revokes every grant, releases the mounts. Returns mount points it could not release. */
  close(): Promise<string[]>;
}

export async function openSessionFileAccess(opts: {
  readonly sessionId: string;
  readonly sessionDir: string;
  /** Write grants are made under runc only (see SessionGrants). */
  readonly runtime: 'runc' | 'runsc' | 'microvm';
  readonly home: string;
  readonly rules: MountRuleContext;
  readonly writeProtected: readonly string[];
  readonly sandboxUser: { readonly uid: number; readonly gid: number };
  readonly workspaces: readonly PlannedWorkspace[];
  readonly approvals: FileApprovalDeps | null;
  readonly audit: AuditSink;
  readonly notify: (message: string) => void;
}): Promise<SessionFileAccess> {
  const folder = await prepareGrantsFolder(opts.sessionDir);
  const grants = new SessionGrants({ sessionId: opts.sessionId, dir: folder.dir, stage: folder.stage, mechanism: folder.mechanism, writable: opts.runtime === 'runc', audit: opts.audit });
  const ended = new AbortController();
  const approvals: FileApprovalDeps = opts.approvals ?? {
    approvals: { ask: () => Promise.resolve({ status: 'denied', answer: { decision: 'deny', scope: null, until: null, write: false, by: 'policy' } }) },
    policy: () => ({ kind: 'ask' }),
  };
  const ctx: FileAccessContext = {
    sessionId: opts.sessionId,
    home: opts.home,
    rules: opts.rules,
    writeProtected: opts.writeProtected,
    sandboxUser: opts.sandboxUser,
    workspaces: opts.workspaces,
    grants,
    ...approvals,
    notify: opts.notify,
    audit: opts.audit,
    signal: ended.signal,
  };
  let control: { close(): Promise<void> } | null = null;
  return {
    grants: { dir: folder.dir, mechanism: folder.mechanism },
    routes: { access: accessRoute((r) => requestFileAccess(r, ctx, 'agent')) },
    serve: async (onQuarantine) => {
      try {
        control = await serveSessionControl(
          opts.sessionDir,
          (order) => requestFileAccess({ path: order.path, write: order.write, reason: null }, ctx, 'user', order.until === null ? null : Date.parse(order.until)),
          onQuarantine,
        );
      } catch (err) {
        opts.notify(`grants pushed by the user cannot reach this session: ${(err as Error).message}`);
      }
    },
    close: async () => {
      ended.abort();
      await control?.close();
      return grants.close();
    },
  };
}
