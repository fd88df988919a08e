/**
 * Phantom tokens: the only "API key" a sandbox ever holds.
 *
 * A phantom is random and means nothing to the vendor; Cordon's proxy swaps it
 * for the real key on the model route after checking it belongs to this
 * session, this provider and this host, and has not expired or been revoked.
 * A phantom copied out of the sandbox is therefore useless anywhere else.
 *
 * The authority keeps only SHA-256 hashes of the tokens it issued, so a heap
 * dump of the proxy does not yield usable phantoms for other sessions.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock, TimerHandle } from './clock.js';
import { allow, allowValue, deny, type Allow, type Deny, type Outcome } from '../decision.js';
import { normaliseHost as normaliseHostName } from '../egress/host-match.js';

/**
 * Prefix of every phantom. This is a contract with the DLP engine, which
 * detects `cdn_ph_` followed by 43 or more base64url characters; a human who
 * sees it in a log knows at once it is a Cordon phantom and not a vendor key.
 */
export const PHANTOM_PREFIX = 'cdn_ph_';

/** Random bytes per phantom: 256 bits, encoded as exactly 43 base64url characters. */
export const PHANTOM_RANDOM_BYTES = 32;

/** A whole phantom token, anchored. Matches exactly what `mintPhantomToken` produces. */
export const PHANTOM_TOKEN_PATTERN = /^cdn_ph_[A-Za-z0-9_-]{43}$/;

/** A phantom anywhere in a larger text (a header value, a URL): for spotting one where it does not belong. */
export const PHANTOM_IN_TEXT = /cdn_ph_[A-Za-z0-9_-]{43}/;

/** Characters in a phantom: the prefix and 43 base64url characters. */
export const PHANTOM_LENGTH = PHANTOM_PREFIX.length + 43;

/** What a {@link PhantomStreamScanner} says about one chunk: the bytes that may go out (`value`), or a refusal. */
export type PhantomChunkDecision = Outcome<Buffer, 'credential_leak'>;

const PREFIX_BYTES = Buffer.from(PHANTOM_PREFIX, 'latin1');

function isBase64UrlByte(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f;
}

/**
 * Spots a phantom in a byte stream (a request body on its way to a host that
 * is not the model route) without buffering it: each chunk is searched
 * together with the few bytes held back from the one before, and the last
 * PHANTOM_LENGTH - 1 bytes are held back in turn, because they could be the
 * start of a token the next chunk completes. So no byte of a phantom is ever
 * released, wherever the chunks split it, and memory stays bounded whatever
 * the body's size. Bytes only: a phantom encoded (base64, percent-escaped)
 * or compressed in the body is not seen.
 */
export class PhantomStreamScanner {
  #held: Buffer = Buffer.alloc(0);

  /** The bytes that may go out now, or why the stream must be stopped (a phantom is in it). */
  push(chunk: Buffer): PhantomChunkDecision {
    const window = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    for (let at = window.indexOf(PREFIX_BYTES); at >= 0; at = window.indexOf(PREFIX_BYTES, at + 1)) {
      if (at + PHANTOM_LENGTH > window.length) break;
      let k = at + PHANTOM_PREFIX.length;
      while (k < at + PHANTOM_LENGTH && isBase64UrlByte(window[k] as number)) k++;
      if (k === at + PHANTOM_LENGTH) return deny('credential_leak', 'a Cordon phantom token in the request body');
    }
    const keep = Math.min(window.length, PHANTOM_LENGTH - 1);
    // Copied, so the held bytes do not pin the caller's (possibly large) chunk.
    this.#held = Buffer.from(window.subarray(window.length - keep));
    return allowValue(window.subarray(0, window.length - keep));
  }

  /** The bytes still held back, at the end of the stream (they were searched: no phantom fits in them). */
  end(): Buffer {
    const rest = this.#held;
    this.#held = Buffer.alloc(0);
    return rest;
  }
}

/** Default lifetime of the authorisation behind a phantom when policy names none: one hour. */
export const DEFAULT_PHANTOM_TTL_MS = 60 * 60 * 1000;

/** A fresh phantom: `cdn_ph_` + base64url of 32 CSPRNG bytes. */
export function mintPhantomToken(random: (size: number) => Buffer = randomBytes): string {
  const bytes = random(PHANTOM_RANDOM_BYTES);
  if (bytes.length !== PHANTOM_RANDOM_BYTES) throw new Error(`phantom entropy source returned ${bytes.length} bytes, expected ${PHANTOM_RANDOM_BYTES}`);
  return PHANTOM_PREFIX + bytes.toString('base64url');
}

/** True when `value` has the exact shape of a phantom token. */
export function isPhantomToken(value: string): boolean {
  return PHANTOM_TOKEN_PATTERN.test(value);
}

/**
 * A short, non-reversible tag for a phantom (first 12 hex chars of its SHA-256),
 * for audit records: it lets an investigator correlate events about the same
 * phantom without the record ever holding the token.
 */
export function phantomFingerprint(token: string): string {
  return sha256(token).toString('hex').slice(0, 12);
}

/** What a phantom is bound to. `providerHost` is the vendor's API host (lowercase, no port), e.g. `api.anthropic.com`. */
export interface PhantomBinding {
  readonly sessionId: string;
  readonly provider: string;
  readonly providerHost: string;
}

/** A phantom as handed to the session launcher. `token` goes into the sandbox's provider variable and nowhere else. */
export interface PhantomGrant extends PhantomBinding {
  readonly token: string;
  /** When the authorisation lapses unless renewed (ms since epoch, from the injected clock). */
  readonly expiresAt: number;
}

/** Why a presented phantom was refused. */
export type PhantomRejectReason =
  /** Not shaped like a phantom at all (a real vendor key, garbage, truncated). */
  | 'malformed'
  /** Phantom-shaped, but this authority never issued it (or forgot it long ago). */
  | 'unknown'
  /** Issued to a different session: a phantom copied across sandboxes. */
  | 'foreign_session'
  | 'expired'
  | 'revoked'
  /** Presented on a request addressed to a host other than the provider's configured one. */
  | 'wrong_host'
  | 'wrong_provider';

/** One line per refusal reason, safe for the agent and the audit log (they never include the token). */
export const PHANTOM_REJECT_MESSAGES: Readonly<Record<PhantomRejectReason, string>> = {
  malformed: 'the request carries a credential that is not a Cordon phantom token; the sandbox must use the phantom in its provider variable',
  unknown: 'the phantom token was not issued by this Cordon proxy',
  foreign_session: 'the phantom token belongs to another Cordon session',
  expired: 'the phantom token has expired; relaunch the session',
  revoked: 'the phantom token was revoked (session stopped or quarantined)',
  wrong_host: 'the phantom token is not valid for this host',
  wrong_provider: 'the phantom token was issued for another provider',
};

/** The outcome of validating a presented phantom: refused with a reason, or allowed with what it is bound to. */
export type PhantomValidation =
  | Deny<PhantomRejectReason>
  | Allow<{ readonly binding: PhantomBinding; readonly expiresAt: number }>;

function refuse(reason: PhantomRejectReason): PhantomValidation {
  return deny(reason, PHANTOM_REJECT_MESSAGES[reason]);
}

/** The context a phantom is presented in: who is asking and where the request is going. */
export interface PhantomPresentation {
  readonly sessionId: string;
  readonly provider: string;
  /** The host the request is addressed to (case and a trailing dot are ignored; no port). */
  readonly host: string;
}

/** Options for a PhantomAuthority. */
export interface PhantomAuthorityOptions {
  readonly clock: Clock;
  /** Lifetime of each authorisation window (from policy); default one hour. Must be ≥ 1 s. */
  readonly ttlMs?: number;
  /**
   * How long before expiry a live session's authorisation is renewed. Default:
   * a fifth of the TTL, capped at five minutes, so one missed timer tick never
   * lets a live session's phantom lapse.
   */
  readonly renewBeforeMs?: number;
  /**
   * How long an expired or revoked record is remembered so a late presentation
   * is reported as `expired`/`revoked` rather than `unknown`. Default 24 h.
   */
  readonly retainMs?: number;
  /** Entropy source; tests may inject a deterministic one. */
  readonly random?: (size: number) => Buffer;
}

/** Extra per-issue options. */
export interface IssueOptions {
  /**
   * Asked at every renewal; when it returns false the authorisation is left to
   * lapse. Lets the owner tie renewal to "the container is still running"
   * without the authority knowing about containers. Default: always alive
   * (until `revoke`).
   */
  readonly isSessionAlive?: () => boolean;
}

interface PhantomRecord {
  readonly hash: Buffer;
  readonly binding: PhantomBinding;
  expiresAt: number;
  revokedAt: number | null;
  renewal: TimerHandle | null;
  readonly isSessionAlive: () => boolean;
}

/**
 * Issues, validates, renews and revokes phantoms for one proxy. One authority
 * serves many sessions; each session may hold one phantom per provider.
 *
 * Renewal: while a session is alive and not revoked, its authorisation is
 * extended by one TTL shortly before it would expire, so a day-long session
 * keeps working with the same token in its environment. Renewal never revives
 * an authorisation that has already lapsed (e.g. the timer fired late after a
 * laptop suspend): that fails closed, and the session must be relaunched.
 */
export class PhantomAuthority {
  readonly #clock: Clock;
  #ttlMs: number;
  #renewBeforeMs: number;
  /** renewBeforeMs as the owner gave it, kept across TTL changes; undefined = derived from the TTL. */
  readonly #renewBeforeOption: number | undefined;
  readonly #retainMs: number;
  readonly #random: (size: number) => Buffer;
  readonly #records: PhantomRecord[] = [];

  constructor(options: PhantomAuthorityOptions) {
    const ttl = options.ttlMs ?? DEFAULT_PHANTOM_TTL_MS;
    this.#renewBeforeOption = options.renewBeforeMs;
    const renewBefore = renewBeforeFor(ttl, options.renewBeforeMs);
    this.#clock = options.clock;
    this.#ttlMs = ttl;
    this.#renewBeforeMs = renewBefore;
    this.#retainMs = options.retainMs ?? 24 * 60 * 60 * 1000;
    this.#random = options.random ?? randomBytes;
  }

  /** Mints a phantom bound to `binding`, valid for one TTL and renewed while the session lives. */
  issue(binding: PhantomBinding, options: IssueOptions = {}): PhantomGrant {
    this.#prune();
    const token = mintPhantomToken(this.#random);
    const record: PhantomRecord = {
      hash: sha256(token),
      binding: { sessionId: binding.sessionId, provider: binding.provider, providerHost: normaliseHost(binding.providerHost) },
      expiresAt: this.#clock.now() + this.#ttlMs,
      revokedAt: null,
      renewal: null,
      isSessionAlive: options.isSessionAlive ?? (() => true),
    };
    this.#records.push(record);
    this.#scheduleRenewal(record);
    return { token, ...record.binding, expiresAt: record.expiresAt };
  }

  /**
   * Checks a presented token. The token is compared by SHA-256 against every
   * live record with timingSafeEqual and no early exit, so response time does
   * not reveal how close a guess came. Checks run deny-first: shape, issuer,
   * session, revocation, expiry, provider, host.
   */
  validate(token: string, where: PhantomPresentation): PhantomValidation {
    if (!isPhantomToken(token)) return refuse('malformed');
    const presented = sha256(token);
    let match: PhantomRecord | undefined;
    for (const record of this.#records) {
      // Every record is compared even after a hit; `match` is set without branching on position.
      const equal = timingSafeEqual(presented, record.hash);
      if (equal) match = record;
    }
    if (match === undefined) return refuse('unknown');
    if (match.binding.sessionId !== where.sessionId) return refuse('foreign_session');
    if (match.revokedAt !== null) return refuse('revoked');
    if (this.#clock.now() >= match.expiresAt) return refuse('expired');
    if (match.binding.provider !== where.provider) return refuse('wrong_provider');
    if (match.binding.providerHost !== normaliseHost(where.host)) return refuse('wrong_host');
    return allow({ binding: match.binding, expiresAt: match.expiresAt });
  }

  /**
   * Extends every live (unrevoked, unexpired) authorisation of the session by
   * one TTL from now. Returns how many were renewed; 0 means the session's
   * phantoms are dead and stay dead. Called by the renewal timers; exposed for
   * owners that want to renew on their own heartbeat.
   */
  renew(sessionId: string): number {
    let renewed = 0;
    for (const record of this.#records) {
      if (record.binding.sessionId !== sessionId) continue;
      if (this.#renewRecord(record)) renewed++;
    }
    return renewed;
  }

  /** Kills every phantom of the session at once (`cordon stop`, quarantine). Returns how many were live. */
  revoke(sessionId: string): number {
    const now = this.#clock.now();
    let revoked = 0;
    for (const record of this.#records) {
      if (record.binding.sessionId !== sessionId || record.revokedAt !== null) continue;
      record.revokedAt = now;
      record.renewal?.cancel();
      record.renewal = null;
      if (now < record.expiresAt) revoked++;
    }
    return revoked;
  }

  /**
   * Changes the TTL (a policy reload of `keys.phantomTtlMinutes`). Renewals
   * from now on extend by the new TTL; a live authorisation that would last
   * longer than the new TTL from now is cut back to it at once, so shortening
   * the TTL takes effect without waiting for the old window to run out.
   */
  setTtl(ttlMs: number): void {
    const renewBefore = renewBeforeFor(ttlMs, this.#renewBeforeOption !== undefined && this.#renewBeforeOption < ttlMs ? this.#renewBeforeOption : undefined);
    this.#ttlMs = ttlMs;
    this.#renewBeforeMs = renewBefore;
    const now = this.#clock.now();
    for (const record of this.#records) {
      if (record.revokedAt !== null || now >= record.expiresAt) continue;
      record.expiresAt = Math.min(record.expiresAt, now + ttlMs);
      this.#scheduleRenewal(record);
    }
  }

  /** Revokes everything and cancels all timers; for proxy shutdown. */
  dispose(): void {
    for (const sessionId of new Set(this.#records.map((r) => r.binding.sessionId))) this.revoke(sessionId);
  }

  #renewRecord(record: PhantomRecord): boolean {
    const now = this.#clock.now();
    if (record.revokedAt !== null || now >= record.expiresAt) return false;
    if (!record.isSessionAlive()) return false;
    record.expiresAt = now + this.#ttlMs;
    this.#scheduleRenewal(record);
    return true;
  }

  #scheduleRenewal(record: PhantomRecord): void {
    record.renewal?.cancel();
    const delay = record.expiresAt - this.#renewBeforeMs - this.#clock.now();
    record.renewal = this.#clock.setTimer(delay, () => {
      record.renewal = null;
      this.#renewRecord(record);
    });
  }

  #prune(): void {
    const cutoff = this.#clock.now() - this.#retainMs;
    for (let i = this.#records.length - 1; i >= 0; i--) {
      const record = this.#records[i];
      if (record === undefined) continue;
      const deadSince = record.revokedAt ?? (record.expiresAt <= this.#clock.now() ? record.expiresAt : null);
      if (deadSince !== null && deadSince < cutoff) {
        record.renewal?.cancel();
        this.#records.splice(i, 1);
      }
    }
  }
}

/** Validates a TTL and returns how long before expiry to renew (given, or a fifth of the TTL capped at five minutes). */
function renewBeforeFor(ttl: number, given: number | undefined): number {
  if (!Number.isFinite(ttl) || ttl < 1000) throw new RangeError(`phantom TTL must be at least 1000 ms, got ${ttl}`);
  const renewBefore = given ?? Math.min(ttl / 5, 5 * 60 * 1000);
  if (!Number.isFinite(renewBefore) || renewBefore <= 0 || renewBefore >= ttl) {
    throw new RangeError(`renewBeforeMs must be between 0 and the TTL (${ttl} ms), got ${renewBefore}`);
  }
  return renewBefore;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

// Hosts are compared in the one normal form the proxy uses (host-match.ts:
// lower-case punycode, no trailing dot, IPv6 without brackets). A host that
// does not normalise keeps a marker no real host can equal, so it never matches.
function normaliseHost(host: string): string {
  const n = normaliseHostName(host);
  return n.ok ? n.host : `\0unusable:${host}`;
}
