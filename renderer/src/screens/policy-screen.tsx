/**
 * The effective policy: each value with where it came from. Refetched when an
 * audit record says the policy changed, and every 2 s while visible (a managed
 * file can change without a record reaching this page first).
 */
import { useCallback, useEffect, useId, useState } from 'react';
import type { ApiResponse } from '../../../core/api/cordon-api.js';
import { useApiEvents, useShell } from '../api-context.js';
import { ScreenHeading } from '../components/screen-heading.js';
import { useVisiblePoll } from '../components/use-visible-poll.js';
import { formatPolicyValue } from '../model/format.js';

type Effective = ApiResponse<'policy.effective'>;

export function PolicyScreen() {
  const { api } = useShell();
  const [policy, setPolicy] = useState<Effective | null>(null);
  const [error, setError] = useState<string | null>(null);
  const id = useId();

  const refresh = useCallback(async () => {
    const r = await api.call('policy.effective', {});
    if (r.ok) {
      setPolicy(r.value);
      setError(null);
    } else setError(r.error.message);
  }, [api]);

  useEffect(() => {
    void refresh();
  }, [refresh]);
  useVisiblePoll(() => void refresh(), 2000);
  useApiEvents((e) => {
    if (e.type === 'audit' && e.record.kind.startsWith('policy.')) void refresh();
  });

  return (
    <>
      <ScreenHeading>Policy</ScreenHeading>
      {error !== null && <p role="alert" className="error">{error}</p>}
      {policy?.managed === true && (
        <p className="notice notice-managed">
          <LockIcon /> Managed by your organization. Locked settings cannot be changed on this machine.
        </p>
      )}
      {policy !== null && !policy.ok && (
        <div role="alert" className="notice notice-error">
          <h2>The policy is invalid: no session can start</h2>
          <ul>
            {policy.issues.map((issue, i) => (
              <li key={i}>{issue}</li>
            ))}
          </ul>
        </div>
      )}
      {policy !== null && (
        <>
          <section aria-labelledby={`${id}-values`} className="card">
            <h2 id={`${id}-values`}>Effective settings</h2>
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Setting</th>
                  <th scope="col">Value</th>
                  <th scope="col">Source</th>
                </tr>
              </thead>
              <tbody>
                {policy.values.map((v) => (
                  <tr key={v.path}>
                    <td className="mono">
                      {v.locked && (
                        <>
                          <LockIcon />
                          <span className="visually-hidden">locked</span>{' '}
                        </>
                      )}
                      {v.path}
                    </td>
                    <td className="mono value-cell">{formatPolicyValue(v.value)}</td>
                    <td>
                      <span className={`pill pill-source-${v.source}`}>{v.source}</span>
                      {v.file !== null && <span className="mono muted file"> {v.file}</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <section aria-labelledby={`${id}-sources`} className="card">
            <h2 id={`${id}-sources`}>Policy files</h2>
            {policy.sources.length === 0 ? (
              <p className="muted">Only built-in defaults apply.</p>
            ) : (
              <ul className="plain-list">
                {policy.sources.map((s) => (
                  <li key={`${s.kind}:${s.file}`}>
                    <span className={`pill pill-source-${s.kind}`}>{s.kind}</span> <span className="mono">{s.file}</span>
                  </li>
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </>
  );
}

function LockIcon() {
  return (
    <svg className="icon" width="14" height="14" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
      <path d="M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z" fill="currentColor" />
    </svg>
  );
}
