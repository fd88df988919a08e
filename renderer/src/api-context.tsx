/**
 * What every screen needs from the shell: the API, this role's features, a way
 * to announce a status message in the page's one aria-live region, and event
 * subscription tied to a component's life.
 */
import { createContext, useContext, useEffect, useRef } from 'react';
import type { ApiEvent, CordonApi, Features } from '../../core/api/cordon-api.js';

export interface Shell {
  readonly api: CordonApi;
  readonly features: Features;
  /** Puts MESSAGE in the live region (read by screen readers, shown in the status bar). */
  readonly announce: (message: string, level?: 'info' | 'error') => void;
}

export const ShellContext = createContext<Shell | null>(null);

export function useShell(): Shell {
  const shell = useContext(ShellContext);
  if (shell === null) throw new Error('useShell outside the shell');
  return shell;
}

/** Calls LISTENER for every API event while the component is mounted (the latest LISTENER, without resubscribing). */
export function useApiEvents(listener: (event: ApiEvent) => void): void {
  const { api } = useShell();
  const latest = useRef(listener);
  useEffect(() => {
    latest.current = listener;
  });
  useEffect(() => api.onEvent((e) => latest.current(e)), [api]);
}
