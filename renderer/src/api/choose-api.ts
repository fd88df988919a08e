/**
 * Picks the transport once, at start: the Electron preload's `window.cordon`
 * when present (IPC), otherwise the `cordon ui` bridge with the token from the
 * URL fragment. No token means no connection at all.
 */
import { API_METHODS, ApiEventSchema, ApiErrorSchema, type ApiEvent, type ApiMethod, type ApiRequest, type ApiResponse, type ApiResult, type CordonApi } from '../../../core/api/cordon-api.js';
import { tokenFromFragment } from '../../../core/api/bridge-protocol.js';
import { BridgeClient, type StatusSource } from './bridge-client.js';

declare global {
  interface Window {
    /** Exposed by the Electron preload (contextBridge); absent in a browser. */
    readonly cordon?: CordonApi;
  }
}

export type ApiChoice =
  | { readonly kind: 'electron'; readonly api: CordonApi }
  | { readonly kind: 'bridge'; readonly api: CordonApi; readonly connection: StatusSource & { retry(): void } }
  | { readonly kind: 'no_token' };

export function chooseApi(win: Window): ApiChoice {
  const preload = win.cordon;
  if (preload !== undefined && typeof preload.call === 'function' && typeof preload.onEvent === 'function') {
    return { kind: 'electron', api: wrapPreload(preload) };
  }
  const token = tokenFromFragment(win.location.hash);
  if (token === null) return { kind: 'no_token' };
  const client = BridgeClient.forPage(win.location, token);
  client.start();
  return { kind: 'bridge', api: client, connection: client };
}

/**
 * The preload validates both directions too; checking again here costs little
 * and means the page holds the same guarantee whichever transport it got. A
 * transport failure there rejects: it becomes the `unavailable` value the bridge gives.
 */
function wrapPreload(preload: CordonApi): CordonApi {
  return {
    async call<M extends ApiMethod>(method: M, request: ApiRequest<M>): Promise<ApiResult<ApiResponse<M>>> {
      let answer: unknown;
      try {
        answer = await preload.call(method, request);
      } catch {
        return { ok: false, error: { code: 'unavailable', message: 'the Cordon app did not answer' } };
      }
      const a = answer as { ok?: unknown; value?: unknown; error?: unknown } | null;
      if (a?.ok === true) {
        const checked = API_METHODS[method].response.safeParse(a.value);
        if (checked.success) return { ok: true, value: checked.data as ApiResponse<M> };
      } else if (a?.ok === false) {
        const error = ApiErrorSchema.safeParse(a.error);
        if (error.success) return { ok: false, error: error.data };
      }
      return { ok: false, error: { code: 'failed', message: `the answer to ${method} is outside the contract` } };
    },
    onEvent(listener: (event: ApiEvent) => void): () => void {
      return preload.onEvent((raw: unknown) => {
        const event = ApiEventSchema.safeParse(raw);
        if (event.success) listener(event.data);
      });
    },
  };
}
