import { useCallback } from 'react';
import type { ApprovalView } from '../../../core/api/approvals-contract.js';
import { useShell } from '../api-context.js';
import { useRefetched } from './use-refetched.js';

export interface Approvals {
  /** Null until the first answer. */
  readonly requests: readonly ApprovalView[] | null;
  /** Requests past the list's bound. */
  readonly omitted: number;
  readonly error: string | null;
  /** Asks `approvals.list` again (after an answer, without waiting for the event). */
  readonly refetch: () => void;
}

/** The user's approval queue: `approvals.list` now and again on every `approvals.changed` event. */
export function useApprovals(): Approvals {
  const { api } = useShell();
  const load = useCallback(() => api.call('approvals.list', {}), [api]);
  const r = useRefetched(load, (e) => e.type === 'approvals.changed');
  return { requests: r.value?.requests ?? null, omitted: r.value?.omitted ?? 0, error: r.error, refetch: r.refetch };
}
