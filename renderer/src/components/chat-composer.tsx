/**
 * Where the user writes the next turn: Enter sends, Shift+Enter starts a new
 * line; while the agent works, Stop interrupts it.
 */
import { useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { ChatState } from '../../../core/api/chat-contract.js';
import { useShell } from '../api-context.js';

const HINTS: Record<ChatState['state'] | 'loading', string> = {
  loading: 'Connecting to the conversation…',
  starting: 'The agent is starting; you can write your message meanwhile.',
  ready: 'Enter sends, Shift+Enter starts a new line.',
  working: 'The agent is working. Send your next message when it is done, or stop it.',
  ended: 'The session has ended: no more messages can be sent.',
};

export function ChatComposer({ sessionId, state }: { readonly sessionId: string; readonly state: ChatState['state'] | null }) {
  const { api, announce } = useShell();
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const [stopping, setStopping] = useState(false);
  const field = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  const canSend = state === 'ready' && !sending && text.trim() !== '';

  const send = async () => {
    if (!canSend) return;
    const message = text;
    setSending(true);
    setText('');
    const r = await api.call('chat.send', { sessionId, text: message });
    setSending(false);
    if (!r.ok) {
      // Give the words back unless the user has started a new message meanwhile.
      setText((current) => (current === '' ? message : current));
      announce(`The message was not sent: ${r.error.message}`, 'error');
    }
    field.current?.focus();
  };

  const interrupt = async () => {
    setStopping(true);
    const r = await api.call('chat.interrupt', { sessionId });
    setStopping(false);
    if (r.ok) announce('The agent was asked to stop.');
    else announce(`Could not stop the agent: ${r.error.message}`, 'error');
    // The Stop button goes away with the turn: keep focus somewhere useful.
    field.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    // isComposing: Enter that confirms an input-method composition (Japanese, Chinese…) is not a send.
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void send();
  };

  return (
    <form className="chat-composer" onSubmit={onSubmit}>
      <label htmlFor={`${id}-message`} className="chat-composer-label">
        Message
      </label>
      <textarea
        ref={field}
        id={`${id}-message`}
        className="input chat-input"
        rows={3}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        aria-describedby={`${id}-hint`}
        data-testid="chat-input"
      />
      <div className="chat-composer-actions">
        <p id={`${id}-hint`} className="muted small chat-hint">
          {HINTS[state ?? 'loading']}
        </p>
        {state === 'working' && (
          <button type="button" className="btn btn-danger" onClick={() => void interrupt()} disabled={stopping} aria-label="Stop the agent" data-testid="chat-stop">
            {stopping ? 'Stopping…' : 'Stop'}
          </button>
        )}
        <button type="submit" className="btn" disabled={!canSend} data-testid="chat-send">
          Send
        </button>
      </div>
    </form>
  );
}
