/**
 * How long a prompt waits, from policy (issue 17). EffectivePolicy has no
 * approvals section yet, so the value is read from the sources directly.
 */
import type { PolicyLoadResult } from '../policy/policy-loader.js';

/** Used when no policy source sets `approvals.timeoutSeconds`, or policy cannot be read. */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 60;

const LEVEL_RANK = { user: 1, recommended: 2, managed: 3 } as const;

/**
 * `approvals.timeoutSeconds` from the highest policy source that sets it, else 60.
 * A broken policy does not stop anyone answering (a deny must always be possible).
 */
export function approvalTimeoutSeconds(loaded: PolicyLoadResult): number {
  if (!loaded.ok) return DEFAULT_APPROVAL_TIMEOUT_SECONDS;
  const set = [...loaded.sources]
    .sort((a, b) => LEVEL_RANK[b.kind] - LEVEL_RANK[a.kind])
    .map((s) => s.document.approvals?.timeoutSeconds)
    .find((v) => v !== undefined);
  return set ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS;
}

