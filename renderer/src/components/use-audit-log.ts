import { useEffect, useState } from 'react';
import type { AuditRecordView } from '../../../core/api/cordon-api.js';
import { useShell } from '../api-context.js';
import { CappedLog } from '../model/timeline.js';

/**
 * The newest audit records (of one session, or all when SESSIONID is null):
 * `audit.recent` first, then live `audit` events. Subscribes before fetching so
 * nothing falls between the two (the log drops the overlap by seq). Updates are
 * batched to one render per animation frame, so a burst of thousands of events
 * costs a few renders. `version` changes whenever `records` does.
 */
export function useAuditLog(sessionId: string | null, initialLimit: number, cap: number): { records: readonly AuditRecordView[]; version: number; error: string | null } {
  const { api } = useShell();
  const [state, setState] = useState<{ log: CappedLog; version: number }>(() => ({ log: new CappedLog(cap), version: 0 }));
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const log = new CappedLog(cap);
    let frame: number | null = null;
    let live = true;
    const publish = () => {
      frame = null;
      if (live) setState((s) => ({ log, version: s.version + 1 }));
    };
    const schedule = () => {
      if (frame === null) frame = requestAnimationFrame(publish);
    };
    const unsubscribe = api.onEvent((e) => {
      if (e.type !== 'audit') return;
      if (sessionId !== null && e.record.sessionId !== sessionId) return;
      if (log.add([e.record])) schedule();
    });
    void api.call('audit.recent', { limit: initialLimit, ...(sessionId !== null ? { sessionId } : {}) }).then((r) => {
      if (!live) return;
      if (r.ok) {
        log.add(r.value);
        setError(null);
      } else setError(r.error.message);
      schedule();
    });
    return () => {
      live = false;
      unsubscribe();
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [api, sessionId, initialLimit, cap]);

  return { records: state.log.records, version: state.version, error };
}
