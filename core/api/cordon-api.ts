/**
 * The one contract between Cordon's UI and its core (issue 15).
 *
 * Every call the renderer can make is listed in `API_METHODS` with a zod schema
 * for its request and its response; the types are inferred from them. The
 * Electron preload implements `CordonApi` over IPC, the `cordon ui` client over
 * a loopback WebSocket; on the other side the main process and the `cordon ui`
 * bridge hand every payload to the same dispatcher (core/service/api-dispatch.ts),
 * which validates it against these schemas before a handler runs and validates
 * the handler's answer before it leaves.
 *
 * This file is imported by the sandboxed renderer: it must not import a Node
 * built-in or anything outside core/api/ (lint-enforced). It is written with
 * `zod/mini`, the tree-shakable form of the same library: the renderer's first
 * chunk carries only the checks used here, which keeps the first screen fast
 * (issue 15's bench:ui). The schemas behave as zod's; core reads them as usual.
 */
import * as z from 'zod/mini';
import { ApprovalAnswerRequestSchema, ApprovalListSchema, ApprovalViewSchema } from './approvals-contract.js';
import { ChatItemSchema, ChatStateSchema, FileChangeSchema, FileDiffSchema, FilePreviewSchema } from './chat-contract.js';
import { DropOutcomeSchema, DropRequestSchema, TakeOutcomeSchema, TakeRequestSchema } from './transfer-contract.js';

/** A session id as core writes them (12 hex digits), or a unique prefix where a method says so. */
const SessionId = z.string().check(z.regex(/^[0-9a-f]{1,32}$/, 'a session id is hexadecimal'));
const ProviderName = z.string().check(z.regex(/^[a-z][a-z0-9-]{0,31}$/, 'provider names are lower-case letters, digits and "-"'));

/** What a role may do; every switch defaults to allowed when policy names no role. */
export const FeaturesSchema = z.strictObject({
  launch: z.boolean(),
  exec: z.boolean(),
  changeSettings: z.boolean(),
});
export type Features = z.infer<typeof FeaturesSchema>;

export const WorkspaceSchema = z.strictObject({
  path: z.string().check(z.minLength(1, 'choose a folder'), z.maxLength(4096)),
  mode: z.enum(['rw', 'ro']),
});
export type Workspace = z.infer<typeof WorkspaceSchema>;

export const DoctorCheckSchema = z.strictObject({
  check: z.string(),
  status: z.enum(['ok', 'warn', 'fail']),
  detail: z.string(),
  fix: z.optional(z.string()),
});
export type DoctorCheck = z.infer<typeof DoctorCheckSchema>;

/** Allowed/denied requests and DLP findings counted from a session's audit records. */
export const SessionCountsSchema = z.strictObject({
  allowed: z.int().check(z.nonnegative()),
  denied: z.int().check(z.nonnegative()),
  dlpFindings: z.int().check(z.nonnegative()),
});

export const SessionSummarySchema = z.strictObject({
  id: z.string(),
  kind: z.string(),
  profile: z.string(),
  runtime: z.string(),
  state: z.string(),
  ownerPid: z.int(),
  createdAt: z.string(),
  workspaces: z.array(WorkspaceSchema),
  containerId: z.string(),
  /** True when this process hosts the session, so its terminal can be attached. */
  attachable: z.boolean(),
  counts: SessionCountsSchema,
});
export type SessionSummary = z.infer<typeof SessionSummarySchema>;

/**
 * One audit record as subscribers see it. Audit records never hold secret
 * values (DLP findings carry detector names and counts), so nothing is removed
 * here; `details` is passed as the log holds it.
 */
export const AuditRecordSchema = z.strictObject({
  seq: z.int(),
  time: z.number(),
  kind: z.string(),
  sessionId: z.nullable(z.string()),
  outcome: z.enum(['success', 'failure']),
  severity: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export type AuditRecordView = z.infer<typeof AuditRecordSchema>;

export const PolicyValueSchema = z.strictObject({
  path: z.string(),
  value: z.unknown(),
  /** `default`, `user`, `recommended` or `managed`. */
  source: z.string(),
  file: z.nullable(z.string()),
  locked: z.boolean(),
});

export const KeyStatusViewSchema = z.strictObject({
  provider: z.string(),
  state: z.enum(['present', 'absent', 'error']),
  lastSetAt: z.nullable(z.string()),
  rotatedAt: z.nullable(z.string()),
  /** For `error`: what went wrong and what to do (never the key). */
  message: z.nullable(z.string()),
});
export type KeyStatusView = z.infer<typeof KeyStatusViewSchema>;

const Empty = z.strictObject({});

/**
 * Every method: request and response schemas. Adding a method here is the only
 * way to make something callable from the UI.
 */
export const API_METHODS = {
  /** Version, this machine's role and what it may do. */
  'app.info': {
    request: Empty,
    response: z.strictObject({ version: z.string(), role: z.string(), features: FeaturesSchema, platform: z.string() }),
  },
  'doctor.run': {
    request: Empty,
    response: z.strictObject({ ok: z.boolean(), checks: z.array(DoctorCheckSchema) }),
  },
  'profiles.list': {
    request: Empty,
    response: z.array(z.strictObject({ name: z.string(), description: z.string(), runtime: z.string(), agent: z.string(), allowed: z.boolean() })),
  },
  'sessions.list': {
    request: Empty,
    response: z.array(SessionSummarySchema),
  },
  /**
   * Starts the profile's agent, hosted by this Cordon process: with a terminal
   * (`mode: "terminal"`, the default) or as a conversation (`"chat"`).
   */
  'sessions.launch': {
    request: z.strictObject({
      workspaces: z.array(WorkspaceSchema).check(z.minLength(1, 'choose at least one workspace folder'), z.maxLength(16)),
      profile: z.optional(z.string().check(z.regex(/^[a-z0-9][a-z0-9._-]{0,63}$/))),
      mode: z.optional(z.enum(['terminal', 'chat'])),
    }),
    response: z.strictObject({ sessionId: z.string() }),
  },
  'sessions.stop': {
    request: z.strictObject({ sessionId: SessionId }),
    response: z.strictObject({ stopped: z.array(z.string()) }),
  },
  /** Quarantines a running session (issue 20): key revoked, egress closed, paused, evidence bundle written, stopped and kept. */
  'sessions.quarantine': {
    request: z.strictObject({ sessionId: SessionId, reason: z.optional(z.string().check(z.maxLength(500))) }),
    response: z.strictObject({ bundle: z.string(), signed: z.boolean() }),
  },
  /** Starts delivering the session's terminal output as `terminal.output` events; the answer holds what was already written. */
  'terminal.attach': {
    request: z.strictObject({ sessionId: SessionId }),
    response: z.strictObject({ backlog: z.string() }),
  },
  'terminal.input': {
    request: z.strictObject({ sessionId: SessionId, data: z.string().check(z.maxLength(65536)) }),
    response: Empty,
  },
  'terminal.resize': {
    request: z.strictObject({ sessionId: SessionId, cols: z.int().check(z.minimum(2), z.maximum(1000)), rows: z.int().check(z.minimum(2), z.maximum(1000)) }),
    response: Empty,
  },
  /** A chat session's conversation so far and its state; `chat.item` and `chat.state` events follow. */
  'chat.history': {
    request: z.strictObject({ sessionId: SessionId }),
    response: z.strictObject({ items: z.array(ChatItemSchema), state: ChatStateSchema }),
  },
  /** One user turn. Refused (`failed`) while the agent works on the previous one: interrupt it first. */
  'chat.send': {
    request: z.strictObject({ sessionId: SessionId, text: z.string().check(z.minLength(1, 'type a message'), z.maxLength(100_000)) }),
    response: Empty,
  },
  /** Stops the turn in progress (the running tool call with it); the session stays open for the next turn. */
  'chat.interrupt': {
    request: z.strictObject({ sessionId: SessionId }),
    response: Empty,
  },
  /** What the agent created, changed and deleted in the session's workspaces; `overflow` counts entries past the list's bound. */
  'files.changes': {
    request: z.strictObject({ sessionId: SessionId }),
    response: z.strictObject({ changes: z.array(FileChangeSchema), overflow: z.int() }),
  },
  'files.diff': {
    request: z.strictObject({ sessionId: SessionId, workspace: z.string().check(z.maxLength(4096)), path: z.string().check(z.minLength(1), z.maxLength(4096)) }),
    response: FileDiffSchema,
  },
  'files.preview': {
    request: z.strictObject({ sessionId: SessionId, workspace: z.string().check(z.maxLength(4096)), path: z.string().check(z.minLength(1), z.maxLength(4096)) }),
    response: FilePreviewSchema,
  },
  /** Shows the file in the desktop's file manager (a changed file of the session only). */
  'files.reveal': {
    request: z.strictObject({ sessionId: SessionId, workspace: z.string().check(z.maxLength(4096)), path: z.string().check(z.minLength(1), z.maxLength(4096)) }),
    response: Empty,
  },
  /**
   * One file dropped on a running session's screen, into its cordon-inbox
   * through the gate (as `cordon drop`). Bytes from any UI (bounded, see
   * transfer-contract.ts); a host path only from the app. Answers when the
   * gate has decided, which for `ask` is after the user's answer.
   */
  'files.drop': {
    request: DropRequestSchema,
    response: DropOutcomeSchema,
  },
  /** A changed file out through the gate (as `cordon take`): its gated bytes for a download, or a desktop drag in the app. */
  'files.take': {
    request: TakeRequestSchema,
    response: TakeOutcomeSchema,
  },
  /**
   * Opens a web or mail link in the user's browser, after the user confirmed
   * it in the UI. Only http:, https: and mailto: are accepted.
   */
  'links.open': {
    request: z.strictObject({ url: z.string().check(z.maxLength(8192)) }),
    response: Empty,
  },
  /** The last LIMIT audit records (optionally of one session) before live delivery of `audit` events. */
  'audit.recent': {
    request: z.strictObject({ limit: z.int().check(z.minimum(1), z.maximum(20000)), sessionId: z.optional(SessionId) }),
    response: z.array(AuditRecordSchema),
  },
  'audit.verify': {
    request: Empty,
    response: z.strictObject({ ok: z.boolean(), records: z.int(), message: z.string() }),
  },
  'policy.effective': {
    request: Empty,
    response: z.strictObject({
      ok: z.boolean(),
      /** Why the policy is invalid (then no session may start). */
      issues: z.array(z.string()),
      values: z.array(PolicyValueSchema),
      sources: z.array(z.strictObject({ kind: z.string(), file: z.string() })),
      managed: z.boolean(),
    }),
  },
  'recent.workspaces': {
    request: Empty,
    response: z.array(WorkspaceSchema),
  },
  'keys.status': {
    request: Empty,
    response: z.array(KeyStatusViewSchema),
  },
  /** The key goes straight to the OS keychain; the answer never holds it. */
  'keys.set': {
    request: z.strictObject({ provider: ProviderName, secret: z.string().check(z.minLength(1, 'type the API key'), z.maxLength(8192)) }),
    response: KeyStatusViewSchema,
  },
  'keys.rotate': {
    request: z.strictObject({ provider: ProviderName, secret: z.string().check(z.minLength(1, 'type the new API key'), z.maxLength(8192)) }),
    response: KeyStatusViewSchema,
  },
  'keys.remove': {
    request: z.strictObject({ provider: ProviderName }),
    response: KeyStatusViewSchema,
  },
  /** The user's approval queue: pending requests, oldest first, then those settled in the last hour (bounded). */
  'approvals.list': {
    request: Empty,
    response: ApprovalListSchema,
  },
  /**
   * Answers one request as the user. Refused (`failed`, with the reason) when
   * it is already settled, write was not asked for, or "always" is not
   * available (managed policy locks `egress.allow`, the role may not change
   * settings); the request then stays pending.
   */
  'approvals.answer': {
    request: ApprovalAnswerRequestSchema,
    response: ApprovalViewSchema,
  },
} as const;

export type ApiMethod = keyof typeof API_METHODS;
export type ApiRequest<M extends ApiMethod> = z.infer<(typeof API_METHODS)[M]['request']>;
export type ApiResponse<M extends ApiMethod> = z.infer<(typeof API_METHODS)[M]['response']>;

export function isApiMethod(name: string): name is ApiMethod {
  return Object.prototype.hasOwnProperty.call(API_METHODS, name);
}

/** Events pushed from core to every subscriber. */
export const ApiEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('audit'), record: AuditRecordSchema }),
  z.strictObject({ type: z.literal('terminal.output'), sessionId: z.string(), data: z.string() }),
  z.strictObject({ type: z.literal('terminal.exit'), sessionId: z.string(), exitCode: z.int() }),
  /** The session list changed (a session started or ended anywhere on this machine). */
  z.strictObject({ type: z.literal('sessions.changed') }),
  /** A conversation entry, new or (same id) updated. */
  z.strictObject({ type: z.literal('chat.item'), sessionId: z.string(), item: ChatItemSchema }),
  z.strictObject({ type: z.literal('chat.state'), sessionId: z.string(), state: ChatStateSchema }),
  /** The session's list of changed files changed: ask `files.changes` again. */
  z.strictObject({ type: z.literal('files.changed'), sessionId: z.string() }),
  /** The approval queue changed (a request filed, answered, expired, or refused by the rate limit): ask `approvals.list` again. */
  z.strictObject({ type: z.literal('approvals.changed'), change: z.enum(['request', 'answer', 'rate_limited']), id: z.nullable(z.string()), sessionId: z.nullable(z.string()) }),
  /** Something the user should know that is not an audit record (e.g. a launch that failed to start). */
  z.strictObject({ type: z.literal('notice'), level: z.enum(['info', 'warn', 'error']), message: z.string() }),
]);
export type ApiEvent = z.infer<typeof ApiEventSchema>;

/**
 * Why a call failed, as a value: `invalid_request` names the field,
 * `forbidden` a feature this role lacks, `failed` carries core's message.
 */
export const ApiErrorSchema = z.strictObject({
  code: z.enum(['invalid_request', 'unknown_method', 'forbidden', 'not_found', 'failed', 'unavailable']),
  message: z.string(),
  /** Dotted path of the offending field, for invalid_request. */
  field: z.optional(z.string()),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;

export type ApiResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ApiError };

/**
 * What the renderer holds. Expected failures are values (`ok: false`), never
 * exceptions; only a broken transport rejects.
 */
export interface CordonApi {
  call<M extends ApiMethod>(method: M, request: ApiRequest<M>): Promise<ApiResult<ApiResponse<M>>>;
  /** Delivers every event until the returned function is called. */
  onEvent(listener: (event: ApiEvent) => void): () => void;
  /**
   * The app only (the preload's `webUtils.getPathForFile`): the host path of
   * a file the user dropped, or '' when it has none. Absent in the browser
   * UI, where a drop carries the file's bytes and no path (threat G22).
   */
  readonly pathForFile?: (file: unknown) => string;
}
