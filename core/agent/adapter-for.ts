import type { AgentAdapter } from './agent-adapter.js';
import { ClaudeStreamJsonAdapter } from './claude-stream-json.js';
import { PromptTextAdapter } from './prompt-text-adapter.js';

/** The adapter for a profile's `agent`: Claude Code speaks stream-json, every other agent plain text. */
export function adapterFor(agent: string | undefined): AgentAdapter {
  return agent === 'claude-code' ? new ClaudeStreamJsonAdapter() : new PromptTextAdapter(agent ?? 'generic');
}
