/**
 * Per-proxy (per-session) limits and the counters that enforce them: the
 * request rate shared by every client, and the open-tunnel slots.
 */

/** Per-proxy (per-session) limits. Exceeding one is answered with a status and a reason code. */
export interface EgressLimits {
  /** Open CONNECT tunnels at once; the next one gets 503 `too_many_tunnels`. */
  readonly maxConcurrentTunnels: number;
  /** Sustained new requests/tunnels per second; beyond the burst, 429 `rate_limited`. */
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /** Largest request head accepted; larger gets 431 `headers_too_large`. */
  readonly maxHeaderBytes: number;
  /** Largest model-route request body read into memory for the filters; larger gets 413 `body_too_large`. */
  readonly maxInspectedBodyBytes: number;
  /** Time allowed to send a complete request head (slowloris guard); then 408 `header_timeout`. */
  readonly headerTimeoutMs: number;
  /** Time allowed to send a complete request including its body. */
  readonly requestTimeoutMs: number;
  /** Client connections held at once (each is a file descriptor). Extra ones are closed. */
  readonly maxClientConnections: number;
  /** Time allowed for resolving and connecting to a destination. */
  readonly upstreamConnectTimeoutMs: number;
}

/** Defaults sized for one interactive agent session. */
export const DEFAULT_EGRESS_LIMITS: EgressLimits = {
  maxConcurrentTunnels: 256,
  requestsPerSecond: 100,
  requestBurst: 200,
  maxHeaderBytes: 16 * 1024,
  maxInspectedBodyBytes: 32 * 1024 * 1024,
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  maxClientConnections: 1024,
  upstreamConnectTimeoutMs: 10_000,
};

/** A token bucket shared by every client of one proxy. */
export class RateLimiter {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.last = now();
  }
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Open-tunnel slots: taken before any await, so concurrent CONNECTs cannot overshoot the cap. */
export class TunnelSlots {
  private open = 0;
  constructor(private readonly max: number) {}
  /** Number of tunnels open now. */
  get count(): number {
    return this.open;
  }
  /** A slot and its release (idempotent), or null when every slot is taken. */
  take(): (() => void) | null {
    if (this.open >= this.max) return null;
    this.open++;
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.open--;
      }
    };
  }
}
