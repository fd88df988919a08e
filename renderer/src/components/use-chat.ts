import { useEffect, useState } from 'react';
import type { ChatItem, ChatState } from '../../../core/api/chat-contract.js';
import { useShell } from '../api-context.js';
import { mergeHistory, upsertItem } from '../model/chat-items.js';

export interface ChatView {
  readonly items: readonly ChatItem[];
  /** Null until `chat.history` (or a `chat.state` event) says where the session is. */
  readonly state: ChatState | null;
  /** Why the history could not be loaded; live items still arrive. */
  readonly error: string | null;
}

/**
 * A chat session's conversation: `chat.history`, then live `chat.item` and
 * `chat.state` events. Subscribes before fetching so nothing falls between the
 * two; items that arrive meanwhile are merged over the history. Live items are
 * applied once per animation frame, so an agent streaming many updates costs a
 * few renders.
 */
export function useChat(sessionId: string): ChatView {
  const { api } = useShell();
  const [items, setItems] = useState<readonly ChatItem[]>([]);
  const [state, setState] = useState<ChatState | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    let loaded = false;
    let stateFromEvent = false;
    let meanwhile: ChatItem[] = [];
    let pending: ChatItem[] = [];
    let frame: number | null = null;
    const flush = () => {
      frame = null;
      const batch = pending;
      pending = [];
      if (live) setItems((prev) => batch.reduce<readonly ChatItem[]>(upsertItem, prev));
    };
    const unsubscribe = api.onEvent((e) => {
      if ((e.type !== 'chat.item' && e.type !== 'chat.state') || e.sessionId !== sessionId) return;
      if (e.type === 'chat.state') {
        // A state event is newer than whatever the history call will answer.
        stateFromEvent = true;
        setState(e.state);
      } else if (!loaded) meanwhile = upsertItem(meanwhile, e.item);
      else {
        pending.push(e.item);
        frame ??= requestAnimationFrame(flush);
      }
    });
    void api.call('chat.history', { sessionId }).then((r) => {
      if (!live) return;
      loaded = true;
      if (r.ok) {
        setItems(mergeHistory(r.value.items, meanwhile));
        if (!stateFromEvent) setState(r.value.state);
        setError(null);
      } else {
        setItems(meanwhile);
        setError(r.error.message);
      }
      meanwhile = [];
    });
    return () => {
      live = false;
      unsubscribe();
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [api, sessionId]);

  return { items, state, error };
}
