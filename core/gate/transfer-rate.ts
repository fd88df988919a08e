/**
 * The clipboard's rate for `gates.clipboard.ratePerMinute` (issue 18): how
 * many transfers a session made in one direction in the last minute. The
 * number goes into `Transfer.recentTransfers`, and `decide` refuses at the
 * limit. Every attempt counts, refused ones too, so an agent hammering the
 * clipboard stays refused until it stops for a minute. Memory is bounded:
 * no more times are kept per session and direction than the highest limit
 * the policy allows.
 */
import type { TransferDirection } from './gate-decision.js';

const WINDOW_MS = 60_000;
/** The schema's maximum ratePerMinute: counting past it changes no decision. */
const MAX_KEPT = 6_000;

export class TransferRate {
  private readonly times = new Map<string, number[]>();

  /** @param now milliseconds since the epoch (tests pass a fake clock). */
  constructor(private readonly now: () => number = Date.now) {}

  /** Transfers SESSION made toward DIRECTION in the last minute (not counting the one about to be judged). */
  recent(session: string, direction: TransferDirection): number {
    return this.prune(`${session}\u0000${direction}`).length;
  }

  /** Counts one attempt, whatever was decided. */
  record(session: string, direction: TransferDirection): void {
    const list = this.prune(`${session}\u0000${direction}`);
    list.push(this.now());
    if (list.length > MAX_KEPT) list.splice(0, list.length - MAX_KEPT);
  }

  /** Forgets a session (it ended). */
  forget(session: string): void {
    for (const d of ['toSandbox', 'fromSandbox'] as const) this.times.delete(`${session}\u0000${d}`);
  }

  private prune(key: string): number[] {
    const cutoff = this.now() - WINDOW_MS;
    let list = this.times.get(key);
    if (list === undefined) {
      list = [];
      this.times.set(key, list);
    }
    let drop = 0;
    while (drop < list.length && (list[drop] as number) <= cutoff) drop++;
    if (drop > 0) list.splice(0, drop);
    return list;
  }
}
