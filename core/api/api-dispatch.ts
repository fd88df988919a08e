/**
 * The one place a UI call enters core: both the Electron main process (IPC)
 * and the `cordon ui` bridge (WebSocket) pass every raw payload here. The
 * method must be in the contract, the request must parse against its schema
 * (unknown keys refused), and the handler's answer must parse against the
 * response schema before it leaves, so a handler bug cannot leak a field the
 * contract does not list (a key, say).
 */
import { config, locales } from 'zod/mini';
import { API_METHODS, isApiMethod, type ApiError, type ApiMethod, type ApiRequest, type ApiResponse, type ApiResult } from './cordon-api.js';

// The contract is written with zod/mini, which carries no messages of its own:
// the side that answers requests loads zod's English ones, so a refusal says
// what was wrong ("Unrecognized key: \"shell\"") instead of "Invalid input".
config(locales.en());

/** A handler's expected failure; anything else it throws becomes `failed` with its message. */
export class ApiFailure extends Error {
  constructor(
    readonly code: ApiError['code'],
    message: string,
  ) {
    super(message);
  }
}

/** One handler per method; a handler may answer at once or later. */
export type ApiHandlers = { readonly [M in ApiMethod]: (request: ApiRequest<M>) => ApiResponse<M> | Promise<ApiResponse<M>> };

export type ApiDispatcher = (method: string, params: unknown) => Promise<ApiResult<unknown>>;

export function createApiDispatcher(handlers: ApiHandlers): ApiDispatcher {
  return async (method, params) => {
    if (!isApiMethod(method)) return { ok: false, error: { code: 'unknown_method', message: `no method "${String(method).slice(0, 64)}"` } };
    const parsed = API_METHODS[method].request.safeParse(params ?? {});
    if (!parsed.success) return { ok: false, error: invalid(parsed.error) };
    let value: unknown;
    try {
      value = await (handlers[method] as (r: unknown) => unknown)(parsed.data);
    } catch (err) {
      if (err instanceof ApiFailure) return { ok: false, error: { code: err.code, message: err.message } };
      return { ok: false, error: { code: 'failed', message: (err as Error).message || 'the call failed' } };
    }
    const checked = API_METHODS[method].response.safeParse(value);
    if (!checked.success) return { ok: false, error: { code: 'failed', message: `core answered ${method} outside the contract (${firstIssue(checked.error)})` } };
    return { ok: true, value: checked.data };
  };
}

/** What a failed parse reports, from zod and zod/mini alike. */
export interface SchemaIssues {
  readonly issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[];
}

/** The first problem, naming its field: what a person needs to fix the request. */
export function invalid(error: SchemaIssues): ApiError {
  const issue = error.issues[0];
  const field = issue ? issue.path.map(String).join('.') : '';
  return { code: 'invalid_request', message: `${field || 'request'}: ${issue?.message ?? 'invalid'}`, ...(field ? { field } : {}) };
}

function firstIssue(error: SchemaIssues): string {
  const i = error.issues[0];
  return i ? `${i.path.map(String).join('.') || 'value'}: ${i.message}` : 'invalid';
}

/** Where pushed events come from: the session service, for the IPC and the bridge alike. */
export interface ApiEventSource {
  /** Delivers every event until the returned function is called. */
  subscribe(listener: (event: import('./cordon-api.js').ApiEvent) => void): () => void;
}

/**
 * An event source for a service that is still loading: a listener is attached
 * once LOAD (called on each subscription; the caller makes it load only once)
 * resolves, and never if it unsubscribed first or LOAD failed. Nothing is lost
 * in between: the service emits nothing before it exists.
 */
export function eventsOnceLoaded(load: () => Promise<ApiEventSource>): ApiEventSource {
  return {
    subscribe(listener) {
      let off: (() => void) | null = null;
      let gone = false;
      load().then(
        (source) => {
          if (!gone) off = source.subscribe(listener);
        },
        () => undefined,
      );
      return () => {
        gone = true;
        off?.();
      };
    },
  };
}
