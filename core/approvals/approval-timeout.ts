/**
 * The approval queue's settings from policy (issue 17): how long a prompt
 * waits and how many requests a session may make per minute, both from the
 * effective `approvals` section.
 */
import type { PolicyLoadResult } from '../policy/policy-loader.js';
import { DEFAULT_POLICY } from '../policy/policy-schema.js';
import type { ApprovalStoreOptions } from './approval-store.js';

/** Used when policy cannot be read. */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = DEFAULT_POLICY.approvals.timeoutSeconds;

/**
 * The effective `approvals.timeoutSeconds` (60 unless policy sets it).
 * A broken policy gives the default: it must not stop anyone answering (a deny must always be possible).
 */
export function approvalTimeoutSeconds(loaded: PolicyLoadResult): number {
  return approvalStoreSettings(loaded).timeoutSeconds;
}

/**
 * What an ApprovalStore takes from policy: `approvals.timeoutSeconds` and
 * `approvals.maxRequestsPerMinute` (the per-session rate limit), the
 * built-in defaults (60 s, 20) when policy cannot be read.
 */
export function approvalStoreSettings(loaded: PolicyLoadResult): Pick<ApprovalStoreOptions, 'timeoutSeconds' | 'maxPerMinutePerSession'> {
  const a = loaded.ok ? loaded.policy.approvals : DEFAULT_POLICY.approvals;
  return { timeoutSeconds: a.timeoutSeconds, maxPerMinutePerSession: a.maxRequestsPerMinute };
}
