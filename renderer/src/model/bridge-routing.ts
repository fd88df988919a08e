/**
 * The bridge client's bookkeeping, without the socket: numbers calls, matches
 * answers to them by id, and checks everything that comes back. A frame that is
 * not JSON, not a `BridgeMessage`, or an answer whose value does not parse
 * against the method's response schema is never handed to the UI (HOUSE-STYLE:
 * data coming back is validated too).
 */
import { API_METHODS, type ApiError, type ApiEvent, type ApiMethod, type ApiResult } from '../../../core/api/cordon-api.js';
import { BridgeMessageSchema, type BridgeCall } from '../../../core/api/bridge-protocol.js';

/** What one incoming frame meant. */
export type Routed =
  | { readonly kind: 'answer'; readonly id: number; readonly result: ApiResult<unknown> }
  | { readonly kind: 'event'; readonly event: ApiEvent }
  /** A server error not tied to a call (`id: null`), e.g. a frame it could not read. */
  | { readonly kind: 'server_error'; readonly error: ApiError }
  /** Nothing to deliver; `reason` says why, never echoing the frame. */
  | { readonly kind: 'dropped'; readonly reason: string };

interface Pending {
  readonly method: ApiMethod;
  readonly settle: (result: ApiResult<unknown>) => void;
}

export class CallRouter {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** Registers a call; the frame to send and the id it was given. */
  begin(method: ApiMethod, params: unknown, settle: (result: ApiResult<unknown>) => void): BridgeCall {
    const id = this.nextId++;
    this.pending.set(id, { method, settle });
    return { id, method, params };
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Routes one text frame; answers settle their call here and are also reported. */
  receive(frame: string): Routed {
    let json: unknown;
    try {
      json = JSON.parse(frame);
    } catch {
      return { kind: 'dropped', reason: 'a frame that is not JSON' };
    }
    const parsed = BridgeMessageSchema.safeParse(json);
    if (!parsed.success) return { kind: 'dropped', reason: 'a frame outside the bridge protocol' };
    const msg = parsed.data;
    if ('event' in msg) return { kind: 'event', event: msg.event };
    if (!msg.ok && msg.id === null) return { kind: 'server_error', error: msg.error };
    if (msg.id === null) return { kind: 'dropped', reason: 'an answer without an id' };
    const call = this.pending.get(msg.id);
    if (call === undefined) return { kind: 'dropped', reason: `an answer to unknown call ${msg.id}` };
    this.pending.delete(msg.id);
    let result: ApiResult<unknown>;
    if (msg.ok) {
      const checked = API_METHODS[call.method].response.safeParse(msg.value);
      result = checked.success
        ? { ok: true, value: checked.data }
        : { ok: false, error: { code: 'failed', message: `the answer to ${call.method} is outside the contract` } };
    } else {
      result = { ok: false, error: msg.error };
    }
    call.settle(result);
    return { kind: 'answer', id: msg.id, result };
  }

  /**
   * Settles every outstanding call as `unavailable` (the socket closed). A call
   * that changes state may or may not have run; the message says so.
   */
  failAll(message: string): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const c of calls) c.settle({ ok: false, error: { code: 'unavailable', message } });
  }
}

/**
 * Milliseconds before reconnect attempt `attempt` (0-based): doubling from
 * 500 ms up to 15 s, with `jitter` in [0, 1) adding up to a quarter more so
 * many tabs do not reconnect in step.
 */
export function reconnectDelay(attempt: number, jitter: number): number {
  const base = Math.min(15_000, 500 * 2 ** Math.max(0, Math.min(attempt, 10)));
  return Math.round(base * (1 + 0.25 * Math.min(Math.max(jitter, 0), 0.999)));
}
