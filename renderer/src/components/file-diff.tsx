/** What the agent changed in one file, as core's diff against the file at the session's start. */
import { Fragment } from 'react';
import type { FileChangeView } from '../../../core/api/chat-contract.js';
import { hunkHeader } from '../model/file-view.js';
import { DiffLines } from './diff-lines.js';
import { useChangedFile } from './use-changed-file.js';

export function FileDiff({ sessionId, change }: { readonly sessionId: string; readonly change: FileChangeView }) {
  const { value: diff, error } = useChangedFile('files.diff', sessionId, change);

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
