/** Running sessions with their counts, Open and Stop; Launch when the role may; recent workspaces. */
import { useCallback, useEffect, useId, useState } from 'react';
import type { SessionSummary, Workspace } from '../../../core/api/cordon-api.js';
import { useApiEvents, useShell } from '../api-context.js';
import { ScreenHeading } from '../components/screen-heading.js';
import { uptimeSince } from '../model/format.js';
import { useNow } from '../components/use-now.js';
import { sessionModeOf, type SessionMode } from '../model/session-mode.js';

export function HomeScreen({ onOpen, onLaunch }: { readonly onOpen: (sessionId: string, mode: SessionMode) => void; readonly onLaunch: () => void }) {
  const { api, features, announce } = useShell();
  const [sessions, setSessions] = useState<readonly SessionSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [recent, setRecent] = useState<readonly Workspace[]>([]);
  const now = useNow(1000);
  const id = useId();

  const refresh = useCallback(async () => {
    const r = await api.call('sessions.list', {});
    if (r.ok) {
      setSessions(r.value);
      setError(null);
    } else setError(r.error.message);
  }, [api]);

  useEffect(() => {
    void refresh();
    void api.call('recent.workspaces', {}).then((r) => {
      if (r.ok) setRecent(r.value);
    });
  }, [api, refresh]);

  useApiEvents((e) => {
    if (e.type === 'sessions.changed') void refresh();
  });

  const stop = async (s: SessionSummary) => {
    const r = await api.call('sessions.stop', { sessionId: s.id });
    if (r.ok) announce(`Session ${s.id} stopped.`);
    else announce(`Could not stop session ${s.id}: ${r.error.message}`, 'error');
    void refresh();
  };

  return (
    <>
      <div className="screen-head">
        <ScreenHeading>Sessions</ScreenHeading>
        {features.launch && (
          <button type="button" className="btn" onClick={onLaunch}>
            Launch an agent
          </button>
        )}
      </div>
      {error !== null && <p role="alert" className="error">{error}</p>}
      <section aria-labelledby={`${id}-running`} className="card">
        <h2 id={`${id}-running`}>Running sessions</h2>
        {sessions === null ? (
          <p aria-busy="true">Loading…</p>
        ) : sessions.length === 0 ? (
          <p className="muted">No session is running.</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Workspace</th>
                <th scope="col">Profile</th>
                <th scope="col">Runtime</th>
                <th scope="col">Uptime</th>
                <th scope="col">Allowed</th>
                <th scope="col">Denied</th>
                <th scope="col">DLP findings</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((s) => {
                const where = s.workspaces.map((w) => `${w.path}${w.mode === 'ro' ? ' (read-only)' : ''}`).join(', ') || '—';
                return (
                  <tr key={s.id}>
                    <td className="mono">{where}</td>
                    <td>{s.profile}</td>
                    <td>{s.runtime}</td>
                    <td>{uptimeSince(s.createdAt, now) ?? '—'}</td>
                    <td className="num">{s.counts.allowed}</td>
                    <td className={`num${s.counts.denied > 0 ? ' text-deny' : ''}`}>{s.counts.denied}</td>
                    <td className={`num${s.counts.dlpFindings > 0 ? ' text-warn' : ''}`}>{s.counts.dlpFindings}</td>
                    <td className="actions">
                      <button type="button" className="btn btn-secondary" onClick={() => onOpen(s.id, sessionModeOf(s.kind))} aria-label={`Open session ${s.id} (${where})`}>
                        Open
                      </button>
                      <button type="button" className="btn btn-danger" onClick={() => void stop(s)} aria-label={`Stop session ${s.id} (${where})`}>
                        Stop
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby={`${id}-recent`} className="card">
        <h2 id={`${id}-recent`}>Recent workspaces</h2>
        {recent.length === 0 ? (
          <p className="muted">None yet.</p>
        ) : (
          <ul className="plain-list">
            {recent.map((w) => (
              <li key={`${w.path}:${w.mode}`} className="mono">
                {w.path} <span className="muted">({w.mode === 'rw' ? 'read-write' : 'read-only'})</span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
