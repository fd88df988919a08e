/**
 * One tool call of the agent, compact: the tool and what it was asked to do
 * are always visible; the output and, for an edit, its diff open on demand.
 */
import { memo, useMemo, useState } from 'react';
import type { ToolActivity } from '../../../core/api/chat-contract.js';
import { DiffLines } from './diff-lines.js';

export const ToolCard = memo(function ToolCard({ tool }: { readonly tool: ToolActivity }) {
  const running = tool.output === null;
  const status = running ? 'running' : tool.isError ? 'error' : 'done';
  // The body is built only while open: a long conversation keeps a small DOM, and an edit is diffed only when looked at.
  const [open, setOpen] = useState(false);
  return (
    <details className={`tool-card tool-${status}`} data-testid="tool-card" data-status={status} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary className="tool-summary">
        <span className="tool-name">{tool.name}</span>
        <span className="tool-text mono">{tool.summary}</span>
        {running && (
          <span className="tool-status">
            <span className="spinner" aria-hidden="true" />
            running…
          </span>
        )}
        {tool.isError && <span className="tool-status pill pill-fail">Failed</span>}
      </summary>
      {open && (
        <div className="tool-body">
          {tool.edit !== null && <EditDiff edit={tool.edit} />}
          {running ? (
            <p className="muted small">No output yet.</p>
          ) : (
            <>
              <h3 className="tool-label">{tool.isError ? 'Error' : 'Output'}</h3>
              {/* Focusable so a long output can be scrolled from the keyboard. */}
              <pre className={`tool-output${tool.isError ? ' error' : ''}`} tabIndex={0} role="group" aria-label={`${tool.name} ${tool.isError ? 'error' : 'output'}`}>
                {tool.output === '' ? '(no output)' : tool.output}
              </pre>
            </>
          )}
        </div>
      )}
    </details>
  );
});

function EditDiff({ edit }: { readonly edit: NonNullable<ToolActivity['edit']> }) {
  const lines = useMemo(() => edit.hunks.flatMap((h) => h.lines), [edit.hunks]);
  return (
    <>
      <h3 className="tool-label">
        Changes to <span className="mono">{edit.path}</span>
      </h3>
      <DiffLines lines={lines} label={`Changes to ${edit.path}`} />
    </>
  );
}
