/**
 * A chat session (issue 16): the conversation with the agent, a composer for
 * the next turn, and the files the agent changed. Loaded lazily, like the
 * terminal screen, so the first screen does not carry it.
 */
import { useEffect, useId, useRef } from 'react';
import { useShell } from '../api-context.js';
import { ChatComposer } from '../components/chat-composer.js';
import { ChatConversation } from '../components/chat-conversation.js';
import { FilesPanel } from '../components/files-panel.js';
import { ScreenHeading } from '../components/screen-heading.js';
import { SessionDropZone } from '../components/session-drop-zone.js';
import { useChat } from '../components/use-chat.js';
import { QuarantineButton } from '../components/quarantine-button.js';
import { useStopSession } from '../components/use-stop-session.js';
import { chatStateLabel, formatUsage } from '../model/chat-items.js';

export function ChatScreen({ sessionId, onStopped }: { readonly sessionId: string; readonly onStopped: () => void }) {
  const { announce } = useShell();
  const chat = useChat(sessionId);
  const { stopping, stop: endSession } = useStopSession(sessionId, onStopped);
  const id = useId();
  const state = chat.state?.state ?? null;

  // The header's state is not a live region: an ending the user did not ask for is announced.
  const previous = useRef(state);
  useEffect(() => {
    if (state === 'ended' && previous.current !== null && previous.current !== 'ended') announce(`Session ${sessionId} has ended.`);
    previous.current = state;
  }, [state, sessionId, announce]);

  return (
    <SessionDropZone sessionId={sessionId} running={state !== null && state !== 'ended'}>
      <div className="chat-screen">
        <div className="screen-head chat-head">
          <ScreenHeading>Session {sessionId}</ScreenHeading>
          <div className="chat-facts">
            <span className={`pill chat-state chat-state-${state ?? 'loading'}`} data-testid="chat-state">
              {state === null ? 'Loading…' : chatStateLabel(state)}
            </span>
            {/* Plain-text agents report no tokens: a count of 0 would be wrong, not small. */}
            {chat.state !== null && (chat.state.agent === 'claude-code' || chat.state.usage.inputTokens + chat.state.usage.outputTokens > 0) && (
              <span className="muted small" data-testid="chat-usage">
                {formatUsage(chat.state.usage)}
              </span>
            )}
            {chat.state !== null && chat.state.rejectedEvents > 0 && (
              <span className="text-warn small" data-testid="chat-rejected">
                {chat.state.rejectedEvents} malformed agent {chat.state.rejectedEvents === 1 ? 'message' : 'messages'} dropped
              </span>
            )}
          </div>
          <span className="screen-actions">
            <QuarantineButton sessionId={sessionId} />
            <button type="button" className="btn btn-danger" onClick={() => void endSession()} disabled={stopping} data-testid="chat-end">
              {stopping ? 'Ending…' : 'End session'}
            </button>
          </span>
        </div>
        {chat.error !== null && (
          <p role="alert" className="notice notice-error">
            The conversation could not be loaded: {chat.error}
          </p>
        )}
        <div className="chat-layout">
          <section className="chat-main" aria-labelledby={`${id}-conversation`}>
            <h2 id={`${id}-conversation`} className="visually-hidden">
              Conversation
            </h2>
            <ChatConversation items={chat.items} />
            <ChatComposer sessionId={sessionId} state={state} />
          </section>
          <FilesPanel sessionId={sessionId} />
        </div>
      </div>
    </SessionDropZone>
  );
}
