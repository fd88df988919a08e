/** The audit chain's status and the newest records, live. */
import { useCallback, useEffect, useId, useState } from 'react';
import type { ApiResponse } from '../../../core/api/cordon-api.js';
import { useShell } from '../api-context.js';
import { ScreenHeading } from '../components/screen-heading.js';
import { Timeline } from '../components/timeline.js';
import { useAuditLog } from '../components/use-audit-log.js';

export function AuditScreen() {
  const { api } = useShell();
  const [verify, setVerify] = useState<ApiResponse<'audit.verify'> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const log = useAuditLog(null, 200, 2000);
  const id = useId();

  const check = useCallback(async () => {
    const r = await api.call('audit.verify', {});
    if (r.ok) {
      setVerify(r.value);
      setError(null);
    } else setError(r.error.message);
  }, [api]);

  useEffect(() => {
    void check();
  }, [check]);

  return (
    <>
      <ScreenHeading>Audit log</ScreenHeading>
      <section aria-labelledby={`${id}-chain`} className="card">
        <div className="card-head">
          <h2 id={`${id}-chain`}>Hash chain</h2>
          <button type="button" className="btn btn-secondary" onClick={() => void check()}>
            Verify again
          </button>
        </div>
        {error !== null && <p role="alert" className="error">{error}</p>}
        {verify !== null && (
          <p className={verify.ok ? 'chain-ok' : 'chain-broken'}>
            <span className={`pill pill-${verify.ok ? 'ok' : 'fail'}`}>{verify.ok ? 'Intact' : 'Broken'}</span> {verify.records} records. {verify.message}
          </p>
        )}
      </section>
      <section aria-labelledby={`${id}-recent`} className="card">
        <h2 id={`${id}-recent`}>Recent records</h2>
        <Timeline records={log.records} version={log.version} label="Recent audit records" showSession />
      </section>
    </>
  );
}
