/**
 * The checks on both ends of the IPC channel, as pure functions (the
 * channel itself is in ipc-contract.ts).
 *
 * Main side: who may call (`checkSender`) and whether the call has the
 * shape `(method: string, params)` (`parseCallArgs`). What the params mean is
 * checked after that by core's dispatcher against the zod contract.
 *
 * Preload side: what comes back from main is checked too (HOUSE-STYLE,
 * after Signal): an answer must be an ApiResult whose value fits the
 * method's response schema, an event must fit ApiEventSchema. A main process
 * bug then shows up as a refused value, never as an unexpected field in the
 * page.
 *
 * Imports electron for nothing; zod and the contract only, so the preload
 * bundle and plain-Node unit tests can both load it.
 */
import { z } from 'zod';
import { API_METHODS, ApiErrorSchema, ApiEventSchema, isApiMethod, type ApiError, type ApiEvent, type ApiMethod, type ApiResponse, type ApiResult } from '../core/api/cordon-api.js';
import { isAppUrl } from './app-origin.js';

/** The parts of an IpcMainInvokeEvent the sender check reads. */
export interface SenderFacts {
  /** Null when the frame navigated away or was destroyed since it sent. */
  readonly senderFrame: { readonly url: string; readonly parent: unknown } | null;
  readonly sender: { readonly id: number };
}

export type SenderDecision =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'frame_gone' | 'sub_frame' | 'unknown_window' | 'foreign_origin'; readonly message: string };

/**
 * A call is accepted only from the main frame of one of the app's own
 * windows (WINDOW_CONTENTS_IDS: the webContents ids main created) while that
 * frame shows an app:// page. An iframe (even one the CSP somehow let in), a
 * window main did not create, or a frame that navigated to another origin is
 * refused. Checked on every call: a frame can navigate between calls.
 */
export function checkSender(event: SenderFacts, windowContentsIds: ReadonlySet<number>): SenderDecision {
  const frame = event.senderFrame;
  if (frame === null) return { ok: false, reason: 'frame_gone', message: 'the calling frame is gone' };
  if (!windowContentsIds.has(event.sender.id)) return { ok: false, reason: 'unknown_window', message: 'the call came from a window Cordon did not open' };
  // A frame without a parent is its window's main frame.
  if (frame.parent !== null) {
    return { ok: false, reason: 'sub_frame', message: 'only the window itself may call Cordon, not a frame inside it' };
  }
  if (!isAppUrl(frame.url)) return { ok: false, reason: 'foreign_origin', message: 'the calling page is not part of Cordon' };
  return { ok: true };
}

/** Method names are short dotted words; anything else is refused before it is echoed into a message. */
const MAX_METHOD_LENGTH = 64;

export type CallArgs = { readonly ok: true; readonly method: string; readonly params: unknown } | { readonly ok: false; readonly error: ApiError };

/** The invoke payload after the channel: exactly `(method, params)`, method a short string. */
export function parseCallArgs(args: readonly unknown[]): CallArgs {
  if (args.length !== 2) return { ok: false, error: { code: 'invalid_request', message: `a call is (method, params); got ${args.length} argument(s)` } };
  const [method, params] = args;
  if (typeof method !== 'string' || method.length === 0 || method.length > MAX_METHOD_LENGTH) {
    return { ok: false, error: { code: 'invalid_request', message: 'the method name must be a string of 1 to 64 characters' } };
  }
  return { ok: true, method, params };
}

const ResultEnvelope = z.discriminatedUnion('ok', [z.strictObject({ ok: z.literal(true), value: z.unknown() }), z.strictObject({ ok: z.literal(false), error: ApiErrorSchema })]);

/**
 * Main's answer to METHOD, checked in the preload. An answer outside the
 * contract becomes a `failed` result, so the page always gets an ApiResult.
 */
export function parseCallResult<M extends ApiMethod>(method: M, raw: unknown): ApiResult<ApiResponse<M>> {
  const envelope = ResultEnvelope.safeParse(raw);
  if (!envelope.success) return { ok: false, error: { code: 'failed', message: `the app answered ${method} outside the contract` } };
  if (!envelope.data.ok) return { ok: false, error: envelope.data.error };
  if (!isApiMethod(method)) return { ok: false, error: { code: 'unknown_method', message: 'unknown method' } };
  const value = API_METHODS[method].response.safeParse(envelope.data.value);
  if (!value.success) return { ok: false, error: { code: 'failed', message: `the app answered ${method} outside the contract` } };
  return { ok: true, value: value.data as ApiResponse<M> };
}

/** An event from main, checked in the preload; null drops it. */
export function parseEvent(raw: unknown): ApiEvent | null {
  const parsed = ApiEventSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}
