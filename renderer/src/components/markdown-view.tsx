/**
 * Renders an agent's Markdown (untrusted: it comes out of the sandbox) as
 * React elements. Nothing from the content becomes markup, a URL the page
 * loads, a `style`, or a class name: images are inert chips that say what the
 * agent tried to show, links are buttons that show their real target and ask
 * before opening (LinkConfirmDialog), and text is escaped by React.
 */
import { memo, useMemo, useRef, useState, type ReactNode } from 'react';
import { classifyLink, parseMarkdown, type MdAlign, type MdBlock, type MdInline } from '../model/markdown.js';
import { LinkConfirmDialog, type OpenableLink } from './link-confirm-dialog.js';

type AskToOpen = (link: OpenableLink, from: HTMLElement) => void;

/**
 * `onOpenLink` receives only a normalized http(s) or mailto URL, and only after
 * the user pressed "Open link" in the confirmation dialog.
 */
export const MarkdownView = memo(function MarkdownView({ text, onOpenLink }: { readonly text: string; readonly onOpenLink: (url: string) => void }) {
  const blocks = useMemo(() => parseMarkdown(text), [text]);
  const [pending, setPending] = useState<OpenableLink | null>(null);
  const returnTo = useRef<HTMLElement | null>(null);
  const ask: AskToOpen = (link, from) => {
    returnTo.current = from;
    setPending(link);
  };
  return (
    <div className="md-view">
      {renderBlocks(blocks, ask)}
      {pending !== null && (
        <LinkConfirmDialog
          link={pending}
          onOpen={onOpenLink}
          onClose={() => {
            setPending(null);
            returnTo.current?.focus();
          }}
        />
      )}
    </div>
  );
});

function renderBlocks(blocks: readonly MdBlock[], ask: AskToOpen): ReactNode[] {
  return blocks.map((b, i) => renderBlock(b, i, ask));
}

function renderBlock(b: MdBlock, key: number, ask: AskToOpen): ReactNode {
  switch (b.type) {
    case 'paragraph':
      return <p key={key}>{renderInlines(b.children, ask)}</p>;
    case 'heading': {
      // The screen's own h1/h2 outline the page; the agent's headings sit below them.
      const Tag = (['h3', 'h4', 'h5', 'h6', 'h6', 'h6'] as const)[b.level - 1] ?? 'h6';
      return (
        <Tag key={key} className={`md-heading md-h${b.level}`}>
          {renderInlines(b.children, ask)}
        </Tag>
      );
    }
    case 'codeBlock':
      return (
        <div key={key} className="md-code">
          {b.lang !== null && <span className="md-code-lang muted small">{b.lang}</span>}
          <pre>
            <code>{b.text}</code>
          </pre>
        </div>
      );
    case 'blockquote':
      return <blockquote key={key}>{renderBlocks(b.children, ask)}</blockquote>;
    case 'bulletList':
      return (
        <ul key={key}>
          {b.items.map((item, i) => (
            <li key={i}>{renderBlocks(item, ask)}</li>
          ))}
        </ul>
      );
    case 'orderedList':
      return (
        <ol key={key} start={b.start}>
          {b.items.map((item, i) => (
            <li key={i}>{renderBlocks(item, ask)}</li>
          ))}
        </ol>
      );
    case 'thematicBreak':
      return <hr key={key} />;
    case 'table':
      return (
        <div key={key} className="md-table-wrap">
          <table className="md-table">
            <thead>
              <tr>
                {b.header.map((cell, i) => (
                  <th key={i} scope="col" className={alignClass(b.align[i] ?? null)}>
                    {renderInlines(cell, ask)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {b.rows.map((row, r) => (
                <tr key={r}>
                  {row.map((cell, i) => (
                    <td key={i} className={alignClass(b.align[i] ?? null)}>
                      {renderInlines(cell, ask)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    case 'truncated':
      return (
        <p key={key} className="md-truncated" data-testid="md-truncated">
          Message cut short: {b.omittedChars.toLocaleString()} more characters not shown.
        </p>
      );
  }
}

/** Alignment as one of our own classes: a `style` built from content is one injection too many. */
function alignClass(align: MdAlign): string | undefined {
  return align === null ? undefined : `md-align-${align}`;
}

function renderInlines(inlines: readonly MdInline[], ask: AskToOpen): ReactNode[] {
  return inlines.map((x, i) => renderInline(x, i, ask));
}

function renderInline(x: MdInline, key: number, ask: AskToOpen): ReactNode {
  switch (x.type) {
    case 'text':
      return x.text;
    case 'strong':
      return <strong key={key}>{renderInlines(x.children, ask)}</strong>;
    case 'emphasis':
      return <em key={key}>{renderInlines(x.children, ask)}</em>;
    case 'strikethrough':
      return <del key={key}>{renderInlines(x.children, ask)}</del>;
    case 'inlineCode':
      return <code key={key}>{x.text}</code>;
    case 'break':
      return <br key={key} />;
    case 'image':
      // Never an <img>: loading it would send the query string (a secret, if the agent put one there) to its host.
      return (
        <span key={key} className="md-image-blocked" data-testid="md-image-blocked" title={x.src}>
          🖼 Image not loaded: {x.alt === '' ? '(no description)' : x.alt} ({x.src})
        </span>
      );
    case 'link':
      return <MdLink key={key} href={x.href} ask={ask} label={renderInlines(x.children, ask)} />;
    case 'autolink':
      return <MdLink key={key} href={x.href} ask={ask} label={null} />;
  }
}

/**
 * A link as a button, never `<a href>`: the click goes through the dialog, and
 * the real target is printed beside the text, so `[https://good.test](https://evil.test)`
 * reads as what it is. An autolink (`label` null) shows only its target.
 */
function MdLink({ href, label, ask }: { readonly href: string; readonly label: ReactNode; readonly ask: AskToOpen }) {
  const link = classifyLink(href);
  if (link.kind === 'blocked') {
    return (
      <span className="md-link-blocked" data-testid="md-link-blocked" title={`Not opened: ${link.reason} Target: ${href}`}>
        {label !== null && <>{label} </>}
        <span className="md-link-target">⟨{href}⟩</span>
      </span>
    );
  }
  return (
    <button type="button" className="md-link" data-testid="md-link" title={link.url} onClick={(e) => ask(link, e.currentTarget)}>
      {label !== null && <>{label} </>}
      <span className="md-link-target">⟨{link.url}⟩</span>
    </button>
  );
}
