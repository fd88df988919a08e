/**
 * Time as an injected dependency, so expiry and renewal logic can be tested by
 * advancing a fake clock instead of sleeping for an hour.
 */

/** A scheduled callback that can be cancelled. Cancelling twice is harmless. */
export interface TimerHandle {
  cancel(): void;
}

/** Wall-clock time in milliseconds since the Unix epoch, plus one-shot timers. */
export interface Clock {
  now(): number;
  /**
   * Runs `fn` once, `delayMs` from now (negative delays run as soon as possible).
   * Timers never keep the Node process alive on their own.
   */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

// setTimeout overflows (and fires immediately) above 2^31-1 ms, about 24.8 days;
// long TTLs from policy must not turn into an instant callback.
const MAX_TIMEOUT_MS = 2_147_483_647;

/** The real clock over Date.now and unref'd setTimeout. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, fn) {
    const dueAt = Date.now() + Math.max(0, delayMs);
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = (): void => {
      const remaining = dueAt - Date.now();
      if (remaining <= 0) {
        fn();
        return;
      }
      handle = setTimeout(arm, Math.min(remaining, MAX_TIMEOUT_MS));
      handle.unref();
    };
    handle = setTimeout(arm, Math.min(Math.max(0, delayMs), MAX_TIMEOUT_MS));
    handle.unref();
    return {
      cancel() {
        if (cancelled) return;
        cancelled = true;
        if (handle !== undefined) clearTimeout(handle);
      },
    };
  },
};

interface ManualTimer {
  readonly dueAt: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. `advance` fires every timer that falls
 * due, in due-time order, including timers scheduled by those callbacks.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer: ManualTimer = { dueAt: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Moves time forward by `ms`, firing due timers at their own due times. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      const next = this.#timers
        .filter((t) => t.dueAt <= target)
        .sort((a, b) => a.dueAt - b.dueAt || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.dueAt);
      next.fn();
    }
    this.#now = target;
  }

  /** Number of timers still waiting; lets tests prove nothing was left scheduled. */
  pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }
}
