/**
 * The Electron IPC channel between main and the preload, and the only module
 * that touches `ipcMain` / `ipcRenderer` (lint-enforced, eslint.config.js).
 *
 *   cordon:call   renderer → main, invoke: (method, params) → ApiResult
 *   cordon:event  main → renderer: one ApiEvent per message
 *
 * Main registers its handler only through `handleCalls`, which checks the
 * sender and the payload shape (ipc-checks.ts) before core's dispatcher
 * validates the params against the zod contract. The preload uses
 * `invokeCall` and `onMainEvent`, which check what comes back.
 *
 * electron is imported as a namespace and its IPC objects are looked up when
 * a helper runs: in the main process there is no ipcRenderer and in the
 * preload no ipcMain, and a named import of the missing one would fail to link.
 */
import * as electron from 'electron';
import type { WebContents } from 'electron';
import type { ApiDispatcher } from '../core/api/api-dispatch.js';
import type { ApiEvent, ApiMethod, ApiRequest, ApiResponse, ApiResult } from '../core/api/cordon-api.js';
import { checkSender, parseCallArgs, parseCallResult, parseEvent } from './ipc-checks.js';

export const CALL_CHANNEL = 'cordon:call';
export const EVENT_CHANNEL = 'cordon:event';

export interface CallHandlerOptions {
  readonly dispatch: ApiDispatcher;
  /** The webContents ids of the windows main opened, read on every call. */
  readonly windowContentsIds: () => ReadonlySet<number>;
  /** Told about every refused sender (main logs it; never the params). */
  readonly onRefused: (message: string) => void;
}

/** Main: answers `cordon:call`. Returns the function that unregisters it. */
export function handleCalls(options: CallHandlerOptions): () => void {
  electron.ipcMain.handle(CALL_CHANNEL, async (event, ...args: unknown[]): Promise<ApiResult<unknown>> => {
    const sender = checkSender(event, options.windowContentsIds());
    if (!sender.ok) {
      options.onRefused(`refused a call: ${sender.message}`);
      return { ok: false, error: { code: 'forbidden', message: sender.message } };
    }
    const call = parseCallArgs(args);
    if (!call.ok) return { ok: false, error: call.error };
    return options.dispatch(call.method, call.params);
  });
  return () => electron.ipcMain.removeHandler(CALL_CHANNEL);
}

/** Main: delivers one event to one window (skipped once the window is gone). */
export function sendEvent(contents: WebContents, event: ApiEvent): void {
  if (!contents.isDestroyed()) contents.send(EVENT_CHANNEL, event);
}

/** Preload: one call to main, its answer checked against the contract. */
export async function invokeCall<M extends ApiMethod>(method: M, request: ApiRequest<M>): Promise<ApiResult<ApiResponse<M>>> {
  const raw: unknown = await electron.ipcRenderer.invoke(CALL_CHANNEL, method, request);
  return parseCallResult(method, raw);
}

/** Preload: LISTENER gets every event from main that fits the contract, until the returned function is called. */
export function onMainEvent(listener: (event: ApiEvent) => void): () => void {
  const handler = (_e: unknown, raw: unknown): void => {
    const event = parseEvent(raw);
    if (event !== null) listener(event);
  };
  electron.ipcRenderer.on(EVENT_CHANNEL, handler);
  return () => {
    electron.ipcRenderer.removeListener(EVENT_CHANNEL, handler);
  };
}
