import { useEffect, useRef } from 'react';

/** Calls TICK every INTERVAL ms while the page is visible (a hidden tab does not poll). */
export function useVisiblePoll(tick: () => void, interval: number): void {
  const latest = useRef(tick);
  useEffect(() => {
    latest.current = tick;
  });
  useEffect(() => {
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') latest.current();
    }, interval);
    return () => clearInterval(t);
  }, [interval]);
}
