// The token vault: tokenized values leave as opaque tokens and come back as
// the originals. It lives only in the host process, one per session.
//
// Tokens are HMAC-SHA256(per-session random key, value), truncated to 128
// bits. That makes them:
//   - opaque: nothing about the value can be learnt without the key (a model
//     cannot confirm a guessed card number by tokenizing it itself);
//   - unforgeable: rehydration only replaces tokens present in this vault's
//     map, and a 128-bit MAC cannot be guessed into a collision;
//   - stable within a session, so the same value keeps one token across turns
//     (the conversation history the agent re-sends is tokenized identically),
//     and unlinkable across sessions.

import { createHmac, randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { VAULT_TOKEN_HEX_LENGTH, VAULT_TOKEN_LENGTH, VAULT_TOKEN_PREFIX, type DetectorId } from './types.js';

/** How values are written back into a response body. */
export type RehydrateEncoding =
  /** Inside JSON strings (Messages API bodies, SSE `data:` JSON): the value is JSON-escaped. */
  | 'json'
  /** Plain text: the value is inserted verbatim. */
  | 'raw';

/** Outcome of tokenizing a value: a token, or why none could be issued (callers then redact). */
export type TokenizeResult =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly reason: 'vault_expired' | 'vault_full' };

/** Options for a session's vault. */
export interface TokenVaultOptions {
  /** Milliseconds after creation when the vault forgets everything (the session's lifetime cap). */
  readonly ttlMillis: number;
  /** Largest number of distinct values held; beyond it tokenize reports `vault_full`. Default 100,000. */
  readonly maxEntries?: number;
  /** Milliseconds since an arbitrary epoch; defaults to Date.now. */
  readonly clock?: () => number;
  /** HMAC key (32 bytes). Only for tests: the default is a fresh random key per vault. */
  readonly key?: Uint8Array;
}

const TOKEN_RE = new RegExp(`${VAULT_TOKEN_PREFIX}[0-9a-f]{${VAULT_TOKEN_HEX_LENGTH}}`, 'g');

/**
 * A session-scoped, host-only token vault. Call `dispose()` when the session
 * ends; after expiry or disposal it holds nothing and issues nothing.
 */
export class TokenVault {
  readonly #key: Uint8Array;
  readonly #values = new Map<string, string>();
  readonly #expiresAt: number;
  readonly #clock: () => number;
  readonly #maxEntries: number;
  #disposed = false;

  constructor(options: TokenVaultOptions) {
    this.#clock = options.clock ?? (() => Date.now());
    this.#expiresAt = this.#clock() + options.ttlMillis;
    this.#maxEntries = options.maxEntries ?? 100_000;
    // Our own copy, so dispose() can wipe it without touching the caller's buffer.
    this.#key = Uint8Array.from(options.key ?? randomBytes(32));
    if (this.#key.length < 32) throw new Error('vault key must be at least 32 bytes');
  }

  /** True once the TTL has passed or `dispose()` was called. */
  get expired(): boolean {
    if (!this.#disposed && this.#clock() >= this.#expiresAt) this.dispose();
    return this.#disposed;
  }

  /** Number of distinct values held. */
  get size(): number {
    return this.#values.size;
  }

  /**
   * Returns the token for `value` (the same token every time within this
   * vault). `detector` is accepted for symmetry with audit records but is not
   * part of the token, so one value has one token whichever detector saw it.
   */
  tokenize(value: string, _detector?: DetectorId): TokenizeResult {
    if (this.expired) return { ok: false, reason: 'vault_expired' };
    const mac = createHmac('sha256', this.#key).update(value, 'utf8').digest('hex');
    const token = VAULT_TOKEN_PREFIX + mac.slice(0, VAULT_TOKEN_HEX_LENGTH);
    if (!this.#values.has(token)) {
      if (this.#values.size >= this.#maxEntries) return { ok: false, reason: 'vault_full' };
      this.#values.set(token, value);
    }
    return { ok: true, token };
  }

  /** The original value of a token issued by this vault, or undefined (unknown, forged or expired). */
  lookup(token: string): string | undefined {
    if (this.expired) return undefined;
    return this.#values.get(token);
  }

  /**
   * Replaces every token this vault issued with its value. Unknown tokens are
   * left as they are: a model inventing token-shaped strings gets nothing back.
   */
  rehydrate(text: string, encoding: RehydrateEncoding = 'raw'): string {
    if (this.#values.size === 0 || !text.includes(VAULT_TOKEN_PREFIX) || this.expired) return text;
    return text.replace(TOKEN_RE, (tok) => {
      const v = this.#values.get(tok);
      if (v === undefined) return tok;
      return encoding === 'json' ? JSON.stringify(v).slice(1, -1) : v;
    });
  }

  /** Forgets every value and the key material reference; the vault issues and resolves nothing afterwards. */
  dispose(): void {
    this.#disposed = true;
    this.#values.clear();
    // Best effort: overwrite the key bytes we hold (JS cannot promise no copies remain).
    this.#key.fill(0);
  }
}

/**
 * How many leading characters of `s` a streaming rehydrator can emit now.
 * What it holds back is the longest suffix that could still become a token
 * (`c`, `cd`, … `cdntk_0123…` short of complete), but never the inside of a
 * token that is already complete (a token may end in hex that looks like `cd`).
 */
export function safeEmitLength(s: string): number {
  let floor = 0;
  const re = new RegExp(TOKEN_RE.source, 'g');
  re.lastIndex = Math.max(0, s.length - 2 * VAULT_TOKEN_LENGTH);
  for (let m = re.exec(s); m !== null; m = re.exec(s)) floor = m.index + m[0].length;
  for (let k = Math.max(floor, s.length - (VAULT_TOKEN_LENGTH - 1)); k < s.length; k++) {
    if (isTokenPrefix(s, k)) return k;
  }
  return s.length;
}

function isTokenPrefix(s: string, k: number): boolean {
  const n = s.length - k;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(k + i);
    if (i < VAULT_TOKEN_PREFIX.length) {
      if (c !== VAULT_TOKEN_PREFIX.charCodeAt(i)) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) {
      return false;
    }
  }
  return true;
}

/** Options for the streaming rehydrator. */
export interface RehydrateTransformOptions {
  /** How values are escaped when written back; default 'json' (model APIs answer in JSON or SSE of JSON). */
  readonly encoding?: RehydrateEncoding;
}

/**
 * A Transform that rehydrates a UTF-8 response stream (JSON or SSE) as it
 * passes. Tokens split across chunks (even mid-byte of a multi-byte
 * character) are reassembled: the transform holds back at most
 * VAULT_TOKEN_LENGTH - 1 characters that could still be the start of a token,
 * and emits everything else immediately, so streaming latency is unchanged.
 * Output is UTF-8 Buffers.
 *
 * Not handled: a token the model splits across two SSE events (two JSON
 * deltas); the stream framing sits between its halves.
 */
export function createRehydrateTransform(vault: TokenVault, options: RehydrateTransformOptions = {}): Transform {
  const encoding = options.encoding ?? 'json';
  const decoder = new StringDecoder('utf8');
  let pending = '';
  return new Transform({
    transform(chunk: Buffer | string, _enc: BufferEncoding, callback: TransformCallback): void {
      const text = pending + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
      const cut = safeEmitLength(text);
      pending = text.slice(cut);
      const ready = text.slice(0, cut);
      if (ready.length > 0) this.push(Buffer.from(vault.rehydrate(ready, encoding), 'utf8'));
      callback();
    },
    flush(callback: TransformCallback): void {
      const rest = pending + decoder.end();
      pending = '';
      if (rest.length > 0) this.push(Buffer.from(vault.rehydrate(rest, encoding), 'utf8'));
      callback();
    },
  });
}
