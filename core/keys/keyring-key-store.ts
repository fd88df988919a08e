/**
 * KeyStore over the OS keychain through @napi-rs/keyring: macOS Keychain,
 * Windows Credential Manager, Linux Secret Service (gnome-keyring, KWallet).
 *
 * Layout under one service name (default `cordon`):
 *   account `<provider>`       the API key itself
 *   account `meta:<provider>`  JSON {"v":1,"lastSetAt":…,"rotatedAt":…}, never a secret
 * `:` cannot appear in a provider name, so the two kinds of account never collide.
 * Keeping the timestamps in the keychain (not a file) means they travel and
 * disappear together with the key.
 */
import { AsyncEntry } from '@napi-rs/keyring';
import type { Clock } from './clock.js';
import {
  checkProvider,
  fail,
  notFoundError,
  validateSecret,
  type KeyStatus,
  type KeyStore,
  type KeyStoreError,
  type KeyStoreResult,
} from './key-store.js';

/** One keychain item. Mirrors the subset of AsyncEntry Cordon uses, so tests can fake the platform. */
export interface KeyringEntry {
  getPassword(): Promise<string | null>;
  setPassword(value: string): Promise<void>;
  deletePassword(): Promise<boolean>;
}

/** Opens keychain items. May throw synchronously (e.g. no D-Bus session on Linux). */
export interface KeyringBackend {
  open(service: string, account: string): KeyringEntry;
}

/**
 * The real backend. On Linux the store is pinned to the Secret Service: the
 * library's default silently falls back to the kernel keyring, which forgets
 * keys at logout and would turn "no Secret Service" into a confusing
 * "key vanished" later. Failing loudly with a fix is better.
 */
export const napiKeyringBackend: KeyringBackend = {
  open(service, account) {
    const entry = new AsyncEntry(service, account, { linux: { store: 'secret-service' } });
    return {
      getPassword: () => entry.getPassword(),
      setPassword: (value) => entry.setPassword(value),
      deletePassword: () => entry.deletePassword(),
    };
  },
};

/** Constructor options for KeyringKeyStore. */
export interface KeyringKeyStoreOptions {
  readonly clock: Clock;
  /** Keychain service name; tests use a unique one so runs never see each other's entries. Default `cordon`. */
  readonly service?: string;
  readonly backend?: KeyringBackend;
}

interface KeyMetadata {
  readonly lastSetAt: string | null;
  readonly rotatedAt: string | null;
}

const DOCS = 'see docs/keys.md';

/**
 * Turns whatever the platform threw into a typed error with a fix. The platform
 * text is kept as a hint only for classes whose messages come from D-Bus or the
 * OS (never from stored data); it is cut short and stripped of anything that
 * looks like a long token, as a second line of defence.
 */
export function classifyKeyringError(err: unknown): KeyStoreError {
  const raw = err instanceof Error ? err.message : typeof err === 'string' ? err : '';
  const hint = scrubPlatformMessage(raw);
  const lower = raw.toLowerCase();
  if (
    lower.includes('dbus') ||
    lower.includes('d-bus') ||
    lower.includes('org.freedesktop.secrets') ||
    lower.includes('serviceunknown') ||
    lower.includes('secret service is not available')
  ) {
    return {
      code: 'no_secret_service',
      message: `no Secret Service on the D-Bus session bus: start gnome-keyring (or another Secret Service) in your desktop session; ${DOCS}${hint === '' ? '' : ` (${hint})`}`,
    };
  }
  if (lower.includes("couldn't access platform") || lower.includes('locked') || lower.includes('no result found') || lower.includes('denied')) {
    return {
      code: 'locked',
      message: `the keychain is locked or refused access: unlock it (log in to the desktop, or unlock the "login" keyring) and retry; ${DOCS}${hint === '' ? '' : ` (${hint})`}`,
    };
  }
  if (lower.includes('decode') || lower.includes('encoding')) {
    // The platform's decoding errors can carry the stored bytes, so no hint here.
    return { code: 'backend_error', message: `the stored keychain entry is not valid text: remove it with \`cordon keys remove\` and set it again; ${DOCS}` };
  }
  return { code: 'backend_error', message: `the keychain reported an error: ${hint === '' ? 'unknown failure' : hint}; ${DOCS}` };
}

function scrubPlatformMessage(raw: string): string {
  const oneLine = raw.replace(/\s+/g, ' ').trim();
  const scrubbed = oneLine.replace(/[A-Za-z0-9_\-+/=.~]{32,}/g, '[redacted]');
  return scrubbed.length > 200 ? `${scrubbed.slice(0, 200)}…` : scrubbed;
}

/** KeyStore over the OS keychain. Every platform failure becomes a KeyStoreError; nothing throws. */
export class KeyringKeyStore implements KeyStore {
  readonly #clock: Clock;
  readonly #service: string;
  readonly #backend: KeyringBackend;

  constructor(options: KeyringKeyStoreOptions) {
    this.#clock = options.clock;
    this.#service = options.service ?? 'cordon';
    this.#backend = options.backend ?? napiKeyringBackend;
  }

  async get(provider: string): Promise<KeyStoreResult<string>> {
    const checked = checkProvider(provider);
    if (!checked.ok) return checked;
    const value = await this.#call(() => this.#backend.open(this.#service, provider).getPassword());
    if (!value.ok) return value;
    return value.value === null ? { ok: false, error: notFoundError(provider) } : { ok: true, value: value.value };
  }

  set(provider: string, secret: string): Promise<KeyStoreResult<KeyStatus>> {
    return this.#write(provider, secret, false);
  }

  rotate(provider: string, secret: string): Promise<KeyStoreResult<KeyStatus>> {
    return this.#write(provider, secret, true);
  }

  async remove(provider: string): Promise<KeyStoreResult<boolean>> {
    const checked = checkProvider(provider);
    if (!checked.ok) return checked;
    const removed = await this.#call(() => this.#backend.open(this.#service, provider).deletePassword());
    if (!removed.ok) return removed;
    const meta = await this.#call(() => this.#backend.open(this.#service, metaAccount(provider)).deletePassword());
    if (!meta.ok) return meta;
    return { ok: true, value: removed.value };
  }

  async status(provider: string): Promise<KeyStoreResult<KeyStatus>> {
    const checked = checkProvider(provider);
    if (!checked.ok) return checked;
    // Presence needs a read of the item; the value is dropped at once and never returned.
    const present = await this.#call(async () => (await this.#backend.open(this.#service, provider).getPassword()) !== null);
    if (!present.ok) return present;
    if (!present.value) return { ok: true, value: { provider, state: 'absent' } };
    const meta = await this.#readMeta(provider);
    if (!meta.ok) return meta;
    return { ok: true, value: { provider, state: 'present', lastSetAt: meta.value.lastSetAt, rotatedAt: meta.value.rotatedAt } };
  }

  async #write(provider: string, secret: string, rotation: boolean): Promise<KeyStoreResult<KeyStatus>> {
    const checked = checkProvider(provider);
    if (!checked.ok) return checked;
    const valid = validateSecret(secret);
    if (!valid.ok) return valid;
    const previousMeta = await this.#readMeta(provider);
    if (!previousMeta.ok) return previousMeta;
    if (rotation) {
      const existing = await this.#call(async () => (await this.#backend.open(this.#service, provider).getPassword()) !== null);
      if (!existing.ok) return existing;
      if (!existing.value) return { ok: false, error: { code: 'not_found', message: `no API key for ${provider} to rotate: run \`cordon keys set ${provider}\` first` } };
    }
    const now = new Date(this.#clock.now()).toISOString();
    const written = await this.#call(() => this.#backend.open(this.#service, provider).setPassword(secret));
    if (!written.ok) return written;
    const meta: KeyMetadata = { lastSetAt: now, rotatedAt: rotation ? now : previousMeta.value.rotatedAt };
    const metaWritten = await this.#call(() =>
      this.#backend.open(this.#service, metaAccount(provider)).setPassword(JSON.stringify({ v: 1, ...meta })),
    );
    if (!metaWritten.ok) return metaWritten;
    return { ok: true, value: { provider, state: 'present', ...meta } };
  }

  /** Metadata is advisory: a missing or unreadable JSON entry reads as "no record", never as an error. */
  async #readMeta(provider: string): Promise<KeyStoreResult<KeyMetadata>> {
    const raw = await this.#call(() => this.#backend.open(this.#service, metaAccount(provider)).getPassword());
    if (!raw.ok) return raw;
    return { ok: true, value: parseMeta(raw.value) };
  }

  async #call<T>(op: () => Promise<T>): Promise<KeyStoreResult<T>> {
    try {
      return { ok: true, value: await op() };
    } catch (err) {
      const error = classifyKeyringError(err);
      return fail(error.code, error.message);
    }
  }
}

function metaAccount(provider: string): string {
  return `meta:${provider}`;
}

function parseMeta(raw: string | null): KeyMetadata {
  const none: KeyMetadata = { lastSetAt: null, rotatedAt: null };
  if (raw === null) return none;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return none;
  }
  if (typeof parsed !== 'object' || parsed === null) return none;
  const record = parsed as Record<string, unknown>;
  return { lastSetAt: isoOrNull(record['lastSetAt']), rotatedAt: isoOrNull(record['rotatedAt']) };
}

function isoOrNull(value: unknown): string | null {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? value : null;
}
