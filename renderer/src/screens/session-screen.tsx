/** One session: its terminal, a live activity timeline, charts, Quarantine and Stop. */
import { useCallback, useEffect, useId, useState } from 'react';
import type { SessionSummary } from '../../../core/api/cordon-api.js';
import { useApiEvents, useShell } from '../api-context.js';
import { ActivityCharts } from '../components/charts.js';
import { ScreenHeading } from '../components/screen-heading.js';
import { SessionDropZone } from '../components/session-drop-zone.js';
import { TerminalView } from '../components/terminal-view.js';
import { Timeline } from '../components/timeline.js';
import { useAuditLog } from '../components/use-audit-log.js';
import { useNow } from '../components/use-now.js';
import { QuarantineButton } from '../components/quarantine-button.js';
import { useStopSession } from '../components/use-stop-session.js';
import { uptimeSince } from '../model/format.js';

/** How many records the page keeps for one session: the newest 50,000. */
const KEEP = 50_000;
/** How many it asks for on opening (the contract's maximum). */
const BACKLOG = 20_000;

export function SessionScreen({ sessionId, onStopped }: { readonly sessionId: string; readonly onStopped: () => void }) {
  const { api, announce } = useShell();
  const [summary, setSummary] = useState<SessionSummary | null | undefined>(undefined);
  const [exitCode, setExitCode] = useState<number | null>(null);
  const { stopping, stop } = useStopSession(sessionId, onStopped);
  const log = useAuditLog(sessionId, BACKLOG, KEEP);
  const now = useNow(2000);
  const id = useId();

  const refresh = useCallback(async () => {
    const r = await api.call('sessions.list', {});
    if (r.ok) setSummary(r.value.find((s) => s.id === sessionId) ?? null);
  }, [api, sessionId]);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  useApiEvents((e) => {
    if (e.type === 'sessions.changed') void refresh();
  });

  const where = summary?.workspaces.map((w) => w.path).join(', ');
  return (
    <SessionDropZone sessionId={sessionId} running={summary != null}>
      <div className="screen-head">
        <ScreenHeading>Session {sessionId}</ScreenHeading>
        <span className="screen-actions">
          <QuarantineButton sessionId={sessionId} />
          <button type="button" className="btn btn-danger" onClick={() => void stop()} disabled={stopping}>
            {stopping ? 'Stopping…' : 'Stop session'}
          </button>
        </span>
      </div>
      {summary === null && <p className="notice">This session is not running any more.</p>}
      {summary != null && (
        <dl className="facts">
          <div>
            <dt>Workspace</dt>
            <dd className="mono">{where}</dd>
          </div>
          <div>
            <dt>Profile</dt>
            <dd>{summary.profile}</dd>
          </div>
          <div>
            <dt>Runtime</dt>
            <dd>{summary.runtime}</dd>
          </div>
          <div>
            <dt>Uptime</dt>
            <dd>{uptimeSince(summary.createdAt, now) ?? '—'}</dd>
          </div>
        </dl>
      )}
      {exitCode !== null && (
        <p className={`notice ${exitCode === 0 ? '' : 'notice-error'}`}>
          The agent exited with code {exitCode}.
        </p>
      )}
      <section aria-labelledby={`${id}-term`} className="card">
        <h2 id={`${id}-term`}>Terminal</h2>
        {summary === null && <p className="muted">No terminal: the session has ended.</p>}
        {summary != null && (
          <TerminalView
            sessionId={sessionId}
            attachable={summary.attachable}
            onExit={(code) => {
              setExitCode(code);
              announce(`The agent exited with code ${code}.`, code === 0 ? 'info' : 'error');
            }}
          />
        )}
      </section>
      <section aria-labelledby={`${id}-charts`} className="card">
        <h2 id={`${id}-charts`}>Activity over time</h2>
        <ActivityCharts records={log.records} now={now} />
      </section>
      <section aria-labelledby={`${id}-timeline`} className="card">
        <h2 id={`${id}-timeline`}>Activity timeline</h2>
        {log.error !== null && <p role="alert" className="error">{log.error}</p>}
        <Timeline records={log.records} version={log.version} label="Session activity timeline" filterable />
      </section>
    </SessionDropZone>
  );
}
