import { useCallback } from 'react';
import type { FileChangeView } from '../../../core/api/chat-contract.js';
import { useShell } from '../api-context.js';
import { useRefetched } from './use-refetched.js';

export interface FileChanges {
  /** Null until the first answer. */
  readonly changes: readonly FileChangeView[] | null;
  /** Entries past the list's bound. */
  readonly overflow: number;
  readonly error: string | null;
}

/**
 * The files the session's agent created, changed or deleted: `files.changes`
 * now and again on every `files.changed` event for the session. An agent
 * writing hundreds of files sends a burst of events: refetches are coalesced
 * to one in flight and one queued.
 */
export function useFileChanges(sessionId: string): FileChanges {
  const { api } = useShell();
  const load = useCallback(() => api.call('files.changes', { sessionId }), [api, sessionId]);
  const r = useRefetched(load, (e) => e.type === 'files.changed' && e.sessionId === sessionId);
  return { changes: r.value?.changes ?? null, overflow: r.value?.overflow ?? 0, error: r.error };
}
