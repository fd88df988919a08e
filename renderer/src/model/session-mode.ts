import type { ApiRequest } from '../../../core/api/cordon-api.js';

/** How a session is worked with: a conversation, or the agent's own terminal. */
export type SessionMode = NonNullable<ApiRequest<'sessions.launch'>['mode']>;

/** The screen for a session `sessions.list` reports: its `kind` is 'chat' for a conversation; anything else has a terminal. */
export function sessionModeOf(kind: string): SessionMode {
  return kind === 'chat' ? 'chat' : 'terminal';
}
