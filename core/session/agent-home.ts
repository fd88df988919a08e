import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type { SandboxProfile } from '../profiles/profile-schema.js';

/**
 * What an agent finds in its home when the sandbox starts (issue 12, item 1).
 *
 * The sandbox's home is a fresh tmpfs every time, so an agent that keeps its
 * first-run state there starts from zero on every launch. Claude Code then
 * stops at screens that cannot work in a sandbox: its first-run flow checks
 * connectivity to api.anthropic.com directly (not through ANTHROPIC_BASE_URL),
 * which Cordon refuses, and in interactive mode it ignores an API key from the
 * environment that the user has not approved ("Not logged in"). Cordon writes
 * that state itself, for the sandbox only (never into the user's own home):
 * first run completed, and the session's phantom approved. Claude Code keeps
 * its own per-folder trust question.
 */
export interface AgentHome {
  /** Variables for the sandbox, under the profile's own (which may override them). */
  readonly env: Readonly<Record<string, string>>;
  /** Files to place in the agent's home, paths relative to it. Empty: no seed. */
  readonly files: readonly HomeFile[];
}

export interface HomeFile {
  /** Relative to the home folder, no "..". */
  readonly path: string;
  readonly content: string;
}

/** Where the seed folder appears inside the sandbox; the relay copies it into $HOME before the agent starts. */
export const SANDBOX_HOME_SEED = '/run/cordon/home-seed';

/**
 * The home Cordon prepares for the profile's agent. `phantom` is the value of
 * the session's key variable (null when the profile has no provider).
 */
export function agentHome(profile: Pick<SandboxProfile, 'agent'>, phantom: string | null): AgentHome {
  switch (profile.agent ?? 'generic') {
    case 'claude-code':
      return claudeCodeHome(phantom);
    case 'generic':
      return { env: {}, files: [] };
  }
}

function claudeCodeHome(phantom: string | null): AgentHome {
  // Claude Code's global config (~/.claude.json). An API key from the
  // environment counts as approved when its last 20 characters are listed:
  // the phantom is only good for this session, so approving it approves
  // nothing else.
  const config = {
    hasCompletedOnboarding: true,
    autoUpdates: false,
    customApiKeyResponses: { approved: phantom === null ? [] : [phantom.slice(-20)], rejected: [] },
  };
  return {
    // The native build looks for itself at ~/.local/bin/claude and warns on
    // every start when it is elsewhere (the image has it in /usr/local/bin).
    env: { DISABLE_INSTALLATION_CHECKS: '1' },
    files: [{ path: '.claude.json', content: `${JSON.stringify(config, null, 2)}\n` }],
  };
}

/**
 * Writes the seed into DIR on the host (created 0755; files 0644: the
 * sandbox's user reads them through a read-only bind mount; DIR sits inside
 * the 0700 session folder, so no other host user can reach it).
 */
export function writeHomeSeed(dir: string, files: readonly HomeFile[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  for (const f of files) {
    const rel = normalize(f.path);
    if (rel.startsWith('/') || rel.split('/').includes('..')) throw new Error(`home seed path "${f.path}" must stay inside the home folder`);
    const target = join(dir, rel);
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    writeFileSync(target, f.content, { mode: 0o644 });
    chmodSync(target, 0o644);
  }
}
