import { memo } from 'react';
import type { ChatItem } from '../../../core/api/chat-contract.js';
import { MarkdownView } from './markdown-view.js';
import { ToolCard } from './tool-card.js';

const NOTICE_WORDS = { info: 'Note', warn: 'Warning', error: 'Error' } as const;

/** One entry of the conversation. Items are replaced, never mutated, so an unchanged one does not re-render. */
export const ChatItemView = memo(function ChatItemView({ item, onOpenLink }: { readonly item: ChatItem; readonly onOpenLink: (url: string) => void }) {
  switch (item.kind) {
    case 'user':
      return (
        <li className="chat-item chat-user" data-testid="chat-user">
          <span className="chat-who">You</span>
          <p className="chat-text">{item.text}</p>
        </li>
      );
    case 'assistant':
      return (
        <li className="chat-item chat-assistant" data-testid="chat-assistant">
          <span className="chat-who">Agent</span>
          <MarkdownView text={item.text} onOpenLink={onOpenLink} />
        </li>
      );
    case 'tool':
      return (
        <li className="chat-item chat-tool">
          <ToolCard tool={item.tool} />
        </li>
      );
    case 'notice':
      return (
        <li className={`chat-item chat-notice chat-notice-${item.level}`} data-testid="chat-notice" data-level={item.level}>
          <strong>{NOTICE_WORDS[item.level]}:</strong> {item.text}
        </li>
      );
  }
});
