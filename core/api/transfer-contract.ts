/**
 * The drag-and-drop half of the UI contract (issue 18, item 4): a file
 * dropped on a session's screen goes in through the gate (`files.drop`), a
 * changed file goes out through it (`files.take`). Kept beside
 * cordon-api.ts, which lists the methods that carry these shapes.
 *
 * Bounds (docs/threat-model-gate.md G18-G22): one file per call; content
 * sent as base64 is at most DROP_CONTENT_MAX_BYTES, so the call fits the
 * bridge's 1 MiB frame with room for its envelope. Larger files are refused,
 * not chunked: `cordon drop`, or the app (which sends a path), takes them up
 * to `gates.dragDrop.maxBytes`.
 *
 * Imported by the sandboxed renderer: no Node built-ins here.
 */
import * as z from 'zod/mini';

/** Largest file (decoded bytes) a `files.drop` or a `files.take` download carries. 720 KiB: 960 KiB as base64. */
export const DROP_CONTENT_MAX_BYTES = 720 * 1024;
/** Files per drop the UI sends (one call each, one after another). */
export const DROP_MAX_FILES = 32;

const BASE64_MAX_CHARS = Math.ceil(DROP_CONTENT_MAX_BYTES / 3) * 4;

// C0 and C1 controls, DEL, and the bidirectional overrides and isolates that
// make `invoice\u202Etxt.exe` read as `invoiceexe.txt`.
// eslint-disable-next-line no-control-regex -- matching control characters is the point: they are refused
const FORBIDDEN_NAME_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069/\\]/u;

/**
 * Why NAME cannot be the name of a file dropped into a session, or null
 * when it can: 1-255 UTF-8 bytes, no path separator, control character or
 * bidirectional override, not `.` or `..`. The one rule for the renderer,
 * the contract and core (docs/threat-model-gate.md G18).
 */
export function dropNameProblem(name: string): string | null {
  if (name === '') return 'a file name cannot be empty';
  if (name === '.' || name === '..') return `"${name}" is not a file name`;
  if (new TextEncoder().encode(name).length > 255) return 'the file name is longer than 255 bytes';
  if (FORBIDDEN_NAME_CHARS.test(name)) return 'the file name holds a path separator, a control character or a text-direction override';
  return null;
}

/** A dropped file's name, checked by `dropNameProblem`. */
export const DropNameSchema = z.string().check(
  z.maxLength(255),
  z.refine((n) => dropNameProblem(n) === null, { message: 'not an acceptable file name (no "/", "\\", control or text-direction characters; not "." or ".."; at most 255 bytes)' }),
);

/** What the renderer sends for one dropped file: its bytes (any UI), or its host path (the app only). */
export const DropFileSchema = z.union([
  z.strictObject({
    name: DropNameSchema,
    /** The file's bytes, base64. */
    content: z.string().check(z.maxLength(BASE64_MAX_CHARS, `a file sent from the browser is at most ${DROP_CONTENT_MAX_BYTES} bytes`), z.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'content is base64')),
  }),
  z.strictObject({
    /** An absolute host path; accepted only by the app, where the preload read it from the drop. */
    path: z.string().check(z.minLength(2), z.maxLength(4096), z.startsWith('/', 'a dropped path is absolute')),
  }),
]);

/** The session id as the screen holds it: exactly, never a prefix (G20). */
const ExactSessionId = z.string().check(z.regex(/^[0-9a-f]{12,32}$/, 'a dropped file goes to one session, named by its full id'));

export const DropRequestSchema = z.strictObject({ sessionId: ExactSessionId, file: DropFileSchema });

const FindingSchema = z.strictObject({ detector: z.string(), count: z.int().check(z.nonnegative()) });

/**
 * What happened to one dropped file. `arrived` / `redacted`: written at
 * `sandboxPath` (inside the session); `refused`: `reason` is the gate's
 * stable code, `message` says why. Never any of the file's content.
 */
export const DropOutcomeSchema = z.strictObject({
  sessionId: z.string(),
  name: z.string(),
  outcome: z.enum(['arrived', 'redacted', 'refused']),
  reason: z.string(),
  message: z.string(),
  sandboxPath: z.nullable(z.string()),
  findings: z.array(FindingSchema),
});
export type DropOutcomeView = z.infer<typeof DropOutcomeSchema>;

/**
 * A changed file out of the session: `download` answers with the bytes the
 * gate passed (the browser UI); `drag` has the app start a desktop drag of
 * a copy the gate wrote (Electron only).
 */
export const TakeRequestSchema = z.strictObject({
  sessionId: ExactSessionId,
  workspace: z.string().check(z.maxLength(4096)),
  path: z.string().check(z.minLength(1), z.maxLength(4096)),
  as: z.enum(['download', 'drag']),
});

export const TakeOutcomeSchema = z.discriminatedUnion('outcome', [
  z.strictObject({ outcome: z.literal('download'), name: z.string(), content: z.string(), redacted: z.boolean(), message: z.string() }),
  z.strictObject({ outcome: z.literal('dragging'), name: z.string(), redacted: z.boolean(), message: z.string() }),
  z.strictObject({ outcome: z.literal('refused'), reason: z.string(), message: z.string() }),
]);
export type TakeOutcomeView = z.infer<typeof TakeOutcomeSchema>;
