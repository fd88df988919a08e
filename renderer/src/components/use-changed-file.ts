import { useEffect, useState } from 'react';
import type { FileChangeView } from '../../../core/api/chat-contract.js';
import type { ApiRequest, ApiResponse } from '../../../core/api/cordon-api.js';
import { useShell } from '../api-context.js';

/**
 * Core's answer about one changed file (its diff or its preview), fetched
 * again whenever the agent writes the file (`change.at` moves).
 */
export function useChangedFile<M extends 'files.diff' | 'files.preview'>(
  method: M,
  sessionId: string,
  change: FileChangeView,
): { readonly value: ApiResponse<M> | null; readonly error: string | null } {
  const { api } = useShell();
  const [value, setValue] = useState<ApiResponse<M> | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setValue(null);
    // Both methods take the same request: the session and the file.
    const request: ApiRequest<M> = { sessionId, workspace: change.workspace, path: change.path } as ApiRequest<M>;
    void api.call(method, request).then((r) => {
      if (!live) return;
      if (r.ok) {
        setValue(r.value);
        setError(null);
      } else setError(r.error.message);
    });
    return () => {
      live = false;
    };
  }, [api, method, sessionId, change.workspace, change.path, change.at]);
  return { value, error };
}
