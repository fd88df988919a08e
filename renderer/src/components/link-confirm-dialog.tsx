/**
 * Asks before the app opens a link an agent wrote. The agent may be
 * prompt-injected, so the dialog shows where the browser will really go (the
 * host, large, and the full URL) rather than anything the agent chose to call
 * the link.
 */
import { useEffect, useId, useRef, type KeyboardEvent } from 'react';

/** A link that `classifyLink` found openable; `url` is its normalized form, the one that opens. */
export interface OpenableLink {
  readonly kind: 'web' | 'mail';
  readonly url: string;
}

/**
 * A modal dialog: focus starts on Cancel, stays inside the dialog, and Escape
 * or Cancel closes it without opening anything. Only "Open link" calls
 * `onOpen`. The caller returns focus to the link when `onClose` runs.
 */
export function LinkConfirmDialog({ link, onOpen, onClose }: { readonly link: OpenableLink; readonly onOpen: (url: string) => void; readonly onClose: () => void }) {
  const id = useId();
  const cancel = useRef<HTMLButtonElement>(null);
  const dialog = useRef<HTMLDivElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  const target = destination(link);
  return (
    <div className="md-dialog-backdrop">
      <div
        ref={dialog}
        className="md-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={`${id}-title`}
        aria-describedby={`${id}-desc`}
        data-testid="link-confirm-dialog"
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            onClose();
          } else if (e.key === 'Tab') trapFocus(e, dialog.current);
        }}
      >
        <h2 id={`${id}-title`}>{link.kind === 'mail' ? 'Write an email?' : 'Open this link?'}</h2>
        <p className="md-dialog-host" data-testid="link-confirm-host">
          {target}
        </p>
        <p id={`${id}-desc`}>
          {link.kind === 'mail'
            ? `This link was written by the agent. Opening it starts an email to ${target} in your mail app.`
            : `This link was written by the agent. Opening it sends your browser to ${target}.`}
        </p>
        <p className="md-dialog-url mono" data-testid="link-confirm-url">
          {link.url}
        </p>
        <div className="md-dialog-actions">
          <button ref={cancel} type="button" className="btn btn-secondary" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="btn"
            onClick={() => {
              onOpen(link.url);
              onClose();
            }}
          >
            Open link
          </button>
        </div>
      </div>
    </div>
  );
}

/** The host a web link goes to (punycode, as requested), or a mail link's recipients. */
function destination(link: OpenableLink): string {
  try {
    const u = new URL(link.url);
    return link.kind === 'mail' ? decodeURIComponent(u.pathname) || '(no recipient)' : u.host;
  } catch {
    return link.url;
  }
}

/** Keeps Tab and Shift+Tab on the dialog's buttons: the page behind a modal must not take focus. */
function trapFocus(e: KeyboardEvent, root: HTMLElement | null): void {
  if (root === null) return;
  const buttons = [...root.querySelectorAll<HTMLElement>('button')];
  const first = buttons[0];
  const last = buttons.at(-1);
  if (first === undefined || last === undefined) return;
  if (e.shiftKey && document.activeElement === first) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  }
}
