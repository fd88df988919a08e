import { useState } from 'react';
import { useShell } from '../api-context.js';

/** Stops SESSIONID through core, announces the outcome, and calls ONSTOPPED when it worked: the terminal and chat screens' Stop. */
export function useStopSession(sessionId: string, onStopped: () => void): { readonly stopping: boolean; readonly stop: () => Promise<void> } {
  const { api, announce } = useShell();
  const [stopping, setStopping] = useState(false);
  const stop = async (): Promise<void> => {
    setStopping(true);
    const r = await api.call('sessions.stop', { sessionId });
    setStopping(false);
    if (r.ok) {
      announce(`Session ${sessionId} stopped.`);
      onStopped();
    } else announce(`Could not stop session ${sessionId}: ${r.error.message}`, 'error');
  };
  return { stopping, stop };
}
