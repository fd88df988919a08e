import { useCallback } from 'react';
import { useShell } from '../api-context.js';

/**
 * Opens a link from the agent's text in the user's browser through core, which
 * accepts only http:, https: and mailto:. A refusal is announced, not thrown.
 */
export function useOpenLink(): (url: string) => void {
  const { api, announce } = useShell();
  return useCallback(
    (url: string) => {
      void api.call('links.open', { url }).then((r) => {
        if (!r.ok) announce(`Could not open the link: ${r.error.message}`, 'error');
      });
    },
    [api, announce],
  );
}
