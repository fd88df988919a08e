/** The approval queue at a glance: what waits (answered in the prompt) and what was decided in the last hour, by whom. */
import { useId, type ReactNode } from 'react';
import type { ApprovalView } from '../../../core/api/approvals-contract.js';
import { ScreenHeading } from '../components/screen-heading.js';
import { useApprovals } from '../components/use-approvals.js';
import { useNow } from '../components/use-now.js';
import { kindWords, pendingQueue, PROMPT_SHORTCUT_LABEL, recentSettled, settledSummary, shortSession, timeLeft, visibleText } from '../model/approval-prompt.js';

export function ApprovalsScreen() {
  const { requests, omitted, error } = useApprovals();
  const now = useNow(1000);
  const id = useId();
  const pending = pendingQueue(requests ?? [], now);
  const recent = recentSettled(requests ?? [], now);
  return (
    <>
      <ScreenHeading>Approvals</ScreenHeading>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <section aria-labelledby={`${id}-pending`} className="card">
        <h2 id={`${id}-pending`}>Waiting for you</h2>
        {pending.length === 0 ? (
          <p className="muted">Nothing is waiting. When an agent asks for something, the prompt appears on every screen.</p>
        ) : (
          <>
            <p className="muted small">The prompt answers them one at a time, oldest first; {PROMPT_SHORTCUT_LABEL} brings the keyboard to it.</p>
            <RequestTable
              label="Requests waiting for an answer"
              rows={pending}
              first={['Asked', (r) => new Date(r.createdAt).toLocaleTimeString()]}
              last={['Denied in', (r) => timeLeft(r.expiresAt, now).text]}
            />
          </>
        )}
      </section>
      <section aria-labelledby={`${id}-recent`} className="card">
        <h2 id={`${id}-recent`}>Decided in the last hour</h2>
        {recent.length === 0 ? (
          <p className="muted">No request was decided in the last hour.</p>
        ) : (
          <RequestTable
            label="Requests decided in the last hour"
            rows={recent}
            first={['Decided', (r) => new Date(r.answer?.at ?? r.expiresAt).toLocaleTimeString()]}
            last={[
              'Outcome',
              (r) => (
                <>
                  <span className={`pill pill-${r.status === 'allowed' ? 'ok' : 'fail'}`}>{r.status}</span> {settledSummary(r)}
                </>
              ),
            ]}
          />
        )}
        {omitted > 0 && <p className="muted small">{omitted} older requests are not shown; `cordon approvals list` lists them all.</p>}
      </section>
    </>
  );
}

type Column = readonly [heading: string, cell: (r: ApprovalView) => ReactNode];

/** Requests as rows: a time column, who asked for what, and one column of state. */
function RequestTable({ label, rows, first, last }: { readonly label: string; readonly rows: readonly ApprovalView[]; readonly first: Column; readonly last: Column }) {
  return (
    <table className="table" aria-label={label}>
      <thead>
        <tr>
          <th scope="col">{first[0]}</th>
          <th scope="col">Session</th>
          <th scope="col">Kind</th>
          <th scope="col">Target</th>
          <th scope="col">{last[0]}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.id}>
            <td>{first[1](r)}</td>
            <td className="mono">{shortSession(r.session)}</td>
            <td>
              {kindWords(r.kind)}
              {r.write ? ' (write)' : ''}
            </td>
            <td className="mono value-cell">{visibleText(r.target)}</td>
            <td>{last[1](r)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
