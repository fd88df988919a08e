/**
 * One changed file's content as core read it. Everything is shown as text or
 * as a raster image from a data: URL; nothing here loads from the network or
 * interprets HTML.
 */
import { useEffect, useState } from 'react';
import type { FileChangeView, FilePreviewView } from '../../../core/api/chat-contract.js';
import { useShell } from '../api-context.js';
import { formatBytes, isPreviewableImageUrl } from '../model/file-view.js';
import { MarkdownView } from './markdown-view.js';
import { useOpenLink } from './use-open-link.js';

export function FilePreview({ sessionId, change }: { readonly sessionId: string; readonly change: FileChangeView }) {
  const { api } = useShell();
  const [preview, setPreview] = useState<FilePreviewView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const openLink = useOpenLink();

  useEffect(() => {
    let live = true;
    setPreview(null);
    void api.call('files.preview', { sessionId, workspace: change.workspace, path: change.path }).then((r) => {
      if (!live) return;
      if (r.ok) {
        setPreview(r.value);
        setError(null);
      } else setError(r.error.message);
    });
    return () => {
      live = false;
    };
  }, [api, sessionId, change.workspace, change.path, change.at]);

  if (error !== null) return <p role="alert" className="error">{error}</p>;
  if (preview === null) return <p aria-busy="true">Loading the preview…</p>;
  const cut = 'truncated' in preview && preview.truncated ? <p className="muted small">Only the beginning of the file is shown.</p> : null;
  switch (preview.kind) {
    case 'text':
      return (
        <>
          <pre className="file-text" tabIndex={0} role="group" aria-label={`Text of ${change.path}`}>
            {preview.text}
          </pre>
          {cut}
        </>
      );
    case 'markdown':
      return (
        <>
          <div className="file-markdown" tabIndex={0} role="group" aria-label={`Preview of ${change.path}`}>
            <MarkdownView text={preview.text} onOpenLink={openLink} />
          </div>
          {cut}
        </>
      );
    case 'image':
      // The check is the renderer's own: an SVG or a non-data URL from core is not loaded.
      return isPreviewableImageUrl(preview.dataUrl) ? (
        <img className="file-image" src={preview.dataUrl} alt={change.path} />
      ) : (
        <p className="muted">This image is not previewable ({preview.mime}, {formatBytes(preview.size)}).</p>
      );
    case 'pdf':
      return (
        <>
          <p>
            PDF, {preview.pages} {preview.pages === 1 ? 'page' : 'pages'}
            {preview.title !== null && preview.title !== '' ? `, ${preview.title}` : ''}
          </p>
          <pre className="file-text" tabIndex={0} role="group" aria-label={`Text of ${change.path}`}>
            {preview.text}
          </pre>
          {cut}
        </>
      );
    case 'binary':
      return <p className="muted">A binary file of {formatBytes(preview.size)}: no preview.</p>;
    case 'refused':
      return <p className="notice">{preview.message}</p>;
  }
}
