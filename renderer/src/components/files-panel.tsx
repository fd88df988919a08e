/**
 * The files the agent created, changed or deleted, beside the conversation:
 * pick one to see what changed and what it looks like now. Collapsible, so the
 * conversation can take the whole width.
 */
import { useId, useState } from 'react';
import type { FileChangeView } from '../../../core/api/chat-contract.js';
import { changeLabel } from '../model/file-view.js';
import { FileDetail } from './file-detail.js';
import { useFileChanges } from './use-file-changes.js';

const sameFile = (a: Pick<FileChangeView, 'workspace' | 'path'>, b: Pick<FileChangeView, 'workspace' | 'path'>) => a.workspace === b.workspace && a.path === b.path;

export function FilesPanel({ sessionId }: { readonly sessionId: string }) {
  const { changes, overflow, error } = useFileChanges(sessionId);
  const [open, setOpen] = useState(true);
  const [picked, setPicked] = useState<Pick<FileChangeView, 'workspace' | 'path'> | null>(null);
  const id = useId();
  // The latest entry for the picked file (its `at` moves when the agent writes it again); gone if it left the list.
  const selected = picked === null ? undefined : changes?.find((c) => sameFile(c, picked));
  const count = (changes?.length ?? 0) + overflow;

  return (
    <section className={`files-panel${open ? '' : ' files-panel-collapsed'}`} aria-labelledby={`${id}-title`} data-testid="files-panel">
      <h2 id={`${id}-title`} className="files-panel-title">
        <button type="button" className="files-toggle" aria-expanded={open} aria-controls={`${id}-body`} onClick={() => setOpen((o) => !o)} data-testid="files-toggle">
          <span aria-hidden="true" className="files-toggle-icon">
            {open ? '▸' : '◂'}
          </span>
          Files changed {changes !== null && <span className="pill">{count}</span>}
        </button>
      </h2>
      <div id={`${id}-body`} hidden={!open} className="files-panel-body">
        {error !== null && <p role="alert" className="error">{error}</p>}
        {changes === null ? (
          error === null && <p aria-busy="true">Loading…</p>
        ) : changes.length === 0 ? (
          <p className="muted">The agent has not changed any file yet.</p>
        ) : (
          <ul className="file-changes">
            {changes.map((c) => (
              <li key={`${c.workspace}\u0000${c.path}`}>
                <button type="button" className="file-change" aria-current={selected !== undefined && sameFile(c, selected) ? 'true' : undefined} onClick={() => setPicked(c)} data-testid="file-change">
                  <span className={`pill change-${c.change}`}>{changeLabel(c.change)}</span>
                  <span className="mono file-change-path">{c.path}</span>
                  <span className="muted small file-change-workspace">{c.workspace}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        {overflow > 0 && (
          <p className="muted small" data-testid="files-overflow">
            and {overflow.toLocaleString('en-US')} more
          </p>
        )}
        {selected !== undefined && <FileDetail key={`${selected.workspace}\u0000${selected.path}`} sessionId={sessionId} change={selected} />}
      </div>
    </section>
  );
}
