import { useEffect, useMemo, useRef, useState } from 'react';
import type { FileChangeView } from '../../../core/api/chat-contract.js';
import { useApiEvents, useShell } from '../api-context.js';
import { coalesce } from '../model/coalesce.js';

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
  const [view, setView] = useState<FileChanges>({ changes: null, overflow: 0, error: null });
  const mounted = useRef(true);

  const refetch = useMemo(
    () =>
      coalesce(async () => {
        const r = await api.call('files.changes', { sessionId });
        if (!mounted.current) return;
        if (r.ok) setView({ changes: r.value.changes, overflow: r.value.overflow, error: null });
        else setView((prev) => ({ ...prev, error: r.error.message }));
      }),
    [api, sessionId],
  );

  useEffect(() => {
    mounted.current = true;
    refetch();
    return () => {
      mounted.current = false;
    };
  }, [refetch]);

  useApiEvents((e) => {
    if (e.type === 'files.changed' && e.sessionId === sessionId) refetch();
  });

  return view;
}
