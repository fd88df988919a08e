/**
 * Quarantine, one action away (issue 20): the session's key is revoked and its
 * network cut at once, the sandbox paused, an evidence bundle written, then
 * stopped and kept for investigation. Asks once, with an optional reason;
 * says where the evidence is.
 */
import { useId, useState } from 'react';
import { useShell } from '../api-context.js';

export function QuarantineButton({ sessionId, onQuarantined }: { readonly sessionId: string; readonly onQuarantined?: (bundle: string) => void }) {
  const { api, announce } = useShell();
  const [state, setState] = useState<'idle' | 'confirming' | 'working'>('idle');
  const [reason, setReason] = useState('');
  const [bundle, setBundle] = useState<string | null>(null);
  const id = useId();

  const quarantine = async (): Promise<void> => {
    setState('working');
    const r = await api.call('sessions.quarantine', { sessionId, ...(reason.trim() !== '' ? { reason: reason.trim().slice(0, 500) } : {}) });
    setState('idle');
    if (!r.ok) {
      announce(`Could not quarantine session ${sessionId}: ${r.error.message}`, 'error');
      return;
    }
    setBundle(r.value.bundle);
    announce(`Session ${sessionId} quarantined. Evidence: ${r.value.bundle}${r.value.signed ? '' : ' (not signed)'}`);
    onQuarantined?.(r.value.bundle);
  };

  if (bundle !== null) {
    return (
      <p className="notice notice-error" data-testid="quarantined">
        Quarantined: key revoked, network cut, sandbox stopped and kept. Evidence bundle: <span className="mono">{bundle}</span>
      </p>
    );
  }
  if (state === 'idle') {
    return (
      <button type="button" className="btn btn-secondary" onClick={() => setState('confirming')}>
        Quarantine…
      </button>
    );
  }
  return (
    <span role="group" aria-label={`Confirm quarantining session ${sessionId}`} className="quarantine-confirm">
      <label htmlFor={`${id}-reason`}>Reason (optional)</label>{' '}
      <input id={`${id}-reason`} type="text" maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} disabled={state === 'working'} />{' '}
      <button type="button" className="btn btn-danger" onClick={() => void quarantine()} disabled={state === 'working'}>
        {state === 'working' ? 'Quarantining…' : 'Yes, quarantine now'}
      </button>{' '}
      <button type="button" className="btn btn-secondary" onClick={() => setState('idle')} disabled={state === 'working'}>
        Cancel
      </button>
    </span>
  );
}
