/**
 * The conversation as a live log. It follows new content while the reader is
 * at the bottom; once they scroll up it stays put and offers a way back.
 */
import { useLayoutEffect, useRef, useState } from 'react';
import type { ChatItem } from '../../../core/api/chat-contract.js';
import { isAtBottom } from '../model/virtual-window.js';
import { ChatItemView } from './chat-item-view.js';
import { useOpenLink } from './use-open-link.js';

export function ChatConversation({ items }: { readonly items: readonly ChatItem[] }) {
  const viewport = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  const [behind, setBehind] = useState(false);
  const openLink = useOpenLink();

  useLayoutEffect(() => {
    const el = viewport.current;
    if (el === null) return;
    if (pinned.current) el.scrollTop = el.scrollHeight;
    else setBehind(true);
  }, [items]);

  const jumpToLatest = () => {
    const el = viewport.current;
    if (el === null) return;
    pinned.current = true;
    setBehind(false);
    el.scrollTop = el.scrollHeight;
  };

  return (
    <div className="chat-log-frame">
      <div
        ref={viewport}
        className="chat-log"
        role="log"
        aria-live="polite"
        aria-label="Conversation"
        // Focusable so the conversation can be scrolled from the keyboard.
        tabIndex={0}
        data-testid="chat-log"
        onScroll={(e) => {
          const el = e.currentTarget;
          pinned.current = isAtBottom(el.scrollTop, el.clientHeight, el.scrollHeight, 24);
          if (pinned.current) setBehind(false);
        }}
      >
        {items.length === 0 ? (
          <p className="muted chat-empty">Nothing yet. Ask the agent to do something with the files in your folder.</p>
        ) : (
          <ol className="chat-items">
            {items.map((item) => (
              <ChatItemView key={item.id} item={item} onOpenLink={openLink} />
            ))}
          </ol>
        )}
      </div>
      {behind && (
        <button type="button" className="btn btn-secondary chat-jump" onClick={jumpToLatest}>
          Jump to the latest message
        </button>
      )}
    </div>
  );
}
