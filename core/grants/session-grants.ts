/**
 * The folders granted to one running session (issue 17, item 4): each appears
 * at `/run/cordon/grants/<name>` inside the sandbox, read-only unless write
 * was granted, with the workspace write-protection rules applied inside it,
 * and disappears when it expires or the session ends. See grant-mounts.ts for
 * how it gets there.
 */
import { basename } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import type { PlannedMount, Placeholder } from '../workspace/mount-plan.js';
import { materializePlaceholders, removePlaceholders } from '../workspace/mount-plan.js';
import { copyGrant, mountLiveGrant, releaseMountsBelow, removeGrant, SANDBOX_GRANTS_DIR, type GrantMechanism } from './grant-mounts.js';

export interface Grant {
  /** Host realpath of the granted folder. */
  readonly source: string;
  /** Where it appears inside the sandbox. */
  readonly sandboxPath: string;
  readonly write: boolean;
  /** Ms since the epoch; null = until the session ends. */
  readonly until: number | null;
  readonly mechanism: GrantMechanism;
}

interface Held extends Grant {
  readonly name: string;
  readonly placeholders: readonly Placeholder[];
  timer: NodeJS.Timeout | null;
}

/** What a grant is made of, as planned by the launch-time mount rules (planMounts on the one folder). */
export interface GrantPlan {
  readonly source: string;
  readonly write: boolean;
  /** The plan's protect and anchor mounts inside the folder. */
  readonly mounts: readonly PlannedMount[];
  readonly placeholders: readonly Placeholder[];
}

/** Timers beyond this are clamped by Node; a longer grant is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SessionGrants {
  private readonly held = new Map<string, Held>();
  /** source → name, kept after a grant ends so the same folder always gets the same path in this session. */
  private readonly names = new Map<string, string>();
  /** Grants being made, by source: a second request for the same folder waits for the first. */
  private readonly making = new Map<string, Promise<Grant>>();
  private closed = false;

  constructor(
    private readonly opts: {
      readonly sessionId: string;
      readonly dir: string;
      readonly stage: string | null;
      readonly mechanism: GrantMechanism;
      /**
       * Whether a grant may be writable: live grants under runc only. gVisor's
       * kernel does not know mounts added after start, so the mount points that
       * keep a protected folder from being renamed (mount-plan.ts) would not
       * hold inside; a copy is a snapshot. Otherwise every grant is read-only.
       */
      readonly writable: boolean;
      readonly audit: AuditSink;
      readonly now?: () => number;
    },
  ) {}

  get mechanism(): GrantMechanism {
    return this.opts.mechanism;
  }

  /** Whether a write grant is possible in this session (see the constructor). */
  get writable(): boolean {
    return this.opts.writable && this.opts.mechanism === 'live';
  }

  /** The stable in-sandbox path SOURCE has (or would have) in this session. */
  sandboxPathFor(source: string): string {
    return `${SANDBOX_GRANTS_DIR}/${this.nameFor(source)}`;
  }

  /** The grant in force for SOURCE (a realpath), if any; one that ended is gone. */
  find(source: string): Grant | null {
    const g = this.held.get(source);
    return g ? publicGrant(g) : null;
  }

  list(): Grant[] {
    return [...this.held.values()].map(publicGrant);
  }

  /**
   * Makes PLAN's folder appear in the sandbox until UNTIL (null: the end of
   * the session). A folder already granted is granted again with the wider
   * of the two (write, later end). Copy grants, and every grant where {@link writable} is false, are read-only.
   */
  async add(plan: GrantPlan, until: number | null): Promise<Grant> {
    if (this.closed) throw new Error('the session has ended');
    const pending = this.making.get(plan.source);
    if (pending) await pending.catch(() => undefined);
    const existing = this.held.get(plan.source);
    const write = this.writable && plan.write;
    if (existing && (existing.write || !write)) {
      const later = existing.until === null || until === null ? null : Math.max(existing.until, until);
      if (later !== existing.until) this.arm(existing, later);
      return publicGrant(existing);
    }
    if (existing) await this.revoke(plan.source, 'widened');
    const made = this.make(plan, write, until);
    this.making.set(plan.source, made);
    try {
      return await made;
    } finally {
      this.making.delete(plan.source);
    }
  }

  /** Ends the grant for SOURCE. `why` goes to the audit record. */
  async revoke(source: string, why: 'expired' | 'session_ended' | 'widened' | 'user'): Promise<boolean> {
    const g = this.held.get(source);
    if (!g) return false;
    this.held.delete(source);
    if (g.timer) clearTimeout(g.timer);
    const removed = await removeGrant(this.opts.dir, g.name);
    const cleaned = removePlaceholders(g.placeholders);
    this.opts.audit.record({
      kind: 'grant.revoke',
      ocsfClass: 'file_activity',
      activity: { id: 4, name: 'Delete' },
      outcome: removed ? 'success' : 'failure',
      ...(removed ? {} : { severity: 'high' as const }),
      message: removed
        ? `${g.source} is no longer reachable in session ${this.opts.sessionId} (${why})`
        : `${g.source} could not be unmounted from session ${this.opts.sessionId} (${why}); it stays until the sandbox is gone`,
      sessionId: this.opts.sessionId,
      details: { source: g.source, sandbox_path: g.sandboxPath, write: g.write, mechanism: g.mechanism, why, placeholders_kept: cleaned.kept },
    });
    return removed;
  }

  /** Ends every grant and releases the grants folder's mounts. Returns mount points that could not be released. */
  async close(): Promise<string[]> {
    this.closed = true;
    await Promise.all([...this.making.values()].map((p) => p.catch(() => undefined)));
    for (const source of [...this.held.keys()]) await this.revoke(source, 'session_ended');
    const left = await releaseMountsBelow(this.opts.dir);
    if (this.opts.stage) left.push(...(await releaseMountsBelow(this.opts.stage)));
    return left;
  }

  private async make(plan: GrantPlan, write: boolean, until: number | null): Promise<Grant> {
    const name = this.nameFor(plan.source);
    // Placeholders (protected paths that do not exist yet) are made on the host first, as at launch.
    const placeholders = write ? materializePlaceholders(plan.placeholders) : [];
    try {
      if (this.opts.mechanism === 'live' && this.opts.stage) {
        const subMounts = write ? plan.mounts.filter((m) => m.kind === 'protect' || m.kind === 'anchor').map((m) => ({ hostPath: m.hostPath, readOnly: m.readOnly })) : [];
        await mountLiveGrant({ source: plan.source, readOnly: !write, subMounts, stage: this.opts.stage, dir: this.opts.dir, name });
      } else {
        copyGrant({ source: plan.source, dir: this.opts.dir, name });
      }
    } catch (err) {
      removePlaceholders(placeholders);
      throw err;
    }
    const held: Held = { source: plan.source, sandboxPath: `${SANDBOX_GRANTS_DIR}/${name}`, write, until: null, mechanism: this.opts.mechanism, name, placeholders, timer: null };
    this.held.set(plan.source, held);
    this.arm(held, until);
    this.opts.audit.record({
      kind: 'grant.add',
      ocsfClass: 'file_activity',
      activity: { id: 1, name: 'Create' },
      outcome: 'success',
      message: `${plan.source} is reachable in session ${this.opts.sessionId} at ${held.sandboxPath} (${write ? 'read-write' : 'read-only'}, ${this.opts.mechanism === 'live' ? 'live' : 'a read-only copy'}${until === null ? ', until the session ends' : `, until ${new Date(until).toISOString()}`})`,
      sessionId: this.opts.sessionId,
      details: { source: plan.source, sandbox_path: held.sandboxPath, write, mechanism: this.opts.mechanism, until: until === null ? null : new Date(until).toISOString(), protected_paths: write ? plan.mounts.filter((m) => m.kind === 'protect').length : 0 },
    });
    return publicGrant(held);
  }

  private arm(g: Held, until: number | null): void {
    if (g.timer) clearTimeout(g.timer);
    g.timer = null;
    (g as { until: number | null }).until = until;
    if (until === null) return;
    const now = this.opts.now ?? Date.now;
    const fire = (): void => {
      if (now() < until) {
        g.timer = setTimeout(fire, Math.min(until - now(), MAX_TIMER_MS));
        return;
      }
      void this.revoke(g.source, 'expired');
    };
    g.timer = setTimeout(fire, Math.min(Math.max(0, until - now()), MAX_TIMER_MS));
    g.timer.unref();
  }

  private nameFor(source: string): string {
    const known = this.names.get(source);
    if (known) return known;
    const base = basename(source).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 64) || 'folder';
    const taken = new Set(this.names.values());
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
    this.names.set(source, name);
    return name;
  }
}

function publicGrant(g: Held): Grant {
  return { source: g.source, sandboxPath: g.sandboxPath, write: g.write, until: g.until, mechanism: g.mechanism };
}
