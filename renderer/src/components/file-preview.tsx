/**
 * One changed file's content as core read it. Everything is shown as text or
 * as a raster image from a data: URL; nothing here loads from the network or
 * interprets HTML.
 */
import type { FileChangeView } from '../../../core/api/chat-contract.js';
import { formatBytes, isPreviewableImageUrl } from '../model/file-view.js';
import { MarkdownView } from './markdown-view.js';
import { useChangedFile } from './use-changed-file.js';
import { useOpenLink } from './use-open-link.js';

export function FilePreview({ sessionId, change }: { readonly sessionId: string; readonly change: FileChangeView }) {
  const { value: preview, error } = useChangedFile('files.preview', sessionId, change);
  const openLink = useOpenLink();

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
