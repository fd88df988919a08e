/**
 * The conversation half of the UI contract (issue 16): what a chat session
 * shows — turns, the agent's tool activity, its token use — and the files it
 * changed in the workspace. Kept beside cordon-api.ts, which lists the methods
 * and events that carry these shapes.
 *
 * Everything here describes content that came out of the sandbox: core has
 * validated and bounded it before it is put in these shapes, and the renderer
 * still treats every string as untrusted text (no HTML, no remote loads).
 *
 * Imported by the sandboxed renderer: no Node built-ins here.
 */
import * as z from 'zod/mini';

/** Tokens and cost of a chat session so far, as the agent reports them (null cost: the agent does not say). */
export const ChatUsageSchema = z.strictObject({
  inputTokens: z.int().check(z.nonnegative()),
  outputTokens: z.int().check(z.nonnegative()),
  costUsd: z.nullable(z.number().check(z.nonnegative())),
});
export type ChatUsage = z.infer<typeof ChatUsageSchema>;

export const DiffHunkSchema = z.strictObject({
  oldStart: z.int(),
  oldLines: z.int(),
  newStart: z.int(),
  newLines: z.int(),
  lines: z.array(z.strictObject({ op: z.enum([' ', '+', '-']), text: z.string() })),
});
export type DiffHunkView = z.infer<typeof DiffHunkSchema>;

/** One tool call by the agent and, once it is done, its result. */
export const ToolActivitySchema = z.strictObject({
  name: z.string(),
  /** What the card shows first: the command for a shell tool, the path for a file tool, else the input in short. */
  summary: z.string(),
  /** The tool's input as JSON, cut to a bound. */
  input: z.string(),
  /** Null while the tool runs. */
  output: z.nullable(z.string()),
  isError: z.boolean(),
  /** For an edit or a write: the file and the change as diff hunks (core diffs; the renderer only draws). */
  edit: z.nullable(z.strictObject({ path: z.string(), hunks: z.array(DiffHunkSchema), added: z.int(), removed: z.int(), truncated: z.boolean() })),
});
export type ToolActivity = z.infer<typeof ToolActivitySchema>;

const ItemBase = { id: z.string(), at: z.number() };

/** One entry of the conversation. A tool item is sent again, same id, when its result arrives. */
export const ChatItemSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('user'), ...ItemBase, text: z.string() }),
  z.strictObject({ kind: z.literal('assistant'), ...ItemBase, text: z.string() }),
  z.strictObject({ kind: z.literal('tool'), ...ItemBase, tool: ToolActivitySchema }),
  z.strictObject({ kind: z.literal('notice'), ...ItemBase, level: z.enum(['info', 'warn', 'error']), text: z.string() }),
]);
export type ChatItem = z.infer<typeof ChatItemSchema>;

/**
 * Where a chat session is: `starting` (the sandbox is coming up), `ready` for
 * a turn, `working` on one, `ended`. `rejectedEvents` counts what the agent
 * sent that did not fit its protocol (malformed or oversized) and was dropped.
 */
export const ChatStateSchema = z.strictObject({
  state: z.enum(['starting', 'ready', 'working', 'ended']),
  agent: z.string(),
  usage: ChatUsageSchema,
  rejectedEvents: z.int().check(z.nonnegative()),
});
export type ChatState = z.infer<typeof ChatStateSchema>;

/** A file the agent created, changed or deleted in a workspace during the session. */
export const FileChangeSchema = z.strictObject({
  /** The workspace folder on the host, as the session lists it. */
  workspace: z.string(),
  /** Relative to the workspace, '/'-separated. */
  path: z.string(),
  change: z.enum(['created', 'modified', 'deleted']),
  /** text, markdown, image, pdf, binary or unknown. */
  kind: z.string(),
  size: z.nullable(z.number()),
  at: z.number(),
});
export type FileChangeView = z.infer<typeof FileChangeSchema>;

const Refused = z.strictObject({ kind: z.literal('refused'), reason: z.string(), message: z.string() });


export const FileDiffSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('diff'), hunks: z.array(DiffHunkSchema), added: z.int(), removed: z.int(), truncated: z.boolean() }),
  z.strictObject({ kind: z.literal('no_baseline'), reason: z.string() }),
  z.strictObject({ kind: z.literal('binary') }),
  Refused,
]);
export type FileDiffView = z.infer<typeof FileDiffSchema>;

export const FilePreviewSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('text'), text: z.string(), truncated: z.boolean(), size: z.number() }),
  z.strictObject({ kind: z.literal('markdown'), text: z.string(), truncated: z.boolean(), size: z.number() }),
  /** A data: URL: the page's CSP allows images from data: and from nowhere remote. */
  z.strictObject({ kind: z.literal('image'), mime: z.string(), dataUrl: z.string(), size: z.number() }),
  z.strictObject({ kind: z.literal('pdf'), pages: z.int(), title: z.nullable(z.string()), text: z.string(), truncated: z.boolean(), size: z.number() }),
  z.strictObject({ kind: z.literal('binary'), size: z.number() }),
  Refused,
]);
export type FilePreviewView = z.infer<typeof FilePreviewSchema>;
