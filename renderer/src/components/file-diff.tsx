/** What the agent changed in one file, as core's diff against the file at the session's start. */
import { Fragment, useEffect, useState } from 'react';
import type { FileChangeView, FileDiffView } from '../../../core/api/chat-contract.js';
import { useShell } from '../api-context.js';
import { hunkHeader } from '../model/file-view.js';
import { DiffLines } from './diff-lines.js';

export function FileDiff({ sessionId, change }: { readonly sessionId: string; readonly change: FileChangeView }) {
  const { api } = useShell();
  const [diff, setDiff] = useState<FileDiffView | null>(null);
  const [error, setError] = useState<string | null>(null);

  // `change.at` moves when the agent writes the file again: fetch the new diff.
  useEffect(() => {
    let live = true;
    setDiff(null);
    void api.call('files.diff', { sessionId, workspace: change.workspace, path: change.path }).then((r) => {
      if (!live) return;
      if (r.ok) {
        setDiff(r.value);
        setError(null);
      } else setError(r.error.message);
    });
    return () => {
      live = false;
    };
  }, [api, sessionId, change.workspace, change.path, change.at]);

  if (error !== null) return <p role="alert" className="error">{error}</p>;
  if (diff === null) return <p aria-busy="true">Loading the changes…</p>;
  switch (diff.kind) {
    case 'diff':
      if (diff.hunks.length === 0) return <p className="muted">No change in the text.</p>;
      return (
        <>
          <p className="small">
            <span className="diff-add-count">{diff.added} added</span>, <span className="diff-del-count">{diff.removed} removed</span>
            {diff.truncated && <span className="muted"> — the diff is cut short</span>}
          </p>
          {diff.hunks.map((h, i) => (
            <Fragment key={i}>
              <p className="mono muted small diff-hunk-head">{hunkHeader(h)}</p>
              <DiffLines lines={h.lines} label={`Changes to ${change.path}, part ${i + 1}`} />
            </Fragment>
          ))}
        </>
      );
    case 'no_baseline':
      return <p className="muted">No earlier version to compare with: {diff.reason}</p>;
    case 'binary':
      return <p className="muted">A binary file: there is no text to compare. See the preview.</p>;
    case 'refused':
      return <p className="notice">{diff.message}</p>;
  }
}
