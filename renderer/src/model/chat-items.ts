/** The conversation as the chat screen keeps it: pure updates and the header's wording. */
import type { ChatItem, ChatState, ChatUsage } from '../../../core/api/chat-contract.js';

/**
 * ITEMS with ITEM added at the end, or put in place of the item with its id (a
 * tool call is sent again when its result arrives). A new array either way;
 * the search starts from the end, where updates land.
 */
export function upsertItem(items: readonly ChatItem[], item: ChatItem): ChatItem[] {
  for (let i = items.length - 1; i >= 0; i--) {
    if (items[i]?.id === item.id) {
      const next = items.slice();
      next[i] = item;
      return next;
    }
  }
  return [...items, item];
}

/**
 * The conversation once `chat.history` answers: its items, then whatever
 * arrived as events while the call was on its way (those are newer, so they
 * win for an id both hold).
 */
export function mergeHistory(history: readonly ChatItem[], arrivedMeanwhile: readonly ChatItem[]): ChatItem[] {
  return arrivedMeanwhile.reduce<ChatItem[]>((items, item) => upsertItem(items, item), history.slice());
}

const STATE_LABELS: Record<ChatState['state'], string> = {
  starting: 'Starting…',
  ready: 'Ready',
  working: 'Working…',
  ended: 'Ended',
};

export function chatStateLabel(state: ChatState['state']): string {
  return STATE_LABELS[state];
}

// The UI's words are English, so its numbers are grouped the English way too (and tests can read them).
const COUNT = new Intl.NumberFormat('en-US');

/** "1,234 tokens in · 567 out", then " · $0.42" when the agent reports a cost ("< $0.01" for a fraction of a cent). */
export function formatUsage(usage: ChatUsage): string {
  const tokens = `${COUNT.format(usage.inputTokens)} tokens in · ${COUNT.format(usage.outputTokens)} out`;
  if (usage.costUsd === null) return tokens;
  const cost = usage.costUsd > 0 && usage.costUsd < 0.01 ? '< $0.01' : `$${usage.costUsd.toFixed(2)}`;
  return `${tokens} · ${cost}`;
}
