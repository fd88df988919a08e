/**
 * Resolves with the first SIGINT or SIGTERM, for commands that run until
 * stopped (`cordon ui`, `cordon audit export --follow`). Call it before
 * announcing anything a caller could react to by stopping us: without a
 * handler in place, the signal would kill the process before it cleans up.
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (s: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(s);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
