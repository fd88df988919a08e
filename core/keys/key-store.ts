/**
 * The KeyStore: where a provider's real API key lives (the OS keychain in
 * production). Nothing in here ever puts a secret into an error message, and
 * status reports carry timestamps only, never the value.
 */
import type { Clock } from './clock.js';
import { invalidProviderMessage, isValidProviderName } from './provider-name.js';

/** Why a keychain operation failed. Each code maps to one fix a person can apply. */
export type KeyStoreErrorCode =
  /** No Secret Service on D-Bus (Linux), or no session bus at all. */
  | 'no_secret_service'
  /** The keychain exists but is locked or refuses access. */
  | 'locked'
  /** Nothing is stored for this provider. */
  | 'not_found'
  | 'invalid_provider'
  /** The value offered to `set`/`rotate` is empty, too long or contains whitespace/control characters. */
  | 'invalid_secret'
  /** Anything else the platform reported. */
  | 'backend_error';

/** An expected keychain failure: a code and one sentence that says how to fix it. Never contains a secret. */
export interface KeyStoreError {
  readonly code: KeyStoreErrorCode;
  readonly message: string;
}

/** Results are values, not exceptions: callers must look at `ok`. */
export type KeyStoreResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: KeyStoreError };

/** What `status` reports about one provider. Timestamps are ISO 8601 UTC. */
export type KeyStatus =
  | {
      readonly provider: string;
      readonly state: 'present';
      /** When the current value was written by `set` or `rotate`; null if Cordon has no record (written by another tool). */
      readonly lastSetAt: string | null;
      /** When `rotate` last replaced the value; null if never rotated. */
      readonly rotatedAt: string | null;
    }
  | { readonly provider: string; readonly state: 'absent' };

/**
 * Per-provider API key storage. `provider` must match PROVIDER_NAME_PATTERN or
 * the call fails with `invalid_provider` without touching the backend.
 */
export interface KeyStore {
  /** The stored key, or `not_found` (whose message says which `cordon keys set` to run). */
  get(provider: string): Promise<KeyStoreResult<string>>;
  /** Stores (or overwrites) the key and records `lastSetAt`. */
  set(provider: string, secret: string): Promise<KeyStoreResult<KeyStatus>>;
  /** Replaces an existing key and records `rotatedAt`; `not_found` when there is nothing to rotate. */
  rotate(provider: string, secret: string): Promise<KeyStoreResult<KeyStatus>>;
  /** Deletes the key and its metadata; `value` is false when nothing was stored. */
  remove(provider: string): Promise<KeyStoreResult<boolean>>;
  /** Present/absent plus timestamps. Never returns the value. */
  status(provider: string): Promise<KeyStoreResult<KeyStatus>>;
}

/** Longest key Cordon accepts; real provider keys are ~100 characters, JWTs a few KB. */
export const MAX_SECRET_LENGTH = 8192;

/**
 * Checks a key before it is stored or injected into a header. Only visible
 * ASCII is allowed: a CR or LF in a header value would let a stored value
 * smuggle extra headers upstream, and whitespace is almost always a paste error.
 * The message never includes the value.
 */
export function validateSecret(secret: string): KeyStoreResult<string> {
  if (secret.length === 0) return fail('invalid_secret', 'the key is empty');
  if (secret.length > MAX_SECRET_LENGTH) {
    return fail('invalid_secret', `the key is ${secret.length} characters long; the limit is ${MAX_SECRET_LENGTH}`);
  }
  if (!/^[\x21-\x7e]+$/.test(secret)) {
    return fail('invalid_secret', 'the key contains whitespace, control or non-ASCII characters; paste only the key itself');
  }
  return { ok: true, value: secret };
}

/** Checks the provider name and produces the `invalid_provider` error. */
export function checkProvider(provider: string): KeyStoreResult<string> {
  return isValidProviderName(provider) ? { ok: true, value: provider } : fail('invalid_provider', invalidProviderMessage(provider));
}

/** The `not_found` error, whose message tells the user the exact command to run. */
export function notFoundError(provider: string): KeyStoreError {
  return { code: 'not_found', message: `no API key for ${provider}: run \`cordon keys set ${provider}\`` };
}

/**
 * Launch preflight: succeeds when a key is stored for `provider`, otherwise
 * returns the store's error (`not_found`, `locked`, `no_secret_service`, …)
 * whose message says how to fix it. Used by `cordon launch` of a profile whose
 * agent needs the key; `exec`/`demo` skip it and let the model route answer 401.
 */
export async function requireStoredKey(store: KeyStore, provider: string): Promise<KeyStoreResult<void>> {
  const status = await store.status(provider);
  if (!status.ok) return status;
  if (status.value.state === 'absent') return { ok: false, error: notFoundError(provider) };
  return { ok: true, value: undefined };
}

/** Builds a failed result. */
export function fail<T>(code: KeyStoreErrorCode, message: string): KeyStoreResult<T> {
  return { ok: false, error: { code, message } };
}

interface MemoryEntry {
  secret: string;
  lastSetAt: string;
  rotatedAt: string | null;
}

/**
 * An in-memory KeyStore for pure logic tests. `failWith` makes every call fail
 * with the given error, to simulate a locked keychain or a missing Secret Service.
 */
export class MemoryKeyStore implements KeyStore {
  readonly #entries = new Map<string, MemoryEntry>();
  readonly #clock: Clock;
  failWith: KeyStoreError | null = null;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get(provider: string): Promise<KeyStoreResult<string>> {
    return Promise.resolve(
      this.#guard(provider, () => {
        const entry = this.#entries.get(provider);
        return entry === undefined ? { ok: false, error: notFoundError(provider) } : { ok: true, value: entry.secret };
      }),
    );
  }

  set(provider: string, secret: string): Promise<KeyStoreResult<KeyStatus>> {
    return Promise.resolve(
      this.#guard(provider, () => {
        const valid = validateSecret(secret);
        if (!valid.ok) return valid;
        const previous = this.#entries.get(provider);
        this.#entries.set(provider, { secret, lastSetAt: this.#iso(), rotatedAt: previous?.rotatedAt ?? null });
        return { ok: true, value: this.#status(provider) };
      }),
    );
  }

  rotate(provider: string, secret: string): Promise<KeyStoreResult<KeyStatus>> {
    return Promise.resolve(
      this.#guard(provider, () => {
        const valid = validateSecret(secret);
        if (!valid.ok) return valid;
        if (!this.#entries.has(provider)) return { ok: false, error: notFoundError(provider) };
        const now = this.#iso();
        this.#entries.set(provider, { secret, lastSetAt: now, rotatedAt: now });
        return { ok: true, value: this.#status(provider) };
      }),
    );
  }

  remove(provider: string): Promise<KeyStoreResult<boolean>> {
    return Promise.resolve(this.#guard(provider, () => ({ ok: true, value: this.#entries.delete(provider) })));
  }

  status(provider: string): Promise<KeyStoreResult<KeyStatus>> {
    return Promise.resolve(this.#guard(provider, () => ({ ok: true, value: this.#status(provider) })));
  }

  #status(provider: string): KeyStatus {
    const entry = this.#entries.get(provider);
    return entry === undefined
      ? { provider, state: 'absent' }
      : { provider, state: 'present', lastSetAt: entry.lastSetAt, rotatedAt: entry.rotatedAt };
  }

  #guard<T>(provider: string, body: () => KeyStoreResult<T>): KeyStoreResult<T> {
    const checked = checkProvider(provider);
    if (!checked.ok) return checked;
    if (this.failWith !== null) return { ok: false, error: this.failWith };
    return body();
  }

  #iso(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}
