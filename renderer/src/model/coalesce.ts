/**
 * RUN at most once at a time, however often it is asked for: a request while a
 * run is in flight queues exactly one more run, started when the current one
 * settles (so the last request is always followed by a run that began after
 * it). Used for refetches driven by bursts of "something changed" events.
 * A run that rejects counts as settled; its error is RUN's to handle.
 */
export function coalesce(run: () => Promise<void>): () => void {
  let inFlight = false;
  let queued = false;
  const start = (): void => {
    inFlight = true;
    queued = false;
    run()
      .catch(() => undefined)
      .finally(() => {
        inFlight = false;
        if (queued) start();
      });
  };
  return () => {
    if (inFlight) queued = true;
    else start();
  };
}
