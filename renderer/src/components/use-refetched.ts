import { useEffect, useMemo, useRef, useState } from 'react';
import type { ApiEvent, ApiResult } from '../../../core/api/cordon-api.js';
import { useApiEvents } from '../api-context.js';
import { coalesce } from '../model/coalesce.js';

export interface Refetched<T> {
  /** Null until the first answer. */
  readonly value: T | null;
  /** The last call's failure (the last good value is kept). */
  readonly error: string | null;
  /** Calls LOAD again now (e.g. after an action, without waiting for the event). */
  readonly refetch: () => void;
}

/**
 * A value core computes, asked for now and again on every event CHANGED
 * accepts ("something changed: ask again"). Bursts of events are coalesced
 * to one call in flight and one queued. LOAD must be stable (useCallback):
 * a new LOAD starts over.
 */
export function useRefetched<T>(load: () => Promise<ApiResult<T>>, changed: (e: ApiEvent) => boolean): Refetched<T> {
  const [view, setView] = useState<{ value: T | null; error: string | null }>({ value: null, error: null });
  const mounted = useRef(true);
  const refetch = useMemo(
    () =>
      coalesce(async () => {
        const r = await load();
        if (!mounted.current) return;
        if (r.ok) setView({ value: r.value, error: null });
        else setView((prev) => ({ ...prev, error: r.error.message }));
      }),
    [load],
  );
  useEffect(() => {
    mounted.current = true;
    refetch();
    return () => {
      mounted.current = false;
    };
  }, [refetch]);
  useApiEvents((e) => {
    if (changed(e)) refetch();
  });
  return useMemo(() => ({ ...view, refetch }), [view, refetch]);
}
