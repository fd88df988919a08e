/**
 * The approval queue (issue 17): requests a sandboxed session makes that a
 * person must answer (a new network destination today; a folder, a clipboard
 * transfer later).
 *
 * The process hosting a session files a request and waits; the user answers
 * from another process (`cordon approvals allow ID`, the app). So the queue is
 * a folder on disk, one file per request and one per answer:
 *
 *   <id>.json         the request, written once and never changed
 *   <id>.answer.json  the answer, created exclusively: the first answer wins
 *
 * Both files appear atomically (written to a temporary name, then hard-linked
 * into place; link(2) fails when the target exists, like O_EXCL), so a reader
 * never sees half an answer and a user's allow racing the requester's own
 * timeout cannot both win.
 *
 * The folder is user-writable, so whatever is read back is untrusted: every
 * file is parsed with zod, a corrupt request is skipped, a corrupt answer
 * counts as a deny (fail closed).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, unlinkSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { AuditSink } from '../audit/audit-event.js';
import { allowValue, deny, type Outcome } from '../decision.js';

/** What a request asks for. Only 'network' is filed by this version (the egress proxy). */
/** The queue's folder in Cordon's state: every process of this user opens the same one. */
export function approvalsDir(cordonHome: string): string {
  return join(cordonHome, 'approvals');
}

export type ApprovalKind = 'file' | 'network' | 'clipboard' | 'file-transfer';

/** Who settled a request. `session_ended`: the asking session went away (its AbortSignal fired). */
export type ApprovalAnsweredBy = 'user' | 'policy' | 'timeout' | 'rate_limit' | 'session_ended';

/** The agent's own words are bounded: they reach a prompt and the audit log. */
export const MAX_REASON_CHARS = 200;
const MAX_TARGET_CHARS = 1024;
const MAX_DETAIL_ENTRIES = 16;
const MAX_DETAIL_CHARS = 512;
const ID_PATTERN = /^[0-9a-f]{16}$/;
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Fallback for fs.watch, which misses events on some file systems (network mounts, some containers). */
const POLL_MS = 250;

const AnswerSchema = z.strictObject({
  decision: z.enum(['allow', 'deny']),
  scope: z.enum(['once', 'duration', 'always']).nullable(),
  until: z.iso.datetime().nullable(),
  write: z.boolean(),
  by: z.enum(['user', 'policy', 'timeout', 'rate_limit', 'session_ended']),
  at: z.iso.datetime(),
});

const RequestSchema = z.strictObject({
  id: z.string().regex(ID_PATTERN),
  session: z.string().min(1).max(128),
  kind: z.enum(['file', 'network', 'clipboard', 'file-transfer']),
  target: z.string().min(1).max(MAX_TARGET_CHARS),
  reason: z.string().max(MAX_REASON_CHARS).nullable(),
  detail: z.record(z.string().max(64), z.string().max(MAX_DETAIL_CHARS)),
  write: z.boolean(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});

/** An answer as stored in `<id>.answer.json`. `scope` and `until` are null for a deny. */
export type ApprovalAnswer = z.infer<typeof AnswerSchema>;

type StoredRequest = z.infer<typeof RequestSchema>;

/**
 * One request with its state. `status` is derived: 'pending' until an answer
 * exists; then 'allowed', 'denied', or 'expired' (denied because nobody
 * answered in time). A request whose asker died before its timeout fired reads
 * as 'expired' with `answer: null`.
 */
export interface ApprovalRecord extends StoredRequest {
  readonly status: 'pending' | 'allowed' | 'denied' | 'expired';
  readonly answer: ApprovalAnswer | null;
}

/** What a session asks for. `reason` is the agent's text: cut to {@link MAX_REASON_CHARS}. */
export interface ApprovalRequest {
  readonly session: string;
  readonly kind: ApprovalKind;
  /** A path, or `host:port` for 'network'. */
  readonly target: string;
  readonly reason?: string | null;
  /** Context for the person deciding, e.g. `{ address: '203.0.113.5' }`. */
  readonly detail?: Readonly<Record<string, string>>;
  /** The request wants write access (files); an answer may grant write only when this is true. */
  readonly write?: boolean;
}

/** A person's (or policy's) answer. `until` is required with scope 'duration'. No scope on an allow means 'once'. */
export interface ApprovalAnswerInput {
  readonly decision: 'allow' | 'deny';
  readonly scope?: 'once' | 'duration' | 'always';
  readonly until?: Date;
  readonly write?: boolean;
}

/** Stable reason codes for a refused answer. */
export type AnswerRefusal = 'unknown_request' | 'already_settled' | 'write_not_requested' | 'invalid_answer';

export interface ApprovalStoreOptions {
  /** How long ask() waits for an answer before the request expires (denied). Fractions allowed. */
  readonly timeoutSeconds: number;
  readonly audit: AuditSink;
  /** Clock for record times and the rate limit (ms since the epoch). Timers use real time. */
  readonly now?: () => number;
  /** Requests one session may file per minute before further ones are denied at once. Default 20. */
  readonly maxPerMinutePerSession?: number;
}

interface Waiter {
  /** The request as this process filed it: the copy on disk is not trusted. */
  readonly req: StoredRequest;
  readonly settle: (record: ApprovalRecord) => void;
}

/**
 * The file-backed approval queue. One instance per process; several processes
 * (and instances) may share a folder.
 */
export class ApprovalStore {
  private readonly now: () => number;
  private readonly maxPerMinute: number;
  /** In-flight asks by coalescing key (session, kind, target, write). */
  private readonly inFlight = new Map<string, Promise<ApprovalRecord>>();
  private readonly waiters = new Map<string, Waiter>();
  /** Times of recent asks per session, for the rate limit. */
  private readonly recentAsks = new Map<string, number[]>();
  private readonly lastRateAlert = new Map<string, number>();
  private watcher: FSWatcher | null = null;
  private poller: NodeJS.Timeout | null = null;

  /** Creates `dir` (0700) if needed. */
  constructor(
    private readonly dir: string,
    private readonly opts: ApprovalStoreOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.maxPerMinute = opts.maxPerMinutePerSession ?? 20;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is masked by umask and ignored for an existing folder.
    chmodSync(dir, 0o700);
  }

  /**
   * Files a request and resolves with it once settled: 'allowed', 'denied' or
   * 'expired' (no answer within timeoutSeconds; denied). Never rejects.
   *
   * - An identical request already waiting in this process (same session,
   *   kind, target and write) is joined, not filed again.
   * - Over `maxPerMinutePerSession` asks in the last minute: denied at once
   *   (`by: 'rate_limit'`, not written to disk), with one
   *   `approval.rate_limited` alert per session per minute.
   * - `signal` aborting (the session ended) settles it denied
   *   (`by: 'session_ended'`) unless an answer got there first.
   */
  ask(req: ApprovalRequest, signal?: AbortSignal): Promise<ApprovalRecord> {
    const write = req.write === true;
    const key = JSON.stringify([req.session, req.kind, req.target, write]);
    const joined = this.inFlight.get(key);
    if (joined) return joined;

    const nowMs = this.now();
    const stored: StoredRequest = {
      id: randomBytes(8).toString('hex'),
      session: req.session,
      kind: req.kind,
      target: req.target.slice(0, MAX_TARGET_CHARS),
      reason: req.reason == null ? null : req.reason.slice(0, MAX_REASON_CHARS),
      detail: boundDetail(req.detail ?? {}),
      write,
      createdAt: new Date(nowMs).toISOString(),
      expiresAt: new Date(nowMs + this.opts.timeoutSeconds * 1000).toISOString(),
    };

    if (this.overRateLimit(req.session, nowMs)) {
      const answer: ApprovalAnswer = { decision: 'deny', scope: null, until: null, write: false, by: 'rate_limit', at: stored.createdAt };
      return Promise.resolve(toRecord(stored, answer, nowMs));
    }

    const parsed = RequestSchema.safeParse(stored);
    if (!parsed.success) {
      // A request the queue could not read back (an over-long session id …): refuse rather than prompt.
      const answer: ApprovalAnswer = { decision: 'deny', scope: null, until: null, write: false, by: 'policy', at: stored.createdAt };
      return Promise.resolve(toRecord(stored, answer, nowMs));
    }

    const pending = this.fileAndWait(parsed.data, signal)
      // Nobody can be asked if the request cannot be filed (folder gone, disk full): deny.
      .catch(() => toRecord(parsed.data, corruptAnswer(this.now()), this.now()))
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, pending);
    return pending;
  }

  /**
   * Pending requests first, oldest first (the order a prompt shows them one
   * at a time), then requests settled in the last hour, newest first. Removes
   * requests settled (or expired) more than a day ago. Unreadable files are skipped.
   */
  list(): ApprovalRecord[] {
    const nowMs = this.now();
    const pending: ApprovalRecord[] = [];
    const settled: ApprovalRecord[] = [];
    for (const id of this.requestIds()) {
      const record = this.read(id, nowMs);
      if (!record) continue;
      if (record.status === 'pending') {
        pending.push(record);
        continue;
      }
      const at = settledAt(record);
      if (nowMs - at > DAY_MS) this.remove(id);
      else if (nowMs - at <= HOUR_MS) settled.push(record);
    }
    pending.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
    settled.sort((a, b) => settledAt(b) - settledAt(a));
    return [...pending, ...settled];
  }

  /** The request `id` with its state, or null when there is none (or it is unreadable). */
  get(id: string): ApprovalRecord | null {
    return ID_PATTERN.test(id) ? this.read(id, this.now()) : null;
  }

  /**
   * Answers request `id`. Refuses an unknown id, one already settled (the
   * message says how), `write: true` on a request that did not ask for write,
   * and scope 'duration' without `until`. The first answer written wins, across
   * processes. Recording scope 'always' is all this does: persisting it to
   * policy is the caller's job. Audited as `approval.answer`.
   */
  answer(id: string, a: ApprovalAnswerInput, by: 'user' | 'policy'): Outcome<ApprovalRecord, AnswerRefusal> {
    const nowMs = this.now();
    const record = ID_PATTERN.test(id) ? this.read(id, nowMs) : null;
    if (!record) return deny('unknown_request', `no approval request ${JSON.stringify(id.slice(0, 40))}; \`cordon approvals list\` shows them`);
    if (record.status !== 'pending') return deny('already_settled', alreadySettledMessage(record));
    if (a.write === true && !record.write) return deny('write_not_requested', `request ${id} asked for read access only; write cannot be granted on it`);
    const scope = a.decision === 'allow' ? (a.scope ?? 'once') : null;
    if (scope === 'duration' && a.until === undefined) return deny('invalid_answer', 'an answer for a duration needs an end time');
    const answer: ApprovalAnswer = {
      decision: a.decision,
      scope,
      until: scope === 'duration' && a.until ? a.until.toISOString() : null,
      write: a.decision === 'allow' && a.write === true,
      by,
      at: new Date(nowMs).toISOString(),
    };
    if (!this.writeAnswer(id, answer)) {
      const now = this.read(id, this.now());
      return deny('already_settled', now ? alreadySettledMessage(now) : `request ${id} was answered by someone else first`);
    }
    const settled = toRecord(record, answer, nowMs);
    this.auditAnswer(settled);
    return allowValue(settled);
  }

  /**
   * Answers every pending request of `session` with `a` (write is granted only
   * where it was asked for). Returns the requests this call settled; one that
   * another answer reached first is left out.
   */
  answerSession(session: string, a: ApprovalAnswerInput, by: 'user' | 'policy'): ApprovalRecord[] {
    const out: ApprovalRecord[] = [];
    for (const r of this.list()) {
      if (r.status !== 'pending' || r.session !== session) continue;
      const res = this.answer(r.id, { ...a, write: a.write === true && r.write }, by);
      if (res.kind === 'allow') out.push(res.value);
    }
    return out;
  }

  /** Stops watching the folder; asks still waiting settle through their timers. */
  close(): void {
    this.stopWatching();
  }

  private async fileAndWait(req: StoredRequest, signal: AbortSignal | undefined): Promise<ApprovalRecord> {
    writeExclusive(join(this.dir, `${req.id}.json`), JSON.stringify(req));
    this.opts.audit.record({
      kind: 'approval.request',
      ocsfClass: 'api_activity',
      activity: { id: 1, name: 'Create' },
      outcome: 'success',
      message: `session ${req.session} asks for ${req.kind} access to ${req.target}${req.write ? ' (write)' : ''}; waiting for an answer`,
      sessionId: req.session,
      // `request_kind`, not `kind`: details are spread into the record's `cordon` object beside the event kind.
      details: { id: req.id, request_kind: req.kind, target: req.target, write: req.write, reason: req.reason, detail: req.detail, expires_at: req.expiresAt },
    });
    return new Promise<ApprovalRecord>((resolve) => {
      let done = false;
      const finish = (record: ApprovalRecord): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(req.id);
        if (this.waiters.size === 0) this.stopWatching();
        resolve(record);
      };
      // Our own deny (timeout, session end) goes through the same exclusive
      // write as a user's answer, so whichever is first is the answer.
      const settleOurselves = (by: 'timeout' | 'session_ended'): void => {
        const nowMs = this.now();
        const answer: ApprovalAnswer = { decision: 'deny', scope: null, until: null, write: false, by, at: new Date(nowMs).toISOString() };
        if (this.writeAnswer(req.id, answer)) {
          const record = toRecord(req, answer, nowMs);
          this.auditAnswer(record);
          finish(record);
        } else {
          finish(this.settledFromDisk(req));
        }
      };
      const onAbort = (): void => settleOurselves('session_ended');
      const timer = setTimeout(() => settleOurselves('timeout'), Math.max(0, Date.parse(req.expiresAt) - this.now()));
      this.waiters.set(req.id, { req, settle: finish });
      this.startWatching();
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The request as settled by an answer file that exists; a corrupt one is a deny. */
  private settledFromDisk(req: StoredRequest): ApprovalRecord {
    const nowMs = this.now();
    const answer = this.readAnswer(req.id) ?? corruptAnswer(nowMs);
    return toRecord(req, { ...answer, write: answer.write && req.write }, nowMs);
  }

  private checkWaiters(): void {
    for (const w of [...this.waiters.values()]) {
      if (this.answerExists(w.req.id)) w.settle(this.settledFromDisk(w.req));
    }
  }

  private startWatching(): void {
    if (this.poller) return;
    this.poller = setInterval(() => this.checkWaiters(), POLL_MS);
    try {
      this.watcher = watch(this.dir, () => this.checkWaiters());
      // A watcher error (folder removed) must not crash the host; polling carries on.
      this.watcher.on('error', () => this.stopWatcherOnly());
    } catch {
      this.watcher = null;
    }
  }

  private stopWatcherOnly(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  private stopWatching(): void {
    this.stopWatcherOnly();
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
  }

  private overRateLimit(session: string, nowMs: number): boolean {
    const recent = (this.recentAsks.get(session) ?? []).filter((t) => nowMs - t < MINUTE_MS);
    recent.push(nowMs);
    this.recentAsks.set(session, recent);
    if (recent.length <= this.maxPerMinute) return false;
    const last = this.lastRateAlert.get(session);
    if (last === undefined || nowMs - last >= MINUTE_MS) {
      this.lastRateAlert.set(session, nowMs);
      // One alert, not one record per denied request: a looping agent must not be able to flood the log.
      this.opts.audit.record({
        kind: 'approval.rate_limited',
        ocsfClass: 'detection_finding',
        activity: { id: 1, name: 'Create' },
        outcome: 'failure',
        severity: 'medium',
        message: `session ${session} made more than ${this.maxPerMinute} approval requests in a minute; further requests are denied without asking`,
        sessionId: session,
        details: { limit_per_minute: this.maxPerMinute },
      });
    }
    return true;
  }

  private auditAnswer(r: ApprovalRecord): void {
    const a = r.answer;
    if (!a) return;
    this.opts.audit.record({
      kind: 'approval.answer',
      ocsfClass: 'api_activity',
      activity: { id: 3, name: 'Update' },
      outcome: a.decision === 'allow' ? 'success' : 'failure',
      message: `${r.kind} access to ${r.target} for session ${r.session}: ${describeAnswer(a)}`,
      sessionId: r.session,
      details: { id: r.id, request_kind: r.kind, target: r.target, decision: a.decision, scope: a.scope, until: a.until, write: a.write, by: a.by, status: r.status },
    });
  }

  private requestIds(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => /^[0-9a-f]{16}\.json$/.test(n)).map((n) => n.slice(0, 16));
  }

  private read(id: string, nowMs: number): ApprovalRecord | null {
    const req = this.readRequest(id);
    if (!req) return null;
    if (!this.answerExists(id)) return toRecord(req, null, nowMs);
    const answer = this.readAnswer(id) ?? corruptAnswer(nowMs);
    return toRecord(req, { ...answer, write: answer.write && req.write }, nowMs);
  }

  private readRequest(id: string): StoredRequest | null {
    const parsed = RequestSchema.safeParse(readJson(join(this.dir, `${id}.json`)));
    // The id inside must match the file name, or one file could answer for another.
    return parsed.success && parsed.data.id === id ? parsed.data : null;
  }

  private readAnswer(id: string): ApprovalAnswer | null {
    const parsed = AnswerSchema.safeParse(readJson(join(this.dir, `${id}.answer.json`)));
    return parsed.success ? parsed.data : null;
  }

  private answerExists(id: string): boolean {
    return existsSync(join(this.dir, `${id}.answer.json`));
  }

  /** True when this call created the answer; false when one already existed. */
  private writeAnswer(id: string, answer: ApprovalAnswer): boolean {
    return writeExclusive(join(this.dir, `${id}.answer.json`), JSON.stringify(answer));
  }

  private remove(id: string): void {
    for (const name of [`${id}.answer.json`, `${id}.json`]) {
      try {
        unlinkSync(join(this.dir, name));
      } catch {
        // Already gone (another process pruned it): nothing to do.
      }
    }
  }
}

/**
 * Creates `path` with `content` atomically and exclusively: written to a
 * private temporary file, then hard-linked into place. Returns false when
 * `path` already exists.
 */
function writeExclusive(path: string, content: string): boolean {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function boundDetail(detail: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(detail).slice(0, MAX_DETAIL_ENTRIES)) out[k.slice(0, 64)] = String(v).slice(0, MAX_DETAIL_CHARS);
  return out;
}

function toRecord(req: StoredRequest, answer: ApprovalAnswer | null, nowMs: number): ApprovalRecord {
  if (!answer) {
    // The asker died before its timer fired: nobody will answer this for it.
    const status = nowMs > Date.parse(req.expiresAt) ? 'expired' : 'pending';
    return { ...req, status, answer: null };
  }
  const status = answer.decision === 'allow' ? 'allowed' : answer.by === 'timeout' ? 'expired' : 'denied';
  return { ...req, status, answer };
}

/** An answer file that exists but cannot be read, or a request that could not be filed: fail closed. */
function corruptAnswer(nowMs: number): ApprovalAnswer {
  return { decision: 'deny', scope: null, until: null, write: false, by: 'policy', at: new Date(nowMs).toISOString() };
}

function settledAt(r: ApprovalRecord): number {
  return Date.parse(r.answer?.at ?? r.expiresAt);
}

function describeAnswer(a: ApprovalAnswer): string {
  if (a.decision === 'deny') {
    switch (a.by) {
      case 'timeout':
        return 'denied: nobody answered in time';
      case 'rate_limit':
        return 'denied: too many requests';
      case 'session_ended':
        return 'denied: the session ended';
      case 'user':
      case 'policy':
        return `denied by ${a.by}`;
    }
  }
  const scope = a.scope === 'duration' ? `until ${a.until ?? '?'}` : (a.scope ?? 'once');
  return `allowed ${scope}${a.write ? ' with write' : ''} by ${a.by}`;
}

function alreadySettledMessage(r: ApprovalRecord): string {
  if (!r.answer) return `request ${r.id} already expired at ${r.expiresAt} (nobody answered in time)`;
  return `request ${r.id} was already ${r.status}: ${describeAnswer(r.answer)} at ${r.answer.at}`;
}
