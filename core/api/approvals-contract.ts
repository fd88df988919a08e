/**
 * The approvals half of the UI contract (issue 17, item 5): what the app's
 * prompt shows of a request in the user's approval queue, and the one answer
 * it may give. Kept beside cordon-api.ts, which lists the methods and the
 * event that carry these shapes.
 *
 * `reason` and the `detail` values come from the sandbox side (the agent's
 * words; a path it named): the renderer shows them as plain text only.
 *
 * Imported by the sandboxed renderer: no Node built-ins here.
 */
import * as z from 'zod/mini';

/** A request id as the store writes them (16 hex digits). */
export const ApprovalIdSchema = z.string().check(z.regex(/^[0-9a-f]{16}$/, 'an approval request id is 16 hexadecimal digits'));

export const ApprovalKindSchema = z.enum(['file', 'network', 'clipboard', 'file-transfer']);
export type ApprovalKindView = z.infer<typeof ApprovalKindSchema>;

/** How a request was settled. `until` only for scope 'duration'; scope null for a deny. */
export const ApprovalAnswerViewSchema = z.strictObject({
  decision: z.enum(['allow', 'deny']),
  scope: z.nullable(z.enum(['once', 'duration', 'always'])),
  until: z.nullable(z.string()),
  write: z.boolean(),
  /** `user`, `policy`, `timeout`, `rate_limit` or `session_ended`. */
  by: z.enum(['user', 'policy', 'timeout', 'rate_limit', 'session_ended']),
  at: z.string(),
});
export type ApprovalAnswerView = z.infer<typeof ApprovalAnswerViewSchema>;

/** One request with its state, as `approvals.list` answers it. */
export const ApprovalViewSchema = z.strictObject({
  id: z.string(),
  session: z.string(),
  kind: ApprovalKindSchema,
  /** A host path, or `host:port` as the proxy normalised it. */
  target: z.string(),
  /** The agent's own words (≤ 200 characters), or null. Untrusted. */
  reason: z.nullable(z.string()),
  /** Context Cordon adds: `address` (network); `classification`, `mechanism` (`live`|`copy`), `sandboxPath` (file). */
  detail: z.record(z.string(), z.string()),
  /** The request asked for write access. */
  write: z.boolean(),
  createdAt: z.string(),
  /** When an unanswered request is denied. */
  expiresAt: z.string(),
  status: z.enum(['pending', 'allowed', 'denied', 'expired']),
  answer: z.nullable(ApprovalAnswerViewSchema),
  /** Why "always" cannot be answered now (kind, managed policy lock, role), or null when it can. */
  alwaysUnavailable: z.nullable(z.string()),
});
export type ApprovalView = z.infer<typeof ApprovalViewSchema>;

/** A grant for a while: the next hour, or to the end of the local day. */
export const APPROVAL_DURATIONS = ['1h', 'end-of-day'] as const;

/**
 * An answer. A deny names only the request; an allow says how long: `once`,
 * `always`, or `duration` with exactly one of `for` (core computes the end)
 * or `until` (an ISO time, in the future and at most a week away). `write`
 * only on a request that asked for it. Anything else is refused.
 */
export const ApprovalAnswerRequestSchema = z.discriminatedUnion('decision', [
  z.strictObject({ id: ApprovalIdSchema, decision: z.literal('deny') }),
  z.strictObject({
    id: ApprovalIdSchema,
    decision: z.literal('allow'),
    scope: z.enum(['once', 'duration', 'always']),
    for: z.optional(z.enum(APPROVAL_DURATIONS)),
    until: z.optional(z.iso.datetime({ offset: true })),
    write: z.optional(z.boolean()),
  }),
]);
export type ApprovalAnswerRequest = z.infer<typeof ApprovalAnswerRequestSchema>;

/** Pending requests (oldest first) then those settled in the last hour (newest first); `omitted` counts what the bound left out. */
export const ApprovalListSchema = z.strictObject({
  requests: z.array(ApprovalViewSchema),
  omitted: z.int().check(z.nonnegative()),
});
