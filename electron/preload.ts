/**
 * The preload: the page's only way to core. It exposes one object,
 * `window.cordon`, implementing CordonApi (call + onEvent) and nothing else:
 * no ipcRenderer, no channel names, no Node. Both directions are checked in
 * ipc-contract.ts / ipc-checks.ts.
 *
 * Runs in a sandboxed renderer, which can require only `electron` and a few
 * built-ins: scripts/bundle-electron.mjs bundles it (with zod and the
 * contract) into one CommonJS file, dist/electron/preload.cjs.
 */
import { contextBridge, webUtils } from 'electron';
import type { ApiEvent, ApiMethod, ApiRequest, ApiResponse, ApiResult, CordonApi } from '../core/api/cordon-api.js';
import { invokeCall, onMainEvent } from './ipc-contract.js';

const api: CordonApi = {
  call<M extends ApiMethod>(method: M, request: ApiRequest<M>): Promise<ApiResult<ApiResponse<M>>> {
    return invokeCall(method, request);
  },
  onEvent(listener: (event: ApiEvent) => void): () => void {
    // Only a function is accepted: a page passing anything else gets nothing registered.
    if (typeof listener !== 'function') return () => undefined;
    return onMainEvent(listener);
  },
  pathForFile(file: unknown): string {
    // Electron 32+ removed File.path; only a real File from a drop has one. Anything else the page passes gets ''.
    try {
      return webUtils.getPathForFile(file as Parameters<typeof webUtils.getPathForFile>[0]);
    } catch {
      return '';
    }
  },
};

// contextBridge copies the object: the page gets the two functions, not a reference into this world.
contextBridge.exposeInMainWorld('cordon', api);
