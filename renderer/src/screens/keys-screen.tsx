/** Key status per provider; set or replace through a password field; remove after a confirmation. */
import { useCallback, useEffect, useId, useState } from 'react';
import type { KeyStatusView } from '../../../core/api/cordon-api.js';
import { useShell } from '../api-context.js';
import { ScreenHeading } from '../components/screen-heading.js';
import { KeyForm } from './setup-screen.js';

export function KeysScreen() {
  const { api, announce } = useShell();
  const [keys, setKeys] = useState<readonly KeyStatusView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const id = useId();

  const refresh = useCallback(async () => {
    const r = await api.call('keys.status', {});
    if (r.ok) {
      setKeys(r.value);
      setError(null);
    } else setError(r.error.message);
  }, [api]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const remove = async (provider: string) => {
    setConfirming(null);
    const r = await api.call('keys.remove', { provider });
    if (r.ok) announce(`The ${provider} key was removed.`);
    else announce(`Could not remove the ${provider} key: ${r.error.message}`, 'error');
    void refresh();
  };

  return (
    <>
      <ScreenHeading>API keys</ScreenHeading>
      <p className="muted">Keys live in your system keychain. Sessions get a phantom token; the real key never enters the sandbox and is never shown here.</p>
      {error !== null && <p role="alert" className="error">{error}</p>}
      {keys !== null && (
        <section aria-labelledby={`${id}-status`} className="card">
          <h2 id={`${id}-status`}>Stored keys</h2>
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Provider</th>
                <th scope="col">State</th>
                <th scope="col">Set</th>
                <th scope="col">Rotated</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.provider}>
                  <td>{k.provider}</td>
                  <td>
                    <span className={`pill pill-${k.state === 'present' ? 'ok' : k.state === 'error' ? 'fail' : 'neutral'}`}>{k.state}</span>
                    {k.message !== null && <span className="muted"> {k.message}</span>}
                  </td>
                  <td>{k.lastSetAt ?? '—'}</td>
                  <td>{k.rotatedAt ?? '—'}</td>
                  <td className="actions">
                    {k.state === 'present' &&
                      (confirming === k.provider ? (
                        <span role="group" aria-label={`Confirm removing the ${k.provider} key`}>
                          <span>Remove this key?</span>{' '}
                          <button type="button" className="btn btn-danger" onClick={() => void remove(k.provider)}>
                            Yes, remove the {k.provider} key
                          </button>{' '}
                          <button type="button" className="btn btn-secondary" onClick={() => setConfirming(null)}>
                            Cancel
                          </button>
                        </span>
                      ) : (
                        <button type="button" className="btn btn-secondary" onClick={() => setConfirming(k.provider)}>
                          Remove {k.provider} key
                        </button>
                      ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {keys?.map((k) => (
        <section key={k.provider} aria-label={`${k.state === 'present' ? 'Replace' : 'Set'} the ${k.provider} key`} className="card">
          <h2>{k.state === 'present' ? `Replace the ${k.provider} key` : `Set the ${k.provider} key`}</h2>
          <KeyForm provider={k.provider} mode={k.state === 'present' ? 'rotate' : 'set'} onDone={() => void refresh()} />
        </section>
      ))}
    </>
  );
}
