import type { DiffHunkView } from '../../../core/api/chat-contract.js';

type DiffLine = DiffHunkView['lines'][number];

/**
 * Diff lines as text: "-" lines removed (red), "+" added (green), others kept.
 * The sign is part of the text, so the meaning does not rest on colour alone.
 */
export function DiffLines({ lines, label }: { readonly lines: readonly DiffLine[]; readonly label: string }) {
  return (
    // Focusable so keyboard users can scroll a long diff; the label says which diff it is.
    <pre className="diff" tabIndex={0} role="group" aria-label={label} data-testid="diff-lines">
      {lines.map((l, i) => (
        <span key={i} className={l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : 'diff-keep'}>
          {l.op === ' ' ? ' ' : l.op} {l.text}
          {'\n'}
        </span>
      ))}
    </pre>
  );
}
